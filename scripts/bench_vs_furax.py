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

The peer runs in a separate environment (this script installs nothing and imports no furax code;
the furax-cs side is a self-contained snippet written to a temporary directory and run with
``--furax-python``, its inputs passed through an ``.npz`` file). furax-cs 0.1.1 (newest on PyPI)
needs a furax from git (the ``_in_structure`` keyword was removed from furax on 2026-03-02 and
``analytical_gradient`` added on 2025-12-30); commit e9ad33f of CMBSciPol/furax works::

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
import resource
import subprocess
import sys
import tempfile
import textwrap
import time

PARAMETERS = ("beta_dust", "temp_dust", "beta_synch")
FURAX_NAMES = {"beta_dust": "beta_dust", "temp_dust": "temp_dust", "beta_synch": "beta_pl"}
FURAX_NU_DUST = 160.0  # GHz, furax-cs kmeans-model's dust_nu0
FURAX_NU_SYNCH = 20.0  # GHz, furax-cs kmeans-model's synchrotron_nu0

# The furax-cs side: self-contained, run by --furax-python; imports only furax / furax-cs / jax.
FURAX_WORKER = textwrap.dedent(
    r'''
    import json, os, resource, sys, time
    os.environ["EQX_ON_ERROR"] = "nan"  # as furax-cs's kmeans-model sets it
    import numpy as np
    import jax
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    import lineax as lx
    from functools import partial
    from furax import Config
    from furax.obs import negative_log_likelihood
    from furax.obs.operators import NoiseDiagonalOperator
    from furax.obs.stokes import Stokes
    from furax_cs import minimize

    inp = np.load(sys.argv[1])
    n_real = int(sys.argv[2])
    use_vmap = sys.argv[3] == "vmap"
    out_path = sys.argv[4]
    budget = float(sys.argv[5]) if len(sys.argv) > 5 else float("inf")  # seconds, for-loop mode only
    data = jnp.asarray(inp["data"][:n_real])  # (n_real, n_freq, 2, n_pix), uK_CMB
    nu = jnp.asarray(inp["nu"])
    var = jnp.asarray(inp["sigma"]) ** 2  # uK^2 per band
    labels = inp["labels"]
    max_iter = int(inp["max_iter"])
    names = ("beta_dust", "temp_dust", "beta_pl")
    counts = {k: int(labels[i].max()) + 1 for i, k in enumerate(names)}
    patch_indices = {k + "_patches": jnp.asarray(labels[i], dtype=jnp.int64) for i, k in enumerate(names)}
    tree = lambda v: {k: jnp.full((counts[k],), float(v[i])) for i, k in enumerate(names)}
    guess, lower, upper = tree(inp["start"]), tree(inp["lower"]), tree(inp["upper"])
    nll_fn = partial(negative_log_likelihood, dust_nu0=float(inp["nu_dust"]),
                     synchrotron_nu0=float(inp["nu_synch"]), analytical_gradient=True)

    def operands(q, u):
        d = Stokes.from_stokes(q, u)
        # furax_cs.generate_noise_operator's N: per-band variances, shape (n_freq, 1) per Stokes
        N = NoiseDiagonalOperator(Stokes.from_stokes(var[:, None], var[:, None]), _in_structure=d.structure)
        return d, N

    def single_run(q, u):
        d, N = operands(q, u)
        params, state = minimize(
            fn=nll_fn, init_params=guess, solver_name="optax_lbfgs", max_iter=max_iter,
            atol=1e-18, rtol=1e-18, lower_bound=lower, upper_bound=upper, precondition=False,
            solver_options={"linesearch": "backtracking"}, nu=nu, N=N, d=d, patch_indices=patch_indices,
        )
        nll = nll_fn(params, nu=nu, N=N, d=d, patch_indices=patch_indices)
        return params, state.iter_num, nll

    def nll_at(params, q, u):
        d, N = operands(q, u)
        return nll_fn(params, nu=nu, N=N, d=d, patch_indices=patch_indices)

    q, u = data[:, :, 0, :], data[:, :, 1, :]
    report = {"n_real": n_real, "mode": "vmap" if use_vmap else "loop", "device": str(jax.devices()[0])}
    with Config(solver=lx.CG(atol=1e-10, rtol=1e-6, max_steps=1000)):
        fn = jax.jit(jax.vmap(single_run)) if use_vmap else jax.jit(single_run)
        args = (q, u) if use_vmap else (q[0], u[0])
        t0 = time.perf_counter()
        compiled = fn.lower(*args).compile()
        report["compile_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        if use_vmap:
            params, iters, nll = jax.block_until_ready(compiled(q, u))
        else:
            outs, report["cumulative_s"] = [], []
            for i in range(n_real):
                elapsed = time.perf_counter() - t0
                if i and elapsed + elapsed / i > budget:  # the next fit would end past the budget
                    print(f"furax-cs: time budget {budget:.0f} s reached after {i} fits", file=sys.stderr, flush=True)
                    break
                outs.append(jax.block_until_ready(compiled(q[i], u[i])))
                report["cumulative_s"].append(time.perf_counter() - t0)
                print(f"furax-cs realization {i}: {report['cumulative_s'][-1]:.1f} s", file=sys.stderr, flush=True)
            params, iters, nll = jax.tree.map(lambda *x: jnp.stack(x), *outs)
            n_real = report["n_real"] = len(outs)
            q, u = q[:n_real], u[:n_real]
        report["run_s"] = time.perf_counter() - t0
        eval_nll = jax.jit(jax.vmap(nll_at))
        report["furax_nll_at_start"] = np.asarray(eval_nll(jax.tree.map(lambda x: jnp.broadcast_to(x, (n_real,) + x.shape), guess), q, u)).tolist()
        if "ours_beta_dust" in inp.files:
            ours = {k: jnp.asarray(inp["ours_" + k][:n_real]) for k in names}
            report["furax_nll_at_ours"] = np.asarray(eval_nll(ours, q, u)).tolist()
    report["iterations"] = np.asarray(iters).tolist()
    report["furax_nll"] = np.asarray(nll).tolist()
    report["peak_rss_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    np.savez(out_path, **{k: np.asarray(v) for k, v in params.items()})
    print(json.dumps(report))
    '''
)


