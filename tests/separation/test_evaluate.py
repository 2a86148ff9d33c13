"""The physics engine: SEDs, likelihood forms, the fit (both methods), per-configuration evaluation."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from compsep_hpc.separation.cells import joint_cells, size_class
from compsep_hpc.config import parse_config
from compsep_hpc.separation.config import FitConfig
from compsep_hpc.separation.evaluate import choose_likelihood, evaluate_configuration, fit_problem, fit_realizations, fit_settings
from compsep_hpc.model.instrument import LITEBIRD
from compsep_hpc.model.noise import noise_realizations
from compsep_hpc.separation.likelihood import (
    cell_moments, compressed_nll, mixing_columns, pixel_data, pixel_nll, reconstruct,
)
from compsep_hpc.separation.observations import RegionData, spectral_model
from compsep_hpc.separation.packing import split
from compsep_hpc.grid.experiment import Experiment
from compsep_hpc.science.figures import cmb_mse, cmb_variance
from compsep_hpc.model.sed import dust_sed, kcmb_per_krj, mixing_matrix, synch_sed

TRUTH = {"beta_dust": 1.54, "temp_dust": 20.0, "beta_synch": -3.0}
NSIDE = 8


def test_unit_conversion_table():
    nu = np.array([40.0, 100.0, 150.0, 353.0])
    expected = np.array([1.042032, 1.286624, 1.734790, 12.905496])
    np.testing.assert_allclose(kcmb_per_krj(nu), expected, rtol=1e-6)


def test_sed_tables():
    np.testing.assert_allclose(dust_sed(np.array([40.0, 100.0, 402.1]), 1.54, 20.0, 150.0),
                               [0.08997439, 0.4230369, 44.53022], rtol=1e-6)
    np.testing.assert_allclose(synch_sed(np.array([40.0, 100.0]), -3.0, 20.0), [0.128916, 0.0101873], rtol=1e-5)
    np.testing.assert_allclose(synch_sed(np.array([40.0, 100.0]), -3.0, 150.0), [31.6758, 2.50310], rtol=1e-5)


def test_factorised_columns_equal_mixing_matrix():
    model = spectral_model(LITEBIRD, NSIDE, 150.0, 20.0)
    params = {"beta_dust": jnp.array([1.4, 1.6]), "temp_dust": jnp.array([18.0, 22.0, 25.0]),
              "beta_synch": jnp.array([-2.9])}
    patches = jnp.array([[0, 1, 1], [2, 0, 1], [0, 0, 0]])
    expected = mixing_matrix(model.frequencies, jnp.array([1.4, 1.6, 1.6]), jnp.array([25.0, 18.0, 22.0]), -2.9)
    np.testing.assert_allclose(mixing_columns(params, patches, model), expected, rtol=1e-14)


def _noiseless(labels, values, seed=0):
    """Noiseless CMB + dust + synchrotron data on n pixels with per-patch parameters."""
    rng = np.random.default_rng(seed)
    n = labels.shape[1]
    model = spectral_model(LITEBIRD, NSIDE, 150.0, 20.0)
    a = np.asarray(mixing_columns({k: jnp.asarray(v) for k, v in values.items()}, jnp.asarray(labels), model))
    amplitudes = np.stack([rng.normal(0, 1, (2, n)), rng.normal(0, 10, (2, n)), rng.normal(0, 30, (2, n))])
    return np.einsum("pfc,csp->fsp", a, amplitudes), amplitudes, model


@pytest.mark.parametrize("method", ["newton", "lbfgs"])
@pytest.mark.parametrize("form", ["compressed", "pixel"])
def test_noiseless_recovery_one_patch(method, form):
    labels = np.zeros((3, 300), dtype=np.int64)
    data, _, model = _noiseless(labels, {k: np.array([v]) for k, v in TRUTH.items()})
    fit = FitConfig(method=method, start={k: 0.99 * v for k, v in TRUTH.items()})
    problem, layout, _ = fit_problem(labels, fit)
    result = jax.jit(lambda d: fit_realizations(d, problem, model, likelihood=form, **fit_settings(fit)))(
        jnp.asarray(data)[None])
    assert bool(result.converged[0])
    params = split(np.asarray(result.params), layout)
    for k, v in TRUTH.items():
        assert abs(float(params[k][0, 0]) / v - 1) < 1e-5, (k, params[k])


def test_noiseless_clustered_sky_recovers_every_patch():
    config = parse_config({"name": "c", "nside": NSIDE, "sky": {"model": "synthetic_clustered", "seed": 2,
                           "true_patches": {"beta_dust": 3, "temp_dust": 2, "beta_synch": 2}},
                           "regions": ["GAL060_U"], "grid": {"beta_dust": [3], "temp_dust": [2], "beta_synch": [2]}})
    exp = Experiment(config)
    pixels = exp.pixels("GAL060_U")
    labels = exp.labels("GAL060_U", (3, 2, 2))
    sky = exp.sky
    region = RegionData("GAL060_U", pixels, sky.frequency_maps[:, :, pixels][None], sky.cmb[:, pixels],
                        sky.foregrounds[:, :, pixels], np.array([0]))
    result = evaluate_configuration(region, labels, exp.model, FitConfig())
    assert result.fit.converged.all()
    for k, name in enumerate(TRUTH):
        truth = np.array([sky.true_params[name][pixels][labels[k] == j][0] for j in range(labels[k].max() + 1)])
        np.testing.assert_allclose(result.fit.params[name][0], truth, rtol=1e-4)
    assert result.systematic_cmb_power < 1e-10  # the foreground-only fit leaks no CMB when the model is exact


@pytest.fixture(scope="module")
def noisy_problem():
    rng = np.random.default_rng(4)
    n = 400
    labels = np.stack([rng.integers(0, 12, n), rng.integers(0, 3, n), rng.integers(0, 2, n)])
    values = {"beta_dust": rng.normal(1.54, 0.05, 12), "temp_dust": rng.normal(20, 1, 3),
              "beta_synch": rng.normal(-3, 0.05, 2)}
    data, _, model = _noiseless(labels, values)
    noise = noise_realizations(LITEBIRD, NSIDE, 9, [0], np.arange(n))[0]
    return labels, jnp.asarray(data + noise), model


def test_compressed_equals_pixel_likelihood_and_gradient(noisy_problem):
    labels, data, model = noisy_problem
    cells = joint_cells(labels, pad_to=size_class(joint_cells(labels).n_cells) + 5)
    moments = cell_moments(data, jnp.asarray(cells.cell_index), cells.cell_patches.shape[1], model.inv_noise_var)
    params = {"beta_dust": jnp.linspace(1.4, 1.7, 12), "temp_dust": jnp.array([17.0, 21.0, 24.0]),
              "beta_synch": jnp.array([-3.1, -2.8])}
    pixel = jax.value_and_grad(pixel_nll)(params, jnp.asarray(labels), pixel_data(data, model.inv_noise_var), model)
    comp = jax.value_and_grad(compressed_nll)(params, jnp.asarray(cells.cell_patches), moments, model)
    assert abs(float(pixel[0]) / float(comp[0]) - 1) < 1e-10
    for k in params:
        np.testing.assert_allclose(comp[1][k], pixel[1][k], rtol=1e-10, atol=1e-10 * np.abs(pixel[1][k]).max())


def test_reconstruction_of_noiseless_data_is_exact():
    labels = np.zeros((3, 50), dtype=np.int64)
    data, amplitudes, model = _noiseless(labels, {k: np.array([v]) for k, v in TRUTH.items()})
    s = reconstruct({k: jnp.array([v]) for k, v in TRUTH.items()}, jnp.asarray(labels), jnp.asarray(data), model)
    np.testing.assert_allclose(s, amplitudes, rtol=1e-8, atol=1e-8)


def test_likelihood_choice():
    assert choose_likelihood(10_000, 200, 15) == "compressed"
    assert choose_likelihood(10_000, 10_000, 15) == "pixel"
    assert choose_likelihood(10_000, 200, 15, "pixel") == "pixel"
    assert choose_likelihood(10_000, 10_000, 15, method="newton") == "compressed"


def _region(n_real: int, seed: int = 1):
    config = parse_config({"name": "d", "nside": NSIDE, "sky": {"model": "synthetic", "seed": 1},
                           "regions": ["GAL060_U"], "grid": {"beta_dust": [4], "temp_dust": [1], "beta_synch": [1]},
                           "noise": {"realizations": n_real, "seed": seed}})
    exp = Experiment(config)
    return exp, exp.region_data("GAL060_U"), exp.labels("GAL060_U", (4, 1, 1))


def test_evaluation_is_bit_identical_and_realizations_differ():
    exp, region, labels = _region(3)
    first = evaluate_configuration(region, labels, exp.model, exp.config.fit)
    second = evaluate_configuration(region, labels, exp.model, exp.config.fit)
    for a, b in zip(jax.tree.leaves(first.fit), jax.tree.leaves(second.fit)):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(first.cmb_maps, second.cmb_maps)
    assert len(set(first.fit.nll.tolist())) == 3
    variance, mse = cmb_variance(first.cmb_maps), cmb_mse(first.cmb_maps, region.cmb)
    assert first.fit.converged.all() and variance > 0
    assert mse >= variance  # MSE = variance + squared bias


def test_compressed_and_pixel_fits_agree():
    exp, region, labels = _region(2)
    fits = {form: evaluate_configuration(region, labels, exp.model, FitConfig(likelihood=form))
            for form in ("compressed", "pixel")}
    np.testing.assert_allclose(fits["compressed"].fit.nll, fits["pixel"].fit.nll, rtol=1e-12)
    np.testing.assert_allclose(fits["compressed"].fit.params["beta_dust"], fits["pixel"].fit.params["beta_dust"],
                               rtol=1e-6)


def test_iteration_cap_is_flagged_not_converged():
    exp, region, labels = _region(2)
    result = evaluate_configuration(region, labels, exp.model, FitConfig(max_iter=2))
    assert not result.fit.converged.any()
    assert (result.fit.iterations == 2).all()


def test_noise_realization_independent_of_batch_and_pixels():
    pixels = np.array([5, 17, 300, 700])
    alone = noise_realizations(LITEBIRD, NSIDE, 11, [2])[0]
    batch = noise_realizations(LITEBIRD, NSIDE, 11, [0, 1, 2, 3], pixels)
    np.testing.assert_array_equal(batch[2], alone[:, :, pixels])
    assert not np.array_equal(batch[1], batch[2])
    sigma = LITEBIRD.noise_sigma(NSIDE)
    full = noise_realizations(LITEBIRD, NSIDE, 11, range(4))
    np.testing.assert_allclose(full.std(axis=(0, 2, 3)) / sigma, 1, atol=0.03)
