r"""Bound-constrained projected Newton minimisation of a sum of three-parameter cell terms.

The objective is :math:`f(x) = \sum_t f_t(x_{i_t}, x_{j_t}, x_{k_t})` over terms t (joint cells
or pixels) on the box :math:`l \le x \le h`. Each iteration, with each term's exact value,
gradient and 3x3 Hessian (term_derivatives.py), assembled by hessian.py:

1. **Active set.** An entry is *active* if it sits on a bound and its gradient points outward
   (:math:`x_i = l_i, g_i > 0` or :math:`x_i = h_i, g_i < 0`); padding entries are always fixed.
   The others are *free*.
2. **Damped Newton step** on the free entries, Levenberg-Marquardt style:
   :math:`(H_{FF} + \lambda\,\mathrm{diag}|H_{ii}|)\,p_F = -g_F`, :math:`p = 0` elsewhere. If the
   damped matrix is not positive definite (indefinite or singular H, common for noise-dominated
   patches) :math:`\lambda` grows tenfold until it is.
3. **Projected backtracking** :math:`x(\alpha) = \Pi_{[l,h]}(x + \alpha p)`, :math:`\alpha = 1,
   1/2, \dots`, accepted on the Armijo condition :math:`f(x(\alpha)) - f(x) \le 10^{-4}\, g^T
   (x(\alpha) - x)`, the difference summed term by term. A step whose predicted and actual changes
   are both below the float64 resolution of f is accepted: the iterate is then at the optimum to
   machine precision. :math:`\lambda` shrinks tenfold after a full step and grows otherwise.

Bounds are met exactly: projection lands an entry on its bound, where it stays while active.

Stopping rule: converged when the projected gradient (free entries: :math:`g_i`; at a bound,
only the component pointing inside) satisfies :math:`\|g^{\mathrm{proj}}\|_\infty \le
\mathrm{gtol}\,|f|`. Reaching ``max_iter``, a non-finite value, or a failed line search at the
largest damping is reported as not converged. Pure function of arrays: it vmaps over noise
realizations.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from compsep_hpc.fit import FitResult
from compsep_hpc.hessian import HessianStructure, cell_blocks, cg_solve, damped_diagonal, diagonal, schur_solve

INITIAL_DAMPING = 1e-3
MIN_DAMPING = 1e-12
MAX_DAMPING = 1e12
ARMIJO = 1e-4
MAX_BACKTRACKS = 30
PRECISION = 1e-14  # relative float64 resolution of a sum of terms

TermNLL = Callable[[jnp.ndarray, Any], jnp.ndarray]  # (theta (n, 3), data with leading n) -> (n,)
TermDerivatives = Callable[[jnp.ndarray, Any], tuple]  # -> values (n,), gradients (n, 3), Hessians (n, 3, 3)


class NewtonTerms(NamedTuple):
    """Where the terms sit: ``term_patches`` (3, n_terms) flat indices of each term's
    (beta_dust, temp_dust, beta_synch); ``term_cell`` (n_terms,) the joint cell of each term, or
    None when the terms are the joint cells; ``cell_patches`` (3, n_cells) flat indices per cell."""

    term_patches: jnp.ndarray
    term_cell: jnp.ndarray | None
    cell_patches: jnp.ndarray


class _State(NamedTuple):
    x: jnp.ndarray
    values: jnp.ndarray  # (n_terms,) term values at x
    grad: jnp.ndarray  # (size,)
    cell_hess: jnp.ndarray  # (n_cells, 3, 3)
    damping: jnp.ndarray
    iterations: jnp.ndarray
    converged: jnp.ndarray
    failed: jnp.ndarray


def projected_gradient(x: jnp.ndarray, grad: jnp.ndarray, lower: jnp.ndarray, upper: jnp.ndarray,
                       fixed: jnp.ndarray) -> jnp.ndarray:
    """The gradient's components that can still lower f: all of them for interior entries, only
    the inward-pointing one at a bound, none for fixed entries."""
    g = jnp.where(x <= lower, jnp.minimum(grad, 0.0), grad)
    g = jnp.where(x >= upper, jnp.maximum(g, 0.0), g)
    return jnp.where(fixed, 0.0, g)


def _evaluate(derivatives: TermDerivatives, data: Any, terms: NewtonTerms, x: jnp.ndarray):
    """Term values, gradient (size,) and per-cell Hessian blocks (n_cells, 3, 3) at x."""
    values, grads, hess = derivatives(x[terms.term_patches].T, data)
    grad = jnp.zeros_like(x).at[terms.term_patches].add(grads.T)
    if terms.term_cell is not None:
        hess = jax.ops.segment_sum(hess, terms.term_cell, num_segments=terms.cell_patches.shape[1])
    return values, grad, hess


def _newton_direction(state: _State, free: jnp.ndarray, cell_patches: jnp.ndarray,
                      structure: HessianStructure, linear_solver: str):
    """Damped Newton direction, raising the damping until the system is positive definite."""
    blocks = cell_blocks(cell_patches, state.cell_hess, structure.order, free)
    diag = diagonal(blocks, state.x.shape[0])
    rhs = jnp.where(free, -state.grad, 0.0)

    def solve(damping):
        damped = damped_diagonal(diag, free, damping)
        if linear_solver == "schur":
            return schur_solve(blocks, structure, damped, rhs)
        return cg_solve(blocks, structure, damped, rhs, free)

    def body(c):
        _, _, damping, tries = c
        damping = jnp.where(tries == 0, damping, jnp.maximum(10.0 * damping, 1e-6))
        p, ok = solve(damping)
        return p, ok, damping, tries + 1

    init = (jnp.zeros_like(state.x), jnp.asarray(False), state.damping, jnp.asarray(0))
    p, ok, damping, _ = jax.lax.while_loop(lambda c: ~c[1] & (c[2] < MAX_DAMPING), body, init)
    return jnp.where(ok, p, 0.0), ok, damping


def _line_search(term_nll: TermNLL, data: Any, terms: NewtonTerms, state: _State, p: jnp.ndarray,
                 lower: jnp.ndarray, upper: jnp.ndarray):
    """Projected backtracking from ``state.x`` along ``p``; returns (x, values, accepted, full step)."""
    noise = PRECISION * jnp.sum(jnp.abs(state.values))

    def trial(alpha):
        x = jnp.clip(state.x + alpha * p, lower, upper)
        values = term_nll(x[terms.term_patches].T, data)
        change = jnp.sum(values - state.values)
        slope = state.grad @ (x - state.x)
        ok = (change <= ARMIJO * slope) | ((slope > -noise) & (change <= noise))
        return x, values, ok & jnp.isfinite(change)

    def body(c):
        alpha, _, _, _, k = c
        x, values, ok = trial(alpha)
        return jnp.where(ok, alpha, 0.5 * alpha), x, values, ok, k + 1

    init = (jnp.asarray(1.0), state.x, state.values, jnp.asarray(False), jnp.asarray(0))
    alpha, x, values, ok, k = jax.lax.while_loop(lambda c: ~c[3] & (c[4] < MAX_BACKTRACKS), body, init)
    return jnp.where(ok, x, state.x), jnp.where(ok, values, state.values), ok, ok & (k == 1)


def minimize_newton(term_nll: TermNLL, derivatives: TermDerivatives, data: Any, terms: NewtonTerms,
                    structure: HessianStructure, start: jnp.ndarray, lower: jnp.ndarray, upper: jnp.ndarray, *,
                    max_iter: int, gtol: float, linear_solver: str = "cg") -> FitResult:
    """Minimise :math:`\\sum_t` ``term_nll`` over the box ``[lower, upper]`` (flat vectors of the
    same size) from ``start``; ``data`` carries each term's data along a leading axis and
    ``derivatives`` gives each term's exact value, gradient and 3x3 Hessian
    (term_derivatives.py)."""
    fixed = structure.fixed
    evaluate = lambda x: _evaluate(derivatives, data, terms, x)  # noqa: E731

    def is_converged(x, values, grad):
        pg = projected_gradient(x, grad, lower, upper, fixed)
        return jnp.max(jnp.abs(pg)) <= gtol * jnp.abs(jnp.sum(values))

    def body(state: _State) -> _State:
        at_lower, at_upper = state.x <= lower, state.x >= upper
        active = (at_lower & (state.grad > 0)) | (at_upper & (state.grad < 0))
        free = ~fixed & ~active
        p, pd, damping = _newton_direction(state, free, terms.cell_patches, structure, linear_solver)
        x, values, accepted, full = _line_search(term_nll, data, terms, state, p, lower, upper)
        damping = jnp.where(full, jnp.maximum(0.1 * damping, MIN_DAMPING),
                            jnp.where(accepted, 10.0 * damping, 100.0 * damping))
        values_new, grad, hess = evaluate(x)
        values = jnp.where(accepted, values_new, values)
        failed = ~pd | ~jnp.all(jnp.isfinite(values)) | (~accepted & (damping >= MAX_DAMPING))
        return _State(x, values, grad, hess, jnp.minimum(damping, MAX_DAMPING), state.iterations + 1,
                      is_converged(x, values, grad), failed)

    x0 = jnp.clip(start, lower, upper)
    values, grad, hess = evaluate(x0)
    init = _State(x0, values, grad, hess, jnp.asarray(INITIAL_DAMPING, x0.dtype), jnp.asarray(0),
                  is_converged(x0, values, grad), ~jnp.all(jnp.isfinite(values)))
    state = jax.lax.while_loop(lambda s: (s.iterations < max_iter) & ~s.converged & ~s.failed, body, init)
    nll = jnp.sum(state.values)
    return FitResult(state.x, nll, state.iterations, state.converged & jnp.isfinite(nll))
