"""Offline reducer: merge the records of a run folder, select a configuration per region, write
``items.csv``, ``selection.json``, ``summary.txt`` and ``plots/``. No MPI; works on a run still in
progress (only completed records count, missing items are reported).

Selection: per region, the pick of every criterion of science/selection.py (``min_cmb_mse``,
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
with ``grid.multires_baseline`` presets report, per region, each preset's multi-resolution item
beside the K-means picks (``regions.R.multires_baselines.PRESET``) and, per preset, the same
stitching of its baseline items (``combined.multires_baselines.PRESET``). The items are the run
folder's (its regions' grids stored at the start, grid/work.py).
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from compsep_hpc.config import RunConfig
from compsep_hpc.errors import CompsepError
from compsep_hpc.grid.search import latest_records, rung_records, search_rungs
from compsep_hpc.grid.work import WorkItem, run_work_list, stored_region_grids
from compsep_hpc.provenance import code_version
from compsep_hpc.report.items_table import items_csv
from compsep_hpc.store.item_rows import HOLDOUT_COLUMNS, R_COLUMNS, at_bound_columns, item_row
from compsep_hpc.science.selection import (CRITERIA, DEFAULT_MAX_R_BIAS, choice, criterion_metric,
                                          pick, scalars, select, usable)
from compsep_hpc.report.summary import format_selection
from compsep_hpc.store.atomic import write_atomic
from compsep_hpc.store.run_folder import load_run_folder, write_geometry



def pick_figures(parameters: tuple[str, ...]) -> tuple[str, ...]:
    """The figures of each pick in ``selection.json`` of a run fitting ``parameters``."""
    return ("cmb_variance", "cmb_mse", "mean_nll", "n_parameters", "aic", "bic", *at_bound_columns(parameters),
            *R_COLUMNS, *HOLDOUT_COLUMNS)


def pick_entry(row: dict | None, model) -> dict | None:
    """The ``selection.json`` form of a picked ``row`` (science/selection.py ``choice``) of a run of ``model``."""
    return choice(row, pick_figures(model.fitted), model.patch_keys)


def reduce_run(run_dir: str | os.PathLike, criterion: str | None = None, plots: bool = True,
               max_r_bias: float = DEFAULT_MAX_R_BIAS, regions_only: bool = False) -> dict:
    """Reduce a run folder; returns the selection (the content of ``selection.json``).

    ``criterion`` None: the run's ``search.criterion`` (DEFAULT_CRITERION unless set), the one a
    halving search ranked its rungs by. ``regions_only`` keeps the per-region picks and ``items.csv`` and leaves out what refits picks:
    the stitched combined r figures (None in ``selection.json``) and the plots.

    Raises CompsepError for an unknown criterion, a folder without any completed record, or
    an r criterion when the records carry no ``r_upper`` field.
    """
    if not math.isfinite(max_r_bias):
        raise CompsepError(f"max_r_bias must be a finite number, got {max_r_bias}")
    run_dir = Path(run_dir)
    config, _meta = load_run_folder(run_dir)
    criterion = config.search.criterion if criterion is None else criterion
    metric = criterion_metric(criterion)
    items = run_work_list(run_dir, config)
    records = search_records(run_dir, config, items)
    if not records:
        raise CompsepError(f"{run_dir}: no completed item yet (0 of {len(items)}); nothing to reduce")
    has_r = any("r_upper" in r for r in records)
    if CRITERIA[criterion].needs_r and not has_r:
        raise CompsepError(f"criterion {criterion} needs the r-estimation records, not available in this run")

    from compsep_hpc.grid.experiment import Experiment  # builds the sky: only needed past this point

    experiment = Experiment.from_run_folder(run_dir, config)
    rows = [record_row(r, items[r["item_id"]], experiment) for r in records]
    write_atomic(run_dir / "items.csv", items_csv(rows, config.model.fitted))
    last_rung = max(r["rung"] for r in rows)  # halving: the picks are the last rung's items
    regions, chosen = _region_picks(config, items, rows, experiment, criterion, has_r, max_r_bias, last_rung)
    picks = {r: regions[r]["min_r_upper"] for r in regions} if has_r else None
    stitch = has_r and not regions_only
    combined_r = _combined_r(run_dir, experiment, items, picks) if stitch else None
    combined_baselines = {preset: _combined_r(run_dir, experiment, items,
                                              {r: regions[r]["multires_baselines"][preset] for r in regions})
                          if stitch else None for preset in config.grid.multires_baseline}
    unions = [c["geometry_name"] for c in (combined_r, *combined_baselines.values()) if c is not None]
    for name in [*config.regions.names, *unions]:  # every coupling used joins the run folder (no-op if there)
        write_geometry(run_dir, name, experiment.geometry(name))
    selection: dict[str, Any] = {
        "config_sha256": config.sha256(), **code_version(), "run_name": config.name,
        "criterion": criterion, "selection_metric": metric, "max_r_bias": max_r_bias, "holdout": config.noise.holdout,
        "n_items_done": len(rows), "n_items_total": len(items), "search": config.search.strategy,
        "rung": last_rung, "regions": regions,
        "combined": {**{key: _combined_means(regions, key) for key in CRITERIA if key != "min_r_upper"},
                     "min_r_upper": scalars(combined_r),
                     "multires_baselines": {p: scalars(c) for p, c in combined_baselines.items()}}, "plots": [],
    }
    if plots and not regions_only:
        selection["plots"] = _make_plots(run_dir, experiment, [r for r in rows if not r["baseline_preset"]],
                                         records, chosen, metric)
        if has_r:
            from compsep_hpc.report.r_plots import r_plots

            selection["plots"] += r_plots(run_dir, experiment, selection, records, combined_r, combined_baselines)
    write_atomic(run_dir / "selection.json", json.dumps(selection, indent=2) + "\n")
    write_atomic(run_dir / "summary.txt", format_selection(selection) + "\n")
    return selection


def search_records(run_dir: Path, config: RunConfig, items: list[WorkItem]) -> list[dict]:
    """Each item's record of the highest rung of the search it reached (grid/search.py; the one
    record of an exhaustive run), by item id."""
    rungs = search_rungs(run_dir, config, items, stored_region_grids(run_dir, config) or {})
    return [r for r in latest_records(rung_records(run_dir, config, rungs)) if 0 <= r["item_id"] < len(items)]


def n_data_values(experiment, region: str) -> int:
    """The data values of a region, pixels x bands x 2 (Q, U): the n of the BIC."""
    return len(experiment.pixels(region)) * len(experiment.config.instrument.frequencies) * 2


def record_row(record: dict, item: WorkItem, experiment) -> dict:
    """The ``items.csv`` row of a record of ``item``, with the run's held-out count, the region's
    data values (AIC/BIC) and the injected r (r_bias)."""
    c = experiment.config
    return item_row(record, c.model.fitted, item.grid_values, item.region, item.strategy, item.preset,
                    holdout=c.noise.holdout, n_data=n_data_values(experiment, item.region), r_in=c.sky.r)


def _region_picks(config: RunConfig, items: list[WorkItem], rows: list[dict], experiment, criterion: str,
                  has_r: bool, max_r_bias: float, rung: int = 0) -> tuple[dict[str, dict], dict[str, dict | None]]:
    """Per region its ``selection.json`` entry, and the row picked by ``criterion`` (for the
    plots), the picks among the grid items of search rung ``rung``."""
    regions: dict[str, dict] = {}
    chosen: dict[str, dict | None] = {}
    for region in config.regions.names:
        every = [r for r in rows if r["region"] == region]
        region_rows = [r for r in every if not r["baseline_preset"] and r["rung"] == rung]
        picks = {key: pick(region_rows, key, max_r_bias) if has_r or not rule.needs_r else None
                 for key, rule in CRITERIA.items()}
        chosen[region] = picks[criterion]
        regions[region] = {
            **{key: pick_entry(row, config.model) for key, row in picks.items()},
            "n_items_done": len(every),
            "n_items_total": sum(it.region == region for it in items),
            "n_excluded_unconverged": select(region_rows)[1],
            "n_pix": int(len(experiment.pixels(region))),
            "n_data_values": n_data_values(experiment, region),
            "n_above_max_r_bias": sum(r.get("r_bias", math.nan) > max_r_bias for r in region_rows) if has_r else None,
            "apod_warning": experiment.geometry(region).apod_warning,
        }
        if config.grid.multires_baseline:
            regions[region]["multires_baselines"] = {p: _baseline(every, p, config.model)
                                                     for p in config.grid.multires_baseline}
    return regions, chosen


def _baseline(rows: list[dict], preset: str, model) -> dict | None:
    """The JSON form of a region's baseline item of ``preset`` (None until done), reported whether
    or not its fits converged, with the number that did not."""
    base = next((r for r in rows if r["baseline_preset"] == preset), None)
    if base is None:
        return None
    return {**pick_entry(base, model), "n_unconverged": base["n_unconverged"]}


def _combined_means(regions: dict[str, dict], key: str) -> dict | None:
    """Pixel-weighted means of the CMB figures of the regions' ``key`` picks; None when a region has none."""
    if any(regions[r][key] is None for r in regions):
        return None
    n_pix = sum(regions[r]["n_pix"] for r in regions)
    combined = {figure: sum(regions[r]["n_pix"] * regions[r][key][figure] for r in regions) / n_pix
                for figure in ("cmb_mse", "cmb_variance")}
    combined.update(n_pix=n_pix, weighting="pixel-weighted means of the selected regions' figures")
    return combined


