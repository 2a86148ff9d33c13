r"""Physical constants and the K_RJ -> K_CMB conversion shared by the SEDs (pure JAX).

:math:`x(\nu) = h\nu / (k_B T_{CMB})`, :math:`g(\nu) = (e^x - 1)^2 / (e^x x^2)`: a brightness
in K_RJ times :math:`g(\nu)` is K_CMB. Frequencies in GHz.
"""

from __future__ import annotations

from typing import Any

H_PLANCK = 6.62607015e-34  # J s
K_BOLTZMANN = 1.380649e-23  # J / K
T_CMB = 2.7255  # K
GHZ = 1e9


def kcmb_per_krj(nu: Any) -> Any:
    """K_RJ -> K_CMB factor g(nu) at ``nu`` GHz (same shape as ``nu``)."""
    import jax.numpy as jnp

    x = H_PLANCK * jnp.asarray(nu) * GHZ / (K_BOLTZMANN * T_CMB)
    return jnp.expm1(x) ** 2 / (jnp.exp(x) * x**2)
