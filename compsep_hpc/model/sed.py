r"""The mixing matrix of the default model, and the SED formulas it is built from, in K_CMB.

The formulas live with their components (model/components/); this module gathers them for the
callers that use them by name. Frequencies in GHz, temperatures in K.
"""

from __future__ import annotations

import jax.numpy as jnp
from jax.typing import ArrayLike

from compsep_hpc.model.components.dust import (  # noqa: F401
    DEFAULT_NU_DUST,
    dust_index_factor,
    dust_sed,
    dust_temperature_factor,
)
from compsep_hpc.model.components.synchrotron import DEFAULT_NU_SYNCH, synch_sed  # noqa: F401
from compsep_hpc.model.units import kcmb_per_krj  # noqa: F401


def cmb_sed(nu: ArrayLike) -> jnp.ndarray:
    """CMB column of the mixing matrix in K_CMB: ones."""
    return jnp.ones_like(jnp.asarray(nu, dtype=float))


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
