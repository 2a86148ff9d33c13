"""The r likelihood and the estimates r_hat, sigma_r, r_95 (compsep_hpc.science.r_estimation).

Most checks use one multipole per bin (nu_ell = f_sky (2 ell + 1), ell = 2..LMAX): the unbinned
likelihood, whose Fisher estimates are known in closed form."""

from __future__ import annotations

import numpy as np
import pytest

from compsep_hpc.science.r_estimation import estimate_r, neg2_log_likelihood
from compsep_hpc.sky.cmb import bb_templates

NSIDE = 32
LMAX = 2 * NSIDE


ELL = np.arange(2, LMAX + 1)


def modes(fsky: float) -> np.ndarray:
    """Mode counts of one-multipole bins ell = 2..LMAX."""
    return fsky * (2 * ELL + 1.0)


@pytest.fixture(scope="module")
def templates() -> tuple[np.ndarray, np.ndarray]:
    """Tensor (r = 1) and lensing BB at ell = 2..LMAX."""
    c_t, c_l = bb_templates(LMAX)
    return c_t[2:], c_l[2:]


def test_neg2_log_likelihood_matches_hand_computation():
    # two bandpowers with 5 and 7.5 modes
    c_obs = np.array([2.0, 3.0])
    c_t = np.array([1.0, 0.5])
    c_l = np.array([1.5, 2.0])
    c_s = np.array([0.5, 0.25])
    nu = np.array([5.0, 7.5])
    for r in (0.0, 0.5, 2.0):
        m2, m3 = r * 1.0 + 1.5 + 0.5, r * 0.5 + 2.0 + 0.25
        hand = 5.0 * (2.0 / m2 + np.log(m2)) + 7.5 * (3.0 / m3 + np.log(m3))
        got = neg2_log_likelihood(np.array(r), c_obs, c_t, c_l, c_s, nu)
        assert got.shape == ()
        assert got == pytest.approx(hand, rel=1e-14)
        # A_lens scales the lensing bandpowers of the model
        m2, m3 = r * 1.0 + 0.3 * 1.5 + 0.5, r * 0.5 + 0.3 * 2.0 + 0.25
        hand = 5.0 * (2.0 / m2 + np.log(m2)) + 7.5 * (3.0 / m3 + np.log(m3))
        assert neg2_log_likelihood(np.array(r), c_obs, c_t, c_l, c_s, nu, 0.3) == pytest.approx(hand, rel=1e-14)
    grid = neg2_log_likelihood(np.array([[0.0, 0.5], [2.0, 1.0]]), c_obs, c_t, c_l, c_s, nu)
    assert grid.shape == (2, 2)
    # a non-positive model gives +inf rather than nan
    assert neg2_log_likelihood(np.array(-10.0), c_obs, c_t, c_l, c_s, nu) == np.inf
    with pytest.raises(ValueError):
        neg2_log_likelihood(np.array(0.0), c_obs, c_t, c_l, c_s, nu[:1])


@pytest.mark.parametrize("r_in", [0.0, 0.003, 0.01])
def test_unbiased_without_residuals(templates, r_in):
    c_t, c_l = templates
    zero = np.zeros(ELL.size)
    res = estimate_r(zero, zero, c_t, c_l, modes(0.5), r_in=r_in)
    assert abs(res.r_hat - r_in) <= max(1e-4 * r_in, 1e-6)
    assert res.sigma_r > 0
    assert res.r_95 >= res.r_upper >= res.r_hat >= 0
    assert res.r_upper == pytest.approx(res.r_hat + res.sigma_r)
    if r_in == 0.0:
        assert res.r_hat == 0.0 and res.sigma_minus == 0.0
    else:
        assert 0 < res.sigma_minus < res.sigma_r * 1.5
    # the posterior is normalised on the grid, and the grid holds r_hat
    p, r = res.posterior, res.r_grid
    assert np.sum(0.5 * (p[1:] + p[:-1]) * np.diff(r)) == pytest.approx(1.0, rel=1e-9)
    assert res.r_hat in res.r_grid
    assert res.r_grid[0] >= 0 and np.all(np.diff(res.r_grid) > 0)
    assert res.neg2_log_like.shape == res.r_grid.shape


