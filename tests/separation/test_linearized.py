"""``fit.realizations: linearized`` (separation/newton.py ``newton_step``): one undamped Newton
step from the noiseless optimum equals the full fit to second order in the noise, and the key is
refused with L-BFGS."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from compsep_hpc.errors import ConfigError
from compsep_hpc.model.instrument import LITEBIRD
from compsep_hpc.separation import model_terms
from compsep_hpc.separation.config import FitConfig, parse_fit
from compsep_hpc.separation.evaluate import evaluate_configuration
from compsep_hpc.separation.observations import RegionData, spectral_model

TRUTH = {"beta_dust": 1.55, "temp_dust": 20.0, "beta_synch": -3.0}


def _region(model, labels, noise_scale, n_real=4, seed=3):
    """Foregrounds (100 uK amplitudes) with per-patch spectral parameters within 2 % of TRUTH, a
    CMB, and white noise of the model's depths times ``noise_scale``."""
    rng = np.random.default_rng(seed)
    n = labels.shape[1]
    theta = np.stack([TRUTH[p] * (1 + 0.02 * rng.normal(size=labels[i].max() + 1))[labels[i]]
                      for i, p in enumerate(model.sky.fitted)], axis=1)
    columns = np.stack([np.asarray(c) for c in model_terms.term_columns(theta, model)], axis=-1)  # (n, f, 3)
    amplitudes = rng.normal(0, 1, (3, 2, n)) * np.array([1.0, 100.0, 100.0])[:, None, None]
    sky = np.einsum("pfc,csp->fsp", columns, amplitudes)
    sigma = 1 / np.sqrt(np.asarray(model.inv_noise_var))[:, None, None]
    noise = rng.normal(size=(n_real, *sky.shape)) * sigma * noise_scale
    return RegionData("test", np.arange(n), sky[None] + noise, amplitudes[0], sky - amplitudes[0][None],
                      np.arange(n_real))


def test_linearized_equals_the_full_fit_to_second_order_in_the_noise():
    model = spectral_model(LITEBIRD, 8)
    rng = np.random.default_rng(0)
    labels = np.stack([rng.integers(0, k, 300) for k in (6, 3, 2)])
    gaps, shifts = [], []
    for scale in (3.0, 0.3):
        region = _region(model, labels, scale)
        fits = {how: evaluate_configuration(region, labels, model, FitConfig(realizations=how), keep_maps=False)
                for how in ("full", "linearized")}
        assert fits["full"].fit.converged.all() and fits["linearized"].fit.converged.all()
        assert (fits["linearized"].fit.iterations == 1).all()
        gap = max(np.max(np.abs(fits["linearized"].fit.params[p] - fits["full"].fit.params[p])) for p in TRUTH)
        shift = max(np.max(np.abs(fits["full"].fit.params[p] - fits["full"].systematic.params[p])) for p in TRUTH)
        gaps.append(gap)
        shifts.append(shift)
    # the noise moves the fit to first order (10x less noise: ~10x less shift), the linearized
    # fit misses it to second order (~100x less), and by far less than the shift itself
    assert 7 < shifts[0] / shifts[1] < 14, shifts
    assert gaps[0] / gaps[1] > 40, gaps
    assert gaps[0] < 0.1 * shifts[0], (gaps, shifts)
    # the Fisher sigma at the noiseless optimum is the full fits' scatter at the model's depths
    # (0.3 x, 10 x fewer), to the precision of 4 realizations
    for p in TRUTH:
        sigma = fits["linearized"].fisher_sigma[p] * 0.3
        assert np.all(np.isfinite(sigma)) and fits["full"].fisher_sigma is None
        ratio = np.sqrt(np.mean((fits["full"].fit.params[p] - fits["full"].systematic.params[p]) ** 2) / np.mean(sigma**2))
        assert 0.4 < ratio < 2.0, (p, ratio)


def test_linearized_needs_newton():
    assert parse_fit({"fit": {"realizations": "linearized"}}).realizations == "linearized"
    assert parse_fit({}).realizations == "full"
    with pytest.raises(ConfigError, match="fit.realizations linearized .* needs fit.method newton"):
        parse_fit({"fit": {"realizations": "linearized", "method": "lbfgs"}})
    with pytest.raises(ConfigError, match="fit.realizations must be one of full, linearized"):
        parse_fit({"fit": {"realizations": "fisher"}})
    assert dataclasses.replace(FitConfig(), realizations="linearized") != FitConfig()
