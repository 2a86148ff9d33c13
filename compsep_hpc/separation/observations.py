"""Observed data of one region: the sky's band maps cut to the region, plus noise realizations."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import jax.numpy as jnp
import numpy as np

from compsep_hpc.model.bandpass import band_samples
from compsep_hpc.model.instrument import Instrument
from compsep_hpc.model.noise import noise_realizations
from compsep_hpc.model.noise_model import NoiseModel
from compsep_hpc.model.sky_model import DEFAULT_MODEL, SkyModel
from compsep_hpc.separation.likelihood import SpectralModel
from compsep_hpc.sky.maps import SkyMaps


@dataclass(frozen=True)
class RegionData:
    """Everything the fits of one region need; maps in uK_CMB, RING pixels of the region.

    ``data`` (n_real, n_freq, 2, n_pix): sky + noise per realization; ``cmb`` (2, n_pix): the
    true CMB; ``foregrounds`` (n_freq, 2, n_pix): the noiseless foreground-only sky;
    ``realization_ids`` (n_real,): the noise realization index of each row of ``data``;
    ``hit_weights``: None (white noise) or the pixels' relative hit weights w_p, ``(1, n_pix)``
    (one map for every band) or ``(n_freq, n_pix)``: N^-1 of band f in pixel p is w_fp / sigma_f^2
    (model/noise_model.py).
    """

    name: str
    pixels: np.ndarray
    data: np.ndarray
    cmb: np.ndarray
    foregrounds: np.ndarray
    realization_ids: np.ndarray
    hit_weights: np.ndarray | None = None


def region_data(
    sky: SkyMaps,
    instrument: Instrument,
    name: str,
    pixels: np.ndarray,
    noise_seed: int,
    realization_ids: Sequence[int],
    noise_model: NoiseModel | None = None,
) -> RegionData:
    """Cut the sky to ``pixels`` and add the noise realizations ``realization_ids`` (seeded) of
    ``noise_model`` (None: white)."""
    pixels = np.asarray(pixels, dtype=np.int64)
    signal = sky.frequency_maps[:, :, pixels]
    scale = None if noise_model is None else noise_model.noise_scale(pixels)
    noise = noise_realizations(instrument, sky.nside, noise_seed, realization_ids, pixels, scale)
    return RegionData(
        name=name,
        pixels=pixels,
        data=signal[None] + noise,
        cmb=sky.cmb[:, pixels],
        foregrounds=sky.foregrounds[:, :, pixels],
        realization_ids=np.asarray(realization_ids, dtype=np.int64),
        hit_weights=None if noise_model is None else noise_model.region_weights(pixels),
    )


def spectral_model(instrument: Instrument, nside: int, sky: SkyModel = DEFAULT_MODEL) -> SpectralModel:
    """The likelihood's model: bands, white-noise N^-1 per band (uK^-2; a hit map's weights are
    the region's, RegionData.hit_weights), the sky model, and the bandpasses' samples and K_CMB
    weights (None for delta bands)."""
    sigma = instrument.noise_sigma(nside)
    samples = band_samples(instrument)
    return SpectralModel(
        frequencies=jnp.asarray(instrument.frequencies, dtype=float),
        inv_noise_var=jnp.asarray(1.0 / sigma**2),
        reference_frequencies=tuple(float(c.nu_ref) for c in sky.components),
        sky=sky,
        band_nu=None if samples is None else jnp.asarray(samples.nu),
        band_weights=None if samples is None else jnp.asarray(samples.weights),
    )
