"""The r likelihood and the estimates r_hat, sigma_r, r_95 (compsep_hpc.science.r_estimation)."""

from __future__ import annotations

import numpy as np
import pytest

from compsep_hpc.science.r_estimation import estimate_r, neg2_log_likelihood
from compsep_hpc.sky.cmb import bb_templates

NSIDE = 32
LMAX = 2 * NSIDE


@pytest.fixture(scope="module")
def templates() -> tuple[np.ndarray, np.ndarray]:
    return bb_templates(LMAX)


def test_neg2_log_likelihood_matches_hand_computation():
    # two multipoles, ell = 2 and 3; entries at ell = 0, 1 are ignored (lmin = 2)
    c_obs = np.array([9.0, 9.0, 2.0, 3.0])
    c_t = np.array([9.0, 9.0, 1.0, 0.5])
    c_l = np.array([9.0, 9.0, 1.5, 2.0])
    c_s = np.array([9.0, 9.0, 0.5, 0.25])
    fsky = 0.3
    for r in (0.0, 0.5, 2.0):
        m2, m3 = r * 1.0 + 1.5 + 0.5, r * 0.5 + 2.0 + 0.25
        hand = fsky * (5 * (2.0 / m2 + np.log(m2)) + 7 * (3.0 / m3 + np.log(m3)))
        got = neg2_log_likelihood(np.array(r), c_obs, c_t, c_l, c_s, fsky, 2, 3)
        assert got.shape == ()
        assert got == pytest.approx(hand, rel=1e-14)
    grid = neg2_log_likelihood(np.array([[0.0, 0.5], [2.0, 1.0]]), c_obs, c_t, c_l, c_s, fsky, 2, 3)
    assert grid.shape == (2, 2)
    # lmax = 2 keeps only ell = 2
    m2 = 1.5 + 0.5
    assert neg2_log_likelihood(np.array(0.0), c_obs, c_t, c_l, c_s, 1.0, 2, 2) == pytest.approx(
        5 * (2.0 / m2 + np.log(m2)))
    # a non-positive model gives +inf rather than nan
    assert neg2_log_likelihood(np.array(-10.0), c_obs, c_t, c_l, c_s, 1.0, 2, 3) == np.inf


@pytest.mark.parametrize("r_in", [0.0, 0.003, 0.01])
def test_unbiased_without_residuals(templates, r_in):
    c_t, c_l = templates
    zero = np.zeros(LMAX + 1)
    res = estimate_r(zero, zero, c_t, c_l, 0.5, r_in=r_in, lmax=LMAX)
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
    zero = np.zeros(LMAX + 1)
    sig = {f: estimate_r(zero, zero, c_t, c_l, f, r_in=0.01).sigma_r for f in (0.1, 0.4, 1.0)}
    assert sig[0.1] > sig[0.4] > sig[1.0] > 0
    # near-Gaussian regime (r_in = 0.01): sigma ~ 1/sqrt(fsky) within 10 %
    assert sig[0.4] / sig[1.0] == pytest.approx(np.sqrt(1.0 / 0.4), rel=0.1)
    assert sig[0.1] / sig[0.4] == pytest.approx(2.0, rel=0.1)
    # at r = 0 the upper width also shrinks with fsky
    s0 = [estimate_r(zero, zero, c_t, c_l, f).sigma_r for f in (0.1, 0.4, 1.0)]
    assert s0[0] > s0[1] > s0[2] > 0


def test_positive_residual_biases_r_up_by_fisher_estimate(templates):
    c_t, c_l = templates
    ell = slice(2, LMAX + 1)
    c_stat = 0.05 * c_l
    c_sys = 0.05 * c_l
    r_in = 0.01
    res = estimate_r(c_sys + c_stat, c_stat, c_t, c_l, 0.5, r_in=r_in)
    a = 2 * np.arange(LMAX + 1)[ell] + 1
    model = r_in * c_t[ell] + c_l[ell] + c_stat[ell]
    bias = np.sum(a * c_t[ell] * c_sys[ell] / model**2) / np.sum(a * c_t[ell] ** 2 / model**2)
    assert res.r_hat - r_in > 0
    assert res.r_hat - r_in == pytest.approx(bias, rel=0.05)
    # the statistical residual alone (in both obs and model) leaves r unbiased, widens sigma
    res_stat = estimate_r(c_stat, c_stat, c_t, c_l, 0.5, r_in=r_in)
    clean = estimate_r(np.zeros(LMAX + 1), np.zeros(LMAX + 1), c_t, c_l, 0.5, r_in=r_in)
    assert res_stat.r_hat == pytest.approx(r_in, rel=1e-6)
    assert res_stat.sigma_r > clean.sigma_r
    # a boundary case: r_in = 0 with a systematic residual gives r_hat > 0
    assert estimate_r(c_sys + c_stat, c_stat, c_t, c_l, 0.5).r_hat > 0


@pytest.mark.parametrize("r_in", [0.0, 0.01])
def test_estimates_stable_against_grid_changes(templates, r_in):
    c_t, c_l = templates
    c_stat, c_sys = 0.05 * c_l, 0.05 * c_l
    args = (c_sys + c_stat, c_stat, c_t, c_l, 0.3)
    ref = estimate_r(*args, r_in=r_in)
    for kw in ({"n_fine": 1000}, {"n_fine": 10000}, {"n_coarse": 64}, {"delta": 50.0}):
        alt = estimate_r(*args, r_in=r_in, **kw)
        assert alt.r_hat == pytest.approx(ref.r_hat, rel=1e-6, abs=1e-9)
        for name in ("sigma_r", "r_upper", "r_95"):
            assert getattr(alt, name) == pytest.approx(getattr(ref, name), rel=0.01), (kw, name)


def test_bad_inputs_raise(templates):
    c_t, c_l = templates
    zero = np.zeros(LMAX + 1)
    with pytest.raises(ValueError):
        estimate_r(zero, zero, c_t, c_l, 0.0)
    with pytest.raises(ValueError):
        estimate_r(zero, -2 * c_l, c_t, c_l, 0.5)  # C_lens + C_stat <= 0
    with pytest.raises(ValueError):
        estimate_r(zero, zero, c_t, c_l, 0.5, lmax=LMAX + 5)
