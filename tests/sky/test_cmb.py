"""CMB spectra from CAMB and Gaussian CMB realizations."""

from __future__ import annotations

import healpy as hp
import numpy as np
import pytest

from compsep_hpc.sky.cmb import (
    bb_templates,
    cmb_power_spectra,
    gaussian_alm,
    gaussian_cmb_qu,
    rng_stream,
)

LMAX = 300


def dl(cl: np.ndarray) -> np.ndarray:
    ell = np.arange(cl.shape[-1])
    return ell * (ell + 1) / (2 * np.pi) * cl


def test_spectra_shape_and_planck_like_values():
    cls = cmb_power_spectra(LMAX)
    assert cls.shape == (4, LMAX + 1)
    assert np.all(cls[:, :2] == 0)
    assert np.all(np.isfinite(cls))
    tt, ee, bb, te = dl(cls)
    peak = int(np.argmax(tt))
    assert 200 <= peak <= 240 and 5000 < tt[peak] < 6500  # first acoustic peak, uK^2
    assert 0.01 < ee[2:8].max() < 0.1  # reionization bump, tau = 0.054
    assert 0.5 < ee[140] < 2.0 and 5 < ee[300] < 15
    assert 1e-3 < bb[80] < 4e-3  # lensing B modes, ~ 5 uK.arcmin white at low ell
    assert np.all(cls[:3, 2:] > 0)
    assert np.any(te < 0) and np.any(te > 0)


def test_tensor_part_is_linear_in_r_and_has_the_expected_size():
    tensor, lensing = bb_templates(LMAX)
    assert tensor.shape == lensing.shape == (LMAX + 1,)
    d_tensor = dl(tensor)
    assert 60 <= int(np.argmax(d_tensor[:150])) <= 110  # recombination bump
    assert 0.05 < d_tensor[80] < 0.08  # D_80^BB(r=1) ~ 0.065 uK^2 (n_t = 0)
    c0, c1, c2 = (cmb_power_spectra(LMAX, r)[2] for r in (0.0, 0.01, 0.02))
    np.testing.assert_allclose(c0, lensing, rtol=1e-12)
    np.testing.assert_allclose(c1 - c0, 0.01 * tensor, rtol=1e-9, atol=1e-20)
    np.testing.assert_allclose(c2 - c0, 2 * (c1 - c0), rtol=1e-9, atol=1e-20)
    # r = 0.01 at ell = 80 is ~ a third of the lensing power
    assert 0.2 < (c1[80] - c0[80]) / c0[80] < 0.5


def test_spectra_do_not_depend_on_lmax_and_cache_returns_copies():
    a = cmb_power_spectra(47, 0.01)
    b = cmb_power_spectra(LMAX, 0.01)
    np.testing.assert_array_equal(a, b[:, :48])
    a[:] = -1.0
    assert np.all(cmb_power_spectra(47, 0.01)[:3, 2:] > 0)


def test_gaussian_alm_is_lmax_independent_prefix():
    cl = np.ones(41)
    small = gaussian_alm(cl[:21], rng_stream(3, 7))
    large = gaussian_alm(cl, rng_stream(3, 7))
    ell_s, m_s = hp.Alm.getlm(20)
    np.testing.assert_array_equal(small, large[hp.Alm.getidx(40, ell_s, m_s)])
    assert np.all(small[m_s == 0].imag == 0)


def test_gaussian_cmb_deterministic_and_global_rng_untouched():
    np.random.seed(12345)
    state = np.random.get_state()
    a = gaussian_cmb_qu(16, 0.0, seed=5)
    b = gaussian_cmb_qu(16, 0.0, seed=5)
    c = gaussian_cmb_qu(16, 0.0, seed=6)
    after = np.random.get_state()
    assert a.shape == (2, 12 * 16**2) and a.dtype == np.float64
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    assert after[0] == state[0] and np.array_equal(after[1], state[1]) and after[2] == state[2]


@pytest.mark.parametrize("r", [0.0, 0.1])
def test_gaussian_cmb_power_matches_input_within_cosmic_variance(r):
    nside = 64
    lmax = 2 * nside
    qu = gaussian_cmb_qu(nside, r, seed=11)
    cl = hp.anafast([np.zeros(qu.shape[1]), *qu], lmax=lmax, pol=True)
    model = cmb_power_spectra(lmax, r)
    ell = np.arange(lmax + 1)
    for measured, expected in ((cl[1], model[1]), (cl[2], model[2])):  # EE, BB
        for lo in range(2, lmax - 15, 16):
            sel = slice(lo, lo + 16)
            weight = 2 * ell[sel] + 1
            total = np.sum(weight * expected[sel])
            sigma = np.sqrt(np.sum(2 * weight * expected[sel] ** 2)) / total  # cosmic variance
            ratio = np.sum(weight * measured[sel]) / total
            assert abs(ratio - 1) < 5 * sigma, (lo, ratio, sigma)


def test_skies_built_with_different_given_spectra_do_not_affect_each_other():
    """The CMB spectra are an argument, not process state: a sky drawn from 4x the spectra (twice
    the CMB) leaves the next sky drawn from CAMB's, given or not, as it was."""
    from compsep_hpc.config import parse_config
    from compsep_hpc.sky import make_sky
    from compsep_hpc.sky.cmb import camb_spectra

    cfg = parse_config({"name": "t", "nside": 8, "sky": {"model": "synthetic", "seed": 2, "r": 0.01},
                        "regions": ["GAL020_U"], "grid": {"beta_dust": [1], "temp_dust": [1], "beta_synch": [1]}})
    lensed, tensor = camb_spectra(23)

    def build(spectra=None):
        return make_sky(cfg.sky, cfg.nside, cfg.instrument, regions=cfg.regions, cmb_spectra=spectra).cmb

    plain = build()
    scaled = build((4 * lensed, 4 * tensor))
    np.testing.assert_allclose(scaled, 2 * plain, rtol=1e-12)
    np.testing.assert_array_equal(build((lensed, tensor)), plain)
    np.testing.assert_array_equal(build(), plain)
    np.testing.assert_array_equal(gaussian_cmb_qu(8, 0.01, 2), plain)
    with pytest.raises(ValueError, match="do not reach lmax 600"):
        cmb_power_spectra(600, 0.0, (lensed, tensor))
    with pytest.raises(ValueError, match="expected"):
        gaussian_cmb_qu(8, 0.0, 2, cmb_spectra=(lensed[:100], tensor[:100]))