def _combined_r(run_dir: Path, experiment, items: list, picks: dict[str, dict | None]) -> dict | None:
    """Stitched figures of the regions' ``picks`` (region -> JSON pick, refitted with maps), None
    if one is missing; the union's geometry is the run folder's when stored."""
    if any(pick is None for pick in picks.values()):
        return None
    from compsep_hpc.report.combine import combined_figures, union_name

    selected = {r: items[pick["item_id"]] for r, pick in picks.items()}
    experiment.use_stored_geometry(run_dir, union_name(selected))
    return combined_figures(experiment, selected)


def _make_plots(run_dir: Path, experiment, rows: list[dict], records: list[dict],
                chosen: dict[str, dict | None], metric: str) -> list[str]:
    """Grid curves of ``metric`` and, for a region with a selected item, its patch and parameter maps."""
    from compsep_hpc.report import plots

    out: list[str] = []
    by_id = {r["item_id"]: r for r in records}
    model = experiment.config.model
    for region, best in chosen.items():
        region_rows = [r for r in rows if r["region"] == region]
        if not region_rows:
            continue
        col = {k: np.array([r[k] for r in region_rows]) for k in (*model.patch_keys, metric, "mean_nll")}
        sel = None if best is None else next(i for i, r in enumerate(region_rows) if r is best)
        rel = f"plots/grid_{region}.png"
        plots.plot_grid(run_dir / rel, {k: col[k] for k in model.patch_keys}, col[metric], col["mean_nll"],
                        np.array([not usable(r, metric) for r in region_rows]), sel, title=f"{region}", metric=metric)
        out.append(rel)
        if best is not None:
            out.append(_patch_plot(run_dir, experiment, region, best, by_id[best["item_id"]]))
    return out


def _patch_plot(run_dir: Path, experiment, region: str, best: dict, record: dict) -> str:
    """The patch and recovered parameter maps of a region's selected item (its ``items.csv`` row
    ``best`` and its ``record``); the path relative to the run folder."""
    from compsep_hpc.report import plots

    model = experiment.config.model
    k = tuple(best[key] for key in model.patch_keys)
    labels = experiment.labels(region, k)
    maps = {p: plots.patch_values(labels[i], record.get(f"{p}_mean", [])) for i, p in enumerate(model.fitted)}
    rel = f"plots/patches_{region}.png"
    plots.plot_patches(run_dir / rel, experiment.config.nside, experiment.pixels(region), labels, maps,
                       model.fitted_parameters,
                       title=f"{region}: selected " + ", ".join(f"{a}={b}" for a, b in zip(model.patch_keys, k)))
    return rel
