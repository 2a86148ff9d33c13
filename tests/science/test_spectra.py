"""Apodized masks and residual BB spectra (compsep_hpc.science.spectra)."""

from __future__ import annotations

import healpy as hp
import numpy as np
import pytest

from compsep_hpc.sky.cmb import gaussian_eb_qu, rng_stream
from compsep_hpc.science.spectra import apodized_mask, bb_spectrum, fsky_factors, residual_spectra

NSIDE = 32
NPIX = 12 * NSIDE**2


def _latitude(nside: int) -> np.ndarray:
    return np.pi / 2 - hp.pix2ang(nside, np.arange(12 * nside**2))[0]


@pytest.fixture(scope="module")
def hemisphere() -> tuple[np.ndarray, np.ndarray]:
    mask = _latitude(NSIDE) > 0
    return mask, apodized_mask(mask, NSIDE)


def test_apodized_mask_range_support_and_taper(hemisphere):
    mask, w = hemisphere
    lat = _latitude(NSIDE)
    assert w.shape == (NPIX,) and w.dtype == np.float64
    assert np.all((w >= 0) & (w <= 1))
    assert np.all(w[~mask] == 0) and np.all(w[mask] > 0)
    assert np.all(w[lat > np.radians(6.0)] == 1.0)  # default taper: 5 degrees on a big region
    assert np.any((w > 0) & (w < 1))
    # cosine taper of the distance to the edge: bounded by the taper of the latitude and of the
    # latitude plus the distance from the equator to the first ring of outside pixels + a pixel
    theta = np.radians(5.0)
    pix = np.sqrt(4 * np.pi / NPIX)

    def taper(d):
        return 0.5 * (1 - np.cos(np.pi * np.clip(d / theta, 0, 1)))

    near = mask & (lat < theta)
    assert np.all(w[near] >= taper(lat[near]) - 1e-12)
    assert np.all(w[near] <= taper(lat[near] + 2 * pix) + 1e-12)
    w2, w4 = fsky_factors(w)
    assert 0.4 < w2 < mask.mean() and 0 < w4 <= w2


def test_apodized_mask_special_cases():
    lat = _latitude(NSIDE)
    mask = lat > 0
    assert np.array_equal(apodized_mask(mask, NSIDE, 0.0), mask.astype(float))
    assert np.array_equal(apodized_mask(np.ones(NPIX, bool), NSIDE), np.ones(NPIX))
    assert np.array_equal(apodized_mask(np.zeros(NPIX, bool), NSIDE), np.zeros(NPIX))
    # explicit width: 1 beyond it, tapered inside
    w10 = apodized_mask(mask, NSIDE, 10.0)
    assert np.all(w10[lat > np.radians(11.0)] == 1) and np.all(w10[lat < np.radians(8.0)] < 1)
    # a tiny region (a pixel and its neighbours) would lose most of its weight: binary fallback
    tiny = np.zeros(NPIX, bool)
    tiny[hp.get_all_neighbours(NSIDE, 5000)] = True
    tiny[5000] = True
    assert np.array_equal(apodized_mask(tiny, NSIDE), tiny.astype(float))
    w_tiny = apodized_mask(tiny, NSIDE, min_kept=0.0)
    assert np.sum(w_tiny**2) < 0.5 * tiny.sum() and np.all(w_tiny[tiny] > 0)
    # a thin band (|lat| < 6 deg) gets a narrower default taper than 5 degrees, not zero
    band = np.abs(lat) < np.radians(6.0)
    wb = apodized_mask(band, NSIDE)
    assert np.all(wb[~band] == 0) and np.all(wb[band] > 0) and np.any(wb == 1)
    assert np.any((wb > 0) & (wb < 1))
    assert np.any(apodized_mask(band, NSIDE, 5.0, min_kept=0.0)[band] < wb[band])
    with pytest.raises(ValueError):
        apodized_mask(mask[:-1], NSIDE)


