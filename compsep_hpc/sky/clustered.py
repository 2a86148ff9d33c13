r"""The validation sky: spectral parameters constant on K-means patches with known counts.

Same CMB, foreground amplitudes and foreground intensity as :func:`synthetic_sky` with the same
seed. In each configured region (pixels from :func:`compsep_hpc.partition.regions.region_pixels`, with
``regions.mask_file`` or else the sky's foreground intensity), parameter :math:`\theta` with true
count :math:`K_\theta` (``sky.true_patches``) is constant on the patches of
:func:`compsep_hpc.partition.patches.kmeans_patches` ``(pixels, nside, K_theta, grid.seed)``, i.e. exactly
the partition the fit builds for that K (always K-means, whatever ``grid.strategy``). K-means may
leave clusters empty, so a region holds ``count_patches(labels)`` <= K distinct values.

Patch values are uniform draws around the mean: :math:`\beta_d \in 1.54 \pm 0.1`,
:math:`T_d \in 20 \pm 2` K, :math:`\beta_s \in -3 \pm 0.1` (far inside ``config.DEFAULT_BOUNDS``),
from a generator seeded by ``(sky.seed, region name, parameter)`` so a region's values do not
depend on which other regions are listed. Pixels outside every region keep the smooth synthetic
maps. Regions are disjoint by construction; were they not, the later one in the list would win.
"""

from __future__ import annotations

import zlib

import numpy as np

from compsep_hpc.model.instrument import Instrument
from compsep_hpc.partition.config import RegionsConfig
from compsep_hpc.sky.config import SkyConfig
from compsep_hpc.errors import ConfigError
from compsep_hpc.model.parameters import PARAMETERS
from compsep_hpc.sky.cmb import gaussian_cmb_qu
from compsep_hpc.sky.maps import SkyMaps
from compsep_hpc.sky.synthetic import (
    MEAN_PARAMS,
    foreground_amplitudes,
    foreground_intensity,
    foreground_maps,
    parameter_maps,
)

PATCH_SPREAD = {"beta_dust": 0.1, "temp_dust": 2.0, "beta_synch": 0.1}
_STREAM = 9  # RNG stream of sky.seed used for the patch values (see synthetic._STREAMS)


def patch_values(seed: int, region: str, parameter: str, n_patches: int) -> np.ndarray:
    """``n_patches`` values of ``parameter``, uniform in mean +- PATCH_SPREAD, for one region.

    Drawn from ``default_rng([seed, 9, crc32(region), index of parameter])``.
    """
    entropy = [int(seed) % 2**64, _STREAM, zlib.crc32(region.encode()), PARAMETERS.index(parameter)]
    rng = np.random.default_rng(entropy)
    mean, spread = MEAN_PARAMS[parameter], PATCH_SPREAD[parameter]
    return mean + spread * rng.uniform(-1.0, 1.0, size=n_patches)


def clustered_parameter_maps(
    sky: SkyConfig, nside: int, regions: RegionsConfig, kmeans_seed: int, intensity: np.ndarray,
    base: dict[str, np.ndarray],
) -> dict[str, np.ndarray]:
    """Copies of the ``base`` parameter maps, made piecewise constant on each region's patches.

    Args:
        sky: the sky section (``true_patches``, ``seed``); nside: the maps' nside.
        regions: the regions partitioned; kmeans_seed: the K-means seed of the true patches.
        intensity: the sky's foreground intensity ``(npix,)``, used when there is no mask file.
        base: smooth parameter maps ``(npix,)`` for the pixels outside every region.
    """
    from compsep_hpc.partition.patches import kmeans_patches  # late imports: they pull in jax-healpy
    from compsep_hpc.partition.regions import region_pixels

    if sky.true_patches is None:
        raise ConfigError("sky model 'synthetic_clustered' needs sky.true_patches")
    out = {p: np.array(base[p], dtype=float, copy=True) for p in PARAMETERS}
    for region in regions.names:
        pixels = region_pixels(region, nside, mask_file=regions.mask_file,
                               foreground_intensity=intensity)
        for parameter, k in zip(PARAMETERS, sky.true_patches):
            labels = kmeans_patches(pixels, nside, int(k), kmeans_seed,
                                    name=f"true K_{parameter} in {region}")
            values = patch_values(sky.seed, region, parameter, int(k))
            out[parameter][pixels] = values[labels]
    return out


def clustered_sky(sky: SkyConfig, nside: int, instrument: Instrument, regions: RegionsConfig,
                  kmeans_seed: int) -> SkyMaps:
    """The synthetic sky with parameters constant on the true K-means patches of ``regions``."""
    dust, synch = foreground_amplitudes(nside, sky.seed, sky.nu_dust, sky.nu_synch)
    intensity = foreground_intensity(dust, synch, nside, sky.nu_dust, sky.nu_synch)
    params = clustered_parameter_maps(sky, nside, regions, kmeans_seed, intensity, parameter_maps(nside, sky.seed))
    freqs = np.asarray(instrument.frequencies, dtype=float)
    k = sky.true_patches
    return SkyMaps(
        nside=nside,
        frequencies=freqs,
        cmb=gaussian_cmb_qu(nside, sky.r, sky.seed),
        foregrounds=foreground_maps(freqs, dust, synch, params, sky.nu_dust, sky.nu_synch),
        foreground_intensity=intensity,
        true_params=params,
        description=(f"synthetic clustered sky, nside {nside}, seed {sky.seed}, r {sky.r:g}, "
                     f"true patches {k} in {', '.join(regions.names)}"),
    )
