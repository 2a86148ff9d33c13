"""Offline reducer: merge the records of a run folder, select a configuration per region, write
``items.csv``, ``selection.json``, ``summary.txt`` and ``plots/``. No MPI; works on a run still in
progress (only completed records count, missing items are reported).

Selection: per region, the pick of every criterion of report/selection.py (``min_cmb_mse``,
``min_variance``, ``min_aic``, ``min_bic``, and ``min_r_upper``, ``min_r_upper_low_bias`` with r
records), each the completed item of minimum figure among the items whose every noise realization
and systematic fit converged and whose figure is finite; the others are excluded, never scored, and
counted in ``n_excluded_unconverged``. Ties go to the lowest item id. ``--criterion`` picks the one
the summary, the plots and ``selection.json``'s ``criterion`` follow (default ``min_cmb_mse``);
``--max-r-bias`` the cap of ``min_r_upper_low_bias`` (stored as ``max_r_bias``).

``combined.<criterion>`` (every criterion but ``min_r_upper``): pixel-weighted means of the picks'
``cmb_mse`` and ``cmb_variance``, sum_r n_pix_r x_r / sum_r n_pix_r, the averages over the pixels of
the union of the (disjoint) regions; null when a region has no pick. ``combined.min_r_upper``: each
region's pick refitted with its maps, the regions stitched, spectra and r of the union (combine.py). Runs
with ``grid.multires_baseline`` report each region's multi-resolution item beside the K-means
pick and ``combined.multires_baseline``, the same stitching of the baseline items.
"""

from __future__ import annotations

import json
import math
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
from compsep_hpc.report.selection import (CRITERIA, DEFAULT_CRITERION, DEFAULT_MAX_R_BIAS, choice, criterion_metric,
                                          pick, scalars, select, usable)
from compsep_hpc.report.summary import format_selection
from compsep_hpc.store.atomic import write_atomic
from compsep_hpc.store.checkpoint import read_records
from compsep_hpc.store.run_folder import (load_run_folder, read_geometry, read_templates, use_stored_cmb_spectra,
                                          write_geometry)

FIGURES = ("cmb_variance", "cmb_mse", "mean_nll", "n_parameters", "aic", "bic", *AT_BOUND, *R_COLUMNS,
           *HOLDOUT_COLUMNS)  # of each pick


def reduce_run(run_dir: str | os.PathLike, criterion: str = DEFAULT_CRITERION, plots: bool = True,
               max_r_bias: float = DEFAULT_MAX_R_BIAS) -> dict:
    """Reduce a run folder; returns the selection (the content of ``selection.json``).

    Raises CompsepError for an unknown criterion, a folder without any completed record, or
    an r criterion when the records carry no ``r_upper`` field.
    """
    metric = criterion_metric(criterion)
    if not math.isfinite(max_r_bias):
        raise CompsepError(f"max_r_bias must be a finite number, got {max_r_bias}")
    run_dir = Path(run_dir)
    config, _meta = load_run_folder(run_dir)
    items = work_list(config)
    records = [r for r in read_records(run_dir, config_sha256=config.sha256()) if 0 <= r["item_id"] < len(items)]
    if not records:
        raise CompsepError(f"{run_dir}: no completed item yet (0 of {len(items)}); nothing to reduce")
    has_r = any("r_upper" in r for r in records)
    if CRITERIA[criterion].needs_r and not has_r:
        raise CompsepError(f"criterion {criterion} needs the r-estimation records, not available in this run")

    from compsep_hpc.grid.experiment import Experiment  # builds the sky: only needed past this point
    from compsep_hpc.science.figures import CmbTemplates

    stored = read_templates(run_dir)
    use_stored_cmb_spectra(run_dir)
    experiment = Experiment(config, None if stored is None else CmbTemplates(*stored))
    _use_stored_geometries(run_dir, experiment, config.regions.names)
    rows = [record_row(r, items[r["item_id"]], experiment) for r in records]
    write_atomic(run_dir / "items.csv", items_csv(rows))
    regions, chosen = _region_picks(config, items, rows, experiment, criterion, has_r, max_r_bias)
    combined_r = _combined_r(run_dir, experiment, items, regions, "min_r_upper") if has_r else None
    combined_baseline = (_combined_r(run_dir, experiment, items, regions, "multires_baseline")
                         if has_r and config.grid.multires_baseline else None)
    unions = [c["geometry_name"] for c in (combined_r, combined_baseline) if c is not None]
    for name in [*config.regions.names, *unions]:  # every coupling used joins the run folder (no-op if there)
        write_geometry(run_dir, name, experiment.geometry(name))
    selection: dict[str, Any] = {
        "config_sha256": config.sha256(), "package_version": __version__, "run_name": config.name,
        "criterion": criterion, "selection_metric": metric, "max_r_bias": max_r_bias, "holdout": config.noise.holdout,
        "n_items_done": len(rows), "n_items_total": len(items), "regions": regions,
        "combined": {**{key: _combined_means(regions, key) for key in CRITERIA if key != "min_r_upper"},
                     "min_r_upper": scalars(combined_r), "multires_baseline": scalars(combined_baseline)}, "plots": [],
    }
    if plots:
        selection["plots"] = _make_plots(run_dir, experiment, [r for r in rows if r["strategy"] == config.grid.strategy],
                                         records, chosen, metric)
        if has_r:
            from compsep_hpc.report.r_plots import r_plots

            selection["plots"] += r_plots(run_dir, experiment, selection, records, combined_r, combined_baseline)
    write_atomic(run_dir / "selection.json", json.dumps(selection, indent=2) + "\n")
    write_atomic(run_dir / "summary.txt", format_selection(selection) + "\n")
    return selection


