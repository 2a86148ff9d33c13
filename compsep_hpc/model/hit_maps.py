r"""Hit maps: how many observations fall in each pixel, in Galactic RING pixels of the run nside.

Three sources, each a full-sky ``(12 nside^2,)`` float map of counts (arbitrary units: only the
ratios matter, model/noise_model.py normalises them):

- a file (``.npy``, ``.npz`` with one array or a ``hits`` array, or a HEALPix ``.fits`` map) at
  any nside, converted to the run nside keeping the total hits (sums when degrading, equal
  shares when upgrading: ``healpy.ud_grade(power=-2)``);
- ``litebird_scan``: the boresight of a precessing, spinning satellite at L2 (:func:`litebird_scan`);
- ``ground_patch``: a smooth footprint :math:`h(\theta) = \cos^2(\pi\theta / 2R)` inside the radius
  R about its centre, 0 outside (:func:`ground_patch`).

LiteBIRD's scan geometry (LiteBIRD Collaboration, "Probing cosmic inflation with the LiteBIRD
cosmic microwave background polarization survey", PTEP 2023, 042F01, Sect. 3 and Table 2;
arXiv:2202.02773): the spin axis precesses about the anti-Sun direction at alpha = 45 deg with a
period of 192.348 min, the boresight spins at beta = 50 deg from the spin axis at 0.05 rpm
(20 min), and the anti-Sun direction follows the ecliptic once a year. Numpy and healpy, no JAX.
"""

from __future__ import annotations

from pathlib import Path

import healpy as hp
import numpy as np

from compsep_hpc.errors import ConfigError

PRECESSION_ANGLE_DEG = 45.0  # alpha, anti-Sun direction to spin axis
SPIN_ANGLE_DEG = 50.0  # beta, spin axis to boresight
PRECESSION_PERIOD_MIN = 192.348
SPIN_PERIOD_MIN = 1.0 / 0.05  # 0.05 rpm
YEAR_DAYS = 365.25
CHUNK = 1 << 20  # pointings per batch


def _boresight(t_min: np.ndarray) -> np.ndarray:
    """Ecliptic unit vectors (n, 3) of the boresight at times ``t_min`` (minutes from the start)."""
    sun = 2 * np.pi * t_min / (YEAR_DAYS * 24 * 60)
    prec = 2 * np.pi * t_min / PRECESSION_PERIOD_MIN
    spin = 2 * np.pi * t_min / SPIN_PERIOD_MIN
    zeros = np.zeros_like(t_min)
    anti_sun = np.stack([np.cos(sun), np.sin(sun), zeros], -1)
    e1 = np.stack([-np.sin(sun), np.cos(sun), zeros], -1)
    e2 = np.stack([zeros, zeros, np.ones_like(t_min)], -1)
    alpha, beta = np.radians(PRECESSION_ANGLE_DEG), np.radians(SPIN_ANGLE_DEG)
    ring = np.cos(prec)[:, None] * e1 + np.sin(prec)[:, None] * e2
    axis = np.cos(alpha) * anti_sun + np.sin(alpha) * ring
    u1 = -np.sin(prec)[:, None] * e1 + np.cos(prec)[:, None] * e2  # perpendicular to the axis
    u2 = np.cross(axis, u1)
    return np.cos(beta) * axis + np.sin(beta) * (np.cos(spin)[:, None] * u1 + np.sin(spin)[:, None] * u2)


def litebird_scan(nside: int, step_s: float = 10.0, days: float = YEAR_DAYS) -> np.ndarray:
    """Hits per Galactic RING pixel of one boresight sampled every ``step_s`` seconds over
    ``days`` (a year by default): ``(12 nside^2,)``, counts."""
    n = int(days * 24 * 3600 / step_s)
    rotate = hp.Rotator(coord=["E", "G"])
    hits = np.zeros(hp.nside2npix(nside))
    for start in range(0, n, CHUNK):
        t_min = np.arange(start, min(start + CHUNK, n)) * (step_s / 60.0)
        vec = rotate(_boresight(t_min).T)
        hits += np.bincount(hp.vec2pix(nside, *vec), minlength=hits.size)
    return hits


def ground_patch(nside: int, centre_deg: tuple[float, float], radius_deg: float) -> np.ndarray:
    r"""A smooth footprint about ``centre_deg`` (Galactic lon, lat) of radius ``radius_deg``:
    :math:`\cos^2(\pi\theta/2R)` for :math:`\theta < R`, 0 beyond; ``(12 nside^2,)``."""
    centre = hp.ang2vec(centre_deg[0], centre_deg[1], lonlat=True)
    vec = np.asarray(hp.pix2vec(nside, np.arange(hp.nside2npix(nside))))
    theta = np.arccos(np.clip(centre @ vec, -1.0, 1.0))
    radius = np.radians(radius_deg)
    return np.where(theta < radius, np.cos(0.5 * np.pi * theta / radius) ** 2, 0.0)


def _load(path: Path) -> np.ndarray:
    """The raw array of a hit-map file."""
    try:
        if path.suffix == ".npy":
            return np.load(path)
        if path.suffix == ".npz":
            with np.load(path) as z:
                if "hits" not in z and len(z.files) != 1:
                    raise ConfigError(f"hit map {path}: an .npz needs a 'hits' array or exactly one array")
                return z["hits"] if "hits" in z else z[z.files[0]]
        return hp.read_map(str(path), dtype=np.float64)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read hit map {path}: {exc}") from exc


def read_hit_map(path: str | Path, nside: int) -> np.ndarray:
    """A hit-map file (RING, any nside) at ``nside``, keeping the total hits. ConfigError (one line)
    for a size that is no HEALPix map, a NaN or infinite value, a negative value, or no hit."""
    path = Path(path)
    hits = np.asarray(_load(path), dtype=np.float64)
    if hits.ndim != 1 or not hp.isnpixok(hits.size):
        raise ConfigError(f"hit map {path}: {hits.size} values is not a HEALPix map (12 nside^2)")
    if not np.all(np.isfinite(hits)):
        raise ConfigError(f"hit map {path}: holds NaN or infinite values")
    if np.any(hits < 0):
        raise ConfigError(f"hit map {path}: holds negative values (min {hits.min():g})")
    if not np.any(hits > 0):
        raise ConfigError(f"hit map {path}: no pixel is observed")
    if hp.npix2nside(hits.size) == nside:
        return hits
    return np.asarray(hp.ud_grade(hits, nside, power=-2), dtype=np.float64)
