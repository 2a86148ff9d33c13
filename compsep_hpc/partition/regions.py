"""Galactic sky regions: disjoint latitude bands of the Planck-like GAL masks, split north/south.

Names. ``GAL020``, ``GAL040`` and ``GAL060`` are *bands*: ``GAL020`` is the GAL020 mask,
``GAL040`` the GAL040 mask minus the GAL020 mask, ``GAL060`` the GAL060 mask minus the GAL040
mask, so the three are pairwise disjoint. A suffix ``_U`` keeps the Galactic north half of a
band (pixel-centre latitude b > 0), ``_L`` the south half (b < 0). Pixels whose centre lies
exactly on the Galactic equator (b == 0, the 4*nside pixels of HEALPix ring 2*nside) belong to
``_U``: ``_U`` is b >= 0, ``_L`` is b < 0. The test is exact integer arithmetic on RING indices,
so the split never depends on floating point.

Maps are HEALPix, Galactic coordinates, RING ordering. The masks come either from a file
(``mask_file``) or, without one, from a foreground intensity map (lowest 20/40/60 % of pixels).

Mask conversion to the run nside happens *before* the bands are built: a mask value is the
kept fraction of a pixel (0 or 1 for a binary mask); downgrading averages the child pixels and
keeps a pixel when the average is >= 0.5; upgrading copies the parent pixel to its children.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

import healpy as hp
import numpy as np

from compsep_hpc.config_fields import check_nside
from compsep_hpc.errors import ConfigError
from compsep_hpc.partition.bands import MASK_FRACTIONS, derived_band_pixels, kept_pixels  # noqa: F401
from compsep_hpc.partition.config import MASK_KEYS, REGION_NAMES, SPLIT_REGION_NAMES, check_region_name  # noqa: F401

_FITS_SUFFIXES = (".fits", ".fit", ".fits.gz", ".fit.gz", ".fts")
_MASK_CACHE: dict[tuple, dict[str, np.ndarray]] = {}
_MASK_CACHE_MAX = 16


def north_mask(nside: int) -> np.ndarray:
    """Boolean RING map, True where the pixel centre has Galactic latitude b >= 0.

    RING pixels before index 6*nside**2 + 2*nside are the rings north of the equator
    (b > 0) plus the equator ring itself (b == 0, 4*nside pixels).
    """
    nside = check_nside(nside)
    npix = 12 * nside**2
    return np.arange(npix, dtype=np.int64) < 6 * nside**2 + 2 * nside


def mask_to_nside(mask: np.ndarray, nside: int) -> np.ndarray:
    """Convert a RING mask of kept fractions (values in [0, 1]) to ``nside``; boolean RING result.

    Downgrading averages the (nside_in/nside)**2 child pixels and keeps a pixel when the
    average is >= 0.5; upgrading copies each parent pixel to its children; at the same nside a
    pixel is kept when its value is >= 0.5.
    """
    nside = check_nside(nside)
    mask = np.asarray(mask, dtype=np.float64)
    nside_in = hp.npix2nside(mask.size)
    if nside_in == nside:
        return mask >= 0.5
    nest = hp.reorder(mask, r2n=True)
    if nside_in > nside:
        ratio2 = (nside_in // nside) ** 2
        frac = nest.reshape(-1, ratio2).mean(axis=1)
    else:
        frac = np.repeat(nest, (nside // nside_in) ** 2)
    return hp.reorder(frac, n2r=True) >= 0.5


def _as_fraction(values: np.ndarray, key: str, path: str) -> np.ndarray:
    """Validate one mask read from ``path``: a HEALPix-sized map of fractions in [0, 1]."""
    values = np.asarray(values)
    if values.ndim != 1 or not hp.isnpixok(values.size):
        raise ConfigError(f"mask {key!r} in {path} has shape {values.shape}, "
                          "not a HEALPix map of 12*nside**2 pixels")
    values = values.astype(np.float64)
    values[values == hp.UNSEEN] = 0.0
    if not np.all(np.isfinite(values)) or values.min() < 0 or values.max() > 1:
        raise ConfigError(f"mask {key!r} in {path} must hold values in [0, 1]")
    return values


def _read_mask_file(path: str) -> dict[str, np.ndarray]:
    """Read the three masks (RING, kept fractions, native nside) from an .npz or FITS file."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"mask file {path} does not exist")
    name = p.name.lower()
    if name.endswith(".npz"):
        try:
            data = np.load(p, allow_pickle=False)
            if not isinstance(data, np.lib.npyio.NpzFile):
                raise ValueError("not an .npz archive")
            with data:
                arrays = {k: data[k] for k in MASK_KEYS if k in data.files}
                files = list(data.files)
        except Exception as exc:  # np.load raises OSError, ValueError, EOFError, BadZipFile
            raise ConfigError(f"cannot read mask file {path}: {exc}") from exc
        missing = [k for k in MASK_KEYS if k not in arrays]
        if missing:
            raise ConfigError(f"mask file {path} lacks array(s) {', '.join(missing)} "
                              f"(it holds: {', '.join(files) or 'nothing'})")
        return {k: _as_fraction(arrays[k], k, path) for k in MASK_KEYS}
    if name.endswith(_FITS_SUFFIXES):
        from astropy.io import fits

        try:
            with fits.open(p) as hdul:
                columns = list(hdul[1].columns.names)
            upper = [c.upper() for c in columns]
            if all(k in upper for k in MASK_KEYS):
                fields = tuple(upper.index(k) for k in MASK_KEYS)
            elif len(columns) == 3:
                fields = (0, 1, 2)
            else:
                raise ConfigError(f"mask file {path} needs columns {', '.join(MASK_KEYS)} "
                                  f"or exactly three columns (it has: {', '.join(columns)})")
            maps = hp.read_map(p, field=fields, nest=False, dtype=np.float64)
        except (OSError, ValueError, IndexError, TypeError) as exc:
            raise ConfigError(f"cannot read mask file {path}: {exc}") from exc
        return {k: _as_fraction(m, k, path) for k, m in zip(MASK_KEYS, maps)}
    raise ConfigError(f"mask file {path}: unsupported type (expected .npz or .fits)")


