"""Offline reducer: merge the records of a run folder, select a configuration per region, write
``items.csv``, ``selection.json``, ``summary.txt`` and ``plots/``. No MPI; works on a run still in
progress (only completed records count, missing items are reported).

Selection (criterion ``variance``): per region, the completed item of minimum ``cmb_mse``, the
mean squared error of the recovered CMB (Eq. 9's variance over realizations plus the squared
foreground bias; Eq. 9 alone grows with the patch counts because the bias is the same in every
realization, see evaluate.py), among the items whose every noise realization converged and whose variance is
finite; the others are excluded, never scored, and counted in ``n_excluded_unconverged``. Ties go
to the lowest item id. ``combined.min_variance.cmb_variance`` is the pixel-weighted mean of the
selected regions' variances, sum_r n_pix_r sigma2_r / sum_r n_pix_r: Eq. 9's average over the
pixels of the union of the (disjoint) regions; null when a region has no selected item.

With r records: ``min_r_upper`` per region, and ``combined.min_r_upper`` (each region's pick
refitted with its maps, the regions stitched, spectra and r of the union; see combine.py). Runs
with ``grid.multires_baseline`` report each region's multi-resolution item beside the K-means
pick and ``combined.multires_baseline``, the same stitching of the baseline items.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from compsep_hpc import __version__
from compsep_hpc.checkpoint import read_records
from compsep_hpc.errors import CompsepError
from compsep_hpc.pipeline import PATCH_KEYS, work_list
from compsep_hpc.run_folder import load_run_folder, read_templates
from compsep_hpc.scoring import CmbTemplates
from compsep_hpc.sed import PARAMETERS

CRITERIA = ("variance", "r_upper")
ITEMS_COLUMNS = (
    "item_id", "region", "strategy", *PATCH_KEYS, *(f"n_patches_{p}" for p in PARAMETERS), "likelihood",
    "n_cells", "cmb_variance", "cmb_mse", "mean_nll", "mean_spatial_variance", "mean_iterations",
    "max_iterations", "n_unconverged", *(f"at_bound_{p}" for p in PARAMETERS), "systematic_nll",
    "systematic_cmb_power", "systematic_converged", "systematic_at_bound", "seconds",
)
AT_BOUND = tuple(f"at_bound_{p}" for p in PARAMETERS)  # mean over realizations of the parameters on a bound
R_COLUMNS = ("r_hat", "sigma_r", "r_upper", "r_95")  # appended to items.csv when records carry them
HOLDOUT_COLUMNS = tuple(f"{k}_holdout" for k in ("cmb_variance", "cmb_mse", *R_COLUMNS))
SPECTRA = ("cl_total", "cl_statistical", "cl_systematic")


def _num(rec: dict, key: str) -> float:
    """A scalar field as float, NaN when absent or not numeric."""
    try:
        return float(rec[key])
    except (KeyError, TypeError, ValueError):
        return math.nan


def _mean(rec: dict, key: str, fn=np.mean) -> float:
    value = rec.get(key)
    return float(fn(value)) if value is not None and np.size(value) else math.nan


def item_row(rec: dict, grid_values: tuple[int, int, int], region: str, strategy: str = "kmeans") -> dict[str, Any]:
    """One ``items.csv`` row of a record (region, K's, strategy from the work list, figures from the record)."""
    n_patches = np.asarray(rec.get("n_patches", [-1, -1, -1])).reshape(-1)
    row: dict[str, Any] = {"item_id": int(rec["item_id"]), "region": region, "strategy": strategy,
                           **dict(zip(PATCH_KEYS, map(int, grid_values)))}
    row.update({f"n_patches_{p}": int(n) for p, n in zip(PARAMETERS, n_patches)})
    row.update(likelihood=rec.get("likelihood", ""), n_cells=int(rec.get("n_cells", -1)),
               cmb_variance=_num(rec, "cmb_variance"), cmb_mse=_num(rec, "cmb_mse"), mean_nll=_mean(rec, "nll"),
               mean_spatial_variance=_mean(rec, "spatial_variance"),
               mean_iterations=_mean(rec, "iterations"),
               max_iterations=int(_mean(rec, "iterations", np.max)) if np.size(rec.get("iterations", [])) else -1,
               n_unconverged=int(rec.get("n_unconverged", -1)),
               **_at_bound(rec),
               systematic_nll=_num(rec, "systematic_nll"),
               systematic_cmb_power=_num(rec, "systematic_cmb_power"),
               systematic_converged=bool(rec.get("systematic_converged", False)),
               systematic_at_bound=int(np.sum(rec["systematic_n_at_bound"])) if "systematic_n_at_bound" in rec else -1,
               seconds=_num(rec, "seconds"))
    row.update({k: _num(rec, k) for k in (*R_COLUMNS, *HOLDOUT_COLUMNS) if k in rec})
    return row


def _at_bound(rec: dict) -> dict[str, float]:
    """Mean over realizations of each family's parameters on a bound (NaN for older records)."""
    counts = rec.get("n_at_bound")
    if counts is None:
        return {k: math.nan for k in AT_BOUND}
    return {k: float(v) for k, v in zip(AT_BOUND, np.mean(np.asarray(counts).reshape(-1, 3), axis=0))}


SELECTION_METRIC = "cmb_mse"


def usable(row: dict, metric: str = SELECTION_METRIC) -> bool:
    """True when an item may be scored: every noise realization's fit and the systematic
    (foreground-only) fit converged, and the metric is finite."""
    return (row["n_unconverged"] == 0 and bool(row.get("systematic_converged", False))
            and math.isfinite(row.get(metric, math.nan)))


def select(rows: list[dict], metric: str = SELECTION_METRIC) -> tuple[dict | None, int]:
    """The usable row of minimum ``metric`` (lowest item id on ties) and the number excluded."""
    ok = [r for r in rows if usable(r, metric)]
    best = min(ok, key=lambda r: (r[metric], r["item_id"])) if ok else None
    return best, len(rows) - len(ok)


def _json_float(x: Any) -> float | None:
    return float(x) if x is not None and math.isfinite(x) else None


def _choice(row: dict | None, figures: tuple[str, ...]) -> dict | None:
    if row is None:
        return None
    return {**{k: row[k] for k in PATCH_KEYS}, **{f: _json_float(row.get(f)) for f in figures if f in row},
            "item_id": row["item_id"]}


def _scalars(figures: dict | None) -> dict | None:
    """The JSON-able scalar figures of a combined result (spectra go to the plots)."""
    if figures is None:
        return None
    return {k: (int(v) if k == "n_pix" else _json_float(float(v))) for k, v in figures.items() if np.ndim(v) == 0}


def _combined_r(experiment, items: list, regions: dict[str, dict], key: str) -> dict | None:
    """Stitched figures of every region's ``key`` pick (refitted with maps), None if one is missing."""
    if any(regions[r].get(key) is None for r in regions):
        return None
    from compsep_hpc.combine import combined_figures

    return combined_figures(experiment, {r: items[regions[r][key]["item_id"]] for r in regions})


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file of the same folder and os.replace."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def items_csv(rows: list[dict]) -> str:
    """The ``items.csv`` text: ITEMS_COLUMNS, plus the r columns when some row has them."""
    extra = [k for k in (*R_COLUMNS, *HOLDOUT_COLUMNS) if any(k in r for r in rows)]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=[*ITEMS_COLUMNS, *extra], restval="nan", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def reduce_run(run_dir: str | os.PathLike, criterion: str = "variance", plots: bool = True) -> dict:
    """Reduce a run folder; returns the selection (the content of ``selection.json``).

    Raises CompsepError for an unknown criterion, a folder without any completed record, or
    ``r_upper`` when the records carry no ``r_upper`` field.
    """
    if criterion not in CRITERIA:
        raise CompsepError(f"unknown criterion {criterion!r}; choose one of {', '.join(CRITERIA)}")
    run_dir = Path(run_dir)
    config, _meta = load_run_folder(run_dir)
    items = work_list(config)
    records = [r for r in read_records(run_dir, config_sha256=config.sha256()) if 0 <= r["item_id"] < len(items)]
    if not records:
        raise CompsepError(f"{run_dir}: no completed item yet (0 of {len(items)}); nothing to reduce")
    has_r = any("r_upper" in r for r in records)
    if criterion == "r_upper" and not has_r:
        raise CompsepError("criterion r_upper needs the r-estimation records, not available in this run")
    rows = [item_row(r, items[r["item_id"]].grid_values, items[r["item_id"]].region, items[r["item_id"]].strategy)
            for r in records]
    write_atomic(run_dir / "items.csv", items_csv(rows))

    from compsep_hpc.pipeline import Experiment  # builds the sky: only needed past this point

    stored = read_templates(run_dir)
    experiment = Experiment(config, None if stored is None else CmbTemplates(*stored))
    regions: dict[str, dict] = {}
    chosen: dict[str, dict | None] = {}
    figures = ("cmb_variance", "cmb_mse", "mean_nll", *AT_BOUND, *R_COLUMNS, *HOLDOUT_COLUMNS)
    for region in config.regions.names:
        every = [r for r in rows if r["region"] == region]
        region_rows = [r for r in every if r["strategy"] == config.grid.strategy]
        best, n_excluded = select(region_rows)
        best_r = select(region_rows, "r_upper")[0] if has_r else None
        chosen[region] = best_r if criterion == "r_upper" else best
        baseline = [r for r in every if r["strategy"] != config.grid.strategy]
        regions[region] = {
            "min_variance": _choice(best, figures),
            "min_r_upper": _choice(best_r, figures),
            "n_items_done": len(every),
            "n_items_total": sum(it.region == region for it in items),
            "n_excluded_unconverged": n_excluded,
            "n_pix": int(len(experiment.pixels(region))),
        }
        if config.grid.multires_baseline:  # reported whether or not its fits converged; says how many did not
            base = baseline[0] if baseline else None
            regions[region]["multires_baseline"] = _choice(base, figures)
            if base is not None:
                regions[region]["multires_baseline"]["n_unconverged"] = base["n_unconverged"]
    selected_var = [regions[r]["min_variance"] for r in regions]
    combined = None
    if all(s is not None for s in selected_var):
        n_pix = sum(regions[r]["n_pix"] for r in regions)
        combined = {key: sum(regions[r]["n_pix"] * regions[r]["min_variance"][key] for r in regions) / n_pix
                    for key in ("cmb_variance", SELECTION_METRIC)}
        combined.update(n_pix=n_pix, weighting="pixel-weighted means of the selected regions' figures")
    combined_r = _combined_r(experiment, items, regions, "min_r_upper") if has_r else None
    combined_baseline = (_combined_r(experiment, items, regions, "multires_baseline")
                         if has_r and config.grid.multires_baseline else None)
    selection: dict[str, Any] = {
        "config_sha256": config.sha256(), "package_version": __version__, "run_name": config.name,
        "criterion": criterion, "selection_metric": SELECTION_METRIC, "holdout": config.noise.holdout,
        "n_items_done": len(rows), "n_items_total": len(items), "regions": regions,
        "combined": {"min_variance": combined, "min_r_upper": _scalars(combined_r),
                     "multires_baseline": _scalars(combined_baseline)}, "plots": [],
    }
    if plots:
        selection["plots"] = _make_plots(run_dir, experiment, [r for r in rows if r["strategy"] == config.grid.strategy],
                                         records, chosen)
        if has_r:
            from compsep_hpc.r_plots import r_plots

            selection["plots"] += r_plots(run_dir, experiment, selection, records, combined_r, combined_baseline)
    write_atomic(run_dir / "selection.json", json.dumps(selection, indent=2) + "\n")
    write_atomic(run_dir / "summary.txt", format_selection(selection) + "\n")
    return selection


def _make_plots(run_dir: Path, experiment, rows: list[dict], records: list[dict],
                chosen: dict[str, dict | None]) -> list[str]:
    """Grid curves and, for a region with a selected item, its patch and parameter maps."""
    from compsep_hpc import plots

    out: list[str] = []
    by_id = {r["item_id"]: r for r in records}
    nside = experiment.config.nside
    for region, best in chosen.items():
        region_rows = [r for r in rows if r["region"] == region]
        if not region_rows:
            continue
        col = {k: np.array([r[k] for r in region_rows]) for k in (*PATCH_KEYS, SELECTION_METRIC, "mean_nll")}
        sel = None if best is None else next(i for i, r in enumerate(region_rows) if r is best)
        rel = f"plots/grid_{region}.png"
        plots.plot_grid(run_dir / rel, col["K_beta_dust"], col["K_temp_dust"], col["K_beta_synch"],
                        col[SELECTION_METRIC], col["mean_nll"],
                        np.array([not usable(r) for r in region_rows]), sel, title=f"{region}")
        out.append(rel)
        if best is None:
            continue
        k = tuple(best[key] for key in PATCH_KEYS)
        labels = experiment.labels(region, k)
        rec = by_id[best["item_id"]]
        maps = {p: plots.patch_values(labels[i], rec.get(f"{p}_mean", [])) for i, p in enumerate(PARAMETERS)}
        rel = f"plots/patches_{region}.png"
        plots.plot_patches(run_dir / rel, nside, experiment.pixels(region), labels, maps, PARAMETERS,
                           title=f"{region}: selected " + ", ".join(f"{a}={b}" for a, b in zip(PATCH_KEYS, k)))
        out.append(rel)
    return out


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.6g}"


