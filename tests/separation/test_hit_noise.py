"""Hit-map noise in the likelihood (issue 25): with one hit map common to every band the
compressed form, its moments weighted by w_p, equals the per-pixel form carrying N_p = N_0 / w_p
(value, gradient and Newton optimum to 1e-10), both equal an independent numpy evaluation; one
hit map per band takes the per-pixel form (auto), whose per-pixel reconstruction is exact. (The
whole evaluation of a configuration under per-band hits, bandpasses too, is checked against a numpy
oracle in test_bandpass_oracle.py.)"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from compsep_hpc.errors import ConfigError
from compsep_hpc.separation.evaluate import _fit, _reconstruct, choose_likelihood, fit_settings, pixel_noise
from compsep_hpc.separation.config import FitConfig
from compsep_hpc.separation.likelihood import cell_moments, compressed_nll, mixing_columns, pixel_data, pixel_nll
from compsep_hpc.separation.packing import unpack
from compsep_hpc.model.sky_model import DEFAULT_MODEL

NAMES = DEFAULT_MODEL.fitted


def numpy_nll(a: np.ndarray, data: np.ndarray, n_inv: np.ndarray) -> float:
    """-sum_p sum_{Q,U} b^T M^-1 b with M = A_p^T N_p^-1 A_p, b = A_p^T N_p^-1 d_p: a (n, f, 3),
    data (f, 2, n), n_inv (n, f)."""
    total = 0.0
    for p in range(a.shape[0]):
        m = a[p].T @ (n_inv[p][:, None] * a[p])
        b = a[p].T @ (n_inv[p][:, None] * data[:, :, p])
        total -= np.sum(b * np.linalg.solve(m, b))
    return total


@pytest.fixture(scope="module")
def weighted(small_problem):
    """The shared small problem's data with its noise rescaled by a common hit weight w_p in [0.3, 3]."""
    problem, layout, model, data, moments, x = small_problem
    n = data.shape[-1]
    w = np.random.default_rng(5).uniform(0.3, 3.0, n)
    return problem, model, jnp.asarray(data), w, x


def test_common_hits_compressed_equals_pixel_and_numpy(weighted):
    problem, model, data, w, x = weighted
    params = unpack(x, problem.family, problem.fill, NAMES)
    noise = pixel_noise(w[None], model)
    moments = cell_moments(data, problem.cell_index, problem.cell_patches.shape[1], model.inv_noise_var,
                           noise.weights)
    comp = jax.jit(jax.value_and_grad(compressed_nll))(params, problem.cell_patches, moments, model)
    pix = jax.jit(jax.value_and_grad(pixel_nll))(params, problem.labels,
                                                  pixel_data(data, model.inv_noise_var, noise.inv_var), model)
    a = np.asarray(mixing_columns(params, problem.labels, model))
    expected = numpy_nll(a, np.asarray(data), w[:, None] * np.asarray(model.inv_noise_var)[None])
    assert abs(float(comp[0]) / expected - 1) < 1e-10 and abs(float(pix[0]) / expected - 1) < 1e-10
    white = float(compressed_nll(params, problem.cell_patches, cell_moments(
        data, problem.cell_index, problem.cell_patches.shape[1], model.inv_noise_var), model))
    assert abs(white / expected - 1) > 1e-3  # the weights matter
    scale = max(float(np.abs(pix[1][k]).max()) for k in params)  # the gradient's sup norm
    for k in params:  # (beta_synch's entries are 1e-3 of it: the pixels' terms cancel there)
        np.testing.assert_allclose(comp[1][k], pix[1][k], rtol=1e-10, atol=1e-10 * scale)


def test_common_hits_newton_optimum_is_the_same_in_both_forms(weighted):
    problem, model, data, w, _ = weighted
    noise = pixel_noise(w[None], model)
    settings = fit_settings(FitConfig(linear_solver="schur"))
    results = {form: _fit(data[None], problem, model, likelihood=form, noise=noise, **settings)
               for form in ("compressed", "pixel")}
    assert all(bool(r.converged[0]) for r in results.values())
    np.testing.assert_allclose(results["compressed"].params, results["pixel"].params, rtol=1e-10)
    np.testing.assert_allclose(results["compressed"].nll, results["pixel"].nll, rtol=1e-10)


def test_per_band_hits_take_the_pixel_form_and_reconstruct_exactly(small_problem):
    """auto picks the per-pixel form; its value is the numpy one with each band's own weights; the
    fit of noiseless data recovers the CMB exactly through per-pixel operators."""
    assert choose_likelihood(100, 10, 15, "auto", "newton", compressed_exact=False) == "pixel"
    assert choose_likelihood(100, 10, 15, "auto", "lbfgs", compressed_exact=False) == "pixel"
    assert choose_likelihood(100, 10, 15, "auto", "newton") == "compressed"
    with pytest.raises(ConfigError, match="not exact with one hit map per band"):
        choose_likelihood(100, 10, 15, "compressed", "newton", compressed_exact=False)
    problem, _, model, data, _, x = small_problem
    n = data.shape[-1]
    hits = np.random.default_rng(6).uniform(0.2, 4.0, (15, n))
    noise = pixel_noise(hits, model)
    assert noise.weights is None
    params = unpack(x, problem.family, problem.fill, NAMES)
    a = np.asarray(mixing_columns(params, problem.labels, model))
    value = float(pixel_nll(params, problem.labels, pixel_data(jnp.asarray(data), model.inv_noise_var,
                                                                noise.inv_var), model))
    expected = numpy_nll(a, np.asarray(data), np.asarray(noise.inv_var))
    assert abs(value / expected - 1) < 1e-10
    clean = np.einsum("pfc,csp->fsp", a, np.random.default_rng(7).normal(0, 50, (3, 2, n)))
    cmb = _reconstruct(x[None], jnp.asarray(clean)[None], problem, model, noise)[0]
    truth = np.linalg.lstsq(a[0], clean[:, :, 0], rcond=None)[0][0]  # any pixel: exact data, exact recovery
    np.testing.assert_allclose(np.asarray(cmb)[:, 0], truth, rtol=1e-8)
