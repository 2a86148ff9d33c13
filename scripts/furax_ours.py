"""compsep-hpc's side of ``bench_vs_furax.py``: the shared problem, compsep-hpc's fit of it, and the
one NLL both sides' final points are scored with.

Everything comes from the package: the run config (``compsep_hpc.config.parse_config``), the sky,
region, noise and K-means labels (``compsep_hpc.grid.experiment.Experiment``), the fit settings,
start point and bounds (``FitConfig``, the config's defaults), the likelihood model
(``separation.observations.spectral_model``, with furax-cs's SED references) and the fit the grid
runs (``separation.evaluate.fit_problem`` / ``fit_realizations``). :func:`build_problem` writes
what the furax-cs worker needs, parameter names included, into the inputs ``.npz``, so each is
defined once, here or in the package.

Importers switch JAX to float64 before importing it (``compsep_hpc.precision.enable_float64``):
``bench_vs_furax.main`` does, in the benchmark's process and in its ``--ours-worker`` processes.
"""

from __future__ import annotations

import json
import resource
import time

import jax
import jax.numpy as jnp
import numpy as np

from compsep_hpc.config import RunConfig, parse_config
from compsep_hpc.grid.experiment import Experiment
from compsep_hpc.model.parameters import PARAMETERS
from compsep_hpc.model.components.cmb import CMB
from compsep_hpc.model.components.dust import ModifiedBlackBody
from compsep_hpc.model.components.synchrotron import PowerLawSynchrotron
from compsep_hpc.model.sky_model import SkyModel
from compsep_hpc.separation.evaluate import choose_likelihood, fit_problem, fit_realizations, fit_settings
from compsep_hpc.separation.likelihood import pixel_data, pixel_nll
from compsep_hpc.separation.observations import spectral_model
from compsep_hpc.separation.packing import split

# furax-cs's name of each parameter, and the SED references of its kmeans-model script
FURAX_NAMES = {"beta_dust": "beta_dust", "temp_dust": "temp_dust", "beta_synch": "beta_pl"}
FURAX_NU_DUST = 160.0  # GHz, kmeans-model's dust_nu0
FURAX_NU_SYNCH = 20.0  # GHz, kmeans-model's synchrotron_nu0


def run_config(nside: int, region: str, patches, n_real: int) -> dict:
    """The raw run config of the benchmark problem (synthetic sky, seed 0, default fit section)."""
    return {
        "name": "bench_vs_furax", "nside": nside, "sky": {"model": "synthetic", "seed": 0}, "regions": [region],
        "grid": {p: [int(k)] for p, k in zip(PARAMETERS, patches)}, "noise": {"realizations": int(n_real)},
    }


def config_of(problem: dict) -> RunConfig:
    """The parsed run config stored (as JSON) in the problem."""
    return parse_config(json.loads(str(problem["config"])))


def model_of(problem: dict):
    """compsep-hpc's likelihood model of the problem, with furax-cs's SED references."""
    c = config_of(problem)
    return spectral_model(c.instrument, c.nside, references_model(float(problem["nu_dust"]), float(problem["nu_synch"])))


def references_model(nu_dust: float, nu_synch: float) -> SkyModel:
    """The default model with the dust and synchrotron SEDs normalised at ``nu_dust``, ``nu_synch`` GHz."""
    return SkyModel((CMB(), ModifiedBlackBody(nu_ref=nu_dust), PowerLawSynchrotron(nu_ref=nu_synch)))


def build_problem(nside: int, region: str, patches, n_real: int, furax_max_iter: int) -> dict:
    """The shared problem as plain numpy arrays: the furax-cs worker's inputs (data in uK_CMB,
    labels, bands, per-band sigma, names, start, bounds, SED references) and the run config."""
    raw = run_config(nside, region, patches, n_real)
    config = parse_config(raw)
    exp = Experiment(config)
    fit = config.fit
    model = spectral_model(config.instrument, nside, references_model(FURAX_NU_DUST, FURAX_NU_SYNCH))
    return {
        "config": np.array(json.dumps(raw)),
        "data": np.asarray(exp.region_data(region).data, dtype=np.float64),
        "labels": np.asarray(exp.labels(region, tuple(patches)), dtype=np.int64),
        "nu": np.asarray(model.frequencies, dtype=np.float64),
        "sigma": 1.0 / np.sqrt(np.asarray(model.inv_noise_var, dtype=np.float64)),
        "nu_dust": model.nu_dust,
        "nu_synch": model.nu_synch,
        "parameters": np.array(PARAMETERS),
        "furax_names": np.array([FURAX_NAMES[p] for p in PARAMETERS]),
        "start": np.array([fit.start[p] for p in PARAMETERS]),
        "lower": np.array([fit.bounds[p][0] for p in PARAMETERS]),
        "upper": np.array([fit.bounds[p][1] for p in PARAMETERS]),
        "max_iter": furax_max_iter,
    }


def ours_worker(npz: str, n_real: int, out_path: str) -> None:
    """compsep-hpc side, in its own process: the vmapped fit of ``n_real`` realizations through the
    grid's own ``evaluate.fit_problem`` and ``evaluate.fit_realizations``; writes the fitted
    parameters to ``out_path`` and prints one JSON line."""
    inp = dict(np.load(npz))
    model, fit, labels = model_of(inp), config_of(inp).fit, inp["labels"]
    problem, layout, n_cells = fit_problem(labels, fit, PARAMETERS)
    form = choose_likelihood(labels.shape[1], n_cells, len(inp["nu"]), fit.likelihood, fit.method)
    fit_all = jax.jit(lambda data: fit_realizations(data, problem, model, likelihood=form, **fit_settings(fit)))

    data = jnp.asarray(inp["data"][:n_real])
    t0 = time.perf_counter()
    compiled = fit_all.lower(data).compile()
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    result = jax.block_until_ready(compiled(data))
    run_s = time.perf_counter() - t0
    np.savez(out_path, **split(np.asarray(result.params), layout, PARAMETERS))
    print(json.dumps({
        "n_real": n_real, "likelihood": form, "n_cells": n_cells, "compile_s": compile_s, "run_s": run_s,
        "iterations": np.asarray(result.iterations).tolist(), "converged": np.asarray(result.converged).tolist(),
        "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
        "device": str(jax.devices()[0]),
    }))


def score(problem: dict, params: dict, n_real: int) -> list[float]:
    """compsep-hpc's per-pixel NLL of each realization at ``params`` (dict of (n_real, K) arrays,
    compsep-hpc's names)."""
    model = model_of(problem)
    patch = jnp.asarray(problem["labels"])
    f = jax.jit(jax.vmap(lambda p, d: pixel_nll(p, patch, pixel_data(d, model.inv_noise_var), model)))
    params = {p: jnp.asarray(params[p]) for p in PARAMETERS}
    return np.asarray(f(params, jnp.asarray(problem["data"][:n_real]))).tolist()
