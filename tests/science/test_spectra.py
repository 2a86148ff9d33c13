"""Apodized masks, bandpower binning, the MASTER coupling and the residual BB bandpowers
(compsep_hpc.science.apodization, bandpowers, coupling, spectra)."""

from __future__ import annotations

import functools

import healpy as hp
import numpy as np
import pytest

from compsep_hpc.partition.regions import region_mask
from compsep_hpc.science.apodization import apodized_mask, edge_distance, fsky_factors, taper
from compsep_hpc.science.bandpowers import (bandpower_binning, bin_centres, binning_operators, mode_counts,
                                            region_lmin)
from compsep_hpc.science.config import SpectraConfig
from compsep_hpc.science.coupling import binned_model, spin2_coupling
from compsep_hpc.science.geometry import region_geometry
from compsep_hpc.science.spectra import bb_bandpowers, pseudo_spectra, residual_spectra
from compsep_hpc.sky.synthetic import foreground_amplitudes, foreground_intensity


def _latitude(nside: int) -> np.ndarray:
    return np.pi / 2 - hp.pix2ang(nside, np.arange(12 * nside**2))[0]


@functools.lru_cache
def _intensity(nside: int) -> np.ndarray:
    return foreground_intensity(*foreground_amplitudes(nside, 0), nside)


def _gal_mask(name: str, nside: int) -> np.ndarray:
    """A GAL region of the package's built-in masks (from the synthetic sky of seed 0)."""
    return region_mask(name, nside, foreground_intensity=_intensity(nside))


def _qu(cl_ee: np.ndarray, cl_bb: np.ndarray, nside: int, n: int, seed: int, pixels: np.ndarray) -> np.ndarray:
    """``n`` seeded Gaussian Q/U realizations on ``pixels``, ``(n, 2, n_pix)``."""
    zero = np.zeros_like(cl_bb)
    np.random.seed(seed)
    return np.array([hp.synfast([zero, cl_ee, cl_bb, zero], nside, new=True)[1:, pixels] for _ in range(n)])


def _dust(lmax: int) -> tuple[np.ndarray, np.ndarray]:
    """(EE, BB) of a dust-like residual: C_BB ~ ell^-2.4, EE = 2 BB."""
    ell = np.arange(lmax + 1)
    bb = np.where(ell >= 2, np.maximum(ell, 1) ** -2.4, 0.0)
    return 2 * bb, bb


# --- apodization -------------------------------------------------------------------------------

@pytest.mark.parametrize("apod_type", ["C1", "C2"])
def test_taper_follows_namaster_definitions(apod_type):
    nside, deg = 32, 6.0
    mask = _latitude(nside) > 0
    apod = apodized_mask(mask, nside, deg, apod_type)
    w = apod.weights
    assert apod.warning == "" and w.shape == mask.shape and np.all((w >= 0) & (w <= 1))
    assert np.all(w[~mask] == 0) and np.all(w[mask] > 0)
    theta = np.minimum(edge_distance(mask, nside, np.radians(deg)), np.pi)  # inf beyond the taper
    x = np.sqrt(np.clip((1 - np.cos(theta)) / (1 - np.cos(np.radians(deg))), 0, 1))
    expected = x - np.sin(2 * np.pi * x) / (2 * np.pi) if apod_type == "C1" else 0.5 * (1 - np.cos(np.pi * x))
    np.testing.assert_allclose(w[mask], expected[mask], atol=1e-12)
    assert np.all(w[_latitude(nside) > np.radians(deg + 2)] == 1.0) and np.any((w > 0) & (w < 1))
    # the edge distance of a latitude cut is the latitude, to within one pixel
    pix = np.sqrt(4 * np.pi / mask.size)
    near = mask & (_latitude(nside) < np.radians(deg) - 2 * pix)
    assert np.all(np.abs(theta[near] - _latitude(nside)[near]) < 2 * pix)
    assert taper(np.array([0.0, 1.0]), 0.5, apod_type)[1] == 1.0


