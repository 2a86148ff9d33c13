"""A region's spectral geometry: its pixels, apodized weights, thin-region warning and bandpower
coupling (MASTER or pure-B), built from its mask and the ``spectra`` config. Depends only on the region's mask and
the config: one per region and run, stored in the run folder (store/run_folder.py)."""

from __future__ import annotations

from typing import NamedTuple

import healpy as hp
import numpy as np

from compsep_hpc.science.apodization import apodized_mask, fsky_factors
from compsep_hpc.science.bandpowers import bandpower_binning, region_lmin
from compsep_hpc.science.config import SpectraConfig
from compsep_hpc.science.coupling import BandpowerCoupling, bandpower_coupling


class RegionGeometry(NamedTuple):
    """A region's RING ``pixels`` (n_pix,), apodized ``weights`` (12 nside^2,), the MASTER
    ``coupling`` of its reported bins and ``apod_warning`` ('' when the region suits the taper)."""

    pixels: np.ndarray
    weights: np.ndarray
    coupling: BandpowerCoupling
    apod_warning: str

    @property
    def fsky(self) -> float:
        """Effective sky fraction :math:`w_2^2/w_4` of the weights (mode counts of the r likelihood)."""
        return self.coupling.fsky_eff


def region_geometry(mask: np.ndarray, spectra: SpectraConfig) -> RegionGeometry:
    """The geometry of the region ``mask`` (bool RING): taper ``spectra.apod_type`` of
    ``spectra.apod_deg`` degrees, bins of ``spectra.delta_ell`` over [lmin, ``spectra.lmax``] with
    lmin ``spectra.lmin`` or, when None, bandpowers.region_lmin of the tapered region; the
    bandpower estimator ``spectra.estimator`` (master or pure_b)."""
    mask = np.asarray(mask, dtype=bool)
    nside = hp.npix2nside(mask.size)
    apod = apodized_mask(mask, nside, spectra.apod_deg, spectra.apod_type)
    w2, w4 = fsky_factors(apod.weights)
    if w2 <= 0:
        raise ValueError("the region has no pixel")
    lmin = spectra.lmin if spectra.lmin is not None else region_lmin(w2**2 / w4)
    if lmin >= spectra.lmax:
        raise ValueError(f"region too small: its lmin {lmin} reaches spectra.lmax {spectra.lmax}")
    binning = bandpower_binning(lmin, spectra.lmax, spectra.delta_ell, 3 * nside - 1)
    return RegionGeometry(np.flatnonzero(mask).astype(np.int64), apod.weights,
                          bandpower_coupling(apod.weights, binning, spectra.estimator), apod.warning)
