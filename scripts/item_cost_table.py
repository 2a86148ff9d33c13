#!/usr/bin/env python
"""Where an item's time goes: the seconds per stage of every item of a run folder, as a table.

Reads the records' ``seconds_<stage>`` (compsep_hpc/stage_clock.py: prepare, systematic_fit,
noisy_fits, cmb_maps, spectra, r, write, compile) and prints one markdown row per item (region,
patch counts, joint cells, realizations, mean Newton iterations, seconds per stage and in all),
then the share of each stage over all items with and without compilation. The README's table
(eight items of GAL020_U, small and large K, one rank)::

    compsep-hpc run configs/paper_nside64.yaml --output results/item_cost --set "regions=[GAL020_U]" \
        --set "grid.beta_dust=[100, 9830]" --set "grid.temp_dust=[1, 50]" --set "grid.beta_synch=[5, 50]" \
        --set "grid.multires_baseline=[]" --set name=item_cost
    python scripts/item_cost_table.py results/item_cost
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from compsep_hpc.errors import CompsepError
from compsep_hpc.stage_clock import STAGES
from compsep_hpc.store.checkpoint import read_records
from compsep_hpc.store.run_folder import load_run_folder


def item_rows(run_dir: Path) -> tuple[list[str], list[list[str]], dict[str, float]]:
    """(header, one row per timed item, seconds per stage summed over them)."""
    config, _ = load_run_folder(run_dir)
    keys = [f"K_{p}" for p in config.model.fitted]
    header = ["item", "region", *keys, "cells", "realizations", "iterations", *STAGES, "total"]
    rows, sums = [], dict.fromkeys(STAGES, 0.0)
    for r in read_records(run_dir):
        if not all(f"seconds_{s}" in r for s in STAGES):
            continue
        seconds = [float(r[f"seconds_{s}"]) for s in STAGES]
        for s, v in zip(STAGES, seconds):
            sums[s] += v
        rows.append([str(r["item_id"]), r["region"], *(str(r[k]) for k in keys), str(r["n_cells"]),
                     str(len(r["nll"])), f"{np.mean(r['iterations']):.1f}", *(f"{v:.2f}" for v in seconds),
                     f"{sum(seconds):.2f}"])
    if not rows:
        raise CompsepError(f"{run_dir}: no record has the seconds per stage (written before the breakdown?)")
    return header, rows, sums


def share_line(sums: dict[str, float], without: tuple[str, ...] = ()) -> str:
    """Each stage's share of the summed seconds, leaving out the stages ``without``."""
    kept = {s: v for s, v in sums.items() if s not in without}
    total = sum(kept.values()) or 1.0
    return ", ".join(f"{s} {100 * v / total:.1f} %" for s, v in kept.items())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run", type=Path, help="a run folder")
    args = p.parse_args(argv)
    try:
        header, rows, sums = item_rows(args.run)
    except (CompsepError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print(f"\nshare over {len(rows)} items: {share_line(sums)}")
    print(f"share without compilation: {share_line(sums, ('compile',))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
