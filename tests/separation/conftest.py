"""Fit inputs shared by the separation tests: noiseless data with per-patch parameters, and a
small noisy problem with its fit arrays."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from compsep_hpc.model.instrument import LITEBIRD
from compsep_hpc.separation.config import FitConfig
from compsep_hpc.separation.evaluate import fit_problem
from compsep_hpc.separation.likelihood import cell_moments, mixing_columns
from compsep_hpc.separation.observations import spectral_model
from compsep_hpc.separation.packing import unpack
from compsep_hpc.model.sky_model import DEFAULT_MODEL

NAMES = DEFAULT_MODEL.fitted  # beta_dust, temp_dust, beta_synch

NSIDE = 8


def noiseless(labels, values, seed=0):
    """Noiseless CMB + dust + synchrotron data on n pixels with per-patch parameters:
    (data (n_freq, 2, n), amplitudes (3, 2, n), model)."""
    rng = np.random.default_rng(seed)
    n = labels.shape[1]
    model = spectral_model(LITEBIRD, NSIDE)
    a = np.asarray(mixing_columns({k: jnp.asarray(v) for k, v in values.items()}, jnp.asarray(labels), model))
    amplitudes = np.stack([rng.normal(0, 1, (2, n)), rng.normal(0, 10, (2, n)), rng.normal(0, 30, (2, n))])
    return np.einsum("pfc,csp->fsp", a, amplitudes), amplitudes, model


@pytest.fixture(scope="session")
def noiseless_data():
    """:func:`noiseless`, for the test modules of this folder."""
    return noiseless


@pytest.fixture(scope="session")
def small_problem():
    """Data of 60 pixels with 7/3/2 patches (model at the start point plus white noise), its fit
    arrays and moments, and a point x near the start."""
    rng = np.random.default_rng(11)
    n = 60
    labels = np.stack([rng.permutation(np.arange(n) % 7), rng.integers(0, 3, n), rng.integers(0, 2, n)])
    model = spectral_model(LITEBIRD, NSIDE)
    problem, layout, _ = fit_problem(labels, FitConfig(linear_solver="schur"), NAMES)  # with the dense Schur block
    a = mixing_columns(unpack(problem.start, problem.family, problem.fill, NAMES), problem.labels, model)  # (n, f, 3)
    amplitudes = rng.normal(0, 1, (3, 2, n)) * np.array([1.0, 300.0, 300.0])[:, None, None]
    noise = rng.normal(0, 1, (len(LITEBIRD.frequencies), 2, n)) / np.sqrt(np.asarray(model.inv_noise_var))[:, None, None]
    data = jnp.einsum("pfc,csp->fsp", a, amplitudes) + noise
    moments = cell_moments(data, problem.cell_index, problem.cell_patches.shape[1], model.inv_noise_var)
    scale = np.asarray([0.002, 0.05, 0.002])[np.asarray(problem.family)]
    x = problem.start + jnp.asarray(rng.normal(0, 1, problem.start.shape) * scale)
    return problem, layout, model, data, moments, x
