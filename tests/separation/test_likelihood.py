"""The two forms of the likelihood (per pixel and compressed into joint-cell moments) and the
reconstruction of the components (compsep_hpc.separation.likelihood)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from compsep_hpc.model.instrument import LITEBIRD
from compsep_hpc.model.noise import noise_realizations
from compsep_hpc.separation.cells import joint_cells, size_class
from compsep_hpc.separation.likelihood import cell_moments, compressed_nll, pixel_data, pixel_nll, reconstruct

TRUTH = {"beta_dust": 1.54, "temp_dust": 20.0, "beta_synch": -3.0}
NSIDE = 8


@pytest.fixture(scope="module")
def noisy_problem(noiseless_data):
    rng = np.random.default_rng(4)
    n = 400
    labels = np.stack([rng.integers(0, 12, n), rng.integers(0, 3, n), rng.integers(0, 2, n)])
    values = {"beta_dust": rng.normal(1.54, 0.05, 12), "temp_dust": rng.normal(20, 1, 3),
              "beta_synch": rng.normal(-3, 0.05, 2)}
    data, _, model = noiseless_data(labels, values)
    noise = noise_realizations(LITEBIRD, NSIDE, 9, [0], np.arange(n))[0]
    return labels, jnp.asarray(data + noise), model


def test_compressed_equals_pixel_likelihood_and_gradient(noisy_problem):
    labels, data, model = noisy_problem
    cells = joint_cells(labels, pad_to=size_class(joint_cells(labels).n_cells) + 5)
    moments = cell_moments(data, jnp.asarray(cells.cell_index), cells.cell_patches.shape[1], model.inv_noise_var)
    params = {"beta_dust": jnp.linspace(1.4, 1.7, 12), "temp_dust": jnp.array([17.0, 21.0, 24.0]),
              "beta_synch": jnp.array([-3.1, -2.8])}
    # each compiled whole, as the fit runs them (op by op, each takes seconds)
    pixel = jax.jit(jax.value_and_grad(pixel_nll))(params, jnp.asarray(labels), pixel_data(data, model.inv_noise_var),
                                                   model)
    comp = jax.jit(jax.value_and_grad(compressed_nll))(params, jnp.asarray(cells.cell_patches), moments, model)
    assert abs(float(pixel[0]) / float(comp[0]) - 1) < 1e-10
    for k in params:
        np.testing.assert_allclose(comp[1][k], pixel[1][k], rtol=1e-10, atol=1e-10 * np.abs(pixel[1][k]).max())


def test_reconstruction_of_noiseless_data_is_exact(noiseless_data):
    labels = np.zeros((3, 50), dtype=np.int64)
    data, amplitudes, model = noiseless_data(labels, {k: np.array([v]) for k, v in TRUTH.items()})
    s = reconstruct({k: jnp.array([v]) for k, v in TRUTH.items()}, jnp.asarray(labels), jnp.asarray(data), model)
    np.testing.assert_allclose(s, amplitudes, rtol=1e-8, atol=1e-8)