def _unconverged_note(n_unconverged: int) -> str:
    return f"; {n_unconverged} fit(s) unconverged" if n_unconverged else ""


def _combined_r_lines(comb: dict | None, title: str) -> list[str]:
    """The summary lines of one stitched combination's r figures (none when it is absent)."""
    if comb is None:
        return []
    lines = [f"{title} (stitched, f_sky {comb['fsky']:.3f}): r_hat {_fmt(comb['r_hat'])}, "
             f"sigma_r {_fmt(comb['sigma_r'])}, r_upper {_fmt(comb['r_upper'])}, r_95 {_fmt(comb['r_95'])}"]
    if "r_upper_holdout" in comb:
        lines.append(f"  on the held-out realizations: r_hat {_fmt(comb['r_hat_holdout'])}, "
                     f"r_upper {_fmt(comb['r_upper_holdout'])}")
    return lines


def _bounds(choice: dict) -> str:
    """Mean parameters on a bound per family of a pick, ``beta_dust/temp_dust/beta_synch``."""
    values = [choice.get(k) for k in AT_BOUND]
    return "/".join("-" if v is None else f"{v:.3g}" for v in values)


def format_selection(selection: dict) -> str:
    """A short human summary of a selection (what ``compsep-hpc reduce`` prints)."""
    crit = selection["criterion"]
    key = "min_r_upper" if crit == "r_upper" else "min_variance"
    lines = [f"run {selection.get('run_name', '?')} (config {selection['config_sha256'][:12]}), "
             f"criterion {crit}: {selection['n_items_done']}/{selection['n_items_total']} items done; "
             "excl: items with an unconverged fit; at bound: mean parameters on a bound per fit "
             "(beta_dust/temp_dust/beta_synch)"]
    head = f"{'region':<10} {'done':>9} {'excl':>5} {'K_beta_dust':>11} {'K_temp_dust':>11} {'K_beta_synch':>12}"
    lines.append(head + f" {'cmb_mse [uK^2]':>15} {'cmb_variance':>13} {'r_upper':>10} {'item':>6} {'at bound':>9}")
    for region, info in selection["regions"].items():
        done = f"{info['n_items_done']}/{info['n_items_total']}"
        s = info[key]
        if s is None:
            lines.append(f"{region:<10} {done:>9} {info['n_excluded_unconverged']:>5}   no usable item")
            continue
        lines.append(f"{region:<10} {done:>9} {info['n_excluded_unconverged']:>5} {s['K_beta_dust']:>11} "
                     f"{s['K_temp_dust']:>11} {s['K_beta_synch']:>12} {_fmt(s.get('cmb_mse')):>15} {_fmt(s.get('cmb_variance')):>13} "
                     f"{_fmt(s.get('r_upper')):>10} {s['item_id']:>6} {_bounds(s):>9}")
        base = info.get("multires_baseline")
        if base is not None:
            lines.append(f"{'':<10} {'baseline':>9} {'':>5} {base['K_beta_dust']:>11} {base['K_temp_dust']:>11} "
                         f"{base['K_beta_synch']:>12} {_fmt(base.get('cmb_mse')):>15} "
                         f"{_fmt(base.get('cmb_variance')):>13} {_fmt(base.get('r_upper')):>10} {base['item_id']:>6}"
                         f" {_bounds(base):>9}  (multires patch nsides" + _unconverged_note(base.get("n_unconverged", 0)) + ")")
    for key, title in (("min_r_upper", "combined min_r_upper selections"),
                       ("multires_baseline", "combined multires baselines")):
        lines += _combined_r_lines(selection["combined"].get(key), title)
    comb = selection["combined"]["min_variance"]
    lines.append("combined (pixel-weighted cmb_variance over all regions): "
                 + ("- (a region has no usable item)" if comb is None else f"{comb['cmb_variance']:.6g} uK^2"))
    missing = selection["n_items_total"] - selection["n_items_done"]
    if missing:
        lines.append(f"note: {missing} item(s) not done yet; the selection covers completed items only")
    return "\n".join(lines)
