r"""Bound-constrained projected Newton minimisation of a sum of cell terms, each of one patch value per fitted parameter.

The objective is :math:`f(x) = \sum_t f_t(x_{i_t}, x_{j_t}, x_{k_t})` over terms t (joint cells
or pixels) on the box :math:`l \le x \le h`. Each iteration, with each term's exact value,
gradient and n_p x n_p Hessian (term_derivatives.py, model_terms.py), assembled by hessian.py:

1. **Active set.** An entry is *active* if it sits on a bound and its gradient points outward
   (:math:`x_i = l_i, g_i > 0` or :math:`x_i = h_i, g_i < 0`); padding entries are always fixed.
   The others are *free*.
2. **Damped Newton step** on the free entries, Levenberg-Marquardt style:
   :math:`(H_{FF} - \mathrm{diag}\,H_{ii} + (1 + \lambda)\,\mathrm{diag}|H_{ii}|)\,p_F = -g_F`,
   :math:`p = 0` elsewhere: a negative diagonal entry (f locally concave along one parameter, as
   for noise-dominated patches) enters with its absolute value, so the step along it still
   descends without damping every other parameter. If the damped matrix is still not positive
   definite (indefinite couplings, singular H) :math:`\lambda` grows tenfold until it is.
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

from compsep_hpc.separation.fit import FitResult
from compsep_hpc.separation.hessian import (HessianStructure, cell_blocks, cg_solve, damped_diagonal, diagonal,
                                           inverse_diagonal, schur_solve)

INITIAL_DAMPING = 1e-3
MIN_DAMPING = 1e-12
MAX_DAMPING = 1e12
ARMIJO = 1e-4
MAX_BACKTRACKS = 30
PRECISION = 1e-14  # relative float64 resolution of a sum of terms

TermNLL = Callable[[jnp.ndarray, Any], jnp.ndarray]  # (theta (n, n_p), data with leading n) -> (n,)
TermDerivatives = Callable[[jnp.ndarray, Any], tuple]  # -> values (n,), gradients (n, n_p), Hessians (n, n_p, n_p)


class NewtonTerms(NamedTuple):
    """Where the terms sit: ``term_patches`` (n_p, n_terms) flat indices of each term's
    fitted parameters; ``term_cell`` (n_terms,) the joint cell of each term, or
    None when the terms are the joint cells; ``cell_patches`` (n_p, n_cells) flat indices per cell."""

    term_patches: jnp.ndarray
    term_cell: jnp.ndarray | None
    cell_patches: jnp.ndarray


class _State(NamedTuple):
    x: jnp.ndarray
    nll: jnp.ndarray  # f at x, set when x is evaluated
    damping: jnp.ndarray
    iterations: jnp.ndarray  # steps taken
    converged: jnp.ndarray
    stopped: jnp.ndarray


class _Point(NamedTuple):
    """f's term values (n_terms,), gradient (size,) and per-cell Hessians at the current x."""

    values: jnp.ndarray
    grad: jnp.ndarray
    cell_hess: jnp.ndarray


def projected_gradient(x: jnp.ndarray, grad: jnp.ndarray, lower: jnp.ndarray, upper: jnp.ndarray,
                       fixed: jnp.ndarray) -> jnp.ndarray:
    """The gradient's components that can still lower f: all of them for interior entries, only
    the inward-pointing one at a bound, none for fixed entries."""
    g = jnp.where(x <= lower, jnp.minimum(grad, 0.0), grad)
    g = jnp.where(x >= upper, jnp.maximum(g, 0.0), g)
    return jnp.where(fixed, 0.0, g)


def _evaluate(derivatives: TermDerivatives, data: Any, terms: NewtonTerms, x: jnp.ndarray):
    """Term values, gradient (size,) and per-cell Hessian blocks (n_cells, n_p, n_p) at x."""
    values, grads, hess = derivatives(x[terms.term_patches].T, data)
    grad = jnp.zeros_like(x).at[terms.term_patches].add(grads.T)
    if terms.term_cell is not None:
        hess = jax.ops.segment_sum(hess, terms.term_cell, num_segments=terms.cell_patches.shape[1])
    return values, grad, hess