def test_apodization_special_cases_and_thin_region_warning():
    nside = 32
    lat = _latitude(nside)
    mask = lat > 0
    assert np.array_equal(apodized_mask(mask, nside, 0.0).weights, mask.astype(float))
    assert np.array_equal(apodized_mask(np.ones(mask.size, bool), nside, 5.0).weights, np.ones(mask.size))
    assert np.array_equal(apodized_mask(np.zeros(mask.size, bool), nside, 5.0).weights, np.zeros(mask.size))
    # a band of |lat| < 6 deg is too thin for a 10 deg taper: tapered all the same, with a warning
    band = np.abs(lat) < np.radians(6.0)
    thin = apodized_mask(band, nside, 10.0)
    assert "too thin" in thin.warning and "C2 10 deg" in thin.warning
    assert np.all(thin.weights[band] > 0) and np.all(thin.weights[band] < 1)  # no binary fallback
    assert apodized_mask(band, nside, 1.0).warning == ""
    with pytest.raises(ValueError):
        apodized_mask(mask[:-1], nside, 2.0)
    with pytest.raises(ValueError):
        taper(np.zeros(2), 0.1, "C3")
    w2, w4 = fsky_factors(thin.weights)
    assert 0 < w4 < w2 < band.mean()


# --- binning ---------------------------------------------------------------------------------

def test_binning_tiles_the_multipoles_and_inverts():
    b = bandpower_binning(lmin=4, lmax=64, delta_ell=10, lmax_pseudo=95)
    assert b.edges[0] == 2 and b.edges[-1] == 96 and b.first == 1 and np.all(np.diff(b.edges) > 0)
    rep = b.edges[b.first: b.first + b.n_reported + 1]
    assert rep[0] == 4 and rep[-1] == 65 and np.all(np.diff(rep) >= 10) and np.all(np.diff(rep) < 15)
    p, q = binning_operators(b)
    np.testing.assert_allclose(p @ q, np.eye(b.n_bins), atol=1e-13)
    assert np.all(p[:, :2] == 0) and np.all(q[:2] == 0)
    np.testing.assert_allclose(mode_counts(b, 0.5), 0.5 * np.diff(rep) * (rep[:-1] + rep[1:]))
    assert bin_centres(b)[0] == pytest.approx(8.5)
    assert bandpower_binning(2, 32, 10, 47).first == 0  # no nuisance bin below lmin = 2


def test_region_lmin_grows_as_the_region_shrinks():
    assert region_lmin(1.0) == 2 and region_lmin(0.5) == 2
    assert region_lmin(0.09) == 3  # a cap of 9 % of the sky spans 70 degrees
    assert region_lmin(0.01) == 8
    with pytest.raises(ValueError):
        region_lmin(0.0)


# --- coupling --------------------------------------------------------------------------------

def test_full_sky_coupling_is_the_identity_without_leakage():
    m_pp, m_mm = spin2_coupling(np.ones(12 * 16**2), 47)
    np.testing.assert_allclose(np.diag(m_pp)[2:33], 1.0, rtol=1e-2)  # HEALPix quadrature of a constant map
    assert np.abs(m_pp - np.diag(np.diag(m_pp))).max() < 1e-2 and np.abs(m_mm).max() < 1e-2


def test_coupling_of_a_cut_sky_matches_white_noise_power():
    """A flat (EE, BB) spectrum's pseudo power is <w^2> times it: the rows of M++ + M-- sum to w2."""
    nside = 16
    w = apodized_mask(_latitude(nside) > np.radians(20), nside, 5.0).weights
    m_pp, m_mm = spin2_coupling(w, 3 * nside - 1)
    rows = (m_pp + m_mm).sum(axis=1)[5: 2 * nside]
    np.testing.assert_allclose(rows, fsky_factors(w)[0], rtol=0.02)


def test_windows_return_bandpowers_of_binned_spectra_exactly():
    """W Q x = x: a spectrum flat in D_ell over each bin comes out as its bandpowers, with no BB from EE."""
    nside = 16
    geometry = region_geometry(_gal_mask("GAL020_U", nside), SpectraConfig(lmax=32))
    c = geometry.coupling
    _, q = binning_operators(c.binning)
    x = np.linspace(1.0, 2.0, c.binning.n_bins)
    np.testing.assert_allclose(binned_model(c, q @ x), x[c.binning.reported], rtol=1e-8)
    np.testing.assert_allclose(binned_model(c, 0 * q @ x, q @ x), 0.0, atol=1e-8)
    with pytest.raises(ValueError):
        binned_model(c, np.ones(10))


