r"""NLL terms of any sky model, with their exact derivatives from JAX differentiation.

For a model of :math:`n_c` components (the CMB first; model/sky_model.py) and :math:`n_p` fitted
spectral parameters, each term (joint cell or pixel) depends on its own parameters
:math:`\theta` (n_p,) only:

.. math:: f(\theta) = -\mathrm{tr}[M^{-1} E], \quad M = A^T N^{-1} A, \quad E = A^T W A,

with :math:`A = (1, a_1(\theta), \dots)` (f x n_c), :math:`W = W_J` the cell moments
(compressed form) or :math:`\sum_{Q,U} N^{-1} d\, d^T N^{-1}` (one pixel). :math:`M` is
symmetric positive definite, inverted through an unrolled Cholesky factorisation (elementwise
operations over the terms: batched ``jnp.linalg`` calls on tiny matrices are slow on CPU).

The value, gradient (n_p,) and Hessian (n_p, n_p) of every term come from
``jax.jacfwd(jax.value_and_grad(f))``, vmapped over the terms: exact to rounding for any model,
at a few times the cost of the closed-form derivatives of the default model
(term_derivatives.py), which the fit keeps for that model. Pure JAX; shapes (n, ...) per term.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from compsep_hpc.separation.likelihood import CellMoments, PixelData, SpectralModel


def term_columns(theta: jnp.ndarray, model: SpectralModel) -> list[jnp.ndarray]:
    """The n_c columns of A for every term, each (n, n_freq): ones, then each foreground's SED at
    the term's parameters ``theta`` (n, n_p; the model's fitted order) and the fixed values; with
    bandpasses, each SED averaged over the band's samples with its K_CMB weights (model/bandpass.py;
    the CMB's average is exactly 1)."""
    nu = model.frequencies
    shape = (theta.shape[0], nu.shape[0])
    if model.band_nu is None:
        values = {name: theta[:, i:i + 1] for i, name in enumerate(model.sky.fitted)}
        seds = model.sky.foreground_seds(nu, values)
    else:
        values = {name: theta[:, i, None, None] for i, name in enumerate(model.sky.fitted)}
        seds = [jnp.sum(s * model.band_weights, axis=-1) for s in model.sky.foreground_seds(model.band_nu, values)]
    return [jnp.ones(shape, theta.dtype)] + [jnp.broadcast_to(s, shape) for s in seds]


def _cholesky_inverse(m: list[list[jnp.ndarray]]) -> list[list[jnp.ndarray]]:
    """:math:`M^{-1}` of symmetric positive definite matrices given entry by entry (each (n,)),
    through :math:`M = L L^T`: :math:`M^{-1} = L^{-T} L^{-1}`. Unrolled over the static size."""
    size = len(m)
    chol = [[None] * size for _ in range(size)]
    for i in range(size):
        for j in range(i + 1):
            s = m[i][j] - sum((chol[i][k] * chol[j][k] for k in range(j)), jnp.zeros_like(m[i][j]))
            chol[i][j] = jnp.sqrt(s) if i == j else s / chol[j][j]
    inv = [[None] * size for _ in range(size)]  # L^-1, lower triangular
    for i in range(size):
        inv[i][i] = 1.0 / chol[i][i]
        for j in range(i):
            s = sum((chol[i][k] * inv[k][j] for k in range(j, i)), jnp.zeros_like(m[i][j]))
            inv[i][j] = -s * inv[i][i]
    return [[sum(inv[k][a] * inv[k][b] for k in range(max(a, b), size)) for b in range(size)] for a in range(size)]


def noise_products(columns: list[jnp.ndarray], model: SpectralModel,
                   n_inv: jnp.ndarray | None = None) -> list[list[jnp.ndarray]]:
    """:math:`M_{ab} = a_a^T N^{-1} a_b`, each (n,); ``n_inv`` (n, f): each term's N^-1 (None:
    the model's)."""
    weighted = [c * (model.inv_noise_var if n_inv is None else n_inv) for c in columns]
    return [[jnp.sum(weighted[a] * columns[b], axis=-1) for b in range(len(columns))] for a in range(len(columns))]


