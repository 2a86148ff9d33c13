"""The Newton fit's Hessian (compsep_hpc.separation.hessian): per-cell blocks assemble the exact
Hessian of the compressed NLL, and the Schur and CG solves of the damped system agree with a
dense solve."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from compsep_hpc.separation.hessian import (cell_blocks, cg_solve, damped_diagonal, diagonal, hessian_vector,
                                           inverse_diagonal, schur_solve)
from compsep_hpc.separation.likelihood import compressed_nll
from compsep_hpc.separation.packing import unpack
from compsep_hpc.separation.term_derivatives import compressed_term_derivatives
from compsep_hpc.model.sky_model import DEFAULT_MODEL

NAMES = DEFAULT_MODEL.fitted  # beta_dust, temp_dust, beta_synch


def _total(v, problem, moments, model):
    """The compressed NLL as a function of the flat vector."""
    return compressed_nll(unpack(v, problem.family, problem.fill, NAMES), problem.cell_patches, moments, model)


# compiled once for the module (op by op, the dense Hessian alone takes seconds per call)
_gradient, _dense_hessian = jax.jit(jax.grad(_total)), jax.jit(jax.hessian(_total))
_term_derivatives = jax.jit(compressed_term_derivatives)


def _assembled(problem, model, moments, x):
    """Gradient, per-cell blocks and the dense Hessian of the compressed NLL on the flat vector."""
    values, grads, hess = _term_derivatives(x[problem.cell_patches].T, moments, model)
    free = ~problem.structure.fixed
    blocks = cell_blocks(problem.cell_patches, hess, problem.structure.order, free)
    return _gradient(x, problem, moments, model), blocks, _dense_hessian(x, problem, moments, model), free


def test_cell_blocks_assemble_the_exact_hessian(small_problem):
    problem, _, model, _, moments, x = small_problem
    grad, blocks, dense, free = _assembled(problem, model, moments, x)
    v = jnp.asarray(np.random.default_rng(0).normal(size=x.shape)) * free
    np.testing.assert_allclose(hessian_vector(blocks, v), dense @ v, rtol=1e-9, atol=1e-9 * float(jnp.max(jnp.abs(dense))))
    # no cell holds two patches of one parameter: each family's block of H is diagonal
    family = np.asarray(problem.family)
    real = np.asarray(free)
    for i in range(3):
        block = np.asarray(dense)[np.ix_((family == i) & real, (family == i) & real)]
        np.testing.assert_array_equal(block - np.diag(np.diag(block)), 0.0)


@pytest.mark.parametrize("damping", [1e-3, 10.0])
def test_schur_and_cg_solve_the_damped_system(small_problem, damping):
    problem, _, model, _, moments, x = small_problem
    grad, blocks, dense, free = _assembled(problem, model, moments, x)
    # one parameter held on its bound: its row and column drop out
    free = free.at[0].set(False)
    _, _, hess = _term_derivatives(x[problem.cell_patches].T, moments, model)
    blocks = cell_blocks(problem.cell_patches, hess, problem.structure.order, free)
    damped = damped_diagonal(diagonal(blocks, x.shape[0]), free, damping)
    rhs = jnp.where(free, -grad, 0.0)
    f = np.asarray(free)
    system = np.asarray(dense)[np.ix_(f, f)] + np.diag(np.asarray(damped)[f] - np.diag(np.asarray(dense))[f])
    assert np.linalg.eigvalsh(system).min() > 0  # near the data's parameters: a positive definite system
    expected = np.zeros(x.shape)
    expected[f] = np.linalg.solve(system, np.asarray(rhs)[f])
    for p, ok in (schur_solve(blocks, problem.structure, damped, rhs), cg_solve(blocks, damped, rhs, free)):
        assert bool(ok)
        np.testing.assert_allclose(p, expected, rtol=1e-7, atol=1e-9 * np.abs(expected).max())


def test_the_inverse_diagonal_is_that_of_the_dense_inverse(small_problem):
    """diag(H^-1) through the Schur complement (the Fisher sigma's) against numpy's dense inverse,
    with one parameter held on its bound (left out of H)."""
    problem, _, model, _, moments, x = small_problem
    _, _, dense, free = _assembled(problem, model, moments, x)
    free = free.at[0].set(False)
    _, _, hess = _term_derivatives(x[problem.cell_patches].T, moments, model)
    blocks = cell_blocks(problem.cell_patches, hess, problem.structure.order, free)
    diag = jnp.where(free, diagonal(blocks, x.shape[0]), 1.0)
    f = np.asarray(free)
    expected = np.diag(np.linalg.inv(np.asarray(dense)[np.ix_(f, f)]))
    np.testing.assert_allclose(np.asarray(inverse_diagonal(blocks, problem.structure, diag))[f], expected, rtol=1e-8)
