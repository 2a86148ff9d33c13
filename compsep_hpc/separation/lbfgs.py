r"""Bounded L-BFGS minimisation of the spectral likelihood with optax.

Bounds are enforced by a smooth change of variables: each parameter
:math:`x = l + (h - l)\,\sigma(u)` with :math:`\sigma` the logistic function, and L-BFGS (optax,
zoom line search) runs on the unbounded :math:`u`. Every evaluated point is thus inside the
bounds (the dust SED is not defined for T_d <= 0), and an interior optimum is unchanged.

Stopping rule (relative, since the NLL is ~1e8 at nside 64): converged when, after an iteration,

- :math:`\|\nabla_u f_k\|_\infty \le \mathrm{gtol}\,|f_k|`, or
- :math:`|f_{k-1} - f_k| \le \mathrm{ftol}\,|f_k|` on ``STALL_ITERATIONS`` iterations in a row
  (no progress left at float64 precision; one short step alone does not stop the fit).

A fit that reaches ``max_iter`` or produces a non-finite value is reported as not converged.
``minimize_lbfgs`` is a pure function of arrays, so it vmaps over noise realizations.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import optax
import optax.tree_utils as otu

from compsep_hpc.separation.fit import FitResult

STALL_ITERATIONS = 3


def to_unbounded(x: dict, lower: dict, upper: dict) -> dict:
    """Inverse of :func:`to_bounded`: ``u = logit((x - l) / (h - l))``."""
    return jax.tree.map(lambda v, lo, hi: jax.scipy.special.logit((v - lo) / (hi - lo)), x, lower, upper)


def to_bounded(u: dict, lower: dict, upper: dict) -> dict:
    """``x = l + (h - l) * sigmoid(u)``, strictly inside ``(l, h)``."""
    return jax.tree.map(lambda v, lo, hi: lo + (hi - lo) * jax.nn.sigmoid(v), u, lower, upper)


def minimize_lbfgs(
    objective: Callable[[dict], jnp.ndarray],
    start: dict,
    lower: dict,
    upper: dict,
    *,
    max_iter: int,
    ftol: float,
    gtol: float,
    memory_size: int = 10,
) -> FitResult:
    """Minimise ``objective(params)`` over the box ``[lower, upper]`` from ``start``.

    ``lower`` and ``upper`` are pytrees matching ``start`` (scalars broadcast per leaf).
    """
    lower = jax.tree.map(lambda s, v: jnp.broadcast_to(jnp.asarray(v, s.dtype), s.shape), start, lower)
    upper = jax.tree.map(lambda s, v: jnp.broadcast_to(jnp.asarray(v, s.dtype), s.shape), start, upper)

    def fun(u: dict) -> jnp.ndarray:
        return objective(to_bounded(u, lower, upper))

    solver = optax.lbfgs(
        memory_size=memory_size,
        linesearch=optax.scale_by_zoom_linesearch(max_linesearch_steps=30),
    )
    value_and_grad = optax.value_and_grad_from_state(fun)
    u0 = to_unbounded(start, lower, upper)

    def cond(carry):
        _, _, value, k, _, done = carry
        return (k < max_iter) & ~done & jnp.isfinite(value)

    def body(carry):
        u, state, _, k, stalled, _ = carry
        value, grad = value_and_grad(u, state=state)
        updates, state = solver.update(grad, state, u, value=value, grad=grad, value_fn=fun)
        u = optax.apply_updates(u, updates)
        new_value = otu.tree_get(state, "value")
        new_grad = otu.tree_get(state, "grad")
        grad_max = jnp.max(jnp.stack([jnp.max(jnp.abs(g)) for g in jax.tree.leaves(new_grad)]))
        scale = jnp.abs(new_value)
        stalled = jnp.where(jnp.abs(value - new_value) <= ftol * scale, stalled + 1, 0)
        done = (grad_max <= gtol * scale) | (stalled >= STALL_ITERATIONS)
        return u, state, new_value, k + 1, stalled, done

    zero = jnp.asarray(0)
    init = (u0, solver.init(u0), fun(u0), zero, zero, jnp.asarray(False))
    u, _, value, iterations, _, done = jax.lax.while_loop(cond, body, init)
    finite = jnp.isfinite(value) & jnp.all(
        jnp.stack([jnp.all(jnp.isfinite(leaf)) for leaf in jax.tree.leaves(u)])
    )
    return FitResult(to_bounded(u, lower, upper), value, iterations, done & finite)
