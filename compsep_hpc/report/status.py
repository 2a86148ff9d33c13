"""Progress of a run folder (``compsep-hpc status DIR [--json]``): no MPI, no JAX, reads only.

:func:`status_summary` gathers the figures once; :func:`format_status` prints them for people
and ``--json`` prints the same dictionary for scripts (the Slurm jobs read ``items_done`` and
``items_total`` from it). The parameters on a bound are counted per fitted parameter of the
run's model (``fitted_parameters``, from the run folder's config). ``stage_seconds``: the
seconds of each stage of the items (stage_clock.py), summed over the records that have them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from compsep_hpc.grid.search import latest_records, rung_folder, rung_progress, rung_records, search_rungs
from compsep_hpc.grid.work import run_work_list, stored_region_grids
from compsep_hpc.stage_clock import STAGES
from compsep_hpc.store.checkpoint import file_attributes, record_files
from compsep_hpc.store.run_folder import load_run_folder

MAX_LISTED = 10  # failed item ids listed in full


def _at_bound(records: list[dict], parameters: tuple[str, ...]) -> dict[str, Any] | None:
    """Parameters that ended on a bound, per family (``parameters``, the fitted ones), summed over
    the noise fits of all records (each ``n_at_bound`` (n_real, n_parameters))."""
    counts = [np.asarray(r["n_at_bound"]).reshape(-1, len(parameters)) for r in records if "n_at_bound" in r]
    if not counts:
        return None
    stacked = np.concatenate(counts)
    return {"noise_fits": len(stacked), **{p: int(v) for p, v in zip(parameters, stacked.sum(axis=0))},
            "fits_with_any": int(np.sum(stacked.sum(axis=1) > 0))}


def _stage_seconds(records: list[dict]) -> dict[str, Any] | None:
    """Seconds per stage (stage_clock.STAGES) summed over the records that have them (records
    written before the breakdown have only ``seconds``), with their count; None when none has."""
    timed = [r for r in records if all(f"seconds_{s}" in r for s in STAGES)]
    if not timed:
        return None
    return {"items": len(timed), **{s: float(sum(r[f"seconds_{s}"] for r in timed)) for s in STAGES}}


def _files(folders: list[Path]) -> tuple[int, list[tuple[float, dict]]]:
    """The number of record files of the run's record ``folders`` and (mtime, attributes) of the readable ones."""
    files = [path for folder in folders for path in record_files(folder)]
    attrs = []
    for path in files:
        try:
            attrs.append((path.stat().st_mtime, file_attributes(path)))
        except (OSError, KeyError, ValueError):
            continue  # unreadable (e.g. being replaced); read_records warned about it already
    return len(files), attrs


def status_summary(run_dir: str | os.PathLike) -> dict[str, Any]:
    """Items done/total per region and per search rung, failures, mean time per item, files and
    ranks, and an ETA.

    Under successive halving (grid/search.py) an item counts once per rung, a rung not reached
    yet with its planned size (an upper bound), and the failures and parameters on a bound are
    those of each item's latest record. Failed items are those with an unconverged noise
    realization (``n_unconverged > 0``) or an unconverged systematic (foreground-only) fit. The
    ETA is what is left x mean seconds per record / the ``n_ranks`` of the newest record file
    (the latest launch's rank count).
    """
    run_dir = Path(run_dir)
    config, meta = load_run_folder(run_dir)
    items = run_work_list(run_dir, config)  # the regions' grids stored at the run's start
    rungs = search_rungs(run_dir, config, items, stored_region_grids(run_dir, config) or {})
    per_rung = rung_records(run_dir, config, rungs)
    every = [r for records in per_rung for r in records]
    records = latest_records(per_rung)
    progress = rung_progress(config, items, rungs)
    n_files, attrs = _files([rung_folder(run_dir, config.search, r.index) for r in rungs])
    seconds = [float(r["seconds"]) for r in every if "seconds" in r]
    mean_s = sum(seconds) / len(seconds) if seconds else None
    latest = max(attrs, key=lambda t: t[0])[1] if attrs else {}
    n_ranks = max(int(latest.get("n_ranks", 1)), 1)
    done, total = sum(p["done"] for p in progress), sum(p["total"] for p in progress)
    regions = {region: {"done": sum(sum(it.region == region for it in r.items if it.item_id in r.done) for r in rungs),
                        "total": sum(sum(it.region == region for it in r.items) for r in rungs)}
               for region in config.regions.names}
    return {
        "run_name": config.name, "run_dir": str(run_dir), "config_sha256": config.sha256(),
        "package_version": meta.get("package_version"), "items_done": done, "items_total": total,
        "complete": done == total, "search": config.search.strategy, "rungs": progress, "regions": regions,
        "unconverged_items": [r["item_id"] for r in records if int(r.get("n_unconverged", 0)) > 0],
        "systematic_unconverged_items": [r["item_id"] for r in records if not bool(r.get("systematic_converged", True))],
        "fitted_parameters": list(config.model.fitted), "at_bound": _at_bound(records, config.model.fitted),
        "record_files": n_files, "ranks_seen": len({(a.get("launch_id"), a.get("rank")) for _, a in attrs}),
        "launches": len({a.get("launch_id") for _, a in attrs}),
        "mean_seconds_per_item": mean_s, "stage_seconds": _stage_seconds(every),
        "latest_launch": latest.get("launch_id"), "latest_n_ranks": n_ranks,
        "eta_seconds": 0.0 if done == total else (None if mean_s is None or not attrs else (total - done) * mean_s / n_ranks),
    }


