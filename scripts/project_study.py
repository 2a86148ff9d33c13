"""Cost of the paper-scale study on this machine, projected from a timed sample of its items.

The study is ``configs/litebird_c1d1s1.yaml``: 6 regions x 3200 items (K_beta_dust 100..5000 x
K_temp_dust x K_beta_synch in {1, 5, 20, 30, 50, 60, 70, 80}) x 100 noise realizations = 1.92 M
fits at nside 64. The pysm3 templates are not on this machine, so the sample runs on the
synthetic d1s1-like sky (same instrument, regions and patch counts). Items are spread over the
whole K_beta_dust range (up to each region's pixel count), over the other two counts and over
the regions. Each item is evaluated twice in one process: the first call compiles, the second
is timed (all realizations vmapped in one call, plus the systematic fit and the CMB
reconstruction). The projection is the sample's mean seconds per fit x 1.92 M fits, in hours of
this whole machine (``nproc`` cores: XLA uses them all) and in core-hours; compilation (a handful
per grid and rank) is left out.

    python scripts/project_study.py --method newton --realizations 10
    python scripts/project_study.py --method lbfgs --realizations 1
"""

from __future__ import annotations

import argparse
import json
import os
import time

SAMPLE = [("GAL020_U", (100, 1, 80)), ("GAL040_L", (1500, 80, 5)), ("GAL060_U", (2900, 20, 50)),
          ("GAL060_L", (4300, 50, 30))]
STUDY_FITS = 6 * 3200 * 100


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", choices=["newton", "lbfgs"], default="newton")
    parser.add_argument("--realizations", type=int, default=10)
    parser.add_argument("--lbfgs-max-iter", type=int, default=20000)
    args = parser.parse_args()

    import jax
    import numpy as np

    from compsep_hpc.config import parse_config
    from compsep_hpc.precision import enable_float64
    from compsep_hpc.separation.config import FitConfig
    from compsep_hpc.separation.evaluate import evaluate_configuration
    from compsep_hpc.grid.experiment import Experiment

    enable_float64()

    study = load_config_dict()
    raw = {**study, "sky": {"model": "synthetic", "seed": 0}, "noise": {"realizations": args.realizations},
           "grid": {"beta_dust": [100], "temp_dust": [1], "beta_synch": [1]}}
    exp = Experiment(parse_config(raw))
    fit = FitConfig(method=args.method, max_iter=args.lbfgs_max_iter if args.method == "lbfgs" else FitConfig.max_iter)
    per_fit = []
    print("| region | patches | pixels | cells | iterations mean (max) | converged | s / fit |")
    print("|---|---|---|---|---|---|---|")
    for region_name, counts in SAMPLE:
        region = exp.region_data(region_name)
        labels = exp.labels(region_name, counts)
        evaluate_configuration(region, labels, exp.model, fit, keep_maps=False)
        t0 = time.perf_counter()
        result = evaluate_configuration(region, labels, exp.model, fit, keep_maps=False)
        seconds = (time.perf_counter() - t0) / args.realizations
        per_fit.append(seconds)
        print(f"| {region_name} | {counts} | {len(region.pixels)} | {result.n_cells} | "
              f"{np.mean(result.fit.iterations):.0f} ({np.max(result.fit.iterations)}) | "
              f"{int(result.fit.converged.sum())}/{args.realizations} | {seconds:.3f} |", flush=True)
    mean = float(np.mean(per_fit))
    hours = mean * STUDY_FITS / 3600
    cores = os.cpu_count() or 1
    print(json.dumps({"method": args.method, "realizations": args.realizations, "mean_seconds_per_fit": mean,
                      "study_fits": STUDY_FITS, "machine_hours": hours, "cores": cores,
                      "core_hours": hours * cores}))
    print(f"projected study ({STUDY_FITS:,} fits, {args.method}): {hours:,.0f} hours of this {cores}-core machine "
          f"= {hours * cores:,.0f} core-hours")


def load_config_dict() -> dict:
    """The study config as a plain dict (it is not run as is: its K_beta_dust exceeds region sizes)."""
    from pathlib import Path

    import yaml

    return yaml.safe_load((Path(__file__).resolve().parents[1] / "configs" / "litebird_c1d1s1.yaml").read_text())


if __name__ == "__main__":
    main()
