"""Offline reducer: merge the records of a run folder, select a configuration per region, write
``items.csv``, ``selection.json``, ``summary.txt`` and ``plots/``. No MPI; works on a run still in
progress (only completed records count, missing items are reported).

Selection (criterion ``variance``): per region, the completed item of minimum ``cmb_mse``, the
mean squared error of the recovered CMB (Eq. 9's variance over realizations plus the squared
foreground bias; Eq. 9 alone grows with the patch counts because the bias is the same in every
realization, see science/figures.py), among the items whose every noise realization converged and whose variance is
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

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from compsep_hpc import __version__
from compsep_hpc.config import RunConfig
from compsep_hpc.errors import CompsepError
from compsep_hpc.grid.work import WorkItem, work_list
from compsep_hpc.model.parameters import PARAMETERS, PATCH_KEYS
from compsep_hpc.report.items_table import AT_BOUND, HOLDOUT_COLUMNS, R_COLUMNS, item_row, items_csv
from compsep_hpc.report.selection import CRITERIA, SELECTION_METRIC, choice, scalars, select, usable
from compsep_hpc.report.summary import format_selection
from compsep_hpc.store.atomic import write_atomic
from compsep_hpc.store.checkpoint import read_records
from compsep_hpc.store.run_folder import load_run_folder, read_templates, use_stored_cmb_spectra

FIGURES = ("cmb_variance", "cmb_mse", "mean_nll", *AT_BOUND, *R_COLUMNS, *HOLDOUT_COLUMNS)  # of each pick


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

    from compsep_hpc.grid.experiment import Experiment  # builds the sky: only needed past this point
    from compsep_hpc.science.figures import CmbTemplates

    stored = read_templates(run_dir)
    use_stored_cmb_spectra(run_dir)
    experiment = Experiment(config, None if stored is None else CmbTemplates(*stored))
    regions, chosen = _region_picks(config, items, rows, experiment, criterion, has_r)
    combined_r = _combined_r(experiment, items, regions, "min_r_upper") if has_r else None
    combined_baseline = (_combined_r(experiment, items, regions, "multires_baseline")
                         if has_r and config.grid.multires_baseline else None)
    selection: dict[str, Any] = {
        "config_sha256": config.sha256(), "package_version": __version__, "run_name": config.name,
        "criterion": criterion, "selection_metric": SELECTION_METRIC, "holdout": config.noise.holdout,
        "n_items_done": len(rows), "n_items_total": len(items), "regions": regions,
        "combined": {"min_variance": _combined_variance(regions), "min_r_upper": scalars(combined_r),
                     "multires_baseline": scalars(combined_baseline)}, "plots": [],
    }
    if plots:
        selection["plots"] = _make_plots(run_dir, experiment, [r for r in rows if r["strategy"] == config.grid.strategy],
                                         records, chosen)
        if has_r:
            from compsep_hpc.report.r_plots import r_plots

            selection["plots"] += r_plots(run_dir, experiment, selection, records, combined_r, combined_baseline)
    write_atomic(run_dir / "selection.json", json.dumps(selection, indent=2) + "\n")
    write_atomic(run_dir / "summary.txt", format_selection(selection) + "\n")
    return selection


def _region_picks(config: RunConfig, items: list[WorkItem], rows: list[dict], experiment, criterion: str,
                  has_r: bool) -> tuple[dict[str, dict], dict[str, dict | None]]:
    """Per region its ``selection.json`` entry, and the row picked by ``criterion`` (for the plots)."""
    regions: dict[str, dict] = {}
    chosen: dict[str, dict | None] = {}
    for region in config.regions.names:
        every = [r for r in rows if r["region"] == region]
        region_rows = [r for r in every if r["strategy"] == config.grid.strategy]
        best, n_excluded = select(region_rows)
        best_r = select(region_rows, "r_upper")[0] if has_r else None
        chosen[region] = best_r if criterion == "r_upper" else best
        regions[region] = {
            "min_variance": choice(best, FIGURES),
            "min_r_upper": choice(best_r, FIGURES),
            "n_items_done": len(every),
            "n_items_total": sum(it.region == region for it in items),
            "n_excluded_unconverged": n_excluded,
            "n_pix": int(len(experiment.pixels(region))),
        }
        if config.grid.multires_baseline:  # reported whether or not its fits converged; says how many did not
            baseline = [r for r in every if r["strategy"] != config.grid.strategy]
            base = baseline[0] if baseline else None
            regions[region]["multires_baseline"] = choice(base, FIGURES)
            if base is not None:
                regions[region]["multires_baseline"]["n_unconverged"] = base["n_unconverged"]
    return regions, chosen


def _combined_variance(regions: dict[str, dict]) -> dict | None:
    """Pixel-weighted means of the regions' min_variance figures; None when a region has no pick."""
    picks = [regions[r]["min_variance"] for r in regions]
    if any(s is None for s in picks):
        return None
    n_pix = sum(regions[r]["n_pix"] for r in regions)
    combined = {key: sum(regions[r]["n_pix"] * regions[r]["min_variance"][key] for r in regions) / n_pix
                for key in ("cmb_variance", SELECTION_METRIC)}
    combined.update(n_pix=n_pix, weighting="pixel-weighted means of the selected regions' figures")
    return combined


def _combined_r(experiment, items: list, regions: dict[str, dict], key: str) -> dict | None:
    """Stitched figures of every region's ``key`` pick (refitted with maps), None if one is missing."""
    if any(regions[r].get(key) is None for r in regions):
        return None
    from compsep_hpc.report.combine import combined_figures

    return combined_figures(experiment, {r: items[regions[r][key]["item_id"]] for r in regions})


def _make_plots(run_dir: Path, experiment, rows: list[dict], records: list[dict],
                chosen: dict[str, dict | None]) -> list[str]:
    """Grid curves and, for a region with a selected item, its patch and parameter maps."""
    from compsep_hpc.report import plots

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
