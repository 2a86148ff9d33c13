"""float64 for JAX, switched on by the entry points (CLI, launcher, scripts, tests), not on import.

Every likelihood value (~1e8 at nside 64) and every fitted spectral parameter depends on it, so
the fit refuses to run in float32 (:func:`require_float64`) instead of returning degraded numbers.
"""

from __future__ import annotations

from compsep_hpc.errors import CompsepError


def enable_float64() -> None:
    """Switch JAX to float64 (``jax_enable_x64``); call before any array is created."""
    import jax

    jax.config.update("jax_enable_x64", True)


def require_float64() -> None:
    """Raise CompsepError unless JAX runs in float64."""
    import jax

    if not jax.config.jax_enable_x64:
        raise CompsepError("JAX runs in float32; call compsep_hpc.precision.enable_float64() first "
                           "(the command line and the launcher do)")