# --- bandpowers on simulations (fast versions of scripts/validate_spectra.py) -------------------

@pytest.mark.parametrize("nside,region", [(16, "GAL040_U"), (32, "GAL020_L")])
@pytest.mark.parametrize("kind", ["dust", "white"])
def test_bandpowers_unbiased_on_gaussian_simulations(nside, region, kind):
    geometry = region_geometry(_gal_mask(region, nside), SpectraConfig(lmax=2 * nside))
    lmax = 3 * nside - 1
    ee, bb = _dust(lmax) if kind == "dust" else (np.full(lmax + 1, 1.0), np.full(lmax + 1, 1.0))
    n = 60
    bp = bb_bandpowers(_qu(ee, bb, nside, n, 7 + nside, geometry.pixels), geometry.pixels, geometry.weights,
                       geometry.coupling)
    expected = binned_model(geometry.coupling, bb, ee)
    mean, err = bp.mean(0), bp.std(0, ddof=1) / np.sqrt(n)
    assert bp.shape == (n, geometry.coupling.n_reported)
    assert np.all(np.abs(mean - expected) <= np.maximum(0.05 * expected, 3 * err)), (mean / expected, err / expected)


def test_pure_e_input_gives_no_bb_after_deconvolution_only():
    """E modes alone leak into the pseudo-BB; the MASTER bandpowers remove it (in the mean)."""
    nside = 32
    geometry = region_geometry(_gal_mask("GAL040_U", nside), SpectraConfig(lmax=64))
    c = geometry.coupling
    ee, _ = _dust(3 * nside - 1)
    qu = _qu(ee, 0 * ee, nside, 40, 3, geometry.pixels)
    bp = bb_bandpowers(qu, geometry.pixels, geometry.weights, c)
    mean, err = bp.mean(0), bp.std(0, ddof=1) / np.sqrt(len(bp))
    assert np.all(np.abs(mean - binned_model(c, 0 * ee, ee)) <= 3 * err)
    p, _ = binning_operators(c.binning)
    naive = (pseudo_spectra(qu, geometry.pixels, geometry.weights, 3 * nside - 1)[:, 1] / c.w2 @ p.T)[:, c.binning.reported]
    naive_mean, naive_err = naive.mean(0), naive.std(0, ddof=1) / np.sqrt(len(naive))
    assert np.all(naive_mean > 5 * naive_err)  # the leakage before deconvolution
    assert np.all(naive_mean > np.abs(mean) + 5 * err)


def test_residual_spectra_definitions():
    nside = 16
    geometry = region_geometry(_latitude(nside) > np.radians(10.0), SpectraConfig(lmax=32))
    pixels, w, c = geometry.pixels, geometry.weights, geometry.coupling
    rng = np.random.default_rng(7)
    truth = rng.standard_normal((2, pixels.size))
    offset = 0.3 * rng.standard_normal((2, pixels.size))
    hat = np.broadcast_to(truth + offset, (4, 2, pixels.size))
    res = residual_spectra(hat, truth, offset, pixels, w, c)
    assert set(res) == {"systematic", "total", "statistical", "per_realization"}
    assert res["per_realization"].shape == (4, c.n_reported) and res["total"].shape == (c.n_reported,)
    np.testing.assert_allclose(res["total"], res["systematic"], rtol=1e-12)
    noisy = truth + offset + 0.5 * rng.standard_normal((50, 2, pixels.size))
    res = residual_spectra(noisy, truth, offset, pixels, w, c)
    assert np.array_equal(res["statistical"], res["total"] - res["systematic"])
    np.testing.assert_allclose(res["total"], res["per_realization"].mean(0))
    # white noise of 0.5 uK per pixel: C = 0.25 x pixel area, flat
    level = 0.25 * 4 * np.pi / (12 * nside**2)
    assert res["statistical"].mean() == pytest.approx(level, rel=0.1)
    assert bb_bandpowers(noisy[:2, None], pixels, w, c).shape == (2, 1, c.n_reported)
    with pytest.raises(ValueError):
        residual_spectra(noisy[0], truth, offset, pixels, w, c)
