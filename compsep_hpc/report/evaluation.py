"""``compsep-hpc evaluate``: score a run's picks on another foreground sky, without rerunning the grid.

Every item that the run's ``selection.json`` lists per region (the pick of each criterion and the
multires baselines) is refitted, once, with the run's config in which only
``sky.foreground_seed`` is replaced: the foreground amplitudes, parameter maps and clustered patch
values of another seed, with the same statistics, behind the same CMB (``sky.seed``, drawn from the
run's stored CAMB spectra), with the same noise realizations (``noise.seed``), in the same regions
(the run's stored region geometries; without a mask file the regions stay those of
``sky.seed``'s foreground intensity, sky/synthetic.py) and with the same patches (``grid.seed``).
A pick that is good on the run's sky but not on this one was fitted to that sky's foregrounds.

Output, ``RUN_DIR/evaluations/foreground_seed_<S>/``, itself a run folder of the evaluation's config
(``config.yaml`` + ``run.json``: hash, package version): ``checkpoints/`` (the refitted items'
records, the run's record schema under the run's item ids), ``items.csv`` (their rows, as the run's),
``evaluation.csv`` (one row per region and pick: figures on this sky beside the run's) and, written
last, ``evaluation.json`` (seeds, both configs' hashes and this config, package version, per region
and pick the figures on this sky and on the run's, and ``combined.<pick>``: the picks of every region
stitched, spectra and r of the union as ``reduce`` computes them). A complete evaluation is never
overwritten (one-line error); an interrupted one resumes, skipping the records already written.
One process: the few refits do not need MPI.
"""

from __future__ import annotations

import csv
import io
import json
import os
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from compsep_hpc.config import RunConfig, parse_config
from compsep_hpc.errors import CompsepError
from compsep_hpc.grid.work import WorkItem, run_work_list
from compsep_hpc.provenance import code_version
from compsep_hpc.report.items_table import items_csv
from compsep_hpc.report.reduce import pick_entry, record_row
from compsep_hpc.science.selection import CRITERIA, json_float, pick_patch_keys, scalars
from compsep_hpc.store.atomic import write_atomic
from compsep_hpc.store.checkpoint import completed_item_ids, read_records
from compsep_hpc.store.run_folder import create_run_folder, load_run_folder, read_geometry, write_geometry

EVALUATIONS_DIR = "evaluations"
SUMMARY_FILE = "evaluation.json"
COMPARED = ("cmb_mse", "cmb_variance", "r_hat", "sigma_r", "r_upper", "r_95")
"""The figures ``evaluation.csv`` gives on both skies."""


def evaluation_folder(run_dir: str | os.PathLike, foreground_seed: int) -> Path:
    """``RUN_DIR/evaluations/foreground_seed_<S>``."""
    return Path(run_dir) / EVALUATIONS_DIR / f"foreground_seed_{int(foreground_seed)}"


def selection_baselines(region_entry: dict) -> dict[str, dict | None]:
    """The multires baselines of a region's ``selection.json`` entry by pick key: the one preset's
    ``multires_baseline``, or ``multires_baseline_<preset>`` for a per-preset ``multires_baselines``."""
    if isinstance(region_entry.get("multires_baselines"), dict):
        return {f"multires_baseline_{p}": v for p, v in region_entry["multires_baselines"].items()}
    return {"multires_baseline": region_entry["multires_baseline"]} if "multires_baseline" in region_entry else {}


def selection_picks(selection: dict) -> dict[str, dict[str, dict]]:
    """Per region, every pick of ``selection.json`` by key (criteria, then baselines); absent ones left out."""
    out: dict[str, dict[str, dict]] = {}
    for region, entry in selection["regions"].items():
        picks = {key: entry.get(key) for key in CRITERIA}
        picks.update(selection_baselines(entry))
        out[region] = {key: p for key, p in picks.items() if p is not None}
    return out


def evaluation_config(config: RunConfig, foreground_seed: int) -> RunConfig:
    """The run's config with ``sky.foreground_seed`` = ``foreground_seed`` (ConfigError for a pysm
    sky) and an exhaustive search: each pick is refitted on all ``noise.realizations``."""
    raw = config.to_dict()
    return parse_config({**raw, "sky": {**raw["sky"], "foreground_seed": int(foreground_seed)},
                         "search": {**raw["search"], "strategy": "exhaustive"}}, config.name)


