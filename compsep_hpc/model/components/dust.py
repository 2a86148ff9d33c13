r"""Thermal dust: a modified black body with spectral index ``beta_dust`` and temperature
``temp_dust`` (K), in K_CMB, 1 at ``nu_ref`` (GHz):

.. math:: a_d(\nu) = (\nu/\nu_d)^{\beta_d + 1}\, \frac{e^{y_d} - 1}{e^{y} - 1}\, \frac{g(\nu)}{g(\nu_d)},
          \quad y = h\nu / (k_B T_d),\ y_d = h\nu_d / (k_B T_d).

It factorises into a ``beta_dust`` part (:func:`dust_index_factor`) and a ``temp_dust`` part
(:func:`dust_temperature_factor`): the fast likelihood of the default model evaluates each once
per patch. Pure JAX (imported when called, so the declarations load without it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from compsep_hpc.model.component import SpectralParameter
from compsep_hpc.model.units import GHZ, H_PLANCK, K_BOLTZMANN, kcmb_per_krj

DEFAULT_NU_DUST = 150.0  # GHz


def dust_index_factor(nu: Any, beta_dust: Any, nu_ref: float = DEFAULT_NU_DUST) -> Any:
    """The beta_dust part of the dust SED: ``(nu/nu_ref)^(beta_dust+1) g(nu)/g(nu_ref)``."""
    import jax.numpy as jnp

    nu = jnp.asarray(nu, dtype=float)
    return (nu / nu_ref) ** (jnp.asarray(beta_dust) + 1.0) * kcmb_per_krj(nu) / kcmb_per_krj(nu_ref)


def dust_temperature_factor(nu: Any, temp_dust: Any, nu_ref: float = DEFAULT_NU_DUST) -> Any:
    """The temp_dust part of the dust SED: ``(e^{y_ref} - 1) / (e^{y} - 1)``."""
    import jax.numpy as jnp

    nu = jnp.asarray(nu, dtype=float)
    temp_dust = jnp.asarray(temp_dust)
    y = H_PLANCK * GHZ * nu / (K_BOLTZMANN * temp_dust)
    y_ref = H_PLANCK * GHZ * nu_ref / (K_BOLTZMANN * temp_dust)
    return jnp.expm1(y_ref) / jnp.expm1(y)


def dust_sed(nu: Any, beta_dust: Any, temp_dust: Any, nu_ref: float = DEFAULT_NU_DUST) -> Any:
    """Modified black body in K_CMB, 1 at ``nu_ref``. Broadcasts ``nu`` against the parameters."""
    import jax.numpy as jnp

    nu = jnp.asarray(nu, dtype=float)
    temp_dust = jnp.asarray(temp_dust)
    y = H_PLANCK * GHZ * nu / (K_BOLTZMANN * temp_dust)
    y_ref = H_PLANCK * GHZ * nu_ref / (K_BOLTZMANN * temp_dust)
    return ((nu / nu_ref) ** (jnp.asarray(beta_dust) + 1.0) * jnp.expm1(y_ref) / jnp.expm1(y)
            * kcmb_per_krj(nu) / kcmb_per_krj(nu_ref))


@dataclass(frozen=True)
class ModifiedBlackBody:
    """Thermal dust (modified black body), amplitudes in K_CMB at ``nu_ref`` GHz."""

    name: ClassVar[str] = "dust"
    parameters: ClassVar[tuple[SpectralParameter, ...]] = (
        SpectralParameter("beta_dust", "", 1.54, (0.5, 3.0), r"$\beta_d$"),
        SpectralParameter("temp_dust", "K", 20.0, (5.0, 50.0), r"$T_d$ [K]"),
    )
    nu_ref: float = DEFAULT_NU_DUST

    def sed(self, nu: Any, beta_dust: Any, temp_dust: Any) -> Any:
        return dust_sed(nu, beta_dust, temp_dust, self.nu_ref)
