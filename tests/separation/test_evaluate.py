"""The fit of one configuration (both methods, both likelihood forms) and its evaluation over
the noise realizations (compsep_hpc.separation.evaluate)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from compsep_hpc.config import parse_config
from compsep_hpc.grid.experiment import Experiment
from compsep_hpc.science.figures import cmb_mse, cmb_variance
from compsep_hpc.separation.config import FitConfig
from compsep_hpc.separation.evaluate import choose_likelihood, evaluate_configuration, fit_problem, fit_realizations, fit_settings
from compsep_hpc.separation.observations import RegionData
from compsep_hpc.separation.packing import split
from compsep_hpc.model.sky_model import DEFAULT_MODEL

NAMES = DEFAULT_MODEL.fitted  # beta_dust, temp_dust, beta_synch

TRUTH = {"beta_dust": 1.54, "temp_dust": 20.0, "beta_synch": -3.0}
NSIDE = 8


@pytest.mark.parametrize("method", ["newton", "lbfgs"])
@pytest.mark.parametrize("form", ["compressed", "pixel"])
def test_noiseless_recovery_one_patch(method, form, noiseless_data):
    labels = np.zeros((3, 300), dtype=np.int64)
    data, _, model = noiseless_data(labels, {k: np.array([v]) for k, v in TRUTH.items()})
    fit = FitConfig(method=method, start={k: 0.99 * v for k, v in TRUTH.items()})
    problem, layout, _ = fit_problem(labels, fit, NAMES)
    result = jax.jit(lambda d: fit_realizations(d, problem, model, likelihood=form, **fit_settings(fit)))(
        jnp.asarray(data)[None])
    assert bool(result.converged[0])
    params = split(np.asarray(result.params), layout, NAMES)
    for k, v in TRUTH.items():
        assert abs(float(params[k][0, 0]) / v - 1) < 1e-5, (k, params[k])


def test_noiseless_clustered_sky_recovers_every_patch():
    """The fit is exact when the model is: the true patches are set to the fit's own K-means
    partitions (truth_kmeans_seed = grid.seed, 0). By default the sky's seed is another one; at these
    small K both seeds happen to converge to the same partitions here, which the test must not rely on."""
    config = parse_config({"name": "c", "nside": NSIDE, "sky": {"model": "synthetic_clustered", "seed": 2,
                           "true_patches": {"beta_dust": 3, "temp_dust": 2, "beta_synch": 2},
                           "truth_kmeans_seed": 0},
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
    exp, region, labels = _region(1)  # noisy and systematic fits of one shape: one compilation per form
    fits = {form: evaluate_configuration(region, labels, exp.model, FitConfig(likelihood=form))
            for form in ("compressed", "pixel")}
    np.testing.assert_allclose(fits["compressed"].fit.nll, fits["pixel"].fit.nll, rtol=1e-12)
    np.testing.assert_allclose(fits["compressed"].fit.params["beta_dust"], fits["pixel"].fit.params["beta_dust"],
                               rtol=1e-6)


def test_iteration_cap_is_flagged_not_converged():
    exp, region, labels = _region(1)
    result = evaluate_configuration(region, labels, exp.model, FitConfig(max_iter=2))
    assert not result.fit.converged.any()
    assert (result.fit.iterations == 2).all()
