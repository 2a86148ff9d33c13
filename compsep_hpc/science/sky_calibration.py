r"""The synthetic sky's foreground BB power at :math:`\ell \approx 80` against sky fraction, and the
reference numbers it is calibrated on (docs/sky_calibration.md has the sources and the tables).

Measurement (:func:`measure_d80`). The masks keep the fraction :math:`f_{sky}` of the sky with the
lowest foreground intensity (smoothed :math:`P_{353} + P_{23}`, the rule of the package's GAL masks,
partition.regions.lowest_intensity_masks), like Planck's LR masks (thresholds of the smoothed 353
GHz intensity); each is tapered C2 over 2° (the package's default). The BB power is the MASTER
bandpower of the bin :math:`[70, 90)` (bins of 20 from :math:`\ell = 10`,
science.spectra.bb_bandpowers), reported as the bin's mean
:math:`D_\ell = \ell(\ell+1)C_\ell/2\pi` (:math:`D_{80}`, within 0.1 % for
:math:`D_\ell \propto \ell^{-0.4}`), in uK_CMB^2: dust at 353 GHz, synchrotron at 30 GHz, both
moved there with the mean SEDs (sky/synthetic.py). It needs :math:`n_{side} \ge 64`: at
:math:`n_{side} = 32` the bin lies next to :math:`3 n_{side} - 1 = 95`, where the latitude
modulation's aliased power biases it (1.2-1.9x high, measured).

References (:math:`D_{80}^{BB}`, uK^2):

- ``DUST_BB_353``: Planck 2018 XI (A&A 641, A11; arXiv:1801.04945), power-law fits of the 353 GHz
  dust spectra on the LR24-LR71 masks: :math:`A_{BB} = (A_{BB}/A_{EE})\,A_{EE}` at
  :math:`\ell = 80`, uK_CMB^2.
- ``SYNCH_BB_30``: synchrotron at 30 GHz, f_sky 0.05 and 0.71 (the latter Planck 2018 XI's LR71).
Both are read from a public transcription (docs/sky_calibration.md says which and why); between
and beyond the tabulated fractions :func:`reference_d80` interpolates log-log.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from compsep_hpc.partition.regions import lowest_intensity_masks
from compsep_hpc.science.config import SpectraConfig
from compsep_hpc.science.geometry import region_geometry
from compsep_hpc.science.spectra import bb_bandpowers
from compsep_hpc.sky.synthetic import foreground_amplitudes, foreground_intensity

DUST_NU = 353.0  # GHz
SYNCH_NU = 30.0  # GHz
DUST_BB_353: tuple[tuple[float, float], ...] = (
    (0.24, 0.48 * 34.3), (0.33, 0.45 * 47.3), (0.42, 0.50 * 74.7),
    (0.52, 0.53 * 120.1), (0.62, 0.53 * 190.7), (0.71, 0.53 * 315.4),
)
"""(f_sky, D_80^BB in uK_CMB^2 at 353 GHz) of Planck 2018 XI's LR masks: A_BB/A_EE times A_EE."""
SYNCH_BB_30: tuple[tuple[float, float], ...] = ((0.05, 0.081), (0.71, 0.91))
"""(f_sky, D_80^BB in uK^2 at 30 GHz) of the synchrotron (docs/sky_calibration.md)."""
LR_FSKY: tuple[float, ...] = tuple(f for f, _ in DUST_BB_353)
CALIBRATION_SPECTRA = SpectraConfig(lmin=10, lmax=89, delta_ell=20, apod_type="C2", apod_deg=2.0)
"""Bins of 20 from ell = 10; the last reported one is [70, 90)."""


class BBAt80(NamedTuple):
    """Measured :math:`D_{80}^{BB}` (uK_CMB^2), one per sky fraction: ``dust`` at 353 GHz,
    ``synch`` at 30 GHz; ``fsky`` the masks' fractions, ``fsky_eff`` their tapered w2^2/w4."""

    fsky: np.ndarray
    fsky_eff: np.ndarray
    dust: np.ndarray
    synch: np.ndarray


def reference_d80(table: Sequence[tuple[float, float]], fsky: float | np.ndarray) -> np.ndarray:
    r"""Log-log interpolation of ``table`` ((f_sky, D_80) rows, f_sky increasing) at ``fsky``;
    beyond its ends the power law through the two nearest rows."""
    f, d = (np.log(np.asarray(col, dtype=float)) for col in zip(*table))
    x = np.log(np.asarray(fsky, dtype=float))
    i = np.clip(np.searchsorted(f, x) - 1, 0, f.size - 2)
    slope = (d[i + 1] - d[i]) / (f[i + 1] - f[i])
    return np.exp(d[i] + slope * (x - f[i]))


def bin_d80(qu: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, float]:
    r"""Mean :math:`D_\ell` over :math:`[70, 90)` of the MASTER BB bandpower of full-sky Q/U maps
    ``(..., 2, npix)`` (uK) on the C2 2° taper of ``mask`` (bool RING); returns it (uK^2,
    shape ``(...)``) and the taper's :math:`f_{sky,eff}`."""
    geometry = region_geometry(mask, CALIBRATION_SPECTRA)
    binning = geometry.coupling.binning
    last = binning.first + binning.n_reported - 1
    ell = np.arange(binning.edges[last], binning.edges[last + 1], dtype=float)
    if not ell[0] <= 80 < ell[-1] + 1:
        raise ValueError(f"the last reported bin {ell[0]:g}-{ell[-1]:g} does not hold ell = 80")
    c_b = bb_bandpowers(np.asarray(qu)[..., geometry.pixels], geometry.pixels, geometry.weights,
                        geometry.coupling)[..., -1]
    return c_b * np.mean(ell * (ell + 1)) / (2 * np.pi), geometry.fsky


def measure_d80(nside: int, seed: int, fractions: Sequence[float] = LR_FSKY) -> BBAt80:
    """Dust (353 GHz) and synchrotron (30 GHz) :math:`D_{80}^{BB}` of the synthetic sky of
    ``seed`` at ``nside`` on the lowest-intensity masks of ``fractions`` (module docstring)."""
    dust, synch = foreground_amplitudes(nside, seed, DUST_NU, SYNCH_NU)
    intensity = foreground_intensity(dust, synch, nside, DUST_NU, SYNCH_NU)
    rows = [bin_d80(np.stack([dust, synch]), mask)
            for mask in lowest_intensity_masks(intensity, fractions)]
    d80 = np.array([r[0] for r in rows])
    return BBAt80(np.asarray(fractions, dtype=float), np.array([r[1] for r in rows]), d80[:, 0], d80[:, 1])
