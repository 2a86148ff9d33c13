"""The synthetic sky's foreground BB power at ell ~ 80 against Planck's dependence on sky fraction
(compsep_hpc.science.sky_calibration, docs/sky_calibration.md)."""

from __future__ import annotations

import numpy as np
import pytest

from compsep_hpc.partition.regions import lowest_intensity_masks
from compsep_hpc.science.sky_calibration import DUST_BB_353, SYNCH_BB_30, bin_d80, measure_d80, reference_d80

FACTOR = 1.5
"""Tolerated ratio measured / reference (the calibration's target)."""


@pytest.fixture(scope="module")
def calibrated():
    """nside 64 (ell = 80 needs it: at 32 the bin lies next to 3 nside - 1), seed 0, the smallest
    and the largest of Planck's LR sky fractions."""
    return measure_d80(64, 0, (0.24, 0.71))


def test_reference_interpolates_log_log():
    for table in (DUST_BB_353, SYNCH_BB_30):
        f, d = np.array(table).T
        np.testing.assert_allclose(reference_d80(table, f), d, rtol=1e-12)
        mid = np.sqrt(f[0] * f[1])
        np.testing.assert_allclose(reference_d80(table, mid), np.sqrt(d[0] * d[1]), rtol=1e-12)
    # beyond the table: the power law through the two nearest rows
    (f0, d0), (f1, d1) = SYNCH_BB_30
    slope = np.log(d1 / d0) / np.log(f1 / f0)
    np.testing.assert_allclose(reference_d80(SYNCH_BB_30, 1.0), d1 * (1.0 / f1) ** slope, rtol=1e-12)


def test_lowest_intensity_masks_nest_and_keep_their_fraction():
    intensity = np.random.default_rng(3).random(12 * 16**2)
    low, high = lowest_intensity_masks(intensity, (0.24, 0.71))
    assert low.sum() == round(0.24 * intensity.size) and high.sum() == round(0.71 * intensity.size)
    assert np.all(high[low]) and intensity[low].max() < intensity[~low].min()


def test_bin_d80_recovers_a_known_power_law():
    """A Gaussian field with D_ell^BB = 10 (ell/80)^-0.4 and EE = 2 BB on a mask of 71 %: the
    [70, 90) bandpower, as the bin's mean D_ell, gives D_80 = 10 within its sampling error."""
    import healpy as hp

    nside = 64
    ell = np.arange(3 * nside)
    cl_bb = np.where(ell >= 2, 10.0 * 2 * np.pi / np.maximum(ell * (ell + 1), 1) * (np.maximum(ell, 1) / 80) ** -0.4, 0)
    np.random.seed(7)
    qu = hp.synfast([0 * cl_bb, 2 * cl_bb, cl_bb, 0 * cl_bb], nside, new=True)[1:]
    mask = np.abs(np.pi / 2 - hp.pix2ang(nside, np.arange(12 * nside**2))[0]) > np.radians(17)
    d80, fsky_eff = bin_d80(qu, mask)
    assert 0.6 < fsky_eff < 0.71
    assert abs(d80 / 10.0 - 1) < 0.15  # ~800 modes in the bin: sigma ~ 5 %


@pytest.mark.parametrize("component,table", [("dust", DUST_BB_353), ("synch", SYNCH_BB_30)])
def test_calibrated_sky_matches_planck_within_factor(calibrated, component, table):
    measured = getattr(calibrated, component)
    ratio = measured / reference_d80(table, calibrated.fsky)
    assert np.all((1 / FACTOR < ratio) & (ratio < FACTOR)), f"{component} D_80 / reference = {ratio}"
