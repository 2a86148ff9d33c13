r"""Synchrotron as a power law in brightness temperature, in K_CMB, 1 at ``nu_ref`` (GHz):

.. math:: a_s(\nu) = (\nu/\nu_s)^{\beta_s}\, g(\nu)/g(\nu_s).

Pure JAX (imported when called).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from compsep_hpc.model.component import SpectralParameter
from compsep_hpc.model.units import kcmb_per_krj

DEFAULT_NU_SYNCH = 20.0  # GHz
BETA_SYNCH = SpectralParameter("beta_synch", "", -3.0, (-7.0, -0.5), r"$\beta_s$")


def synch_sed(nu: Any, beta_synch: Any, nu_ref: float = DEFAULT_NU_SYNCH) -> Any:
    """Power law in K_CMB, 1 at ``nu_ref``. Broadcasts ``nu`` against ``beta_synch``."""
    import jax.numpy as jnp

    nu = jnp.asarray(nu, dtype=float)
    return (nu / nu_ref) ** jnp.asarray(beta_synch) * kcmb_per_krj(nu) / kcmb_per_krj(nu_ref)


@dataclass(frozen=True)
class PowerLawSynchrotron:
    """Power-law synchrotron, amplitudes in K_CMB at ``nu_ref`` GHz."""

    name: ClassVar[str] = "synch"
    parameters: ClassVar[tuple[SpectralParameter, ...]] = (BETA_SYNCH,)
    nu_ref: float = DEFAULT_NU_SYNCH

    def sed(self, nu: Any, beta_synch: Any) -> Any:
        return synch_sed(nu, beta_synch, self.nu_ref)