def test_sigma_shrinks_like_inverse_sqrt_fsky(templates):
    c_t, c_l = templates
    zero = np.zeros(ELL.size)
    sig = {f: estimate_r(zero, zero, c_t, c_l, modes(f), r_in=0.01).sigma_r for f in (0.1, 0.4, 1.0)}
    assert sig[0.1] > sig[0.4] > sig[1.0] > 0
    # near-Gaussian regime (r_in = 0.01): sigma ~ 1/sqrt(fsky) within 10 %
    assert sig[0.4] / sig[1.0] == pytest.approx(np.sqrt(1.0 / 0.4), rel=0.1)
    assert sig[0.1] / sig[0.4] == pytest.approx(2.0, rel=0.1)
    # at r = 0 the upper width also shrinks with fsky
    s0 = [estimate_r(zero, zero, c_t, c_l, modes(f)).sigma_r for f in (0.1, 0.4, 1.0)]
    assert s0[0] > s0[1] > s0[2] > 0


def test_positive_residual_biases_r_up_by_fisher_estimate(templates):
    c_t, c_l = templates
    c_stat = 0.05 * c_l
    c_sys = 0.05 * c_l
    r_in = 0.01
    res = estimate_r(c_sys + c_stat, c_stat, c_t, c_l, modes(0.5), r_in=r_in)
    a = 2 * ELL + 1
    model = r_in * c_t + c_l + c_stat
    bias = np.sum(a * c_t * c_sys / model**2) / np.sum(a * c_t**2 / model**2)
    assert res.r_hat - r_in > 0
    assert res.r_hat - r_in == pytest.approx(bias, rel=0.05)
    # the statistical residual alone (in both obs and model) leaves r unbiased, widens sigma
    res_stat = estimate_r(c_stat, c_stat, c_t, c_l, modes(0.5), r_in=r_in)
    clean = estimate_r(np.zeros(ELL.size), np.zeros(ELL.size), c_t, c_l, modes(0.5), r_in=r_in)
    assert res_stat.r_hat == pytest.approx(r_in, rel=1e-6)
    assert res_stat.sigma_r > clean.sigma_r
    # a boundary case: r_in = 0 with a systematic residual gives r_hat > 0
    assert estimate_r(c_sys + c_stat, c_stat, c_t, c_l, modes(0.5)).r_hat > 0


def test_lensing_amplitude_enters_observed_and_model(templates):
    """A_lens < 1 (delensing) leaves r unbiased and narrows sigma(r); a model with less lensing
    than the data (a_lens in the model only) biases r up."""
    c_t, c_l = templates
    zero = np.zeros(ELL.size)
    full = estimate_r(zero, zero, c_t, c_l, modes(0.5), r_in=0.003)
    delensed = estimate_r(zero, zero, c_t, c_l, modes(0.5), r_in=0.003, a_lens=0.3)
    assert delensed.r_hat == pytest.approx(0.003, rel=1e-4)
    assert delensed.sigma_r < 0.7 * full.sigma_r
    under = estimate_r(0.7 * c_l, zero, c_t, c_l, modes(0.5), r_in=0.003, a_lens=0.3)  # data with A_lens = 1
    assert under.r_hat > 0.003 + under.sigma_r


@pytest.mark.parametrize("r_in", [0.0, 0.01])
def test_estimates_stable_against_grid_changes(templates, r_in):
    c_t, c_l = templates
    c_stat, c_sys = 0.05 * c_l, 0.05 * c_l
    args = (c_sys + c_stat, c_stat, c_t, c_l, modes(0.3))
    ref = estimate_r(*args, r_in=r_in)
    for kw in ({"n_fine": 1000}, {"n_fine": 10000}, {"n_coarse": 64}, {"delta": 50.0}):
        alt = estimate_r(*args, r_in=r_in, **kw)
        assert alt.r_hat == pytest.approx(ref.r_hat, rel=1e-6, abs=1e-9)
        for name in ("sigma_r", "r_upper", "r_95"):
            assert getattr(alt, name) == pytest.approx(getattr(ref, name), rel=0.01), (kw, name)


def test_bad_inputs_raise(templates):
    c_t, c_l = templates
    zero = np.zeros(ELL.size)
    with pytest.raises(ValueError):
        estimate_r(zero, zero, c_t, c_l, modes(0.0))
    with pytest.raises(ValueError):
        estimate_r(zero, -2 * c_l, c_t, c_l, modes(0.5))  # C_lens + C_stat <= 0
    with pytest.raises(ValueError):
        estimate_r(zero, zero, c_t, c_l[:-1], modes(0.5))  # bandpowers of different lengths