def build_problem(args) -> dict:
    """The shared problem, from compsep_hpc, as plain numpy arrays."""
    import numpy as np

    from compsep_hpc.config import parse_config
from compsep_hpc.separation.config import FitConfig
    from compsep_hpc.grid.experiment import Experiment

    config = parse_config({
        "name": "bench_vs_furax", "nside": args.nside, "sky": {"model": "synthetic", "seed": 0},
        "regions": [args.region],
        "grid": {"beta_dust": [args.patches[0]], "temp_dust": [args.patches[1]], "beta_synch": [args.patches[2]]},
        "noise": {"realizations": max(args.realizations)},
    })
    exp = Experiment(config)
    region = exp.region_data(args.region)
    labels = exp.labels(args.region, tuple(args.patches))
    fit = FitConfig()
    model = exp.model
    return {
        "data": np.asarray(region.data, dtype=np.float64),
        "labels": np.asarray(labels, dtype=np.int64),
        "nu": np.asarray(model.frequencies, dtype=np.float64),
        "sigma": 1.0 / np.sqrt(np.asarray(model.inv_noise_var, dtype=np.float64)),
        "nu_dust": FURAX_NU_DUST,
        "nu_synch": FURAX_NU_SYNCH,
        "start": np.array([fit.start[p] for p in PARAMETERS]),
        "lower": np.array([fit.bounds[p][0] for p in PARAMETERS]),
        "upper": np.array([fit.bounds[p][1] for p in PARAMETERS]),
        "max_iter": args.furax_max_iter,
        "ours_max_iter": fit.max_iter, "ftol": fit.ftol, "gtol": fit.gradient_tolerance, "likelihood": fit.likelihood,
        "method": fit.method, "linear_solver": fit.linear_solver,
    }


