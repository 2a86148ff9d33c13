"""r through the whole path: Gaussian residual maps of a known BB (r_true x the tensor template
plus lensing) on a GAL region, apodized, MASTER bandpowers, windows on the templates, bandpower
likelihood: r_hat lies within sigma(r) of r_true, and the per-realization spread agrees with the
likelihood's width."""

from __future__ import annotations

import healpy as hp
import numpy as np
import pytest

from compsep_hpc.partition.regions import region_mask
from compsep_hpc.science.config import SpectraConfig
from compsep_hpc.science.coupling import binned_model
from compsep_hpc.science.figures import CmbTemplates, r_figures, realization_r_hats
from compsep_hpc.science.geometry import region_geometry
from compsep_hpc.science.spectra import bb_bandpowers
from compsep_hpc.sky.cmb import bb_templates
from compsep_hpc.sky.synthetic import foreground_amplitudes, foreground_intensity

NSIDE = 32


@pytest.fixture(scope="module")
def setup():
    intensity = foreground_intensity(*foreground_amplitudes(NSIDE, 0), NSIDE)
    geometry = region_geometry(region_mask("GAL020_L", NSIDE, foreground_intensity=intensity), SpectraConfig(lmax=64))
    return geometry, CmbTemplates(*bb_templates(3 * NSIDE - 1))


@pytest.mark.parametrize("r_true", [0.0, 0.003])
def test_known_bb_residual_recovers_r(setup, r_true):
    geometry, templates = setup
    c = geometry.coupling
    bb = r_true * templates.tensor + templates.lensing
    zero = np.zeros_like(bb)
    np.random.seed(11 + int(1e4 * r_true))
    n = 40
    qu = np.array([hp.synfast([zero, zero, bb, zero], NSIDE, new=True)[1:, geometry.pixels] for _ in range(n)])
    bandpowers = bb_bandpowers(qu, geometry.pixels, geometry.weights, c)
    # the maps are the whole observed BB: no injected r, no lensing added (A_lens = 0), and the
    # model carries the lensing as its known (statistical) part
    spectra = SpectraConfig(lmax=64, A_lens=0.0)
    lensing = binned_model(c, templates.lensing)
    one = r_figures(bandpowers[0], lensing, templates, c, spectra, r_in=0.0)
    assert abs(one.r_hat - r_true) <= one.sigma_r, (one.r_hat, one.sigma_r)
    r_hats = realization_r_hats(bandpowers, lensing, templates, c, spectra, r_in=0.0)
    assert r_hats.shape == (n,) and np.all(r_hats >= 0)
    # the spread of r_hat over realizations matches the likelihood width within a factor 1.6
    assert 1 / 1.6 < np.std(r_hats, ddof=1) / one.sigma_r < 1.6, (np.std(r_hats, ddof=1), one.sigma_r)
    if r_true > 0:
        assert abs(np.mean(r_hats) - r_true) < 3 * np.std(r_hats, ddof=1) / np.sqrt(n)