def _duration(seconds: float) -> str:
    s = int(round(seconds))
    d, s = divmod(s, 86400)
    h, s = divmod(s, 3600)
    m, s = divmod(s, 60)
    return (f"{d}d " if d else "") + f"{h:02d}h{m:02d}m{s:02d}s"


def _ids(ids: list[int]) -> str:
    head = ", ".join(map(str, ids[:MAX_LISTED]))
    return head + (f", ... ({len(ids)} in all)" if len(ids) > MAX_LISTED else "")


def _failures(label: str, ids: list[int]) -> str:
    return f"items with {label}: {len(ids)}" + (f" (ids {_ids(ids)})" if ids else "")


def _stages(stages: dict[str, Any] | None) -> str:
    """The line of the seconds per stage: sum over items and share of their total."""
    if stages is None:
        return "time per stage: - (no record has the breakdown)"
    total = sum(stages[s] for s in STAGES) or 1.0
    return (f"time per stage, summed over {stages['items']} item(s): "
            + ", ".join(f"{s} {stages[s]:.3g} s ({100 * stages[s] / total:.0f} %)" for s in STAGES))


def _eta(s: dict[str, Any]) -> str:
    remaining = s["items_total"] - s["items_done"]
    if remaining == 0:
        return "ETA: complete"
    if s["eta_seconds"] is None:
        return f"ETA: unknown ({remaining} item(s) left, no timing yet)"
    return (f"ETA (remaining {remaining} items x {s['mean_seconds_per_item']:.3g} s / {s['latest_n_ranks']} rank(s) "
            f"of the latest launch {s['latest_launch'] or '?'}): {_duration(s['eta_seconds'])}")


def format_status(s: dict[str, Any]) -> str:
    """The text ``compsep-hpc status`` prints from :func:`status_summary`."""
    lines = [f"run {s['run_name']} in {s['run_dir']} (config {s['config_sha256'][:12]}, "
             f"package {s['package_version'] or '?'})", f"items done: {s['items_done']} / {s['items_total']}"]
    lines += [f"  {region:<10} {r['done']:>7} / {r['total']}" for region, r in s["regions"].items()]
    if s["search"] != "exhaustive":
        lines += [f"  rung {p['rung']} ({p['realizations']} realizations): {p['done']} / {p['total']}"
                  + ("" if p["reached"] else " (planned, at most)") for p in s["rungs"]]
    lines.append(_failures("unconverged realizations", s["unconverged_items"]))
    b = s["at_bound"]
    lines.append("parameters on a bound: -" if b is None else
                 f"parameters on a bound over {b['noise_fits']} noise fits: "
                 + ", ".join(f"{p} {b[p]}" for p in s["fitted_parameters"]) + f" (fits with any: {b['fits_with_any']})")
    lines.append(_failures("unconverged systematic fit", s["systematic_unconverged_items"]))
    lines.append(f"record files: {s['record_files']}, written by {s['ranks_seen']} rank(s) over {s['launches']} launch(es)")
    mean_s = s["mean_seconds_per_item"]
    lines.append("mean time per item: " + ("-" if mean_s is None else f"{mean_s:.3g} s (one rank)"))
    lines.append(_stages(s["stage_seconds"]))
    lines.append(_eta(s))
    return "\n".join(lines)


def run_status(run_dir: str | os.PathLike) -> str:
    """The status text of a run folder."""
    return format_status(status_summary(run_dir))