def _trace_term(m: list[list[jnp.ndarray]], e: list[list[jnp.ndarray]]) -> jnp.ndarray:
    """:math:`-\\mathrm{tr}[M^{-1} E]` (n,)."""
    p = _cholesky_inverse(m)
    size = len(m)
    return -sum(p[a][b] * e[a][b] for a in range(size) for b in range(size))


def compressed_term_nll(theta: jnp.ndarray, moments: CellMoments, model: SpectralModel) -> jnp.ndarray:
    """Each cell's term (n,) from its parameters ``theta`` (n, n_p) and moments W_J (n, f, f).
    Padding cells (W_J = 0) give exactly zero."""
    columns = term_columns(theta, model)
    w_columns = [jnp.sum(moments.w * c[:, None, :], axis=-1) for c in columns]  # W a_b, (n, f)
    e = [[jnp.sum(columns[a] * w_columns[b], axis=-1) for b in range(len(columns))] for a in range(len(columns))]
    return _trace_term(noise_products(columns, model), e)


def pixel_term_nll(theta: jnp.ndarray, data: PixelData, model: SpectralModel) -> jnp.ndarray:
    """Each pixel's term ``-sum_{Q,U} b^T M^-1 b`` (n,), b = A^T N^-1 d, from ``theta`` (n, n_p)."""
    columns = term_columns(theta, model)
    n_inv_d = data.d * (model.inv_noise_var[None, :, None] if data.n_inv is None else data.n_inv[:, :, None])
    b = [jnp.sum(c[:, :, None] * n_inv_d, axis=1) for c in columns]  # (n, 2) each
    e = [[jnp.sum(b[i] * b[j], axis=-1) for j in range(len(b))] for i in range(len(b))]
    return _trace_term(noise_products(columns, model, data.n_inv), e)


def _derivatives(term_nll, theta: jnp.ndarray, data: Any, model: SpectralModel):
    """Values (n,), gradients (n, n_p) and Hessians (n, n_p, n_p) of ``term_nll`` per term."""
    def one(t, d):
        return term_nll(t[None], jax.tree.map(lambda x: x[None], d), model)[0]

    def gradient_and_value(t, d):
        value, grad = jax.value_and_grad(one)(t, d)
        return grad, (value, grad)

    hess, (values, grads) = jax.vmap(jax.jacfwd(gradient_and_value, has_aux=True))(theta, data)
    return values, grads, hess


def compressed_term_derivatives(theta: jnp.ndarray, moments: CellMoments, model: SpectralModel):
    """Value (n,), gradient (n, n_p) and Hessian (n, n_p, n_p) of every cell's term."""
    return _derivatives(compressed_term_nll, theta, moments, model)


def pixel_term_derivatives(theta: jnp.ndarray, data: PixelData, model: SpectralModel):
    """Value (n,), gradient (n, n_p) and Hessian (n, n_p, n_p) of every pixel's term."""
    return _derivatives(pixel_term_nll, theta, data, model)


def cmb_weights(theta: jnp.ndarray, model: SpectralModel, n_inv: jnp.ndarray | None = None) -> jnp.ndarray:
    """The CMB row of the reconstruction operator :math:`M^{-1} A^T N^{-1}` per term (n, n_freq):
    the recovered CMB of a pixel is ``weights @ d_p``, uK_CMB; ``n_inv`` (n, f): each term's N^-1."""
    columns = term_columns(theta, model)
    p = _cholesky_inverse(noise_products(columns, model, n_inv))
    return sum(p[0][c][:, None] * columns[c] for c in range(len(columns))) * (
        model.inv_noise_var if n_inv is None else n_inv)
