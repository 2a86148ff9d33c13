"""Progress report of a run folder (``compsep-hpc status DIR``): no MPI, reads only."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from compsep_hpc.checkpoint import file_attributes, read_records, record_files
from compsep_hpc.pipeline import work_list
from compsep_hpc.run_folder import load_run_folder
from compsep_hpc.sed import PARAMETERS

MAX_LISTED = 10  # failed item ids listed in full


def _duration(seconds: float) -> str:
    s = int(round(seconds))
    d, s = divmod(s, 86400)
    h, s = divmod(s, 3600)
    m, s = divmod(s, 60)
    return (f"{d}d " if d else "") + f"{h:02d}h{m:02d}m{s:02d}s"


def _ids(ids: list[int]) -> str:
    head = ", ".join(map(str, ids[:MAX_LISTED]))
    return head + (f", ... ({len(ids)} in all)" if len(ids) > MAX_LISTED else "")


def _at_bound_line(records: list[dict]) -> str:
    """Parameters that ended on a bound, per family, summed over the noise fits of all records."""
    counts = [np.asarray(r["n_at_bound"]).reshape(-1, 3) for r in records if "n_at_bound" in r]
    if not counts:
        return "parameters on a bound: -"
    stacked = np.concatenate(counts)
    per_family = ", ".join(f"{p} {int(v)}" for p, v in zip(PARAMETERS, stacked.sum(axis=0)))
    return (f"parameters on a bound over {len(stacked)} noise fits: {per_family} "
            f"(fits with any: {int(np.sum(stacked.sum(axis=1) > 0))})")


def run_status(run_dir: str | os.PathLike) -> str:
    """Items done/total per region, failures, mean time per item, files and ranks, and an ETA.

    Failed items are those with an unconverged noise realization (``n_unconverged > 0``) or an
    unconverged systematic (foreground-only) fit. The ETA is remaining items x mean seconds per
    item / the ``n_ranks`` of the newest record file (the latest launch's rank count).
    """
    run_dir = Path(run_dir)
    config, meta = load_run_folder(run_dir)
    items = work_list(config)
    records = [r for r in read_records(run_dir, config_sha256=config.sha256()) if 0 <= r["item_id"] < len(items)]
    done = {r["item_id"] for r in records}
    lines = [f"run {config.name} in {run_dir} (config {config.sha256()[:12]}, "
             f"package {meta.get('package_version', '?')})",
             f"items done: {len(done)} / {len(items)}"]
    for region in config.regions.names:
        ids = [it.item_id for it in items if it.region == region]
        lines.append(f"  {region:<10} {sum(i in done for i in ids):>7} / {len(ids)}")

    unconverged = [r["item_id"] for r in records if int(r.get("n_unconverged", 0)) > 0]
    sys_failed = [r["item_id"] for r in records if not bool(r.get("systematic_converged", True))]
    lines.append(f"items with unconverged realizations: {len(unconverged)}"
                 + (f" (ids {_ids(unconverged)})" if unconverged else ""))
    lines.append(_at_bound_line(records))
    lines.append(f"items with unconverged systematic fit: {len(sys_failed)}"
                 + (f" (ids {_ids(sys_failed)})" if sys_failed else ""))

    files = record_files(run_dir)
    attrs = []
    for path in files:
        try:
            attrs.append((path.stat().st_mtime, file_attributes(path)))
        except (OSError, KeyError, ValueError):
            continue  # unreadable (e.g. being replaced); read_records warned about it already
    ranks_seen = {(a.get("launch_id"), a.get("rank")) for _, a in attrs}
    launches = {a.get("launch_id") for _, a in attrs}
    lines.append(f"record files: {len(files)}, written by {len(ranks_seen)} rank(s) over "
                 f"{len(launches)} launch(es)")

    seconds = [float(r["seconds"]) for r in records if "seconds" in r]
    mean_s = sum(seconds) / len(seconds) if seconds else None
    lines.append("mean time per item: " + ("-" if mean_s is None else f"{mean_s:.3g} s (one rank)"))
    remaining = len(items) - len(done)
    if remaining == 0:
        lines.append("ETA: complete")
    elif mean_s is None or not attrs:
        lines.append(f"ETA: unknown ({remaining} item(s) left, no timing yet)")
    else:
        latest = max(attrs, key=lambda t: t[0])[1]
        n_ranks = max(int(latest.get("n_ranks", 1)), 1)
        eta = remaining * mean_s / n_ranks
        lines.append(f"ETA (remaining {remaining} items x {mean_s:.3g} s / {n_ranks} rank(s) of the "
                     f"latest launch {latest.get('launch_id', '?')}): {_duration(eta)}")
    return "\n".join(lines)