def n_data_values(experiment, region: str) -> int:
    """The data values of a region, pixels x bands x 2 (Q, U): the n of the BIC."""
    return len(experiment.pixels(region)) * len(experiment.config.instrument.frequencies) * 2


def record_row(record: dict, item: WorkItem, experiment) -> dict:
    """The ``items.csv`` row of a record of ``item``, with the run's held-out count, the region's
    data values (AIC/BIC) and the injected r (r_bias)."""
    c = experiment.config
    return item_row(record, item.grid_values, item.region, item.strategy, holdout=c.noise.holdout,
                    n_data=n_data_values(experiment, item.region), r_in=c.sky.r)


def _use_stored_geometries(run_dir: Path, experiment, names) -> None:
    """Give ``experiment`` the run folder's region geometries (weights, couplings), where stored."""
    for name in names:
        geometry = read_geometry(run_dir, name)
        if geometry is not None:
            experiment.use_geometry(name, geometry)


def _region_picks(config: RunConfig, items: list[WorkItem], rows: list[dict], experiment, criterion: str,
                  has_r: bool, max_r_bias: float) -> tuple[dict[str, dict], dict[str, dict | None]]:
    """Per region its ``selection.json`` entry, and the row picked by ``criterion`` (for the plots)."""
    regions: dict[str, dict] = {}
    chosen: dict[str, dict | None] = {}
    for region in config.regions.names:
        every = [r for r in rows if r["region"] == region]
        region_rows = [r for r in every if r["strategy"] == config.grid.strategy]
        picks = {key: pick(region_rows, key, max_r_bias) if has_r or not rule.needs_r else None
                 for key, rule in CRITERIA.items()}
        chosen[region] = picks[criterion]
        regions[region] = {
            **{key: choice(row, FIGURES) for key, row in picks.items()},
            "n_items_done": len(every),
            "n_items_total": sum(it.region == region for it in items),
            "n_excluded_unconverged": select(region_rows)[1],
            "n_pix": int(len(experiment.pixels(region))),
            "n_data_values": n_data_values(experiment, region),
            "n_above_max_r_bias": sum(r.get("r_bias", math.nan) > max_r_bias for r in region_rows) if has_r else None,
            "apod_warning": experiment.geometry(region).apod_warning,
        }
        if config.grid.multires_baseline:  # reported whether or not its fits converged; says how many did not
            baseline = [r for r in every if r["strategy"] != config.grid.strategy]
            base = baseline[0] if baseline else None
            regions[region]["multires_baseline"] = choice(base, FIGURES)
            if base is not None:
                regions[region]["multires_baseline"]["n_unconverged"] = base["n_unconverged"]
    return regions, chosen


def _combined_means(regions: dict[str, dict], key: str) -> dict | None:
    """Pixel-weighted means of the CMB figures of the regions' ``key`` picks; None when a region has none."""
    if any(regions[r][key] is None for r in regions):
        return None
    n_pix = sum(regions[r]["n_pix"] for r in regions)
    combined = {figure: sum(regions[r]["n_pix"] * regions[r][key][figure] for r in regions) / n_pix
                for figure in ("cmb_mse", "cmb_variance")}
    combined.update(n_pix=n_pix, weighting="pixel-weighted means of the selected regions' figures")
    return combined


def _combined_r(run_dir: Path, experiment, items: list, regions: dict[str, dict], key: str) -> dict | None:
    """Stitched figures of every region's ``key`` pick (refitted with maps), None if one is missing;
    the union's geometry is the run folder's when stored."""
    if any(regions[r].get(key) is None for r in regions):
        return None
    from compsep_hpc.report.combine import combined_figures, union_name

    selected = {r: items[regions[r][key]["item_id"]] for r in regions}
    _use_stored_geometries(run_dir, experiment, [union_name(selected)])
    return combined_figures(experiment, selected)


def _make_plots(run_dir: Path, experiment, rows: list[dict], records: list[dict],
                chosen: dict[str, dict | None], metric: str) -> list[str]:
    """Grid curves of ``metric`` and, for a region with a selected item, its patch and parameter maps."""
    from compsep_hpc.report import plots

    out: list[str] = []
    by_id = {r["item_id"]: r for r in records}
    nside = experiment.config.nside
    for region, best in chosen.items():
        region_rows = [r for r in rows if r["region"] == region]
        if not region_rows:
            continue
        col = {k: np.array([r[k] for r in region_rows]) for k in (*PATCH_KEYS, metric, "mean_nll")}
        sel = None if best is None else next(i for i, r in enumerate(region_rows) if r is best)
        rel = f"plots/grid_{region}.png"
        plots.plot_grid(run_dir / rel, col["K_beta_dust"], col["K_temp_dust"], col["K_beta_synch"],
                        col[metric], col["mean_nll"], np.array([not usable(r, metric) for r in region_rows]), sel,
                        title=f"{region}", metric=metric)
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
