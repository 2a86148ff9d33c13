#!/usr/bin/env python
"""Truth recovery of the selection criteria on the clustered validation sky.

The sky (``synthetic_clustered``) has several true patches for every parameter (default
(K_beta_dust, K_temp_dust, K_beta_synch) = (8, 4, 3), nside 16, one region), drawn with the sky's
own K-means seed (``sky.truth_kmeans_seed``, not the fit's ``grid.seed``). For every cell of a
table of per-patch spreads (multiples of the default ``sky.patch_spread``: beta_dust 0.1,
temp_dust 2 K, beta_synch 0.1) x numbers of noise realizations, the script runs the package's own
grid (``grid.launcher.launch``, one process) over a grid around the truth in all three counts
(default {6, 8, 10} x {3, 4, 5} x {2, 3, 4}) and reduces it (``report.reduce.reduce_run``). For
each criterion of science/selection.py it reports whether the pick is the true (8, 4, 3), the pick
otherwise, and the truth's rank among the items the criterion scores (1 = picked; ``-`` when the
truth is not eligible, e.g. above the bias cap of ``min_r_upper_low_bias``). It also says, per
parameter, whether the true partition is one of the fitted ones (both K-means seeds can converge to
the same partition at small K).

Output under ``--output`` (default ``results/truth_recovery``): one run folder per cell (resumed
when rerun), ``truth_recovery.md`` (the table) and ``truth_recovery.json``. Not part of the test
suite. The default (4 spreads x 3 realization counts = 12 cells of 27 items) takes about 15 min on 2
CPU cores, from its parts as measured: compilation about 1.5-2.5 min per realization count (the
cells of one count share it, in memory and in ``--output``/jax_cache), then 16-25 s per cell at 5
realizations and ~50 s at 50 (20: not measured). A reduced check (3 cells, ~4 min)::

    python scripts/truth_recovery.py --spreads 0.5 1 2 --realizations 5
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--output", type=Path, default=REPO / "results" / "truth_recovery")
    p.add_argument("--nside", type=int, default=16)
    p.add_argument("--region", default="GAL060_U")
    p.add_argument("--true", type=int, nargs=3, default=(8, 4, 3), metavar=("K_BD", "K_TD", "K_BS"))
    p.add_argument("--beta-dust", type=int, nargs="+", default=[6, 8, 10])
    p.add_argument("--temp-dust", type=int, nargs="+", default=[3, 4, 5])
    p.add_argument("--beta-synch", type=int, nargs="+", default=[2, 3, 4])
    p.add_argument("--spreads", type=float, nargs="+", default=[0.25, 0.5, 1.0, 2.0],
                   help="multiples of the default sky.patch_spread (default %(default)s)")
    p.add_argument("--realizations", type=int, nargs="+", default=[5, 20, 50])
    p.add_argument("--sky-seed", type=int, default=2026)
    p.add_argument("--truth-kmeans-seed", type=int, default=1,
                   help="K-means seed of the true patches (default %(default)s; the fit's grid.seed is 0: "
                        "0 puts the truth inside the fitted family, exactly at the true counts)")
    p.add_argument("--noise-seed", type=int, default=1234)
    p.add_argument("--max-r-bias", type=float, nargs="+", default=[1e-3, 3e-3],
                   help="caps of min_r_upper_low_bias, one column each (default %(default)s)")
    return p.parse_args(argv)


def cell_config(args: argparse.Namespace, spread: float, realizations: int) -> dict:
    """The run config (raw YAML mapping) of one cell of the table."""
    from compsep_hpc.model.parameters import PARAMETERS
    from compsep_hpc.sky.config import DEFAULT_PATCH_SPREAD

    return {
        "name": f"truth_seed{args.truth_kmeans_seed}_spread{spread:g}_n{realizations}", "nside": args.nside, "instrument": "litebird",
        "sky": {"model": "synthetic_clustered", "seed": args.sky_seed, "r": 0.0,
                "truth_kmeans_seed": args.truth_kmeans_seed,
                "true_patches": dict(zip(PARAMETERS, args.true)),
                "patch_spread": {p: spread * DEFAULT_PATCH_SPREAD[p] for p in PARAMETERS}},
        "regions": [args.region],
        "grid": {"beta_dust": args.beta_dust, "temp_dust": args.temp_dust, "beta_synch": args.beta_synch, "seed": 0},
        "noise": {"realizations": realizations, "seed": args.noise_seed},
    }


def truth_in_model_family(config) -> list[bool]:
    """Per parameter: is the true partition (sky's K-means seed) exactly the fit's at the true K?"""
    import numpy as np

    from compsep_hpc.grid.experiment import Experiment
    from compsep_hpc.sky.clustered import true_labels

    exp = Experiment(config)
    region = config.regions.names[0]
    truth = true_labels(config.sky, exp.pixels(region), config.nside, region)
    fitted = exp.labels(region, config.sky.true_patches)
    return [len(set(zip(t.tolist(), f.tolist()))) == len(np.unique(t)) == len(np.unique(f))
            for t, f in zip(truth, fitted)]


def truth_rank(rows: list[dict], criterion: str, truth: tuple[int, ...], max_r_bias: float,
               patch_keys: tuple[str, ...]) -> int | None:
    """1-based rank of the true counts (``patch_keys`` order) among the rows ``criterion`` scores;
    None when not eligible."""
    from compsep_hpc.science.selection import CRITERIA, candidates

    figure = CRITERIA[criterion].figure
    scored = sorted(candidates(rows, criterion, max_r_bias), key=lambda r: (r[figure], r["item_id"]))
    keys = [tuple(r[k] for k in patch_keys) for r in scored]
    return keys.index(truth) + 1 if truth in keys else None


def run_cell(args: argparse.Namespace, spread: float, realizations: int) -> dict:
    """Run, reduce and score one cell; returns its line of the table."""
    from compsep_hpc.config import parse_config
    from compsep_hpc.grid.launcher import launch
    from compsep_hpc.report.items_table import read_items_csv
    from compsep_hpc.report.reduce import reduce_run
    from compsep_hpc.science.selection import pick

    config = parse_config(cell_config(args, spread, realizations))
    folder = args.output / config.name
    start = time.perf_counter()
    launch(config, folder)
    selection = reduce_run(folder, plots=False)
    rows = [r for r in read_items_csv(folder / "items.csv") if r["strategy"] == "kmeans"]
    truth = tuple(args.true)
    patch_keys = config.model.patch_keys
    results = {}
    for column, (criterion, cap) in columns(args).items():
        picked = pick(rows, criterion, cap)  # the package's rule, on the rows reduce wrote
        k = None if picked is None else tuple(picked[key] for key in patch_keys)
        reduced = _pick_of(selection, args.region, criterion, patch_keys)
        if cap == selection["max_r_bias"] and k != reduced:
            raise RuntimeError(f"{criterion}: pick {k} on items.csv differs from reduce's {reduced}")
        results[column] = {"pick": k, "recovered": k == truth,
                           "truth_rank": truth_rank(rows, criterion, truth, cap, patch_keys)}
    return {"spread": spread, "realizations": realizations, "seconds": time.perf_counter() - start,
            "n_items": len(rows), "truth_is_fitted": truth_in_model_family(config), "criteria": results}


def columns(args: argparse.Namespace) -> dict[str, tuple[str, float]]:
    """Table column -> (criterion, bias cap): every criterion, the capped one once per ``--max-r-bias``."""
    from compsep_hpc.science.selection import CRITERIA, DEFAULT_MAX_R_BIAS

    out: dict[str, tuple[str, float]] = {}
    for criterion, rule in CRITERIA.items():
        caps = args.max_r_bias if rule.bias_capped else [DEFAULT_MAX_R_BIAS]
        out.update({(f"{criterion} <= {cap:g}" if rule.bias_capped else criterion): (criterion, cap) for cap in caps})
    return out


def _pick_of(selection: dict, region: str, criterion: str, patch_keys: tuple[str, ...]) -> tuple[int, ...] | None:
    entry = selection["regions"][region].get(criterion)
    return None if entry is None else tuple(entry[k] for k in patch_keys)


def markdown(lines: list[dict], args: argparse.Namespace) -> str:
    """The table: one row per cell, per criterion 'yes' or the pick, and the truth's rank."""
    head = ["spread x", "realizations", "truth fitted (bd/Td/bs)", *columns(args), "seconds"]
    out = [f"Truth {tuple(args.true)} (K-means seed {args.truth_kmeans_seed}, the fit's 0), nside {args.nside}, "
           f"{args.region}, grid {args.beta_dust} x {args.temp_dust} x {args.beta_synch}; cell: 'yes' (rank of the truth) when the pick is the truth, else the pick (rank)",
           "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for line in lines:
        cells = [f"{line['spread']:g}", str(line["realizations"]),
                 "/".join("yes" if t else "no" for t in line["truth_is_fitted"])]
        for column in columns(args):
            r = line["criteria"][column]
            rank = "-" if r["truth_rank"] is None else str(r["truth_rank"])
            what = "yes" if r["recovered"] else ("none" if r["pick"] is None else "/".join(map(str, r["pick"])))
            cells.append(f"{what} ({rank})")
        cells.append(f"{line['seconds']:.0f}")
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.output.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(args.output / "jax_cache"))  # shared by the cells
    from compsep_hpc.precision import enable_float64

    enable_float64()
    lines = []
    for spread in args.spreads:
        for realizations in args.realizations:
            lines.append(run_cell(args, spread, realizations))
            print(markdown(lines, args), file=sys.stderr, flush=True)
    table = markdown(lines, args)
    (args.output / "truth_recovery.md").write_text(table)
    (args.output / "truth_recovery.json").write_text(json.dumps({"args": {k: str(v) if isinstance(v, Path) else v
                                                                          for k, v in vars(args).items()},
                                                                 "cells": lines}, indent=2, default=list) + "\n")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
