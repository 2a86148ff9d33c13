r"""The validation sky: spectral parameters constant on K-means patches with known counts.

Same CMB, foreground amplitudes and foreground intensity as :func:`synthetic_sky` with the same
seeds. In each configured region (pixels from :func:`compsep_hpc.partition.regions.region_pixels`,
with ``regions.mask_file`` or else the sky's foreground intensity), parameter :math:`\theta` with
true count :math:`K_\theta` (``sky.true_patches``) is constant on the patches of
:func:`compsep_hpc.partition.patches.kmeans_patches` ``(pixels, nside, K_theta,
sky.truth_kmeans_seed)``. That seed is the sky's own, 1 by default, not the fit's ``grid.seed``
(0 by default): the fit's partition at the true K is then another K-means solution, not the
truth itself, as on a real sky. With ``truth_kmeans_seed == grid.seed`` the truth is exactly one
of the fitted partitions (allowed; the launcher logs it). K-means may leave clusters empty, so a
region holds ``count_patches(labels)`` <= K distinct values.

Patch values are uniform draws around the mean, :math:`\theta \in \bar\theta \pm s_\theta` with
:math:`\bar\theta` = (1.54, 20 K, -3) and the spread :math:`s_\theta` = ``sky.patch_spread``
(default 0.1, 2 K, 0.1: far inside the declared bounds, model/components/), from a generator seeded by
``(sky.foreground_rng_seed, region name, parameter)`` so a region's values do not depend on which
other regions are listed. Pixels outside every region keep the smooth synthetic maps. Regions
are disjoint by construction; were they not, the later one in the list would win.
"""

from __future__ import annotations

import zlib

import numpy as np

from compsep_hpc.model.instrument import Instrument
from compsep_hpc.partition.config import RegionsConfig
from compsep_hpc.sky.config import SkyConfig
from compsep_hpc.errors import ConfigError
from compsep_hpc.model.parameters import PARAMETERS
from compsep_hpc.sky.cmb import CambSpectra
from compsep_hpc.sky.maps import SkyMaps
from compsep_hpc.sky.synthetic import MEAN_PARAMS, parameter_maps, seeds_description, sky_amplitudes, synthetic_maps

_STREAM = 9  # RNG stream of the foreground seed used for the patch values (see synthetic._STREAMS)


def patch_values(seed: int, region: str, parameter: str, n_patches: int, spread: float) -> np.ndarray:
    """``n_patches`` values of ``parameter``, uniform in mean +- ``spread``, for one region.

    Drawn from ``default_rng([seed, 9, crc32(region), index of parameter])``.
    """
    entropy = [int(seed) % 2**64, _STREAM, zlib.crc32(region.encode()), PARAMETERS.index(parameter)]
    rng = np.random.default_rng(entropy)
    return MEAN_PARAMS[parameter] + spread * rng.uniform(-1.0, 1.0, size=n_patches)


def true_labels(sky: SkyConfig, pixels: np.ndarray, nside: int, region: str) -> np.ndarray:
    """The true patches ``(3, n_pix)`` of the three parameters on a region's ``pixels``: K-means of
    ``sky.true_patches`` with ``sky.truth_kmeans_seed``."""
    from compsep_hpc.partition.patches import kmeans_patches  # late import: it pulls in jax-healpy

    if sky.true_patches is None:
        raise ConfigError("sky model 'synthetic_clustered' needs sky.true_patches")
    return np.stack([kmeans_patches(pixels, nside, int(k), sky.truth_kmeans_seed, name=f"true K_{parameter} in {region}")
                     for parameter, k in zip(PARAMETERS, sky.true_patches)])


def clustered_parameter_maps(
    sky: SkyConfig, nside: int, regions: RegionsConfig, intensity: np.ndarray, base: dict[str, np.ndarray],
) -> dict[str, np.ndarray]:
    """Copies of the ``base`` parameter maps, made piecewise constant on each region's true patches.

    Args:
        sky: the sky section (``true_patches``, ``truth_kmeans_seed``, ``patch_spread``, seeds).
        nside: the maps' nside; regions: the regions partitioned.
        intensity: the sky's region-defining foreground intensity ``(npix,)``, used without a mask file.
        base: smooth parameter maps ``(npix,)`` for the pixels outside every region.
    """
    from compsep_hpc.partition.regions import region_pixels  # late import: it pulls in jax-healpy

    out = {p: np.array(base[p], dtype=float, copy=True) for p in PARAMETERS}
    for region in regions.names:
        pixels = region_pixels(region, nside, mask_file=regions.mask_file, foreground_intensity=intensity)
        labels = true_labels(sky, pixels, nside, region)
        for i, (parameter, k) in enumerate(zip(PARAMETERS, sky.true_patches)):
            values = patch_values(sky.foreground_rng_seed, region, parameter, int(k), sky.patch_spread[parameter])
            out[parameter][pixels] = values[labels[i]]
    return out


def clustered_sky(sky: SkyConfig, nside: int, instrument: Instrument, regions: RegionsConfig, *,
                  cmb_spectra: CambSpectra | None = None) -> SkyMaps:
    """The synthetic sky with parameters constant on the true K-means patches of ``regions``, its
    CMB drawn from ``cmb_spectra`` (None: CAMB's)."""
    amplitudes = sky_amplitudes(sky, nside)
    params = clustered_parameter_maps(sky, nside, regions, amplitudes[2], parameter_maps(nside, sky.foreground_rng_seed))
    spread = "/".join(f"{sky.patch_spread[p]:g}" for p in PARAMETERS)
    return synthetic_maps(sky, nside, instrument, amplitudes, params, mask_file=regions.mask_file, cmb_spectra=cmb_spectra,
                          description=(f"synthetic clustered sky, nside {nside}, {seeds_description(sky)}, r {sky.r:g}, "
                                       f"true patches {sky.true_patches} (K-means seed {sky.truth_kmeans_seed}, "
                                       f"spread {spread}) in {', '.join(regions.names)}"))