def spectral_model(problem: dict):
    import jax.numpy as jnp

    from compsep_hpc.separation.likelihood import SpectralModel

    return SpectralModel(jnp.asarray(problem["nu"]), jnp.asarray(1.0 / problem["sigma"] ** 2),
                         float(problem["nu_dust"]), float(problem["nu_synch"]))


def ours_worker(npz: str, n_real: int, out_path: str) -> None:
    """compsep-hpc side, in its own process: the vmapped fit of ``n_real`` realizations, through
    the product's own ``evaluate.fit_problem`` and ``evaluate.fit_realizations``."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    from compsep_hpc.separation.config import FitConfig
    from compsep_hpc.separation.evaluate import choose_likelihood, fit_problem, fit_realizations, fit_settings
    from compsep_hpc.separation.packing import split

    inp = dict(np.load(npz))
    model = spectral_model(inp)
    labels = inp["labels"]
    fit = FitConfig(method=str(inp["method"]), linear_solver=str(inp["linear_solver"]),
                    max_iter=int(inp["ours_max_iter"]), ftol=float(inp["ftol"]), gtol=float(inp["gtol"]),
                    bounds={p: (float(inp["lower"][i]), float(inp["upper"][i])) for i, p in enumerate(PARAMETERS)},
                    start={p: float(inp["start"][i]) for i, p in enumerate(PARAMETERS)})
    problem, layout, n_cells = fit_problem(labels, fit)
    form = choose_likelihood(labels.shape[1], n_cells, len(inp["nu"]), str(inp["likelihood"]), fit.method)
    fit_all = jax.jit(lambda data: fit_realizations(data, problem, model, likelihood=form, **fit_settings(fit)))

    data = jnp.asarray(inp["data"][:n_real])
    t0 = time.perf_counter()
    compiled = fit_all.lower(data).compile()
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    result = jax.block_until_ready(compiled(data))
    run_s = time.perf_counter() - t0
    np.savez(out_path, **split(np.asarray(result.params), layout))
    print(json.dumps({
        "n_real": n_real, "likelihood": form, "n_cells": n_cells, "compile_s": compile_s, "run_s": run_s,
        "iterations": np.asarray(result.iterations).tolist(), "converged": np.asarray(result.converged).tolist(),
        "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
        "device": str(jax.devices()[0]),
    }))


def score(problem: dict, params: dict, n_real: int) -> list[float]:
    """compsep-hpc's per-pixel NLL of each realization at ``params`` (dict of (n_real, K) arrays)."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    from compsep_hpc.separation.likelihood import pixel_data, pixel_nll

    model = spectral_model(problem)
    patch = jnp.asarray(problem["labels"])
    f = jax.jit(jax.vmap(lambda p, d: pixel_nll(p, patch, pixel_data(d, model.inv_noise_var), model)))
    return np.asarray(f({k: jnp.asarray(v) for k, v in params.items()}, jnp.asarray(problem["data"][:n_real]))).tolist()


def run_json(cmd: list[str], label: str) -> dict:
    t0 = time.perf_counter()
    out = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if out.returncode:
        sys.stderr.write(out.stderr)
        raise SystemExit(f"{label} failed (exit {out.returncode}): {out.stderr.strip().splitlines()[-1:]}")
    report = json.loads(out.stdout.strip().splitlines()[-1])
    report["process_s"] = time.perf_counter() - t0
    print(f"  [{label}: done in {report['process_s']:.1f} s]", file=sys.stderr, flush=True)
    return report


