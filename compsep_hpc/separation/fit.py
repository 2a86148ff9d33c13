"""The outcome of one bound-constrained fit, shared by the Newton (newton.py) and L-BFGS
(lbfgs.py) minimisers, and the count of parameters that end on a bound."""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp
import numpy as np

AT_BOUND_RTOL = 1e-6  # a parameter within this fraction of its range from a bound counts as on it


class FitResult(NamedTuple):
    """Outcome of one minimisation (leading batch axes when vmapped).

    ``params`` are the physical parameters (flat vector or dict of arrays), ``nll`` the final
    value, ``iterations`` the number of Newton or L-BFGS iterations, ``converged`` True only for
    a finite value that met the method's stopping rule before ``max_iter``; ``n_at_bound``
    (..., n_p) the parameters of each family (the model's fitted order) on a bound, when counted.
    """

    params: dict | jnp.ndarray
    nll: jnp.ndarray
    iterations: jnp.ndarray
    converged: jnp.ndarray
    n_at_bound: jnp.ndarray | None = None


def count_at_bounds(x: np.ndarray, lower: np.ndarray, upper: np.ndarray, family: np.ndarray,
                    real: np.ndarray, n_families: int) -> np.ndarray:
    """Parameters of each family on a bound: ``x`` (..., size) flat vectors, ``lower``/``upper``
    (size,), ``family`` (size,) their family index, ``real`` (size,) False on padding.
    Returns (..., n_families) ints. Within ``AT_BOUND_RTOL`` of the range counts as on the bound (the
    Newton fit lands exactly on it; L-BFGS's sigmoid only approaches it)."""
    x = np.asarray(x)
    margin = AT_BOUND_RTOL * (upper - lower)
    on = ((x - lower <= margin) | (upper - x <= margin)) & real
    return np.stack([np.sum(on & (family == i), axis=-1) for i in range(n_families)], axis=-1).astype(np.int64)
