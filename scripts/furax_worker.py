"""furax-cs's side of ``bench_vs_furax.py``: fit the benchmark problem with furax-cs's own likelihood
and L-BFGS, in furax's environment.

Run by ``bench_vs_furax.py`` with the furax environment's interpreter (``--furax-python``)::

    python furax_worker.py INPUTS.npz N_REAL {loop|vmap} OUT.npz [BUDGET_SECONDS]

It imports only numpy, jax, lineax, furax and furax_cs: compsep_hpc is not installed there, so
everything it needs (data, band frequencies and noise sigma, patch labels, parameter names and
furax's names for them, start point, bounds, SED references, ``max_iter``) comes in ``INPUTS.npz``,
written by ``furax_ours.build_problem``. It writes the fitted parameters to ``OUT.npz`` under
compsep-hpc's parameter names, (n_real, K) each, and prints one JSON line: times, iterations,
furax's own NLL at its final point, at the start point and (when the inputs hold
``ours_<parameter>``) at compsep-hpc's final point, and the peak resident memory.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from functools import partial

os.environ["EQX_ON_ERROR"] = "nan"  # as furax-cs's kmeans-model sets it, before equinox is imported

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import lineax as lx  # noqa: E402
import numpy as np  # noqa: E402
from furax import Config  # noqa: E402
from furax.obs import negative_log_likelihood  # noqa: E402
from furax.obs.operators import NoiseDiagonalOperator  # noqa: E402
from furax.obs.stokes import Stokes  # noqa: E402
from furax_cs import minimize  # noqa: E402

TOLERANCE = 1e-18  # furax-cs kmeans-model's atol and rtol
CG_SOLVER = dict(atol=1e-10, rtol=1e-6, max_steps=1000)  # its furax.Config linear solver


class Problem:
    """The inputs of one run, as furax takes them: parameter trees keyed by furax's names."""

    def __init__(self, inp, n_real: int):
        self.names = [str(p) for p in inp["parameters"]]  # compsep-hpc's names, in its order
        self.furax_names = [str(p) for p in inp["furax_names"]]  # furax's, same order
        labels = inp["labels"]
        self.counts = {k: int(labels[i].max()) + 1 for i, k in enumerate(self.furax_names)}
        self.patch_indices = {k + "_patches": jnp.asarray(labels[i], dtype=jnp.int64)
                              for i, k in enumerate(self.furax_names)}
        self.guess, self.lower, self.upper = (self.tree(inp[key]) for key in ("start", "lower", "upper"))
        data = jnp.asarray(inp["data"][:n_real])  # (n_real, n_freq, 2, n_pix), uK_CMB
        self.q, self.u = data[:, :, 0, :], data[:, :, 1, :]
        self.nu = jnp.asarray(inp["nu"])
        self.var = jnp.asarray(inp["sigma"]) ** 2  # uK^2 per band
        self.max_iter = int(inp["max_iter"])
        self.nll = partial(negative_log_likelihood, dust_nu0=float(inp["nu_dust"]),
                           synchrotron_nu0=float(inp["nu_synch"]), analytical_gradient=True)
        self.ours = None
        if "ours_" + self.names[0] in inp.files:
            self.ours = {f: jnp.asarray(inp["ours_" + p][:n_real]) for p, f in zip(self.names, self.furax_names)}

    def tree(self, values) -> dict:
        """One value per parameter (compsep-hpc's order) -> furax's tree, that value on every patch."""
        return {k: jnp.full((self.counts[k],), float(values[i])) for i, k in enumerate(self.furax_names)}

    def operands(self, q, u):
        """furax's data ``d`` and noise operator ``N`` of one realization: ``N`` as
        ``furax_cs.generate_noise_operator`` builds it, per-band variances of shape (n_freq, 1)."""
        d = Stokes.from_stokes(q, u)
        var = self.var[:, None]
        return d, NoiseDiagonalOperator(Stokes.from_stokes(var, var), _in_structure=d.structure)

    def nll_at(self, params, q, u):
        """furax's own NLL of one realization at ``params``."""
        d, N = self.operands(q, u)
        return self.nll(params, nu=self.nu, N=N, d=d, patch_indices=self.patch_indices)

    def single_run(self, q, u):
        """One fit with ``furax_cs.minimize`` at kmeans-model's defaults: parameters, iterations, NLL."""
        d, N = self.operands(q, u)
        params, state = minimize(
            fn=self.nll, init_params=self.guess, solver_name="optax_lbfgs", max_iter=self.max_iter,
            atol=TOLERANCE, rtol=TOLERANCE, lower_bound=self.lower, upper_bound=self.upper, precondition=False,
            solver_options={"linesearch": "backtracking"}, nu=self.nu, N=N, d=d, patch_indices=self.patch_indices,
        )
        return params, state.iter_num, self.nll_at(params, q, u)


