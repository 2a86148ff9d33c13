"""Engine benchmark: seconds per converged fit, iterations, optimality and peak memory, per fit method.

On the synthetic d1s1-like sky (seed 0) restricted to GAL020 (both halves, 9,830 pixels at
nside 64): K-means patch counts (100, 10, 10), (1000, 50, 50) and (4000, 80, 80), and the GAL020
multi-resolution preset (beta_dust per pixel, one temp_dust patch, beta_synch on nside-2 pixels),
at 1 and 10 noise realizations, with ``--method newton`` (the default fit) and/or ``lbfgs``. Each
case runs in its own process so its peak resident memory is its own. "first call" is the first
evaluation (compilation of both jitted fits + one run); seconds per fit is the second call (all
realizations in one vmapped call, plus the systematic fit and the CMB reconstruction) divided by
the realizations. "NLL - best" is the case's mean final NLL minus the lowest of the methods run
for the same patches and realizations. L-BFGS runs with ``max_iter`` raised to
``--lbfgs-max-iter`` (20,000) so that its seconds are those of a converged fit; its
(4000, 80, 80) and multi-resolution rows run at 1 realization only unless ``--all`` (about 25 and
40 minutes more on 2 cores).

    python scripts/bench_engine.py                          # both methods, the table above
    python scripts/bench_engine.py --method newton          # one method
    python scripts/bench_engine.py --patches 1000,50,50 --realizations 10
    python scripts/bench_engine.py --scaling                # Newton, 10 realizations: nside 32..256
                                                            # at (100, 10, 10), then patch counts
    python scripts/bench_engine.py --method newton --realizations 10 --reference ../main-before
                                                            # each case also with the package at that
                                                            # path, alternated, and the ratio of s / fit
    python scripts/bench_engine.py --method newton --realizations 10 --model curved_synch \
        --patches 1000,50,50,10                             # CMB + dust + curved synchrotron (n_p = 4)

``--model`` names the synchrotron component of the fitted model (``synch``, the default model, or
``curved_synch``: beta_synch and curv_synch, the last patch count being K_curv_synch).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

PATCHES = ["100,10,10", "1000,50,50", "4000,80,80", "multires"]
SLOW_LBFGS = ("4000,80,80", "multires")  # L-BFGS at 1 realization only, unless --all


def run_case(patches: str, n_real: int, method: str, nside: int, lbfgs_max_iter: int, synch: str = "synch") -> dict:
    import jax
    import numpy as np

    from compsep_hpc.config import parse_config
    from compsep_hpc.model.config import parse_model
    from compsep_hpc.precision import enable_float64
    from compsep_hpc.separation.config import FitConfig
    from compsep_hpc.separation.evaluate import evaluate_configuration
    from compsep_hpc.grid.experiment import Experiment

    enable_float64()
    from compsep_hpc.grid.work import multires_baseline_nsides

    multires = patches == "multires"
    raw = {"name": "bench", "nside": nside, "sky": {"model": "synthetic", "seed": 0}, "regions": ["GAL020"],
           "noise": {"realizations": n_real}}
    if synch != "synch":
        raw["model"] = {"components": ["cmb", "dust", synch]}
    fitted = parse_model(raw).fitted
    counts = (multires_baseline_nsides("GAL020", "default", nside, fitted) if multires
              else tuple(map(int, patches.split(","))))
    raw["grid"] = {p: [k] for p, k in zip(fitted, counts)}
    config = parse_config(raw)
    exp = Experiment(config)
    region = exp.region_data("GAL020")
    labels = exp.labels("GAL020", counts, "multires" if multires else "kmeans")
    fit = dataclasses.replace(config.fit, method=method, max_iter=lbfgs_max_iter if method == "lbfgs" else FitConfig.max_iter)
    t0 = time.perf_counter()
    evaluate_configuration(region, labels, exp.model, fit, keep_maps=False)
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    result = evaluate_configuration(region, labels, exp.model, fit, keep_maps=False)
    jax.block_until_ready(result.fit.nll)
    second = time.perf_counter() - t0
    return {
        "patches": patches, "nside": nside, "n_patches": [int(k) for k in result.n_patches], "realizations": n_real,
        "method": method, "likelihood": result.likelihood, "n_pix": int(len(region.pixels)),
        "n_cells": result.n_cells, "first_call_s": first, "seconds_per_fit": second / n_real,
        "mean_iterations": float(np.mean(result.fit.iterations)), "max_iterations": int(np.max(result.fit.iterations)),
        "converged": int(result.fit.converged.sum()), "mean_nll": float(np.mean(result.fit.nll)),
        "at_bound": np.mean(result.fit.n_at_bound, axis=0).tolist(),
        "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, "device": str(jax.devices()[0]),
    }


def _row(r: dict, best: float) -> str:
    bounds = "/".join(f"{b:.3g}" for b in r["at_bound"])
    return (f"| {r['patches']} {tuple(r['n_patches'])}, nside {r.get('nside', '')} | {r['realizations']} | {r['method']} | {r['likelihood']} | "
            f"{r['n_cells']} | {r['mean_iterations']:.0f} ({r['max_iterations']}) | {r['converged']}/{r['realizations']} | "
            f"{r['first_call_s']:.1f} | {r['seconds_per_fit']:.3f} | {r['mean_nll'] - best:+.2e} | {bounds} | "
            f"{r['peak_rss_gib']:.2f} |")


def _run(case: list, checkout: str | None) -> dict | str:
    """One case in its own process (with the benchmark and package of the ``checkout`` when given):
    its result, or the last line of its error."""
    script, env = __file__, None
    if checkout:
        script, env = str(Path(checkout) / "scripts" / "bench_engine.py"), dict(os.environ, PYTHONPATH=checkout)
    out = subprocess.run([sys.executable, script, "--case", json.dumps(case)], capture_output=True, text=True, env=env)
    if out.returncode:
        return out.stderr.strip().splitlines()[-1]
    return json.loads(out.stdout.strip().splitlines()[-1])


def compare(cases: list[tuple], reference: str, repeats: int, log) -> None:
    """Each case with the package at ``reference`` and with this one, alternated ``repeats`` times:
    the best s / fit of each and their ratio (this / reference)."""
    print("| patches (counts) | realizations | reference s / fit | this s / fit | ratio |")
    print("|---|---|---|---|---|")
    for case in cases:
        best = {"reference": float("inf"), "this": float("inf")}
        for _ in range(repeats):
            for label, path in (("reference", reference), ("this", None)):
                r = _run(list(case), path)
                if isinstance(r, str):
                    raise SystemExit(f"bench_engine: {label} failed on {case}: {r}")
                log.write(json.dumps({**r, "package": label}) + "\n")
                best[label] = min(best[label], r["seconds_per_fit"])
        print(f"| {case[0]} | {case[1]} | {best['reference']:.4f} | {best['this']:.4f} | "
              f"{best['this'] / best['reference']:.3f} |", flush=True)


def benchmark(cases: list[tuple], lbfgs_max_iter: int, log) -> None:
    """Run each (patches, realizations, method, nside) case in its own process and print the table."""
    print("| patches (counts) | realizations | method | likelihood | cells | iterations mean (max) | converged | "
          "first call [s] | s / fit | NLL - best | at bound (bd/Td/bs) | peak RSS [GiB] |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    done: dict[tuple, list[dict]] = {}
    for patches, n_real, method, nside, synch in cases:
        r = _run([patches, n_real, method, nside, lbfgs_max_iter, synch], None)
        if isinstance(r, str):
            print(f"| {patches} | {n_real} | {method} | failed: {r} |", flush=True)
            continue
        log.write(json.dumps(r) + "\n")
        log.flush()
        done.setdefault((patches, n_real, nside), []).append(r)
    for group in done.values():
        best = min(r["mean_nll"] for r in group)
        for r in group:
            print(_row(r, best), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", choices=["newton", "lbfgs"], help="one method only (default: both)")
    parser.add_argument("--patches", help="only these patch counts, e.g. 1000,50,50, or multires")
    parser.add_argument("--realizations", type=int, nargs="+", default=[1, 10])
    parser.add_argument("--all", action="store_true", help="also the slow L-BFGS rows at 10 realizations")
    parser.add_argument("--scaling", action="store_true")
    parser.add_argument("--nside", type=int, default=64)
    parser.add_argument("--lbfgs-max-iter", type=int, default=20000)
    parser.add_argument("--log", default="results/bench_engine.jsonl", help="JSON lines of every case (appended)")
    parser.add_argument("--model", default="synch", choices=["synch", "curved_synch"],
                        help="the fitted synchrotron component (default: the default model's power law)")
    parser.add_argument("--reference", help="a checkout of compsep-hpc to compare with (each case alternated)")
    parser.add_argument("--repeats", type=int, default=2, help="with --reference: runs of each case and package")
    parser.add_argument("--case", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        print(json.dumps(run_case(*json.loads(args.case))))
        return
    methods = [args.method] if args.method else ["newton", "lbfgs"]
    if args.scaling:
        cases = [("100,10,10", 10, "newton", nside, args.model) for nside in (32, 64, 128, 256)]
        cases += [(k, 10, "newton", 64, args.model) for k in ("10,1,1", "50,5,5", "300,20,20", "1000,50,50")]
    else:
        patches = [args.patches] if args.patches else PATCHES
        cases = [(k, n, m, args.nside, args.model) for k in patches for n in args.realizations for m in methods
                 if args.all or not (m == "lbfgs" and k in SLOW_LBFGS and n > 1)]
    Path(args.log).parent.mkdir(parents=True, exist_ok=True)
    with open(args.log, "a") as log:
        if args.reference:
            compare([(k, n, m, nside, args.lbfgs_max_iter) for k, n, m, nside, _ in cases], args.reference, args.repeats, log)
        else:
            benchmark(cases, args.lbfgs_max_iter, log)


if __name__ == "__main__":
    main()