def _check_one_process() -> None:
    """Refuse a launch of several tasks (mpiexec, srun): each would refit and write every item."""
    from compsep_hpc.grid.runtime import LAUNCHER_TASK_COUNTS

    for name in LAUNCHER_TASK_COUNTS:
        value = os.environ.get(name, "")
        if value.isdigit() and int(value) > 1:
            raise CompsepError(f"evaluate runs in one process ({name}={value}); start it without mpiexec or srun")


def _load(run_dir: Path, foreground_seed: int) -> tuple[RunConfig, dict, RunConfig, Path]:
    """The run's config and selection, the evaluation's config and folder; checks before any write."""
    config, _ = load_run_folder(run_dir)
    try:
        selection = json.loads((run_dir / "selection.json").read_text())
    except (OSError, ValueError) as exc:
        raise CompsepError(f"{run_dir} has no readable selection.json: run `compsep-hpc reduce {run_dir}` first") from exc
    if selection.get("config_sha256") != config.sha256():
        raise CompsepError(f"{run_dir}/selection.json belongs to another config: reduce the run again")
    folder = evaluation_folder(run_dir, foreground_seed)
    if (folder / SUMMARY_FILE).exists():
        raise CompsepError(f"{folder} already holds a complete evaluation; remove it to evaluate again")
    return config, selection, evaluation_config(config, foreground_seed), folder


def _experiment(run_dir: Path, folder: Path, config: RunConfig, regions):
    """The evaluation's Experiment with the run's templates, CMB spectra and region geometries."""
    from compsep_hpc.grid.experiment import Experiment
    from compsep_hpc.grid.runtime import enable_compilation_cache

    experiment = Experiment.from_run_folder(run_dir, config)
    for region in regions:
        geometry = read_geometry(run_dir, region)
        if geometry is None:
            write_geometry(folder, region, experiment.geometry(region))
        elif not np.array_equal(geometry.pixels, experiment.pixels(region)):
            raise CompsepError(f"region {region} of the evaluation sky differs from the run's stored one")
    enable_compilation_cache(run_dir)  # the run's compiled fits
    experiment.keep_results()  # a pick refitted for its record is not refitted for the combined figures
    return experiment


def _items_to_refit(items: list[WorkItem], picks: dict[str, dict[str, dict]],
                    patch_keys: tuple[str, ...]) -> list[WorkItem]:
    """The distinct work items of the picks among the run's ``items`` (its stored region grids), by
    item id; CompsepError when one does not match the run (its ``patch_keys``, ``model.patch_keys``)."""
    chosen: dict[int, WorkItem] = {}
    for region, by_key in picks.items():
        for key, entry in by_key.items():
            item_id = int(entry["item_id"])
            item = items[item_id] if 0 <= item_id < len(items) else None
            if item is None or item.region != region or tuple(item.grid_values) != tuple(entry.get(k) for k in patch_keys):
                raise CompsepError(f"selection.json: {region} {key} (item {item_id}) is not an item of this run")
            chosen[item_id] = item
    return [chosen[i] for i in sorted(chosen)]


def _combined(run_dir: Path, folder: Path, experiment, picks: dict[str, dict[str, dict]], items) -> dict:
    """``combined.<key>``: every region's ``key`` pick stitched (spectra and r of the union), for the
    keys that every region has; each distinct set of items is fitted once."""
    from compsep_hpc.report.combine import combined_figures, union_name

    keys = [k for k in next(iter(picks.values()), {}) if all(k in by_key for by_key in picks.values())]
    done: dict[tuple[int, ...], dict | None] = {}
    out: dict[str, dict | None] = {}
    for key in keys:
        selected = {region: items[int(by_key[key]["item_id"])] for region, by_key in picks.items()}
        ids = tuple(it.item_id for it in selected.values())
        if ids not in done:
            name = union_name(selected)
            stored = read_geometry(run_dir, name)
            if stored is not None:
                experiment.use_geometry(name, stored)
            done[ids] = scalars(combined_figures(experiment, selected))
            if stored is None:
                write_geometry(folder, name, experiment.geometry(name))
        out[key] = done[ids]
    return out


def _tables(picks: dict[str, dict[str, dict]], rows: dict[int, dict], model) -> tuple[dict, str]:
    """Per region and pick: the figures on this sky (``pick_entry``) with ``run_sky``, those of
    ``selection.json``; and the ``evaluation.csv`` text (``K_<p>`` of ``model``'s fitted parameters)."""
    regions: dict[str, dict] = {}
    buf = io.StringIO()
    fields = ["region", "pick", "item_id", *model.patch_keys, *COMPARED, *(f"run_sky_{f}" for f in COMPARED)]
    writer = csv.DictWriter(buf, fieldnames=fields, restval="nan", lineterminator="\n")
    writer.writeheader()
    for region, by_key in picks.items():
        regions[region] = {}
        for key, entry in by_key.items():
            new = pick_entry(rows[int(entry["item_id"])], model)
            regions[region][key] = {**new, "run_sky": {f: entry.get(f) for f in COMPARED}}
            figures = {**{f: new.get(f) for f in COMPARED}, **{f"run_sky_{f}": entry.get(f) for f in COMPARED}}
            writer.writerow({"region": region, "pick": key, **{k: new[k] for k in ("item_id", *model.patch_keys)},
                             **{f: "nan" if v is None else v for f, v in figures.items()}})
    return regions, buf.getvalue()