def _newton_direction(point: _Point, damping: jnp.ndarray, free: jnp.ndarray, cell_patches: jnp.ndarray,
                      structure: HessianStructure, linear_solver: str):
    """Damped Newton direction, raising the damping until the system is positive definite."""
    blocks = cell_blocks(cell_patches, point.cell_hess, structure.order, free)
    diag = diagonal(blocks, free.shape[0])
    rhs = jnp.where(free, -point.grad, 0.0)

    def solve(damping):
        damped = damped_diagonal(diag, free, damping)
        if linear_solver == "schur":
            return schur_solve(blocks, structure, damped, rhs)
        return cg_solve(blocks, damped, rhs, free)

    def body(c):
        _, _, damping, tries = c
        damping = jnp.where(tries == 0, damping, jnp.maximum(10.0 * damping, 1e-6))
        p, ok = solve(damping)
        return p, ok, damping, tries + 1

    init = (jnp.zeros_like(rhs), jnp.asarray(False), damping, jnp.asarray(0))
    p, ok, damping, _ = jax.lax.while_loop(lambda c: ~c[1] & (c[2] < MAX_DAMPING), body, init)
    return jnp.where(ok, p, 0.0), ok, damping


def _line_search(term_nll: TermNLL, data: Any, terms: NewtonTerms, x0: jnp.ndarray, point: _Point,
                 p: jnp.ndarray, lower: jnp.ndarray, upper: jnp.ndarray):
    """Projected backtracking from ``x0`` along ``p``; returns (x, accepted, full step)."""
    noise = PRECISION * jnp.sum(jnp.abs(point.values))

    def trial(alpha):
        x = jnp.clip(x0 + alpha * p, lower, upper)
        values = term_nll(x[terms.term_patches].T, data)
        change = jnp.sum(values - point.values)
        slope = point.grad @ (x - x0)
        ok = (change <= ARMIJO * slope) | ((slope > -noise) & (change <= noise))
        return x, ok & jnp.isfinite(change)

    def body(c):
        alpha, _, _, k = c
        x, ok = trial(alpha)
        return 0.5 * alpha, x, ok, k + 1

    init = (jnp.asarray(1.0, x0.dtype), x0, jnp.asarray(False), jnp.asarray(0))
    _, x, ok, k = jax.lax.while_loop(lambda c: ~c[2] & (c[3] < MAX_BACKTRACKS), body, init)
    return jnp.where(ok, x, x0), ok, ok & (k == 1)


def minimize_newton(term_nll: TermNLL, derivatives: TermDerivatives, data: Any, terms: NewtonTerms,
                    structure: HessianStructure, start: jnp.ndarray, lower: jnp.ndarray, upper: jnp.ndarray, *,
                    max_iter: int, gtol: float, linear_solver: str = "cg") -> FitResult:
    """Minimise :math:`\\sum_t` ``term_nll`` over the box ``[lower, upper]`` (flat vectors of the
    same size) from ``start``; ``data`` carries each term's data along a leading axis and
    ``derivatives`` gives each term's exact value, gradient and n_p x n_p Hessian
    (term_derivatives.py)."""
    fixed = structure.fixed
    evaluate = lambda x: _evaluate(derivatives, data, terms, x)  # noqa: E731

    def body(state: _State) -> _State:
        values, grad, hess = evaluate(state.x)
        point = _Point(values, grad, hess)
        nll = jnp.sum(values)
        pg = projected_gradient(state.x, grad, lower, upper, fixed)
        converged = jnp.max(jnp.abs(pg)) <= gtol * jnp.abs(nll)
        at_lower, at_upper = state.x <= lower, state.x >= upper
        active = (at_lower & (grad > 0)) | (at_upper & (grad < 0))
        free = ~fixed & ~active
        p, pd, damping = _newton_direction(point, state.damping, free, terms.cell_patches, structure, linear_solver)
        x, accepted, full = _line_search(term_nll, data, terms, state.x, point, p, lower, upper)
        damping = jnp.where(full, jnp.maximum(0.1 * damping, MIN_DAMPING),
                            jnp.where(accepted, 10.0 * damping, 100.0 * damping))
        failed = ~jnp.isfinite(nll) | (~converged & (~pd | (~accepted & (damping >= MAX_DAMPING))))
        stop = converged | failed | (state.iterations >= max_iter)
        return _State(jnp.where(stop, state.x, x), nll, jnp.minimum(damping, MAX_DAMPING),
                      state.iterations + (~stop).astype(state.iterations.dtype), converged & ~failed, stop)

    x0 = jnp.clip(start, lower, upper)
    zero = jnp.asarray(0)
    init = _State(x0, jnp.asarray(jnp.nan, x0.dtype), jnp.asarray(INITIAL_DAMPING, x0.dtype), zero,
                  jnp.asarray(False), jnp.asarray(False))
    state = jax.lax.while_loop(lambda s: ~s.stopped, body, init)
    return FitResult(state.x, state.nll, state.iterations, state.converged & jnp.isfinite(state.nll))


