"""Pixel counts of the Galactic bands of the derived masks (no healpy: the light checks use them).

Without a mask file, mask GALxxx keeps the xx % of pixels with the lowest foreground intensity
(partition/regions.py), so each band's pixel count is known from the nside alone, whatever the
sky; how a band splits into its north and south halves depends on the sky.
"""

from __future__ import annotations

import math

from compsep_hpc.config_fields import check_nside
from compsep_hpc.partition.config import MASK_KEYS

MASK_FRACTIONS: dict[str, float] = {"GAL020": 0.2, "GAL040": 0.4, "GAL060": 0.6}
"""Sky fraction of each derived mask (lowest-intensity pixels) when no mask file is given."""


def kept_pixels(fraction: float, npix: int) -> int:
    """Pixels kept by a mask of sky fraction ``fraction`` of a ``npix``-pixel sky, rounded half up."""
    return math.floor(fraction * npix + 0.5)


def derived_band_pixels(band: str, nside: int) -> int:
    """Pixels of the band ``band`` (GAL020, GAL040 or GAL060) of the derived masks at ``nside``,
    whatever the intensity map: the mask's count minus the previous mask's. Each of its halves
    (``_U``, ``_L``) holds at most that many."""
    npix = 12 * check_nside(nside) ** 2
    i = MASK_KEYS.index(band)
    previous = kept_pixels(MASK_FRACTIONS[MASK_KEYS[i - 1]], npix) if i else 0
    return kept_pixels(MASK_FRACTIONS[band], npix) - previous
