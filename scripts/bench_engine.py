"""Engine benchmark: seconds per converged fit and peak memory, nside 64, 20 % region.

For patch counts (100, 10, 10) and (1000, 50, 50), 1, 10 and 100 noise realizations, and both
likelihood forms, on the synthetic d1s1-like sky restricted to GAL020 (both halves, derived mask).
Each case runs in its own process so its peak resident memory is its own. "first call" is the
first evaluation (compilation of both jitted fits + one run); seconds per fit is the second
call (all realizations in one vmapped call, plus the systematic fit and the CMB reconstruction)
divided by the realizations.

    python scripts/bench_engine.py            # full table (~25 min on 2 CPU cores)
    python scripts/bench_engine.py --quick    # (100, 10, 10) only, 1 and 10 realizations
    python scripts/bench_engine.py --scaling  # 10 realizations, compressed: nside 32..256 at
                                              # (100, 10, 10), then patch counts at nside 64
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

CASES = [((100, 10, 10), n, form) for n in (1, 10, 100) for form in ("compressed", "pixel")] + [
    ((1000, 50, 50), n, form) for n in (1, 10, 100) for form in ("compressed", "pixel")
]


def run_case(patches: tuple[int, int, int], n_real: int, form: str, nside: int) -> dict:
    import jax
    import numpy as np

    from compsep_hpc.config import FitConfig, parse_config
    from compsep_hpc.evaluate import evaluate_configuration
    from compsep_hpc.pipeline import Experiment

    config = parse_config({"name": "bench", "nside": nside, "sky": {"model": "synthetic", "seed": 0},
                           "regions": ["GAL020"], "grid": {"beta_dust": [patches[0]], "temp_dust": [patches[1]],
                                                           "beta_synch": [patches[2]]},
                           "noise": {"realizations": n_real}})
    exp = Experiment(config)
    region = exp.region_data("GAL020")
    labels = exp.labels("GAL020", patches)
    fit = FitConfig(likelihood=form)
    t0 = time.perf_counter()
    evaluate_configuration(region, labels, exp.model, fit)
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    result = evaluate_configuration(region, labels, exp.model, fit)
    jax.block_until_ready(result.fit.nll)
    second = time.perf_counter() - t0
    return {
        "patches": list(patches), "realizations": n_real, "likelihood": result.likelihood,
        "n_pix": int(len(region.pixels)), "n_cells": result.n_cells, "first_call_s": first,
        "seconds_per_fit": second / n_real, "mean_iterations": float(np.mean(result.fit.iterations)),
        "converged": int(result.fit.converged.sum()), "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
        "device": str(jax.devices()[0]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--scaling", action="store_true")
    parser.add_argument("--patches", help="only these patch counts, e.g. 1000,50,50")
    parser.add_argument("--nside", type=int, default=64)
    parser.add_argument("--case", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        patches, n_real, form, nside = json.loads(args.case)
        print(json.dumps(run_case(tuple(patches), n_real, form, nside)))
        return
    if args.scaling:
        cases = [((100, 10, 10), 10, "compressed", n) for n in (32, 64, 128, 256)]
        cases += [(k, 10, "compressed", 64) for k in ((10, 1, 1), (50, 5, 5), (300, 20, 20), (1000, 50, 50))]
    else:
        cases = [(*c, args.nside) for c in CASES if not args.quick or (c[0] == (100, 10, 10) and c[1] <= 10)]
        if args.patches:
            cases = [c for c in cases if c[0] == tuple(int(k) for k in args.patches.split(","))]
    print("| nside | patches | realizations | likelihood | pixels | cells | first call [s] | s / fit | iterations | converged | peak RSS [GiB] |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for patches, n_real, form, nside in cases:
        out = subprocess.run([sys.executable, __file__, "--case", json.dumps([patches, n_real, form, nside])],
                             capture_output=True, text=True)
        if out.returncode:
            print(f"| {nside} | {patches} | {n_real} | {form} | failed: {out.stderr.strip().splitlines()[-1]} |")
            continue
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"| {nside} | {tuple(r['patches'])} | {n_real} | {r['likelihood']} | {r['n_pix']} | {r['n_cells']} | "
              f"{r['first_call_s']:.1f} | {r['seconds_per_fit']:.3f} | {r['mean_iterations']:.0f} | "
              f"{r['converged']}/{n_real} | {r['peak_rss_gib']:.2f} |", flush=True)


if __name__ == "__main__":
    main()