def evaluate_run(run_dir: str | os.PathLike, foreground_seed: int) -> dict:
    """Refit the picks of ``run_dir``'s ``selection.json`` on the sky of another foreground seed
    (module docstring); returns the content of ``evaluation.json``. CompsepError (one line, nothing
    written) for a folder without selection, a pysm sky, or a complete evaluation of this seed."""
    from compsep_hpc.grid.launcher import run_items
    from compsep_hpc.precision import enable_float64

    _check_one_process()
    enable_float64()
    run_dir = Path(run_dir)
    config, selection, eval_config, folder = _load(run_dir, foreground_seed)
    picks = selection_picks(selection)
    items = run_work_list(run_dir, config)  # the run's own item ids (grid.above_pixels resolved at its launch)
    todo = _items_to_refit(items, picks, config.model.patch_keys)
    create_run_folder(eval_config, folder)  # refuses a folder of another config
    experiment = _experiment(run_dir, folder, eval_config, list(picks))
    done = completed_item_ids(folder)
    launch_id = "evaluate-" + datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    run_items(eval_config, folder, experiment, [it for it in todo if it.item_id not in done], launch_id)
    ids = {it.item_id for it in todo}
    records = [r for r in read_records(folder, config_sha256=eval_config.sha256()) if r["item_id"] in ids]
    rows = {r["item_id"]: record_row(r, items[r["item_id"]], experiment) for r in records}
    write_atomic(folder / "items.csv", items_csv(list(rows.values()), config.model.fitted))
    regions, table = _tables(picks, rows, config.model)
    write_atomic(folder / "evaluation.csv", table)
    summary = {
        "foreground_seed": int(foreground_seed), "sky_seed": config.sky.seed, "noise_seed": config.noise.seed,
        "run_foreground_seed": config.sky.foreground_rng_seed, "run_config_sha256": config.sha256(),
        "config_sha256": eval_config.sha256(), **code_version(),
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "selection": {k: selection.get(k) for k in ("criterion", "max_r_bias", "package_version", "source_revision")},
        "n_refits": len(todo), "n_resumed": len(done & ids), "holdout": config.noise.holdout,
        "regions": regions, "combined": _combined(run_dir, folder, experiment, picks, items),
        "config": eval_config.to_dict(),
    }
    write_atomic(folder / SUMMARY_FILE, json.dumps(summary, indent=2) + "\n")
    return summary


def format_evaluation(summary: dict) -> str:
    """What ``compsep-hpc evaluate`` prints: per region and pick, r_upper and cmb_mse on both skies."""
    def fmt(x) -> str:
        return "-" if x is None else f"{x:.4g}"

    lines = [f"foreground seed {summary['foreground_seed']} (run's: {summary['run_foreground_seed']}; CMB seed "
             f"{summary['sky_seed']}, noise seed {summary['noise_seed']}): {summary['n_refits']} item(s) refitted",
             f"{'region':<10} {'pick':<28} {'K':>12} {'r_upper run':>12} {'r_upper here':>12} "
             f"{'cmb_mse run':>12} {'cmb_mse here':>12}"]
    for region, by_key in summary["regions"].items():
        for key, p in by_key.items():
            k = "/".join(str(p[x]) for x in pick_patch_keys(p))
            lines.append(f"{region:<10} {key:<28} {k:>12} {fmt(p['run_sky'].get('r_upper')):>12} "
                         f"{fmt(p.get('r_upper')):>12} {fmt(p['run_sky'].get('cmb_mse')):>12} {fmt(p.get('cmb_mse')):>12}")
    for key, comb in summary["combined"].items():
        if comb is not None:
            lines.append(f"combined {key}: r_hat {fmt(comb.get('r_hat'))}, sigma_r {fmt(comb.get('sigma_r'))}, "
                         f"r_upper {fmt(comb.get('r_upper'))}, cmb_mse {fmt(json_float(comb.get('cmb_mse')))}")
    return "\n".join(lines)
