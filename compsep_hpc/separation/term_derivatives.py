r"""Exact value, gradient and 3x3 Hessian of every NLL term (joint cell or pixel) in its own
parameters :math:`\theta = (\beta_d, T_d, \beta_s)`: the input of the Newton fit.

Each term is :math:`F(q) = -\mathrm{tr}[M^{-1} E]` (likelihood.py), a rational function of twelve
scalars: the entries of :math:`M = A^T N^{-1} A` and of :math:`E = A^T W A`, with
:math:`A = (1, a, b)` the CMB, dust and synchrotron columns and

- compressed form: :math:`W = W_J = \sum_{p \in J} \sum_{Q,U} N^{-1} d_p d_p^T N^{-1}` (dense f x f);
- per-pixel form: :math:`W = \sum_{Q,U} u u^T`, :math:`u = N^{-1} d_p` (rank two).

Every entry is a bilinear form :math:`x^T K y` of the columns, K = N^-1 or W. The columns'
derivatives are elementwise: :math:`\partial_{\beta_d} a = a \ln(\nu/\nu_d)`,
:math:`\partial_{T_d} a = a\,\partial_T \ln t(\nu, T)` with t the temperature factor (its first and
second derivatives by forward-mode JAX), :math:`\partial_{\beta_s} b = b \ln(\nu/\nu_s)`. So the
entries' gradients and Hessians are

.. math:: \partial_i (x^T K y) = x_i^T K y + x^T K y_i, \quad
          \partial_{ij} (x^T K y) = x_{ij}^T K y + x_i^T K y_j + x_j^T K y_i + x^T K y_{ij},

from K applied to the columns and their first derivatives (4 vectors per column), and the chain
rule through F, whose gradient and Hessian in q JAX computes per term (vmapped):
:math:`H = \sum_k F_k\, \partial^2 q_k + \sum_{kl} F_{kl}\, \partial q_k\, \partial q_l^T`.
This costs a few W products per term, against the ~10x overhead of differentiating the whole
term graph (measured in the Newton fit's benchmark notes). Pure JAX; shapes (n, ...) per term.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

from compsep_hpc.separation.likelihood import CellMoments, PixelData, SpectralModel, _symmetric_adjugate
from compsep_hpc.model.sed import dust_index_factor, dust_temperature_factor, synch_sed


class Columns(NamedTuple):
    """Dust column a and synchrotron column b of every term, (n, f) each, with their non-zero
    derivatives: ``a0`` = da/dbeta_d, ``a1`` = da/dT_d, ``a00``, ``a01``, ``a11`` the second
    ones; ``b2`` = db/dbeta_s and ``b22``. (b does not depend on the dust parameters, nor a on
    beta_s.)"""

    a: jnp.ndarray
    a0: jnp.ndarray
    a1: jnp.ndarray
    a00: jnp.ndarray
    a01: jnp.ndarray
    a11: jnp.ndarray
    b: jnp.ndarray
    b2: jnp.ndarray
    b22: jnp.ndarray


def columns_with_derivatives(theta: jnp.ndarray, model: SpectralModel) -> Columns:
    """The columns of every term and their exact first and second derivatives in theta (n, 3)."""
    nu = model.frequencies
    beta_dust, temp_dust, beta_synch = theta[:, 0:1], theta[:, 1:2], theta[:, 2:3]
    log_t = lambda t: jnp.log(dust_temperature_factor(nu, t, model.nu_dust))  # noqa: E731
    d_log_t = lambda t: jax.jvp(log_t, (t,), (jnp.ones_like(t),))[1]  # noqa: E731
    tau1, tau2 = jax.jvp(d_log_t, (temp_dust,), (jnp.ones_like(temp_dust),))
    a = dust_index_factor(nu, beta_dust, model.nu_dust) * dust_temperature_factor(nu, temp_dust, model.nu_dust)
    b = synch_sed(nu, beta_synch, model.nu_synch)
    log_d, log_s = jnp.log(nu / model.nu_dust), jnp.log(nu / model.nu_synch)
    return Columns(a, a * log_d, a * tau1, a * log_d**2, a * log_d * tau1, a * (tau1**2 + tau2),
                   b, b * log_s, b * log_s**2)


def _dot(x: jnp.ndarray, y: jnp.ndarray) -> jnp.ndarray:
    return jnp.sum(x * y, axis=-1)


def _entries(c: Columns, n_inv: jnp.ndarray, w_one: jnp.ndarray, wa: tuple, wb: tuple):
    """Values (10, n), gradients (10, 3, n) and Hessians (10, 3, 3, n) of the ten theta-dependent
    entries (m01, m02, m11, m12, m22, e01, e02, e11, e12, e22). ``wa`` = (W a, W a0, W a1) and
    ``wb`` = (W b, W b2). Slots that vanish identically are zero."""
    n = c.a.shape[0]
    zero = jnp.zeros(n, c.a.dtype)
    na, na0, na1, nb, nb2 = (v * n_inv for v in (c.a, c.a0, c.a1, c.b, c.b2))

    def dust_linear(u):  # u . a
        return _dot(u, c.a), (_dot(u, c.a0), _dot(u, c.a1), zero), {(0, 0): _dot(u, c.a00), (0, 1): _dot(u, c.a01),
                                                                     (1, 1): _dot(u, c.a11)}

    def synch_linear(u):  # u . b
        return _dot(u, c.b), (zero, zero, _dot(u, c.b2)), {(2, 2): _dot(u, c.b22)}

    def dust_dust(k):  # a^T K a with k = (K a, K a0, K a1)
        return _dot(c.a, k[0]), (2 * _dot(c.a0, k[0]), 2 * _dot(c.a1, k[0]), zero), {
            (0, 0): 2 * (_dot(c.a00, k[0]) + _dot(c.a0, k[1])), (0, 1): 2 * (_dot(c.a01, k[0]) + _dot(c.a0, k[2])),
            (1, 1): 2 * (_dot(c.a11, k[0]) + _dot(c.a1, k[2]))}

    def dust_synch(ka, kb):  # a^T K b with ka = (K a, K a0, K a1), kb = (K b, K b2)
        return _dot(c.a, kb[0]), (_dot(c.a0, kb[0]), _dot(c.a1, kb[0]), _dot(c.b2, ka[0])), {
            (0, 0): _dot(c.a00, kb[0]), (0, 1): _dot(c.a01, kb[0]), (1, 1): _dot(c.a11, kb[0]),
            (0, 2): _dot(c.a0, kb[1]), (1, 2): _dot(c.a1, kb[1]), (2, 2): _dot(c.b22, ka[0])}

    def synch_synch(k):  # b^T K b with k = (K b, K b2)
        return _dot(c.b, k[0]), (zero, zero, 2 * _dot(c.b2, k[0])), {(2, 2): 2 * (_dot(c.b22, k[0]) + _dot(c.b2, k[1]))}

    parts = [dust_linear(n_inv), synch_linear(n_inv), dust_dust((na, na0, na1)), dust_synch((na, na0, na1), (nb, nb2)),
             synch_synch((nb, nb2)), dust_linear(w_one), synch_linear(w_one), dust_dust(wa), dust_synch(wa, wb),
             synch_synch(wb)]
    values = jnp.stack([p[0] for p in parts])
    grads = jnp.stack([jnp.stack(p[1]) for p in parts])
    hess = jnp.stack([jnp.stack([jnp.stack([slots.get((min(i, j), max(i, j)), zero) for j in range(3)])
                                 for i in range(3)]) for _, _, slots in parts])
    return values, grads, hess


def _symmetric(entries: list) -> jnp.ndarray:
    """(3, 3, ...) symmetric matrices from their upper triangle (00, 01, 02, 11, 12, 22)."""
    e00, e01, e02, e11, e12, e22 = entries
    return jnp.stack([jnp.stack([e00, e01, e02]), jnp.stack([e01, e11, e12]), jnp.stack([e02, e12, e22])])


def _matmul(a: jnp.ndarray, b: jnp.ndarray) -> jnp.ndarray:
    """Product of (3, 3, ...) matrices, elementwise over the trailing axes."""
    return jnp.sum(a[:, :, None] * b[None], axis=1)


def _trace_products(a: jnp.ndarray, b: jnp.ndarray) -> jnp.ndarray:
    """tr(a_i b_j) for (3, 3, 3 [i], n) and (3, 3, 3 [j], n): (3, 3, n)."""
    return jnp.sum(a[:, :, :, None] * jnp.swapaxes(b, 0, 1)[:, :, None, :], axis=(0, 1))


def _chain(q, q_grad, q_hess, m00, e00):
    r"""Values (n,), gradients (n, 3) and Hessians (n, 3, 3) of :math:`F = -\mathrm{tr}(P E)`,
    :math:`P = M^{-1}`, from the entries' derivatives :math:`M_i, E_i, M_{ij}, E_{ij}`:

    .. math:: F_i = \mathrm{tr}(M_i G) - \mathrm{tr}(P E_i), \quad G = P E P,

    .. math:: F_{ij} = \mathrm{tr}(M_{ij} G) - \mathrm{tr}(P E_{ij}) - 2\,\mathrm{tr}(M_i P M_j G)
              + \mathrm{tr}(M_i P E_j P) + \mathrm{tr}(M_j P E_i P).
    """
    zero = jnp.zeros_like(q_grad[0])
    zero2 = jnp.zeros_like(q_hess[0])
    m = _symmetric([m00, *q[:5]])
    e = _symmetric([e00, *q[5:]])
    m_i, e_i = _symmetric([zero, *q_grad[:5]]), _symmetric([zero, *q_grad[5:]])  # (3, 3, 3 [i], n)
    m_ij, e_ij = _symmetric([zero2, *q_hess[:5]]), _symmetric([zero2, *q_hess[5:]])  # (3, 3, 3, 3, n)
    adj, det = _symmetric_adjugate(*(m[a, b] for a, b in ((0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2))))
    p = _symmetric(list(adj)) / det
    g = _matmul(_matmul(p, e), p)
    values = -jnp.sum(p * e, axis=(0, 1))
    grad = jnp.sum(m_i * g[:, :, None] - e_i * p[:, :, None], axis=(0, 1))  # (3, n)
    x_i = _matmul(m_i, p[:, :, None])
    cross = _trace_products(x_i, _matmul(e_i, p[:, :, None]))
    hess = (jnp.sum(m_ij * g[:, :, None, None] - e_ij * p[:, :, None, None], axis=(0, 1))
            - 2 * _trace_products(x_i, _matmul(m_i, g[:, :, None])) + cross + jnp.swapaxes(cross, 0, 1))
    return values, grad.T, jnp.moveaxis(hess, -1, 0)


def _term_derivatives(theta: jnp.ndarray, apply_w: Callable, w_one: jnp.ndarray, e00: jnp.ndarray,
                      model: SpectralModel, n_inv: jnp.ndarray | None = None):
    """Shared by both forms: ``apply_w`` maps (n, k, f) vectors to W (n, k, f); ``n_inv`` (n, f):
    each term's N^-1 (None: the model's, the same for every term)."""
    c = columns_with_derivatives(theta, model)
    wa = apply_w(jnp.stack([c.a, c.a0, c.a1, c.b, c.b2], axis=1))
    noise = model.inv_noise_var if n_inv is None else n_inv
    q, q_grad, q_hess = _entries(c, noise, w_one, (wa[:, 0], wa[:, 1], wa[:, 2]), (wa[:, 3], wa[:, 4]))
    m00 = jnp.full_like(e00, jnp.sum(model.inv_noise_var)) if n_inv is None else jnp.sum(n_inv, -1)
    return _chain(q, q_grad, q_hess, m00, e00)


def compressed_term_derivatives(theta: jnp.ndarray, moments: CellMoments, model: SpectralModel):
    """Value (n,), gradient (n, 3) and Hessian (n, 3, 3) of every cell's compressed term."""
    def apply_w(x):  # (n, k, f) -> W_J x, elementwise products (no batched tiny matmuls)
        return jnp.sum(moments.w[:, None] * x[:, :, None, :], axis=-1)

    return _term_derivatives(theta, apply_w, moments.w_one, moments.one_w_one, model)


def pixel_term_derivatives(theta: jnp.ndarray, data: PixelData, model: SpectralModel):
    """Value (n,), gradient (n, 3) and Hessian (n, 3, 3) of every pixel's term (each pixel's own
    N^-1 when ``data.n_inv`` holds it)."""
    u = data.d * (model.inv_noise_var[None, :, None] if data.n_inv is None else data.n_inv[:, :, None])  # N^-1 d

    def apply_w(x):  # (n, k, f) -> sum_s u_s (u_s . x)
        projection = jnp.sum(u[:, None] * x[..., None], axis=2)  # (n, k, 2)
        return jnp.sum(u[:, None] * projection[:, :, None, :], axis=-1)

    w_one = jnp.sum(u * data.n_inv_d[:, None, :], axis=-1)
    return _term_derivatives(theta, apply_w, w_one, jnp.sum(data.n_inv_d**2, axis=-1), model, data.n_inv)
