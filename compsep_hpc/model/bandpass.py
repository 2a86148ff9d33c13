r"""Bandpass integration in K_CMB: each band's frequency samples and quadrature weights.

Convention. A band of transmission :math:`\tau(\nu)` (acting on the specific intensity
:math:`I_\nu`) calibrated in K_CMB reads, for a component whose SED in K_CMB is :math:`f(\nu)`
(so :math:`I_\nu = f(\nu)\, \partial B_\nu / \partial T |_{T_{CMB}}` per unit amplitude),

.. math:: f_b = \frac{\int \tau(\nu)\, b'(\nu)\, f(\nu)\, d\nu}{\int \tau(\nu)\, b'(\nu)\, d\nu},
          \qquad b'(\nu) = \partial B_\nu/\partial T |_{T_{CMB}} \propto \nu^2 / g(\nu)
          \propto x^4 e^x / (e^x - 1)^2,

with g the K_RJ -> K_CMB factor (model/units.py). The CMB's band value is exactly 1, as for a delta
band. Integrals by the trapezoid rule on the band's samples :math:`\nu_k`:
:math:`f_b = \sum_k \omega_k f(\nu_k)`, :math:`\omega_k = c_k \tau_k b'_k / \sum_j c_j \tau_j b'_j`
(:math:`c_k` the trapezoid coefficients). This is fgbuster's ``bandpass_integration``
(``trapezoid(f(nu) * w, nu)``, SEDs in K_CMB) with its weights normalised in K_CMB,
``w = tau b' / trapezoid(tau b', nu)``. A ``tophat`` of relative width W has :math:`\tau = 1` on
:math:`\nu_c (1 \mp W/2)`, sampled at ``samples`` equally spaced frequencies.

Bands of different sample counts are padded to the longest with zero weights (at the band's last
frequency). Numpy; no JAX.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from compsep_hpc.model.instrument import Instrument
from compsep_hpc.model.units import GHZ, H_PLANCK, K_BOLTZMANN, T_CMB


class BandSamples(NamedTuple):
    """``nu`` (n_freq, n_samples) GHz and ``weights`` (n_freq, n_samples): each row sums to 1."""

    nu: np.ndarray
    weights: np.ndarray


def cmb_derivative(nu: np.ndarray) -> np.ndarray:
    r""":math:`x^4 e^x / (e^x - 1)^2`, proportional to :math:`\partial B_\nu/\partial T` at T_CMB."""
    x = H_PLANCK * np.asarray(nu, dtype=float) * GHZ / (K_BOLTZMANN * T_CMB)
    return x**4 * np.exp(x) / np.expm1(x) ** 2


def trapezoid_coefficients(nu: np.ndarray) -> np.ndarray:
    """:math:`c_k` with :math:`\\int f d\\nu \\approx \\sum_k c_k f(\\nu_k)` on the samples ``nu``."""
    step = np.diff(nu)
    return 0.5 * (np.concatenate([step, [0.0]]) + np.concatenate([[0.0], step]))


def band_weights(nu: np.ndarray, transmission: np.ndarray) -> np.ndarray:
    """The K_CMB quadrature weights :math:`\\omega_k` of one band (module docstring)."""
    raw = trapezoid_coefficients(nu) * transmission * cmb_derivative(nu)
    return raw / raw.sum()


def band_samples(instrument: Instrument) -> BandSamples | None:
    """The instrument's band samples and weights; None for delta bands."""
    band = instrument.bandpass
    if band is None:
        return None
    if band.shape == "tophat":
        offsets = np.linspace(-0.5 * band.width, 0.5 * band.width, band.samples)
        rows = [(nu_c * (1.0 + offsets), np.ones(band.samples)) for nu_c in instrument.frequencies]
    else:
        rows = [(np.asarray(n, dtype=float), np.asarray(t, dtype=float)) for n, t in zip(band.nu, band.transmission)]
    size = max(len(n) for n, _ in rows)
    nu = np.stack([np.pad(n, (0, size - len(n)), mode="edge") for n, _ in rows])
    weights = np.stack([np.pad(band_weights(n, t), (0, size - len(n))) for n, t in rows])
    return BandSamples(nu, weights)


def band_average(evaluate: Callable[[np.ndarray], np.ndarray], frequencies: np.ndarray,
                 samples: BandSamples | None) -> np.ndarray:
    """Band values ``(n_freq, ...)`` of ``evaluate`` (frequencies (m,) GHz -> (m, ...) values in
    K_CMB): at ``frequencies`` for delta bands, else :math:`\\sum_k \\omega_k` evaluate(nu_k)."""
    if samples is None:
        return evaluate(np.asarray(frequencies, dtype=float))
    n_freq, n_samples = samples.nu.shape
    values = evaluate(samples.nu.reshape(-1))
    values = values.reshape((n_freq, n_samples) + values.shape[1:])
    return np.einsum("fk,fk...->f...", samples.weights, values)