def newton_step(term_nll: TermNLL, derivatives: TermDerivatives, data: Any, terms: NewtonTerms,
                structure: HessianStructure, start: jnp.ndarray, lower: jnp.ndarray, upper: jnp.ndarray, *,
                linear_solver: str = "cg") -> FitResult:
    r"""One undamped projected Newton step from ``start`` (the linearized fit of a realization):
    :math:`x = \mathrm{clip}(x_0 - H(x_0)^{-1}\nabla(x_0), \mathrm{lower}, \mathrm{upper})` on the
    entries that are neither fixed nor held at a bound by their gradient (as in
    :func:`minimize_newton`), with the damping raised from 0 only where H is not positive
    definite. For ``start`` the noiseless optimum :math:`\beta_0` and data :math:`d_0 + n`, ``x`` is
    the fit to first order in the noise, :math:`\delta\beta = -H^{-1}\nabla NLL(\beta_0; d_0 + n)`.
    ``converged``: the system was solved and the NLL at ``x`` is finite; ``iterations`` 1."""
    x0 = jnp.clip(start, lower, upper)
    values, grad, hess = _evaluate(derivatives, data, terms, x0)
    active = ((x0 <= lower) & (grad > 0)) | ((x0 >= upper) & (grad < 0))
    p, solved, _ = _newton_direction(_Point(values, grad, hess), jnp.asarray(0.0, x0.dtype),
                                     ~structure.fixed & ~active, terms.cell_patches, structure, linear_solver)
    x = jnp.clip(x0 + p, lower, upper)
    nll = jnp.sum(term_nll(x[terms.term_patches].T, data))
    return FitResult(x, nll, jnp.asarray(1), solved & jnp.isfinite(nll))


def fisher_sigma(derivatives: TermDerivatives, data: Any, terms: NewtonTerms, structure: HessianStructure,
                 x: jnp.ndarray, lower: jnp.ndarray, upper: jnp.ndarray) -> jnp.ndarray:
    r"""The Fisher standard deviation of every entry of ``x`` (size,), the optimum of the NLL of
    ``data``: :math:`\sigma_i = \sqrt{2 (H^{-1})_{ii}}`, the NLL being :math:`-2 \ln L` (the Fisher
    matrix is H / 2; fgbuster's Sigma, the forecast of Stompor, Errard & Poletti 2016), H restricted
    to the entries off their bounds. ``structure`` must have its dense block
    (packing.hessian_structure ``dense_block=True``). NaN for fixed entries, entries on a bound, or
    all of them where H is not positive definite."""
    _, _, hess = _evaluate(derivatives, data, terms, x)
    free = ~structure.fixed & (x > lower) & (x < upper)
    blocks = cell_blocks(terms.cell_patches, hess, structure.order, free)
    diag = jnp.where(free, diagonal(blocks, x.shape[0]), 1.0)
    inverse = inverse_diagonal(blocks, structure, diag)
    return jnp.where(free, jnp.sqrt(2.0 * inverse), jnp.nan)
