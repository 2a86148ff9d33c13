"""The projected Newton fit: exact per-term derivatives, the Hessian's structure and both linear
solves, optimality against L-BFGS run to a tight tolerance, and exact bounds."""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from compsep_hpc.config import parse_config
from compsep_hpc.separation.config import FitConfig
from compsep_hpc.separation.evaluate import evaluate_configuration, fit_problem
from compsep_hpc.separation.hessian import cell_blocks, cg_solve, damped_diagonal, diagonal, hessian_vector, schur_solve
from compsep_hpc.model.instrument import LITEBIRD
from compsep_hpc.separation.likelihood import (
    cell_moments, compressed_nll, compressed_term_nll, mixing_columns, pixel_data, pixel_term_nll,
)
from compsep_hpc.separation.observations import spectral_model
from compsep_hpc.separation.packing import unpack
from compsep_hpc.grid.experiment import Experiment
from compsep_hpc.model.sed import PARAMETERS
from compsep_hpc.separation.term_derivatives import compressed_term_derivatives, pixel_term_derivatives

NSIDE = 8


@pytest.fixture(scope="module")
def small_problem():
    """Data of 60 pixels with 7/3/2 patches (model at the start point plus white noise), its fit
    arrays and moments, and a point x near the start."""
    rng = np.random.default_rng(11)
    n = 60
    labels = np.stack([rng.permutation(np.arange(n) % 7), rng.integers(0, 3, n), rng.integers(0, 2, n)])
    model = spectral_model(LITEBIRD, NSIDE, 150.0, 20.0)
    problem, layout, _ = fit_problem(labels, FitConfig(linear_solver="schur"))  # with the dense Schur block
    a = mixing_columns(unpack(problem.start, problem.family, problem.fill), problem.labels, model)  # (n, f, 3)
    amplitudes = rng.normal(0, 1, (3, 2, n)) * np.array([1.0, 300.0, 300.0])[:, None, None]
    noise = rng.normal(0, 1, (len(LITEBIRD.frequencies), 2, n)) / np.sqrt(np.asarray(model.inv_noise_var))[:, None, None]
    data = jnp.einsum("pfc,csp->fsp", a, amplitudes) + noise
    moments = cell_moments(data, problem.cell_index, problem.cell_patches.shape[1], model.inv_noise_var)
    scale = np.asarray([0.002, 0.05, 0.002])[np.asarray(problem.family)]
    x = problem.start + jnp.asarray(rng.normal(0, 1, problem.start.shape) * scale)
    return problem, layout, model, data, moments, x


def _reference_derivatives(term_nll, theta, data):
    """JAX's own value, gradient and Hessian of each term, vmapped over terms."""
    def single(t, d):
        return term_nll(t[None], jax.tree.map(lambda a: a[None], d))[0]
    return jax.vmap(lambda t, d: (single(t, d), jax.grad(single)(t, d), jax.hessian(single)(t, d)))(theta, data)


@pytest.mark.parametrize("form", ["compressed", "pixel"])
def test_term_derivatives_equal_differentiating_the_term(small_problem, form):
    problem, _, model, data, moments, x = small_problem
    if form == "compressed":
        theta, per_term = x[problem.cell_patches].T, moments
        ours = compressed_term_derivatives(theta, per_term, model)
        ref = _reference_derivatives(partial(compressed_term_nll, model=model), theta, per_term)
    else:
        theta, per_term = x[problem.labels].T, pixel_data(data, model.inv_noise_var)
        ours = pixel_term_derivatives(theta, per_term, model)
        ref = _reference_derivatives(partial(pixel_term_nll, model=model), theta, per_term)
    for a, b in zip(ours, ref):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9 * float(jnp.max(jnp.abs(b))))


def _assembled(problem, model, moments, x):
    """Gradient, per-cell blocks and the dense Hessian of the compressed NLL on the flat vector."""
    total = lambda v: compressed_nll(unpack(v, problem.family, problem.fill), problem.cell_patches, moments, model)
    values, grads, hess = compressed_term_derivatives(x[problem.cell_patches].T, moments, model)
    free = ~problem.structure.fixed
    blocks = cell_blocks(problem.cell_patches, hess, problem.structure.order, free)
    return jax.grad(total)(x), blocks, jax.hessian(total)(x), free


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
    _, _, hess = compressed_term_derivatives(x[problem.cell_patches].T, moments, model)
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


@pytest.fixture(scope="module")
def experiment():
    """A small region (80 pixels at nside 8) with 4/2/2 patches and 2 noise realizations."""
    raw = {"name": "n", "nside": NSIDE, "sky": {"model": "synthetic", "seed": 1}, "regions": ["GAL060_U"],
           "grid": {"beta_dust": [4], "temp_dust": [2], "beta_synch": [2]}, "noise": {"realizations": 2, "seed": 3}}
    exp = Experiment(parse_config(raw))
    return exp, exp.region_data("GAL060_U"), exp.labels("GAL060_U", (4, 2, 2))


@pytest.mark.parametrize("form", ["compressed", "pixel"])
def test_newton_reaches_the_optimum_of_a_tight_lbfgs(form, experiment):
    exp, region, labels = experiment
    newton = evaluate_configuration(region, labels, exp.model, FitConfig(likelihood=form))
    lbfgs = evaluate_configuration(region, labels, exp.model, FitConfig(method="lbfgs", likelihood=form,
                                                                        max_iter=3000, gtol=1e-14, ftol=0.0))
    assert newton.fit.converged.all() and newton.systematic.converged
    assert (newton.fit.iterations < 50).all()
    slack = 1e-14 * np.abs(lbfgs.fit.nll)
    assert (newton.fit.nll <= lbfgs.fit.nll + slack).all(), newton.fit.nll - lbfgs.fit.nll
    assert newton.systematic.nll <= lbfgs.systematic.nll + 1e-14 * abs(lbfgs.systematic.nll)
    assert not newton.fit.n_at_bound.any()
    for p in PARAMETERS:
        np.testing.assert_allclose(newton.fit.params[p], lbfgs.fit.params[p], rtol=1e-6)


@pytest.mark.parametrize("form", ["compressed", "pixel"])
@pytest.mark.parametrize("solver", ["cg", "schur"])
def test_an_optimum_beyond_a_bound_ends_exactly_on_it(form, solver, experiment):
    exp, region, labels = experiment
    bounds = dict(FitConfig().bounds, beta_synch=(-2.0, -0.5))  # the sky's beta_synch is about -3
    fit = FitConfig(likelihood=form, linear_solver=solver, bounds=bounds, start=dict(FitConfig().start, beta_synch=-1.0))
    result = evaluate_configuration(region, labels, exp.model, fit)
    assert result.fit.converged.all() and result.systematic.converged
    np.testing.assert_array_equal(result.fit.params["beta_synch"], -2.0)
    np.testing.assert_array_equal(result.fit.n_at_bound[:, 2], 2)
    np.testing.assert_array_equal(result.systematic.n_at_bound, [0, 0, 2])
    assert (result.fit.params["temp_dust"] > bounds["temp_dust"][0]).all()


def test_both_linear_solves_give_the_same_fit(experiment):
    exp, region, labels = experiment
    fits = [evaluate_configuration(region, labels, exp.model, FitConfig(linear_solver=s)) for s in ("cg", "schur")]
    np.testing.assert_allclose(fits[0].fit.nll, fits[1].fit.nll, rtol=1e-14)
    for p in PARAMETERS:
        np.testing.assert_allclose(fits[0].fit.params[p], fits[1].fit.params[p], rtol=1e-7)
