"""The human summary of a selection: what ``compsep-hpc reduce`` prints and ``summary.txt`` holds.

The patch-count columns are the ``K_<parameter>`` keys of the selection's picks (its run's fitted
parameters, in the model's order: science/selection.py ``pick_patch_keys``).
"""

from __future__ import annotations

from compsep_hpc.science.selection import pick_patch_keys


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.6g}"


def _unconverged_note(n_unconverged: int) -> str:
    return f"; {n_unconverged} fit(s) unconverged" if n_unconverged else ""


def _combined_r_lines(comb: dict | None, title: str) -> list[str]:
    """The summary lines of one stitched combination's r figures (none when it is absent)."""
    if comb is None:
        return []
    lines = [f"{title} (stitched, f_sky {comb['fsky']:.3f}): r_hat {_fmt(comb['r_hat'])}, "
             f"sigma_r {_fmt(comb['sigma_r'])} (simulations {_fmt(comb.get('sigma_r_sim'))}), r_upper {_fmt(comb['r_upper'])}, r_95 {_fmt(comb['r_95'])}"]
    if "r_upper_holdout" in comb:
        lines.append(f"  on the held-out realizations: r_hat {_fmt(comb['r_hat_holdout'])}, "
                     f"r_upper {_fmt(comb['r_upper_holdout'])}")
    return lines


def _bounds(choice: dict, patch_keys: tuple[str, ...]) -> str:
    """Mean parameters on a bound per family of a pick, one per parameter joined by '/'."""
    values = [choice.get(f"at_bound_{k[2:]}") for k in patch_keys]
    return "/".join("-" if v is None else f"{v:.3g}" for v in values)


def _pick_cells(pick: dict, patch_keys: tuple[str, ...]) -> str:
    """A pick's patch counts, figures, item id and parameters on a bound, under the header's columns."""
    counts = " ".join(f"{pick[k]:>{len(k)}}" for k in patch_keys)
    return (f"{counts} {_fmt(pick.get('cmb_mse')):>15} {_fmt(pick.get('cmb_variance')):>13} "
            f"{_fmt(pick.get('r_upper')):>10} {pick['item_id']:>6} {_bounds(pick, patch_keys):>9}")


def _baseline_line(preset: str, base: dict, patch_keys: tuple[str, ...]) -> str:
    """A region's baseline item of ``preset``, under its picks."""
    return (f"{'':<10} {'baseline':>9} {'':>5} {_pick_cells(base, patch_keys)}  (multires {preset} patch nsides"
            + _unconverged_note(base.get("n_unconverged", 0)) + ")")


def _selection_patch_keys(selection: dict) -> tuple[str, ...]:
    """The ``K_<parameter>`` keys of the first pick of the selection (none when nothing was picked)."""
    for info in selection["regions"].values():
        for entry in (*info.values(), *info.get("multires_baselines", {}).values()):
            if isinstance(entry, dict) and "item_id" in entry:
                return pick_patch_keys(entry)
    return ()


def format_selection(selection: dict) -> str:
    """A short human summary of a selection (what ``compsep-hpc reduce`` prints)."""
    crit = key = selection["criterion"]
    patch_keys = _selection_patch_keys(selection)
    lines = [f"run {selection.get('run_name', '?')} (config {selection['config_sha256'][:12]}), "
             f"criterion {crit}: {selection['n_items_done']}/{selection['n_items_total']} items done; "
             "excl: items with an unconverged fit; at bound: mean parameters on a bound per fit "
             f"({'/'.join(k[2:] for k in patch_keys)})"]
    head = f"{'region':<10} {'done':>9} {'excl':>5} " + " ".join(patch_keys)
    lines.append(head + f" {'cmb_mse [uK^2]':>15} {'cmb_variance':>13} {'r_upper':>10} {'item':>6} {'at bound':>9}")
    for region, info in selection["regions"].items():
        done = f"{info['n_items_done']}/{info['n_items_total']}"
        s = info[key]
        if s is None:
            lines.append(f"{region:<10} {done:>9} {info['n_excluded_unconverged']:>5}   no usable item")
        else:
            lines.append(f"{region:<10} {done:>9} {info['n_excluded_unconverged']:>5} {_pick_cells(s, patch_keys)}")
        baselines = info.get("multires_baselines", {})
        lines += [_baseline_line(preset, base, patch_keys) for preset, base in baselines.items() if base is not None]
    lines += [f"warning {region}: {info['apod_warning']}" for region, info in selection["regions"].items()
              if info.get("apod_warning")]
    lines += _combined_r_lines(selection["combined"].get("min_r_upper"), "combined min_r_upper selections")
    for preset, comb in selection["combined"].get("multires_baselines", {}).items():
        lines += _combined_r_lines(comb, f"combined multires baselines {preset}")
    means = key if key != "min_r_upper" else "min_cmb_mse"
    comb = selection["combined"][means]
    lines.append(f"combined {means} picks (pixel-weighted over all regions): " + (
        "- (a region has no usable item)" if comb is None
        else f"cmb_mse {comb['cmb_mse']:.6g} uK^2, cmb_variance {comb['cmb_variance']:.6g} uK^2"))
    missing = selection["n_items_total"] - selection["n_items_done"]
    if missing:
        lines.append(f"note: {missing} item(s) not done yet; the selection covers completed items only")
    return "\n".join(lines)
