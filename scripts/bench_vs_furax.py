r"""Side-by-side CPU benchmark: compsep-hpc against the published peer furax-cs, on one problem.

One synthetic nside-64 LiteBIRD-like problem (15 bands, white noise, ``GAL020`` region: 20 % of
the sky) with K-means patches for (beta_dust, temp_dust, beta_synch) (default 100, 10, 10) is
built with compsep_hpc. The very same data (uK_CMB), patch labels, per-band noise sigma, box
bounds (``FitConfig`` defaults: beta_dust [0.5, 3], temp_dust [5, 50], beta_synch [-7, -0.5];
furax-cs's own script would use temp_dust [10, 40]) and start point (1.54, 20, -3) go to

- furax-cs's own likelihood (``furax.obs.negative_log_likelihood`` with ``analytical_gradient=True``
  and the dust/synchrotron references of its ``kmeans-model`` script), its noise operator
  (``furax.obs.operators.NoiseDiagonalOperator`` of per-band variances, as
  ``furax_cs.generate_noise_operator`` builds it) and its ``furax_cs.minimize`` with the
  ``kmeans-model`` defaults: ``optax_lbfgs`` (L-BFGS, backtracking line search, box bounds by
  projection = clipping onto the box after each step), ``atol = rtol = 1e-18``, ``max_iter``
  1000, no preconditioning, inside ``furax.Config(solver=lineax.CG(atol=1e-10, rtol=1e-6,
  max_steps=1000))``; realizations one after the other through one ``jax.jit`` (its default
  for-loop; ``--furax-vmap`` uses its ``-v`` path, ``jax.vmap`` over realizations, instead);
- compsep-hpc's likelihood (compressed or per-pixel form, chosen as ``evaluate`` does) and its
  default fit (the bound-constrained projected Newton method, ``compsep_hpc.separation.newton``) vmapped
  over realizations in one jitted call: ``compsep_hpc.separation.evaluate.fit_realizations``, the fit the
  grid runs, less the CMB reconstruction.

Convergence: furax-cs's tolerances of 1e-18 are never met, so at its defaults it runs its full
``max_iter`` (1000) iterations; compsep-hpc stops on its own rule (projected gradient below
1e-12 |NLL|). Both final parameter sets are then scored
with ONE function, compsep-hpc's per-pixel NLL (furax-cs's NLL is the same quantity,
:math:`-\sum_p (A^T N^{-1} d)^T (A^T N^{-1} A)^{-1} (A^T N^{-1} d)`, no factor 1/2: the conversion
factor is 1; the script also prints furax's own NLL at the start point and at both final points
to show the two functions agree). ``nll_gap = (ours - theirs) / |theirs|``: <= 0 means ours
reached at least as low an NLL.

Each side runs in its own process, so its peak resident memory (``ru_maxrss``) is its own.
"compile" is the AOT ``jit(...).lower(...).compile()`` time; seconds per fit are the execution of
the compiled function divided by the realizations. The last line reads
``speedup X at nll_gap Y``: X = furax-cs seconds per converged fit / compsep-hpc's, at the largest
realization count measured for both (10 by default), Y the mean gap over those realizations.
In furax-cs's for-loop mode one process fits the largest count one realization after the other
and the row for n realizations times its first n fits; ``--furax-budget SECONDS`` starts no fit
that would end past the budget, and the counts actually fitted are reported (the line before the
last one says so, with the ratio against compsep-hpc at 10 realizations too).

The peer runs in a separate environment: this script installs nothing and imports no furax code.
The furax-cs side is ``scripts/furax_worker.py``, run with ``--furax-python``; it imports no
compsep_hpc, and its inputs (data, labels, noise, parameter names, start, bounds, SED references)
come through an ``.npz`` file written by ``scripts/furax_ours.py``, compsep-hpc's side (problem,
fit, scoring). ``scripts/furax_compare.py`` computes the gaps and ratios and prints the report.

furax-cs 0.1.1 (newest on PyPI) needs a furax from git (the ``_in_structure`` keyword was removed
from furax on 2026-03-02 and ``analytical_gradient`` added on 2025-12-30); commit e9ad33f of
CMBSciPol/furax works (with jax 0.10.2 as pip resolves it)::

    git clone --no-checkout https://github.com/CMBSciPol/furax /tmp/furax-src
    git -C /tmp/furax-src checkout e9ad33f
    # (from a mirror without the large blobs: git -C /tmp/furax-src sparse-checkout set --no-cone '/*'
    #  '!/notebooks/test_obs.h5' '!/tests/obs/operators/seds/data/fgbuster_data.npz' first)
    python3 -m venv /tmp/furax-env
    /tmp/furax-env/bin/pip install /tmp/furax-src
    /tmp/furax-env/bin/pip install furax-cs==0.1.1 --no-deps
    /tmp/furax-env/bin/pip install 'jax-grid-search>=0.2.0' optax camb pysm3 optimistix cobyqa jaxopt scienceplots

(furax-cs's packaged mask is a Git LFS pointer, so its ``kmeans-model`` command itself cannot run;
its library functions are called here on compsep-hpc's data.) Then::

    python scripts/bench_vs_furax.py --furax-python /tmp/furax-env/bin/python --furax-budget 5400
    python scripts/bench_vs_furax.py --furax-python /tmp/furax-env/bin/python --furax-realizations 1
    python scripts/bench_vs_furax.py --furax-python /tmp/furax-env/bin/python --furax-max-iter 20  # smoke test

Measured on 2 CPU cores (9,830 pixels, 15 bands, real per-band noise): one furax-cs fit at its
defaults takes ~45 minutes (1000 iterations; the first iteration alone ~150 s), so 10
realizations take ~7.5 hours; with ``--furax-budget 5400`` it fits 2. compsep-hpc's side takes
seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
FURAX_WORKER = os.path.join(HERE, "furax_worker.py")  # run with --furax-python


def parse_args() -> argparse.Namespace:
    """The command line; ``--furax-python`` is required except in the hidden ``--ours-worker`` mode."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--furax-python", help="interpreter of the separate environment with furax-cs")
    parser.add_argument("--patches", type=int, nargs=3, default=[100, 10, 10], metavar=("BD", "TD", "BS"))
    parser.add_argument("--realizations", type=int, nargs="+", default=[1, 10],
                        help="realization counts timed for compsep-hpc (default 1 10; add 100 on a GPU)")
    parser.add_argument("--furax-realizations", type=int, nargs="+", default=None,
                        help="realization counts timed for furax-cs (default: the same as --realizations)")
    parser.add_argument("--furax-vmap", action="store_true", help="furax-cs's -v path: jax.vmap over realizations")
    parser.add_argument("--furax-budget", type=float, default=None, metavar="SECONDS",
                        help="for-loop mode: start no further furax-cs fit that would end past this many seconds "
                             "of fitting (the counts actually fitted are reported; default: no limit)")
    parser.add_argument("--furax-max-iter", type=int, default=1000, help="furax-cs max_iter (its default 1000)")
    parser.add_argument("--nside", type=int, default=64)
    parser.add_argument("--region", default="GAL020")
    parser.add_argument("--ours-worker", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not args.ours_worker and not args.furax_python:
        parser.error("--furax-python PATH is required (see the module docstring for the environment)")
    return args


def run_json(cmd: list[str], label: str) -> dict:
    """Run a worker process; its last stdout line, a JSON report, with ``process_s`` added."""
    t0 = time.perf_counter()
    out = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if out.returncode:
        sys.stderr.write(out.stderr)
        raise SystemExit(f"{label} failed (exit {out.returncode}): {out.stderr.strip().splitlines()[-1:]}")
    report = json.loads(out.stdout.strip().splitlines()[-1])
    report["process_s"] = time.perf_counter() - t0
    print(f"  [{label}: done in {report['process_s']:.1f} s]", file=sys.stderr, flush=True)
    return report


def run_ours(problem: dict, npz: str, n: int, tmp: str) -> dict:
    """compsep-hpc's fit of ``n`` realizations in its own process, scored; its fitted ``params`` kept."""
    import numpy as np

    from furax_ours import score

    out = os.path.join(tmp, f"ours_{n}.npz")
    report = run_json([sys.executable, os.path.abspath(__file__), "--ours-worker", npz, str(n), out],
                      f"compsep-hpc, {n} realizations")
    report["params"] = dict(np.load(out))
    report["nll"] = score(problem, report["params"], n)
    return report


def loop_rows(report: dict, counts: list[int]) -> dict:
    """furax-cs's for-loop run of the largest count as one row per count ``k``: its first ``k`` fits."""
    rows = {}
    for k in counts:
        rows[k] = dict(report, n_real=k, run_s=report["cumulative_s"][k - 1], nll=report["nll"][:k],
                       iterations=report["iterations"][:k], furax_nll=report["furax_nll"][:k],
                       furax_nll_at_start=report["furax_nll_at_start"][:k])
        if "furax_nll_at_ours" in report:
            rows[k]["furax_nll_at_ours"] = report["furax_nll_at_ours"][:k]
    return rows


def run_furax(args, problem: dict, npz: str, counts: list[int], tmp: str) -> tuple[dict, list[int]]:
    """furax-cs's fits with ``furax_worker.py``, scored; also the counts actually fitted. Its default
    for-loop fits one realization after the other with one compiled function: one run of the
    largest count gives the first n fits' time for every smaller n as well."""
    import numpy as np

    from furax_ours import score

    theirs = {}
    for n in ([max(counts)] if not args.furax_vmap else counts):
        out = os.path.join(tmp, f"furax_{n}.npz")
        cmd = [args.furax_python, FURAX_WORKER, npz, str(n), "vmap" if args.furax_vmap else "loop", out]
        if args.furax_budget and not args.furax_vmap:
            cmd.append(str(args.furax_budget))
        report = run_json(cmd, f"furax-cs, {n} realizations")
        n = report["n_real"]  # fewer than asked when the time budget ran out
        report["nll"] = score(problem, dict(np.load(out)), n)
        if args.furax_vmap:
            theirs[n] = report
            continue
        if n < max(counts):
            print(f"furax-cs: only {n} of {max(counts)} realizations fitted within --furax-budget "
                  f"{args.furax_budget:g} s", flush=True)
            counts = sorted({k for k in counts if k <= n} | {n})
        theirs.update(loop_rows(report, counts))
    return theirs, counts


def measure(args, problem: dict, furax_counts: list[int]) -> tuple[dict, dict, list[int]]:
    """Run both sides, each fit in its own process; the raw numbers per realization count (see
    furax_compare) and the furax-cs counts actually fitted."""
    import numpy as np

    tmp = tempfile.mkdtemp(prefix="bench_vs_furax_")
    npz = os.path.join(tmp, "problem.npz")
    np.savez(npz, **problem)
    ours = {n: run_ours(problem, npz, n, tmp) for n in args.realizations}
    # furax also reports its own NLL at our final point (largest run of ours) to check the two NLLs agree
    np.savez(npz, **problem, **{f"ours_{p}": v for p, v in ours[max(ours)]["params"].items()})
    theirs, furax_counts = run_furax(args, problem, npz, furax_counts, tmp)
    for n in furax_counts:  # compare at equal realization counts
        if n not in ours:
            ours[n] = run_ours(problem, npz, n, tmp)
    return ours, theirs, furax_counts


def main() -> None:
    """Build the problem, measure both sides, compare and report."""
    args = parse_args()
    from compsep_hpc.precision import enable_float64

    enable_float64()  # before furax_ours imports compsep_hpc and anything creates a JAX array
    import furax_ours
    from furax_compare import compare, problem_line, report

    if args.ours_worker:
        furax_ours.ours_worker(args.ours_worker[0], int(args.ours_worker[1]), args.ours_worker[2])
        return
    furax_counts = sorted(set(args.furax_realizations or args.realizations))
    args.realizations = sorted(set(args.realizations) | set(furax_counts))
    problem = furax_ours.build_problem(args.nside, args.region, args.patches, max(args.realizations),
                                       args.furax_max_iter)
    print(problem_line(args, problem), flush=True)
    ours, theirs, furax_counts = measure(args, problem, furax_counts)
    fit = furax_ours.config_of(problem).fit
    report(args, ours, theirs, furax_counts, compare(ours, theirs, furax_counts), fit.gradient_tolerance, fit.ftol)


if __name__ == "__main__":
    main()
