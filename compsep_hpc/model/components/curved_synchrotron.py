r"""Curved synchrotron: a power law whose index runs with log frequency about a pivot
:math:`\nu_0` (Kogut 2012, ApJ 753, 110: :math:`C \approx -0.052` at 23 GHz; pysm's s3):

.. math:: T_{RJ}(\nu) \propto (\nu/\nu_0)^{\beta_s + C \ln(\nu/\nu_0)},

in K_CMB and normalised at ``nu_ref``:

.. math:: a(\nu) = (\nu/\nu_s)^{\beta_s}
          \exp\!\big(C\,[\ln^2(\nu/\nu_0) - \ln^2(\nu_s/\nu_0)]\big)\, g(\nu)/g(\nu_s).

``curv_synch`` = 0 is the power law (synchrotron.py). Pure JAX (imported when called).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from compsep_hpc.model.component import SpectralParameter
from compsep_hpc.model.components.synchrotron import BETA_SYNCH, DEFAULT_NU_SYNCH, synch_sed

DEFAULT_PIVOT = 23.0  # GHz


def curved_synch_sed(nu: Any, beta_synch: Any, curv_synch: Any, nu_ref: float = DEFAULT_NU_SYNCH,
                     pivot: float = DEFAULT_PIVOT) -> Any:
    """Curved power law in K_CMB, 1 at ``nu_ref``; ``pivot`` GHz is where the index is ``beta_synch``."""
    import jax.numpy as jnp

    nu = jnp.asarray(nu, dtype=float)
    running = jnp.log(nu / pivot) ** 2 - jnp.log(nu_ref / pivot) ** 2
    return synch_sed(nu, beta_synch, nu_ref) * jnp.exp(jnp.asarray(curv_synch) * running)


@dataclass(frozen=True)
class CurvedSynchrotron:
    """Synchrotron with curvature ``curv_synch`` about ``pivot`` GHz, K_CMB at ``nu_ref`` GHz."""

    name: ClassVar[str] = "curved_synch"
    parameters: ClassVar[tuple[SpectralParameter, ...]] = (
        BETA_SYNCH,
        SpectralParameter("curv_synch", "", 0.0, (-1.0, 1.0), r"$C_s$"),
    )
    nu_ref: float = DEFAULT_NU_SYNCH
    pivot: float = DEFAULT_PIVOT

    def sed(self, nu: Any, beta_synch: Any, curv_synch: Any) -> Any:
        return curved_synch_sed(nu, beta_synch, curv_synch, self.nu_ref, self.pivot)