def main() -> None:
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
    if args.ours_worker:
        ours_worker(args.ours_worker[0], int(args.ours_worker[1]), args.ours_worker[2])
        return
    if not args.furax_python:
        parser.error("--furax-python PATH is required (see the module docstring for the environment)")
    furax_counts = sorted(set(args.furax_realizations or args.realizations))
    args.realizations = sorted(set(args.realizations) | set(furax_counts))
    ours_counts = args.realizations

    import numpy as np

    tmp = tempfile.mkdtemp(prefix="bench_vs_furax_")
    problem = build_problem(args)
    n_pix = problem["labels"].shape[1]
    npz = os.path.join(tmp, "problem.npz")
    np.savez(npz, **problem)
    worker = os.path.join(tmp, "furax_worker.py")
    with open(worker, "w") as f:
        f.write(FURAX_WORKER)
    bounds = {p: (float(lo), float(hi)) for p, lo, hi in zip(PARAMETERS, problem["lower"], problem["upper"])}
    print(f"problem: nside {args.nside}, {args.region}, {n_pix} pixels, {len(problem['nu'])} bands, patches "
          f"{tuple(args.patches)}, start {tuple(float(x) for x in problem['start'])}, bounds {bounds}, SED references "
          f"{FURAX_NU_DUST:g} / {FURAX_NU_SYNCH:g} GHz on both sides", flush=True)

    ours, theirs = {}, {}
    for n in ours_counts:
        out = os.path.join(tmp, f"ours_{n}.npz")
        ours[n] = run_json([sys.executable, os.path.abspath(__file__), "--ours-worker", npz, str(n), out],
                           f"compsep-hpc, {n} realizations")
        params = dict(np.load(out))
        ours[n]["nll"] = score(problem, params, n)
        ours[n]["params"] = params
    # furax also reports its own NLL at our final point (largest run of ours) to check the two NLLs agree
    big = dict(problem, **{f"ours_{FURAX_NAMES[p]}": v for p, v in ours[max(ours_counts)]["params"].items()})
    np.savez(npz, **big)
    # furax-cs's default for-loop fits one realization after the other with one compiled function:
    # one run of the largest count gives the first n fits' time for every smaller n as well.
    for n in ([max(furax_counts)] if not args.furax_vmap else furax_counts):
        out = os.path.join(tmp, f"furax_{n}.npz")
        cmd = [args.furax_python, worker, npz, str(n), "vmap" if args.furax_vmap else "loop", out]
        if args.furax_budget and not args.furax_vmap:
            cmd.append(str(args.furax_budget))
        report = run_json(cmd, f"furax-cs, {n} realizations")
        n = report["n_real"]  # fewer than asked when the time budget ran out
        params = {p: v for p, v in np.load(out).items()}
        report["nll"] = score(problem, {p: params[FURAX_NAMES[p]] for p in PARAMETERS}, n)
        if args.furax_vmap:
            theirs[n] = report
            continue
        if n < max(furax_counts):
            print(f"furax-cs: only {n} of {max(furax_counts)} realizations fitted within --furax-budget "
                  f"{args.furax_budget:g} s", flush=True)
            furax_counts = sorted({k for k in furax_counts if k <= n} | {n})
        for k in furax_counts:
            theirs[k] = dict(report, n_real=k, run_s=report["cumulative_s"][k - 1], nll=report["nll"][:k],
                             iterations=report["iterations"][:k], furax_nll=report["furax_nll"][:k],
                             furax_nll_at_start=report["furax_nll_at_start"][:k])
            if "furax_nll_at_ours" in report:
                theirs[k]["furax_nll_at_ours"] = report["furax_nll_at_ours"][:k]

    for n in furax_counts:  # compare at equal realization counts
        if n not in ours:
            out = os.path.join(tmp, f"ours_{n}.npz")
            ours[n] = run_json([sys.executable, os.path.abspath(__file__), "--ours-worker", npz, str(n), out],
                               f"compsep-hpc, {n} realizations")
            ours[n]["nll"] = score(problem, dict(np.load(out)), n)
    ours_counts = sorted(ours)

    def row(side, r, n):
        iters = np.asarray(r["iterations"])
        conv = f", {sum(r['converged'])}/{n} converged" if "converged" in r else ""
        return (f"| {side} | {n} | {r['compile_s']:.2f} | {r['run_s'] / n:.3f} | {iters.mean():.0f} "
                f"({iters.min()}-{iters.max()}){conv} | {np.mean(r['nll']):.6f} | {r['peak_rss_gib']:.2f} |")

    print()
    print(f"compsep-hpc likelihood: {ours[ours_counts[0]]['likelihood']} ({ours[ours_counts[0]]['n_cells']} joint cells); "
          f"furax-cs: optax_lbfgs + backtracking, {'vmap' if args.furax_vmap else 'for-loop'} over realizations, "
          f"max_iter {args.furax_max_iter}, atol = rtol = 1e-18")
    if not args.furax_vmap and len(furax_counts) > 1:
        print(f"furax-cs rows: one process fitting {max(furax_counts)} realizations one after the other; the row for "
              f"n realizations times its first n fits (compile and peak RSS are that one process's)")
    print("| side | realizations | compile [s] | s / fit | iterations mean (min-max) | final NLL (mean, compsep-hpc's function) | peak RSS [GiB] |")
    print("|---|---|---|---|---|---|---|")
    for n in ours_counts:
        print(row("compsep-hpc", ours[n], n))
    for n in furax_counts:
        print(row("furax-cs", theirs[n], n))
    print()
    common = [n for n in furax_counts if n in ours]
    for n in common:
        a, b = np.asarray(ours[n]["nll"]), np.asarray(theirs[n]["nll"])
        gap = (a - b) / np.abs(b)
        print(f"{n} realizations: s/fit ratio furax-cs / compsep-hpc = "
              f"{(theirs[n]['run_s'] / n) / (ours[n]['run_s'] / n):.1f}; NLL compsep-hpc - furax-cs per realization: "
              f"{np.round(a - b, 4).tolist()}; nll_gap mean {gap.mean():.3e} (max {gap.max():.3e}); "
              f"compile ratio {theirs[n]['compile_s'] / ours[n]['compile_s']:.1f}; "
              f"peak RSS ratio {theirs[n]['peak_rss_gib'] / ours[n]['peak_rss_gib']:.2f}")
    last = max(common)
    t = theirs[last]
    print(f"NLL check (furax-cs's own function vs compsep-hpc's, {last} realizations): at the start point "
          f"furax {np.mean(t['furax_nll_at_start']):.6f}; at furax's final point furax {np.mean(t['furax_nll']):.6f} "
          f"vs ours {np.mean(t['nll']):.6f}" + (
              f"; at compsep-hpc's final point furax {np.mean(t['furax_nll_at_ours'][:last]):.6f} vs ours "
              f"{np.mean(ours[last]['nll']):.6f}" if "furax_nll_at_ours" in t else "") +
          " (conversion factor 1: both are -sum_p b^T M^-1 b, no 1/2)")
    print(f"convergence: furax-cs ran {np.mean(t['iterations']):.0f} iterations on average (its tolerances 1e-18 are "
          f"not met, it stops at max_iter {args.furax_max_iter}); compsep-hpc stopped on its own rule "
          f"(gtol {problem['gtol']:g}, ftol {problem['ftol']:g}) after {np.mean(ours[last]['iterations']):.0f}")
    if last != 10:
        extra = ""
        if 10 in ours:
            extra = (f"; against compsep-hpc at 10 realizations ({ours[10]['run_s'] / 10:.4f} s/fit) it would read "
                     f"{(t['run_s'] / last) / (ours[10]['run_s'] / 10):.1f}")
        print(f"note: the speedup below compares both sides at {last} realization(s), the largest count run for "
              f"furax-cs (furax-cs: {t['run_s'] / last:.1f} s/fit, mean of {last} fits run one after the other; "
              f"compsep-hpc: {ours[last]['run_s'] / last:.4f} s/fit){extra}")
    speedup = (t["run_s"] / last) / (ours[last]["run_s"] / last)
    gap = float(np.mean((np.asarray(ours[last]["nll"]) - np.asarray(t["nll"])) / np.abs(np.asarray(t["nll"]))))
    print(f"speedup {speedup:.1f} at nll_gap {gap:.2e}")


if __name__ == "__main__":
    main()