def lowest_intensity_masks(intensity: np.ndarray, fractions: Sequence[float]) -> list[np.ndarray]:
    """Boolean maps of the lowest ``kept_pixels(f, npix)`` pixels of ``intensity``, one per
    fraction ``f`` in [0, 1]; a stable argsort breaks ties by pixel index, so the masks nest."""
    intensity = np.asarray(intensity)
    order = np.argsort(intensity, kind="stable")
    rank = np.empty(intensity.size, dtype=np.int64)
    rank[order] = np.arange(intensity.size)
    return [rank < kept_pixels(f, intensity.size) for f in fractions]


def _derived_masks(intensity: np.ndarray, nside: int) -> dict[str, np.ndarray]:
    """The lowest 20/40/60 % of pixels of ``intensity`` (lowest_intensity_masks)."""
    return dict(zip(MASK_FRACTIONS, lowest_intensity_masks(intensity, list(MASK_FRACTIONS.values()))))


def _cache_put(key: tuple, masks: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    for m in masks.values():
        m.setflags(write=False)
    if len(_MASK_CACHE) >= _MASK_CACHE_MAX:
        _MASK_CACHE.pop(next(iter(_MASK_CACHE)))
    _MASK_CACHE[key] = masks
    return masks


def galactic_masks(nside: int, *, mask_file: str | None = None,
                   foreground_intensity: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """The three nested Galactic masks GAL020/GAL040/GAL060 at ``nside``: read-only bool RING maps.

    ``mask_file`` (takes precedence when both are given): an ``.npz`` with arrays ``GAL020``,
    ``GAL040``, ``GAL060``, or a FITS HEALPix table (healpy layout; ``ORDERING`` NESTED or RING
    is honoured) with columns of those names (as Planck's HFI_Mask_GalPlane files) or exactly
    three columns taken in that order. Each mask is a RING map (after reading) at any nside
    holding kept fractions in [0, 1] (UNSEEN counts as 0) and is converted with mask_to_nside.
    ``foreground_intensity``: a map (any unit, e.g. uK_CMB) of 12*nside**2 pixels at ``nside``;
    mask GALxxx keeps the xx % of pixels with the lowest intensity (round half up).
    Results are cached in memory (file: path, mtime and size; map: SHA-1 of its bytes).
    """
    nside = check_nside(nside)
    npix = 12 * nside**2
    if mask_file is not None:
        path = os.path.abspath(os.fspath(mask_file))
        try:
            st = os.stat(path)
        except OSError:
            raise ConfigError(f"mask file {mask_file} does not exist") from None
        key = ("file", path, st.st_mtime_ns, st.st_size, nside)
        if key not in _MASK_CACHE:
            raw = _read_mask_file(path)
            _cache_put(key, {k: mask_to_nside(m, nside) for k, m in raw.items()})
        return _MASK_CACHE[key]
    if foreground_intensity is None:
        raise ConfigError("regions need a mask_file or a foreground intensity map")
    intensity = np.ascontiguousarray(foreground_intensity, dtype=np.float64)
    if intensity.shape != (npix,):
        raise ConfigError(f"foreground intensity map has shape {intensity.shape}, "
                          f"expected ({npix},) at nside {nside}")
    if not np.all(np.isfinite(intensity)):
        raise ConfigError("foreground intensity map holds non-finite values")
    key = ("map", hashlib.sha1(intensity.tobytes()).hexdigest(), nside)
    if key not in _MASK_CACHE:
        _cache_put(key, _derived_masks(intensity, nside))
    return _MASK_CACHE[key]


def region_mask(name: str, nside: int, *, mask_file: str | None = None,
                foreground_intensity: np.ndarray | None = None) -> np.ndarray:
    """Boolean RING map of shape (12*nside**2,), True on the pixels of region ``name``.

    See the module docstring for the names and galactic_masks for the mask sources.
    """
    check_region_name(name)
    masks = galactic_masks(nside, mask_file=mask_file, foreground_intensity=foreground_intensity)
    band, _, half = name.partition("_")
    i = MASK_KEYS.index(band)
    out = masks[band].copy()
    if i > 0:
        out &= ~masks[MASK_KEYS[i - 1]]
    if half == "U":
        out &= north_mask(nside)
    elif half == "L":
        out &= ~north_mask(nside)
    return out


def region_pixels(name: str, nside: int, *, mask_file: str | None = None,
                  foreground_intensity: np.ndarray | None = None) -> np.ndarray:
    """Sorted int64 RING pixel indices of region ``name`` at ``nside``.

    Identical inputs give identical arrays. Raises ConfigError for an unknown name, a missing
    or malformed mask file, or a missing or wrong-sized intensity map.
    """
    mask = region_mask(name, nside, mask_file=mask_file, foreground_intensity=foreground_intensity)
    return np.flatnonzero(mask).astype(np.int64)