def test_bb_spectrum_recovers_input_within_cosmic_variance(hemisphere):
    mask, w = hemisphere
    pixels = np.flatnonzero(mask)
    lmax_sim = 3 * NSIDE - 1
    ell = np.arange(lmax_sim + 1)
    cl_bb = 50.0 / (ell + 5.0) ** 2  # a red, foreground-like spectrum with EE = 2 BB
    cl_bb[:2] = 0
    n_real = 16
    qu = np.array([gaussian_eb_qu(2 * cl_bb, cl_bb, NSIDE, rng_stream(s, 10), rng_stream(s, 11))
                   for s in range(n_real)])[:, :, pixels]
    cl = bb_spectrum(qu, pixels, NSIDE, w)
    assert cl.shape == (n_real, 2 * NSIDE + 1)
    assert np.all(cl[:, :2] == 0)
    mean = cl.mean(axis=0)
    w2, w4 = fsky_factors(w)
    fsky_eff = w2**2 / w4
    edges = [*range(2, 2 * NSIDE - 6, 8), 2 * NSIDE + 1]
    for lo, hi in zip(edges[:-1], edges[1:]):
        ratio = mean[lo:hi].sum() / cl_bb[lo:hi].sum()
        n_modes = np.sum(2 * np.arange(lo, hi) + 1) * fsky_eff * n_real
        # cosmic variance (3 sigma) plus 3 % for the mode coupling the f_sky correction ignores
        assert abs(ratio - 1) < 3 * np.sqrt(2 / n_modes) + 0.03, (lo, hi, ratio)


def test_bb_spectrum_batch_axes_and_white_noise_level():
    mask = _latitude(16) > np.radians(20.0)
    pixels = np.flatnonzero(mask)
    w = apodized_mask(mask, 16)
    rng = np.random.default_rng(4)
    sigma = 2.0
    qu = sigma * rng.standard_normal((2, 3, 2, pixels.size))
    cl = bb_spectrum(qu, pixels, 16, w, lmin=4, lmax=20)
    assert cl.shape == (2, 3, 21)
    assert np.allclose(cl[1, 2], bb_spectrum(qu[1, 2], pixels, 16, w, lmin=4, lmax=20))
    assert np.all(cl[..., :4] == 0)
    assert np.all(bb_spectrum(qu[0, 0], pixels, 16, w).shape == (33,))  # lmax = 2 nside
    # white noise: C_ell = sigma^2 * pixel area, unbiased after the 1/<w^2> correction
    level = sigma**2 * 4 * np.pi / (12 * 16**2)
    assert cl[..., 4:].mean() == pytest.approx(level, rel=0.05)


def test_residual_spectra_definitions():
    nside = 16
    mask = _latitude(nside) > np.radians(10.0)
    pixels = np.flatnonzero(mask)
    w = apodized_mask(mask, nside)
    rng = np.random.default_rng(7)
    truth = rng.standard_normal((2, pixels.size))
    offset = 0.3 * rng.standard_normal((2, pixels.size))
    n_real, sigma = 4, 0.5
    # no noise: every realization is truth + offset, so total == systematic, statistical == 0
    hat = np.broadcast_to(truth + offset, (n_real, 2, pixels.size))
    res = residual_spectra(hat, truth, offset, pixels, nside, w, lmax=2 * nside)
    assert set(res) == {"systematic", "total", "statistical"}
    assert all(v.shape == (2 * nside + 1,) for v in res.values())
    assert np.allclose(res["total"], res["systematic"], rtol=1e-12, atol=0)
    assert np.max(np.abs(res["statistical"])) < 1e-12 * np.max(res["systematic"])
    assert np.all(res["systematic"][:2] == 0) and np.all(res["systematic"][2:] > 0)
    # with noise: statistical = total - systematic exactly, and about the noise power
    noisy = truth + offset + sigma * rng.standard_normal((50, 2, pixels.size))
    res = residual_spectra(noisy, truth, offset, pixels, nside, w, lmax=2 * nside)
    assert np.array_equal(res["statistical"], res["total"] - res["systematic"])
    level = sigma**2 * 4 * np.pi / (12 * nside**2)
    assert res["statistical"][2:].mean() == pytest.approx(level, rel=0.05)
    with pytest.raises(ValueError):
        residual_spectra(noisy[0], truth, offset, pixels, nside, w)
