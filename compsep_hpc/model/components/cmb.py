"""The CMB: a(nu) = 1 in K_CMB at every frequency; no spectral parameter."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from compsep_hpc.model.component import SpectralParameter


@dataclass(frozen=True)
class CMB:
    """The CMB column of the mixing matrix: ones (K_CMB)."""

    name: ClassVar[str] = "cmb"
    parameters: ClassVar[tuple[SpectralParameter, ...]] = ()
    nu_ref: float = 150.0  # GHz; irrelevant (the SED is 1 everywhere), kept for the protocol

    def sed(self, nu: Any) -> Any:
        """Ones of the shape of ``nu``."""
        import jax.numpy as jnp

        return jnp.ones_like(jnp.asarray(nu, dtype=float))
