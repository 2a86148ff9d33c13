r"""Apodized region masks: NaMaster's C1 and C2 tapers, and the thin-region warning.

Both tapers (NaMaster ``mask_apodization``, Grain et al. 2009) weight a region pixel by the angular
distance :math:`\theta` from its centre to the nearest centre of an out-of-region pixel, through

.. math:: x = \sqrt{\frac{1 - \cos\theta}{1 - \cos\theta_*}},

with :math:`\theta_*` the taper width (``apod_deg``); :math:`w = 1` for :math:`x \ge 1` and

- C1: :math:`w = x - \sin(2\pi x) / (2\pi)`;
- C2: :math:`w = \tfrac12\,[1 - \cos(\pi x)]`;

zero outside the region. Edge pixels lie about one pixel from the nearest outside pixel, so every
region pixel keeps a positive weight.

Thin regions. The taper is always applied as configured: there is no fallback to the binary mask.
When the region is too thin for it (no pixel farther than :math:`\theta_*` from the edge, or the
taper keeps less than :data:`MIN_KEPT` of the region's weight,
:math:`\sum_{p\in R} w_p^2 < \mathrm{MIN\_KEPT}\; N_R`), :func:`apodized_mask` returns a warning
that the record carries and ``reduce`` prints.
"""

from __future__ import annotations

from typing import NamedTuple

import healpy as hp
import numpy as np

from compsep_hpc.science.config import APOD_TYPES

MIN_KEPT = 0.5
"""A taper that keeps less than this fraction of a region's sum of w^2 (per pixel) is flagged."""


class ApodizedMask(NamedTuple):
    """Weights in [0, 1], RING ``(12 nside^2,)``, and a warning ('' when the region suits the taper)."""

    weights: np.ndarray
    warning: str


def edge_distance(mask: np.ndarray, nside: int, radius: float) -> np.ndarray:
    """Angular distance (rad) of each region pixel to the nearest out-of-region pixel bordering it.

    Only distances below ``radius`` (rad) are computed (HEALPix ``query_disc`` around each border
    pixel, chord-to-arc ``2 arcsin(|a - b|/2)``); farther pixels get ``inf``, outside pixels 0.
    """
    inside = np.flatnonzero(mask)
    neighbours = hp.get_all_neighbours(nside, inside).ravel()
    neighbours = neighbours[neighbours >= 0]
    border = np.unique(neighbours[~mask[neighbours]])
    vec = np.asarray(hp.pix2vec(nside, np.arange(mask.size))).T
    dist = np.full(mask.size, np.inf)
    for b in border:
        idx = hp.query_disc(nside, vec[b], radius)
        chord = np.linalg.norm(vec[idx] - vec[b], axis=1)
        dist[idx] = np.minimum(dist[idx], 2.0 * np.arcsin(np.clip(0.5 * chord, 0.0, 1.0)))
    dist[~mask] = 0.0
    return dist


def taper(theta: np.ndarray, theta_apo: float, apod_type: str) -> np.ndarray:
    r"""The C1 or C2 taper (module docstring) of distances ``theta`` (rad) for a width ``theta_apo`` (rad)."""
    if apod_type not in APOD_TYPES:
        raise ValueError(f"apod_type must be one of {APOD_TYPES}, got {apod_type!r}")
    x = np.sqrt(np.clip((1.0 - np.cos(theta)) / (1.0 - np.cos(theta_apo)), 0.0, 1.0))
    if apod_type == "C1":
        return x - np.sin(2.0 * np.pi * x) / (2.0 * np.pi)
    return 0.5 * (1.0 - np.cos(np.pi * x))


def apodized_mask(mask: np.ndarray, nside: int, apod_deg: float, apod_type: str = "C2") -> ApodizedMask:
    r"""The region ``mask`` (bool RING) tapered by ``apod_type`` over ``apod_deg`` degrees.

    ``apod_deg = 0`` gives the binary mask (as float) without warning; an empty mask gives zeros
    and a full-sky one ones. Otherwise the warning (module docstring) says how much of the
    region's weight the taper keeps and how far its deepest pixel lies from the edge.
    """
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != (hp.nside2npix(nside),):
        raise ValueError(f"mask has shape {mask.shape}, expected ({hp.nside2npix(nside)},)")
    if apod_deg < 0:
        raise ValueError(f"apod_deg must be >= 0, got {apod_deg}")
    if not mask.any() or mask.all() or apod_deg == 0:
        return ApodizedMask(mask.astype(np.float64), "")
    theta_apo = np.radians(float(apod_deg))
    dist = edge_distance(mask, nside, theta_apo)
    weights = np.where(mask, taper(np.minimum(dist, theta_apo), theta_apo, apod_type), 0.0)
    kept = float(np.sum(weights**2) / mask.sum())
    full = int(np.sum(weights >= 1.0))
    warning = ""
    if full == 0 or kept < MIN_KEPT:
        deepest = np.degrees(np.max(np.where(np.isfinite(dist), dist, theta_apo)[mask]))
        warning = (f"region too thin for the {apod_type} {apod_deg:g} deg taper: it keeps {kept:.0%} of the "
                   f"region's weight (sum w^2 / pixels), {full} pixel(s) at full weight, deepest pixel "
                   f"{deepest:.2f} deg from the edge")
    return ApodizedMask(weights, warning)


def fsky_factors(weights: np.ndarray) -> tuple[float, float]:
    r"""``(w2, w4)``: :math:`\langle w^2\rangle` and :math:`\langle w^4\rangle` over the sphere.

    :math:`w_2^2/w_4` is the effective sky fraction counting the modes of the r likelihood. A
    binary mask gives ``w2 == w4 ==`` its sky fraction.
    """
    w = np.asarray(weights, dtype=np.float64)
    return float(np.mean(w**2)), float(np.mean(w**4))
