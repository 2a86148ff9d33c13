r"""The noise model of a run: each band's per-pixel inverse variance, in one place.

White (``noise.model: white``): every pixel of band :math:`\nu` has
:math:`\sigma_\nu = \mathrm{depth}_{p,\nu} / \theta_{pix}` (model/instrument.py).

Hits (``noise.model: hits``): with a hit map :math:`h_p` (model/hit_maps.py) the relative weight
of a pixel is :math:`w_p = h_p / \langle h \rangle`, the mean over the observed pixels
(:math:`h_p > 0`), and

.. math:: \sigma_{\nu,p} = \sigma_\nu / \sqrt{w_p}, \qquad N^{-1}_{\nu,p} = w_p\, \sigma_\nu^{-2},

so the mean inverse variance over the observed sky (the total integration time) is the
instrument table's: the sky-averaged sensitivity is unchanged. One map for every band (a *common*
hit map: :math:`N_p = N_0 / w_p`, the compressed likelihood stays exact with cell moments
weighted by :math:`w_p`) or one per band (the per-pixel likelihood is needed). Unobserved pixels
(:math:`w_p = 0`) have no data: a region holding one is refused (:meth:`NoiseModel.check_region`).
Numpy; no JAX.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from compsep_hpc.errors import ConfigError
from compsep_hpc.model.hit_maps import ground_patch, litebird_scan, read_hit_map
from compsep_hpc.model.instrument import Instrument


@dataclass(frozen=True)
class NoiseModel:
    """``sigma`` (n_freq,): the white per-pixel standard deviation of each band at the
    instrument's depth, uK_CMB; ``weights``: None (white) or the relative hit weights ``(1, npix)``
    (common to every band) or ``(n_freq, npix)`` (one map per band), mean 1 on observed pixels."""

    sigma: np.ndarray
    weights: np.ndarray | None = None

    @property
    def white(self) -> bool:
        return self.weights is None

    @property
    def common(self) -> bool:
        """True when every band shares one hit map (or the noise is white): the compressed
        likelihood is then exact."""
        return self.weights is None or self.weights.shape[0] == 1

    def region_weights(self, pixels: np.ndarray) -> np.ndarray | None:
        """The hit weights of ``pixels``: None (white), ``(1, n)`` or ``(n_freq, n)``."""
        return None if self.weights is None else self.weights[:, pixels]

    def inverse_variance(self, pixels: np.ndarray) -> np.ndarray:
        """:math:`N^{-1}` of each band in each of ``pixels``, ``(n_freq, n)``, uK^-2."""
        base = np.broadcast_to((1.0 / self.sigma**2)[:, None], (self.sigma.size, len(pixels)))
        return base if self.weights is None else base * self.weights[:, pixels]

    def noise_scale(self, pixels: np.ndarray) -> np.ndarray | None:
        r""":math:`1/\sqrt{w_p}` of ``pixels`` (``(n_w, n)``; 0 where unobserved), None when white."""
        if self.weights is None:
            return None
        w = self.weights[:, pixels]
        return np.where(w > 0, 1.0 / np.sqrt(np.where(w > 0, w, 1.0)), 0.0)

    def check_region(self, name: str, pixels: np.ndarray) -> None:
        """ConfigError (one line) when a pixel of region ``name`` has no hit in some band."""
        if self.weights is None:
            return
        empty = np.count_nonzero(np.any(self.weights[:, pixels] <= 0, axis=0))
        if empty:
            raise ConfigError(f"noise.hits: {empty} of the {len(pixels)} pixels of region {name} have no hit "
                              "(the hit map must cover every region)")


def relative_weights(hits: np.ndarray) -> np.ndarray:
    r""":math:`w_p = h_p / \langle h \rangle_{h > 0}` of a hit map ``(npix,)``."""
    return hits / np.mean(hits[hits > 0])


def hit_map(source: str, nside: int, noise: Any) -> np.ndarray:
    """The hit map ``(12 nside^2,)`` of ``source`` (a file, ``litebird_scan`` or ``ground_patch``)
    with the options of the run config's noise section ``noise``."""
    if source == "litebird_scan":
        return litebird_scan(nside, noise.scan_step_s)
    if source == "ground_patch":
        return ground_patch(nside, noise.patch_centre, noise.patch_radius)
    return read_hit_map(source, nside)


def noise_model(instrument: Instrument, nside: int, noise: Any) -> NoiseModel:
    """The noise model of the run config's noise section ``noise`` (``model``, ``hits`` and the
    generated maps' options) for ``instrument`` at ``nside``. ConfigError for a bad hit map."""
    sigma = instrument.noise_sigma(nside)
    if noise.model == "white":
        return NoiseModel(sigma)
    sources = (noise.hits,) if isinstance(noise.hits, str) else tuple(noise.hits)
    by_source = {s: relative_weights(hit_map(s, nside, noise)) for s in dict.fromkeys(sources)}  # each map once
    weights = np.stack([by_source[s] for s in sources])
    return NoiseModel(sigma, weights)
