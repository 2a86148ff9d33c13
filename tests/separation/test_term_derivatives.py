"""Exact per-term value, gradient and Hessian of both likelihood forms
(compsep_hpc.separation.term_derivatives), against JAX differentiating the term."""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from compsep_hpc.separation.likelihood import compressed_term_nll, pixel_data, pixel_term_nll
from compsep_hpc.separation.term_derivatives import compressed_term_derivatives, pixel_term_derivatives


def _reference_derivatives(term_nll, theta, data):
    """JAX's own value, gradient and Hessian of each term, vmapped over terms."""
    def single(t, d):
        return term_nll(t[None], jax.tree.map(lambda a: a[None], d))[0]
    return jax.vmap(lambda t, d: (single(t, d), jax.grad(single)(t, d), jax.hessian(single)(t, d)))(theta, data)


FORMS = {"compressed": (compressed_term_derivatives, compressed_term_nll),
         "pixel": (pixel_term_derivatives, pixel_term_nll)}


@pytest.mark.parametrize("form", ["compressed", "pixel"])
def test_term_derivatives_equal_differentiating_the_term(small_problem, form):
    problem, _, model, data, moments, x = small_problem
    derivatives, term_nll = FORMS[form]
    if form == "compressed":
        theta, per_term = x[problem.cell_patches].T, moments
    else:
        theta, per_term = x[problem.labels].T, pixel_data(data, model.inv_noise_var)
    # both compiled whole, as the fit runs them (op by op they would take seconds per test)
    ours = jax.jit(derivatives)(theta, per_term, model)
    ref = jax.jit(lambda t, d, m: _reference_derivatives(partial(term_nll, model=m), t, d))(theta, per_term, model)
    for a, b in zip(ours, ref):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9 * float(jnp.max(jnp.abs(b))))
