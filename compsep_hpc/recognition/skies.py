r"""The skies of model recognition: the training vectors of every candidate model and the test sky
with its true model per pixel.

Training sky of candidate m, realization i (uK_CMB, ``(n_freq, 2, npix)``):

.. math:: d_i(\nu, p) = s_{CMB,i}(p) + \sum_{c \in m} (1 + a\, g_{i,c}(p))\, f_c(\nu, p) + n_i(\nu, p),

:math:`f_c` the band maps of component c alone on the synthetic sky of ``training.sky`` (its
amplitudes, parameter maps and true values; sky/truth.py), :math:`g_{i,c}(p) \sim N(0, 1)` per
pixel, realization and component (the study's amplitude modulation, rms a =
``training.amplitude_modulation``), a Gaussian CMB per realization and white noise of the
instrument (none for the noiseless set). Everything is seeded: a config gives the same vectors.

Feature vector of a pixel: its Q at every band, then its U (``2 n_freq``), min-max normalised on
its own (:func:`features`).
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import numpy as np

from compsep_hpc.model.instrument import Instrument
from compsep_hpc.model.noise import noise_realizations
from compsep_hpc.model.sky_model import SkyModel
from compsep_hpc.sky import make_sky
from compsep_hpc.sky.ame import ame_amplitudes
from compsep_hpc.sky.cmb import CambSpectra, gaussian_cmb_qu, rng_stream
from compsep_hpc.sky.config import SkyConfig
from compsep_hpc.sky.maps import SkyMaps
from compsep_hpc.sky.synthetic import dust_envelope, parameter_maps, sky_amplitudes
from compsep_hpc.sky.truth import true_foregrounds
from compsep_hpc.partition.config import RegionsConfig

MODULATION_STREAM = 40  # rng streams of training.sky.seed: 40 + 8 i + c (realization i, component c)
CMB_SEED_OFFSET = 1_000_003  # realization i's CMB: seed sky.seed + CMB_SEED_OFFSET * (i + 1)


def foreground_names(model: SkyModel) -> tuple[str, ...]:
    """The foreground component names of a candidate (every component after the CMB)."""
    return tuple(c.name for c in model.components[1:])


def features(maps: np.ndarray) -> np.ndarray:
    """Per-pixel vectors of band maps ``(..., n_freq, 2, n_pix)``: ``(..., n_pix, 2 n_freq)``
    (Q at each band, then U), each min-max normalised: (x - min x) / (max x - min x), float32."""
    x = np.moveaxis(np.asarray(maps), -1, -3)  # (..., n_pix, n_freq, 2)
    x = np.swapaxes(x, -1, -2).reshape(*x.shape[:-2], -1)
    low, high = x.min(axis=-1, keepdims=True), x.max(axis=-1, keepdims=True)
    return ((x - low) / np.where(high > low, high - low, 1.0)).astype(np.float32)


def component_maps(sky: SkyConfig, nside: int, instrument: Instrument, names: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Band maps ``(n_freq, 2, npix)`` uK_CMB of each component of ``names`` alone on the
    synthetic sky ``sky`` (its amplitudes and parameter maps)."""
    dust, synch, intensity = sky_amplitudes(sky, nside)
    amplitudes = {"dust": dust, "synch": synch,
                  "ame": ame_amplitudes(dust, dust_envelope(nside), sky.ame_polarization_fraction)}
    params = parameter_maps(nside, sky.foreground_rng_seed)
    freqs = np.asarray(instrument.frequencies, dtype=float)
    out = {}
    for name in names:
        alone = dataclasses.replace(sky, foregrounds=(name,), region_foregrounds={})
        out[name] = true_foregrounds(alone, nside, freqs, amplitudes, params, mask_file=None,
                                     intensity=intensity).foregrounds
    return out


class TrainingSet(NamedTuple):
    """``x`` (n, 2 n_freq) float32 features and ``y`` (n,) int labels (candidate index)."""

    x: np.ndarray
    y: np.ndarray


def training_set(candidates: dict[str, SkyModel], sky: SkyConfig, nside: int, instrument: Instrument, *,
                 realizations: int, modulation: float, noise_seed: int | None,
                 cmb_spectra: CambSpectra | None = None) -> TrainingSet:
    """Every candidate's ``realizations`` training skies (module docstring) as feature vectors;
    ``noise_seed`` None: noiseless. Candidate k's realization i uses noise realization
    ``k * realizations + i``."""
    names = sorted({n for m in candidates.values() for n in foreground_names(m)})
    maps = component_maps(sky, nside, instrument, tuple(names))
    npix = 12 * nside**2
    xs, ys = [], []
    for k, model in enumerate(candidates.values()):
        for i in range(realizations):
            d = gaussian_cmb_qu(nside, sky.r, sky.seed + CMB_SEED_OFFSET * (i + 1), cmb_spectra)[None]
            for name in foreground_names(model):
                g = rng_stream(sky.seed, MODULATION_STREAM + 8 * i + names.index(name)).standard_normal(npix)
                d = d + (1.0 + modulation * g)[None, None, :] * maps[name]
            if noise_seed is not None:
                d = d + noise_realizations(instrument, nside, noise_seed, [k * realizations + i])[0]
            xs.append(features(d))
            ys.append(np.full(npix, k, dtype=np.int32))
    return TrainingSet(np.concatenate(xs), np.concatenate(ys))


class TestSky(NamedTuple):
    """The test sky: ``data`` (n_freq, 2, npix) with its noise, ``labels`` (npix,) the true
    candidate index (-1 where the true model is no candidate), the sky itself, and ``regions``
    name -> pixel indices."""

    data: np.ndarray
    labels: np.ndarray
    sky: SkyMaps
    regions: dict[str, np.ndarray]


def true_labels(sky: SkyMaps, candidates: dict[str, SkyModel]) -> np.ndarray:
    """Per pixel, the index of the candidate whose foreground components are the pixel's true
    ones (component names; options ignored), -1 where none is."""
    wanted = [foreground_names(m) for m in candidates.values()]
    index = []
    for name in sky.model_names:
        comps = tuple(part.split("(")[0] for part in name.split("+"))
        index.append(wanted.index(comps) if comps in wanted else -1)
    model_map = np.zeros(12 * sky.nside**2, np.int64) if sky.model_map is None else sky.model_map
    return np.asarray(index, dtype=np.int64)[model_map] if index else np.full(model_map.shape, -1)


def test_sky(sky: SkyConfig, regions: RegionsConfig, nside: int, instrument: Instrument, candidates: dict[str, SkyModel],
             noise_seed: int, cmb_spectra: CambSpectra | None = None) -> TestSky:
    """The noisy test sky, its true labels and its regions' pixels."""
    from compsep_hpc.partition.regions import region_pixels

    maps = make_sky(sky, nside, instrument, regions=regions, cmb_spectra=cmb_spectra)
    data = maps.frequency_maps + noise_realizations(instrument, nside, noise_seed, [0])[0]
    pixels = {r: region_pixels(r, nside, mask_file=regions.mask_file, foreground_intensity=maps.foreground_intensity)
              for r in regions.names}
    return TestSky(data, true_labels(maps, candidates), maps, pixels)