def compile_fit(problem: Problem, use_vmap: bool):
    """The jitted fit (of all realizations when vmapped, of one otherwise), compiled ahead of time;
    also the compile time in seconds."""
    fn = jax.jit(jax.vmap(problem.single_run)) if use_vmap else jax.jit(problem.single_run)
    args = (problem.q, problem.u) if use_vmap else (problem.q[0], problem.u[0])
    t0 = time.perf_counter()
    compiled = fn.lower(*args).compile()
    return compiled, time.perf_counter() - t0


def fit_loop(compiled, problem: Problem, budget: float):
    """furax-cs's default for-loop: one realization after the other, starting no fit that would end
    past ``budget`` seconds; the stacked outputs and the cumulative seconds after each fit."""
    outs, cumulative = [], []
    t0 = time.perf_counter()
    for i in range(problem.q.shape[0]):
        elapsed = time.perf_counter() - t0
        if i and elapsed + elapsed / i > budget:  # the next fit would end past the budget
            print(f"furax-cs: time budget {budget:.0f} s reached after {i} fits", file=sys.stderr, flush=True)
            break
        outs.append(jax.block_until_ready(compiled(problem.q[i], problem.u[i])))
        cumulative.append(time.perf_counter() - t0)
        print(f"furax-cs realization {i}: {cumulative[-1]:.1f} s", file=sys.stderr, flush=True)
    return jax.tree.map(lambda *x: jnp.stack(x), *outs), cumulative


def check_nll(problem: Problem, n_real: int) -> dict:
    """furax's own NLL at the start point and, when given, at compsep-hpc's final point."""
    q, u = problem.q[:n_real], problem.u[:n_real]
    eval_nll = jax.jit(jax.vmap(problem.nll_at))
    start = jax.tree.map(lambda x: jnp.broadcast_to(x, (n_real,) + x.shape), problem.guess)
    out = {"furax_nll_at_start": np.asarray(eval_nll(start, q, u)).tolist()}
    if problem.ours is not None:
        ours = {k: v[:n_real] for k, v in problem.ours.items()}
        out["furax_nll_at_ours"] = np.asarray(eval_nll(ours, q, u)).tolist()
    return out


def run(problem: Problem, use_vmap: bool, budget: float) -> tuple[dict, dict]:
    """Compile and run the fits inside furax-cs's ``furax.Config``; the fitted parameters (furax's
    names) and the report."""
    report = {"n_real": int(problem.q.shape[0]), "mode": "vmap" if use_vmap else "loop",
              "device": str(jax.devices()[0])}
    with Config(solver=lx.CG(**CG_SOLVER)):
        compiled, report["compile_s"] = compile_fit(problem, use_vmap)
        t0 = time.perf_counter()
        if use_vmap:
            params, iters, nll = jax.block_until_ready(compiled(problem.q, problem.u))
        else:
            (params, iters, nll), report["cumulative_s"] = fit_loop(compiled, problem, budget)
            report["n_real"] = len(report["cumulative_s"])  # fewer than asked when the budget ran out
        report["run_s"] = time.perf_counter() - t0
        report.update(check_nll(problem, report["n_real"]))
    report["iterations"] = np.asarray(iters).tolist()
    report["furax_nll"] = np.asarray(nll).tolist()
    return params, report


def main(argv: list[str] | None = None) -> None:
    """``INPUTS.npz N_REAL {loop|vmap} OUT.npz [BUDGET_SECONDS]`` (the budget: for-loop mode only)."""
    argv = sys.argv[1:] if argv is None else argv
    npz, n_real, mode, out_path = argv[0], int(argv[1]), argv[2], argv[3]
    budget = float(argv[4]) if len(argv) > 4 else float("inf")
    jax.config.update("jax_enable_x64", True)
    problem = Problem(np.load(npz), n_real)
    params, report = run(problem, mode == "vmap", budget)
    report["peak_rss_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    np.savez(out_path, **{p: np.asarray(params[f]) for p, f in zip(problem.names, problem.furax_names)})
    print(json.dumps(report))


if __name__ == "__main__":
    main()
