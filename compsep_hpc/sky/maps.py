"""The container every sky model returns."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class SkyMaps:
    """Band maps of one sky, split into its components, at one nside (RING ordering).

    Attributes:
        nside: HEALPix resolution.
        frequencies: band centres in GHz, shape ``(n_freq,)``.
        cmb: CMB Q/U in uK_CMB, shape ``(2, npix)`` (the same in every band).
        foregrounds: dust + synchrotron Q/U in uK_CMB per band, shape ``(n_freq, 2, npix)``.
        true_params: true spectral-parameter maps ``beta_dust``, ``temp_dust`` (K) and
            ``beta_synch``, each shape ``(npix,)``; empty where the model has none. A sky holding
            curved synchrotron or AME adds ``curv_synch`` / ``nu_peak_ame`` (GHz), NaN in the
            pixels whose model lacks the component (sky/truth.py).
        foreground_intensity: smoothed polarized foreground intensity, uK_CMB, shape
            ``(npix,)``; used to derive Galactic regions when no mask file is given.
        description: one line naming the model and its settings.
        model_map: the true foreground model of each pixel, an index into ``model_names``,
            int16 ``(npix,)`` (None for a sky built without one).
        model_names: the true models, components joined by ``+`` (``dust+synch``, ...).
    """

    nside: int
    frequencies: np.ndarray
    cmb: np.ndarray
    foregrounds: np.ndarray
    foreground_intensity: np.ndarray
    true_params: dict[str, np.ndarray] = field(default_factory=dict)
    description: str = ""
    model_map: np.ndarray | None = None
    model_names: tuple[str, ...] = ()

    @property
    def frequency_maps(self) -> np.ndarray:
        """Noiseless band maps, uK_CMB, shape ``(n_freq, 2, npix)``: CMB + foregrounds."""
        return self.cmb[None] + self.foregrounds
