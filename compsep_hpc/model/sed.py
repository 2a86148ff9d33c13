r"""Spectral energy distributions and the mixing matrix, in K_CMB.

Pure JAX functions. Frequencies in GHz, temperatures in K. Every SED is normalised to 1 at its
reference frequency, so the fitted amplitudes are K_CMB at that frequency.

- :math:`x(\nu) = h\nu / (k_B T_{CMB})`;
  :math:`g(\nu) = (e^x - 1)^2 / (e^x x^2)` converts K_RJ to K_CMB.
- CMB: :math:`a(\nu) = 1`.
- Dust: :math:`a_d(\nu) = (\nu/\nu_d)^{\beta_d + 1} (e^{y_d} - 1)/(e^{y} - 1) g(\nu)/g(\nu_d)`,
  :math:`y = h\nu/(k_B T_d)`.
- Synchrotron: :math:`a_s(\nu) = (\nu/\nu_s)^{\beta_s} g(\nu)/g(\nu_s)`.
"""

from __future__ import annotations

import jax.numpy as jnp
from jax.typing import ArrayLike

from compsep_hpc.model.parameters import COMPONENTS, DEFAULT_NU_DUST, DEFAULT_NU_SYNCH, PARAMETERS  # noqa: F401

H_PLANCK = 6.62607015e-34  # J s
K_BOLTZMANN = 1.380649e-23  # J / K
T_CMB = 2.7255  # K
GHZ = 1e9



def kcmb_per_krj(nu: ArrayLike) -> jnp.ndarray:
    """K_RJ -> K_CMB factor g(nu) = (e^x - 1)^2 / (e^x x^2) at ``nu`` GHz."""
    x = H_PLANCK * jnp.asarray(nu) * GHZ / (K_BOLTZMANN * T_CMB)
    return jnp.expm1(x) ** 2 / (jnp.exp(x) * x**2)


def cmb_sed(nu: ArrayLike) -> jnp.ndarray:
    """CMB column of the mixing matrix in K_CMB: ones."""
    return jnp.ones_like(jnp.asarray(nu, dtype=float))


def dust_sed(
    nu: ArrayLike, beta_dust: ArrayLike, temp_dust: ArrayLike, nu_ref: float = DEFAULT_NU_DUST
) -> jnp.ndarray:
    """Modified black body in K_CMB, 1 at ``nu_ref``. Broadcasts ``nu`` against the parameters."""
    nu = jnp.asarray(nu, dtype=float)
    beta_dust = jnp.asarray(beta_dust)
    temp_dust = jnp.asarray(temp_dust)
    y = H_PLANCK * GHZ * nu / (K_BOLTZMANN * temp_dust)
    y_ref = H_PLANCK * GHZ * nu_ref / (K_BOLTZMANN * temp_dust)
    return (
        (nu / nu_ref) ** (beta_dust + 1.0)
        * jnp.expm1(y_ref)
        / jnp.expm1(y)
        * kcmb_per_krj(nu)
        / kcmb_per_krj(nu_ref)
    )


def synch_sed(nu: ArrayLike, beta_synch: ArrayLike, nu_ref: float = DEFAULT_NU_SYNCH) -> jnp.ndarray:
    """Power law in K_CMB, 1 at ``nu_ref``. Broadcasts ``nu`` against ``beta_synch``."""
    nu = jnp.asarray(nu, dtype=float)
    return (nu / nu_ref) ** jnp.asarray(beta_synch) * kcmb_per_krj(nu) / kcmb_per_krj(nu_ref)


def dust_index_factor(nu: ArrayLike, beta_dust: ArrayLike, nu_ref: float = DEFAULT_NU_DUST) -> jnp.ndarray:
    """The beta_dust part of the dust SED: ``(nu/nu_ref)^(beta_dust+1) g(nu)/g(nu_ref)``."""
    nu = jnp.asarray(nu, dtype=float)
    return (nu / nu_ref) ** (jnp.asarray(beta_dust) + 1.0) * kcmb_per_krj(nu) / kcmb_per_krj(nu_ref)


def dust_temperature_factor(nu: ArrayLike, temp_dust: ArrayLike, nu_ref: float = DEFAULT_NU_DUST) -> jnp.ndarray:
    """The temp_dust part of the dust SED: ``(e^{y_ref} - 1) / (e^{y} - 1)``.

    ``dust_sed = dust_index_factor * dust_temperature_factor``: the likelihood evaluates the
    transcendental functions once per patch and multiplies per joint cell.
    """
    nu = jnp.asarray(nu, dtype=float)
    temp_dust = jnp.asarray(temp_dust)
    y = H_PLANCK * GHZ * nu / (K_BOLTZMANN * temp_dust)
    y_ref = H_PLANCK * GHZ * nu_ref / (K_BOLTZMANN * temp_dust)
    return jnp.expm1(y_ref) / jnp.expm1(y)


def mixing_matrix(
    nu: ArrayLike,
    beta_dust: ArrayLike,
    temp_dust: ArrayLike,
    beta_synch: ArrayLike,
    nu_dust: float = DEFAULT_NU_DUST,
    nu_synch: float = DEFAULT_NU_SYNCH,
) -> jnp.ndarray:
    """Mixing matrix A of shape ``(..., n_freq, 3)``, columns (CMB, dust, synchrotron), K_CMB.

    ``beta_dust``, ``temp_dust`` and ``beta_synch`` broadcast together to ``(...)`` (for instance
    one value per joint cell); ``nu`` is the 1-D array of band frequencies in GHz.
    """
    nu = jnp.asarray(nu, dtype=float)
    bd, td, bs = jnp.broadcast_arrays(
        jnp.asarray(beta_dust, dtype=float),
        jnp.asarray(temp_dust, dtype=float),
        jnp.asarray(beta_synch, dtype=float),
    )
    bd, td, bs = bd[..., None], td[..., None], bs[..., None]
    dust = dust_sed(nu, bd, td, nu_dust)
    synch = synch_sed(nu, bs, nu_synch)
    return jnp.stack([jnp.broadcast_to(cmb_sed(nu), dust.shape), dust, synch], axis=-1)
