r"""The exact Hessian of the spectral NLL from per-cell n_p x n_p blocks (n_p fitted parameters), and the Newton linear solves.

The NLL is a sum over joint cells J (or pixels) of terms :math:`f_J(\theta_J)` that each depend on
:math:`n_p` entries of the flat parameter vector :math:`x` (packing.py): the cell's patch value of
each fitted parameter, at flat indices ``index[:, J]``. So

.. math:: g = \sum_J P_J^T \nabla f_J, \qquad H = \sum_J P_J^T \nabla^2 f_J\, P_J,

a scatter-add of one :math:`n_p`-vector and one :math:`n_p \times n_p` block per cell. No cell
holds two patches of one parameter, so within a family H is diagonal, whatever the number of
families. Writing the families in the order (e, s), with e the *eliminated* family (the largest)
and s the :math:`n_p - 1` others (the *small* families),

.. math:: H = \begin{pmatrix} D_e & C \\ C^T & H_{ss} \end{pmatrix},

with :math:`D_e` diagonal and :math:`C` holding one entry per cell and small family; the small
families' own blocks of :math:`H_{ss}` are diagonal too, and their couplings have one entry per
cell and pair of small families. The damped
Newton system :math:`(H - \mathrm{diag}\,H_{ii} + (1 + \lambda)\,\mathrm{diag}|H_{ii}|)\,p = r` on the free entries
(entries at an active bound and padding entries are fixed: their row is the identity) is solved

- ``schur``: exactly, by eliminating :math:`p_e = D_e^{-1}(r_e - C p_s)` and solving the dense
  Schur complement :math:`S = H_{ss} - C^T D_e^{-1} C` (size m = the small families' patches,
  padded to a size class) by Cholesky. S is formed column by column from cell products, so memory per
  realization is O(cells + parameters + m^2);
- ``cg``: by Jacobi-preconditioned conjugate gradients on Hessian-vector products.

Both report whether the damped matrix was positive definite, so the caller can raise the damping.
Pure JAX; every array has a static shape.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

SCHUR_COLUMN_BATCH = 32  # Schur-complement columns formed at once (memory: batch x (cells + size))
CG_MAX_STEPS = 400
CG_RTOL = 1e-10  # relative residual of the CG solve


class HessianStructure(NamedTuple):
    """Sparsity of the Hessian on the flat vector (static shapes, built on the host by
    :func:`compsep_hpc.separation.evaluate.fit_problem`).

    ``order`` (n_p,): the eliminated family first, then the small families (indices in the
    model's fitted order); ``small_position`` (n_p - 1, n_cells): each cell's small-family entries
    as rows of the dense block; ``small_flat`` (m,): flat index of each dense-block row (rows past the
    small families hold the vector size and are dropped); ``fixed`` (size,): padding entries,
    never free."""

    order: jnp.ndarray
    small_position: jnp.ndarray
    small_flat: jnp.ndarray
    fixed: jnp.ndarray


class CellBlocks(NamedTuple):
    """Per-cell Hessian blocks in elimination order: ``index`` (n_p, n) flat indices, ``hess``
    (n, n_p, n_p) with rows and columns of non-free entries zeroed."""

    index: jnp.ndarray
    hess: jnp.ndarray


def cell_blocks(cell_patches: jnp.ndarray, cell_hess: jnp.ndarray, order: jnp.ndarray,
                free: jnp.ndarray) -> CellBlocks:
    """Blocks of ``cell_hess`` (n, n_p, n_p) in the model's order, permuted to ``order`` and
    restricted to the ``free`` (size,) entries."""
    index = cell_patches[order]
    hess = cell_hess[:, order][:, :, order]
    keep = free[index].T.astype(hess.dtype)  # (n, n_p)
    return CellBlocks(index, hess * keep[:, :, None] * keep[:, None, :])


def diagonal(blocks: CellBlocks, size: int) -> jnp.ndarray:
    """Diagonal of H (size,): the scatter-add of the blocks' diagonals."""
    return jnp.zeros(size, blocks.hess.dtype).at[blocks.index].add(jnp.diagonal(blocks.hess, axis1=1, axis2=2).T)


def hessian_vector(blocks: CellBlocks, v: jnp.ndarray) -> jnp.ndarray:
    """H v for v (size,): per cell ``hess_J @ v[index_J]``, scatter-added."""
    products = jnp.einsum("nab,bn->an", blocks.hess, v[blocks.index])
    return jnp.zeros_like(v).at[blocks.index].add(products)


def damped_diagonal(diag: jnp.ndarray, free: jnp.ndarray, damping: jnp.ndarray) -> jnp.ndarray:
    """Diagonal of the damped system: ``|H_ii| (1 + damping)`` for free entries, 1 for fixed.

    A negative diagonal entry (a parameter along which f is locally concave, typical of a
    noise-dominated patch) enters with its absolute value, so the step along it still descends
    without raising the damping of every other parameter."""
    scale = jnp.where(jnp.abs(diag) > 0, jnp.abs(diag), 1.0)
    return jnp.where(free, scale * (1.0 + damping), 1.0)


def _coupling(blocks: CellBlocks, small_position: jnp.ndarray, v_small: jnp.ndarray, size: int) -> jnp.ndarray:
    """C v_s (size,): each cell's eliminated entry gets sum_k h_ek v[s_k] over its small entries."""
    h = blocks.hess
    contribution = jnp.zeros(h.shape[0], h.dtype)
    for k in range(small_position.shape[0]):
        contribution = contribution + h[:, 0, 1 + k] * v_small[small_position[k]]
    return jnp.zeros(size, h.dtype).at[blocks.index[0]].add(contribution)


def _coupling_transpose(blocks: CellBlocks, small_position: jnp.ndarray, u: jnp.ndarray, m: int) -> jnp.ndarray:
    """C^T u (m,) for u (size,) on the eliminated entries."""
    h, ue = blocks.hess, u[blocks.index[0]]
    out = jnp.zeros(m, h.dtype)
    for k in range(small_position.shape[0]):
        out = out.at[small_position[k]].add(h[:, 0, 1 + k] * ue)
    return out


class _Schur(NamedTuple):
    """The Schur complement ``matrix`` (m, m) of the eliminated family and what solves with it
    need: ``inv_e`` (size,) D_e^-1 on the eliminated entries (0 elsewhere), ``valid`` (m,) the
    dense block's real rows, ``in_small`` (size,) the small families' entries."""

    matrix: jnp.ndarray
    inv_e: jnp.ndarray
    valid: jnp.ndarray
    in_small: jnp.ndarray


def _schur_complement(blocks: CellBlocks, structure: HessianStructure, damped: jnp.ndarray) -> _Schur:
    """S = H_ss - C^T D_e^-1 C of the system whose diagonal is ``damped`` (size,)."""
    size, m = damped.shape[0], structure.small_flat.shape[0]
    pos = structure.small_position
    valid = structure.small_flat < size
    in_small = jnp.zeros(size, bool).at[structure.small_flat].set(True, mode="drop")
    inv_e = jnp.where(in_small, 0.0, 1.0 / damped)  # D_e^-1 on the eliminated entries, 0 elsewhere

    def column(e_s: jnp.ndarray) -> jnp.ndarray:
        return _coupling_transpose(blocks, pos, inv_e * _coupling(blocks, pos, e_s, size), m)

    eye = jnp.eye(m, dtype=damped.dtype)
    reduction = jax.lax.map(column, eye, batch_size=min(m, SCHUR_COLUMN_BATCH))
    h_ss = jnp.diag(jnp.where(valid, damped.at[structure.small_flat].get(mode="fill", fill_value=1.0), 1.0))
    for a in range(pos.shape[0]):
        for b in range(a + 1, pos.shape[0]):
            off = blocks.hess[:, 1 + a, 1 + b]
            h_ss = h_ss.at[pos[a], pos[b]].add(off).at[pos[b], pos[a]].add(off)
    return _Schur(h_ss - reduction, inv_e, valid, in_small)


def schur_solve(blocks: CellBlocks, structure: HessianStructure, damped: jnp.ndarray,
                rhs: jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray]:
    """Solve the damped system exactly through the Schur complement of the eliminated family.

    ``damped`` (size,) is :func:`damped_diagonal`; ``rhs`` (size,) is zero on fixed entries.
    Returns ``(p, positive_definite)``."""
    size, m = damped.shape[0], structure.small_flat.shape[0]
    pos = structure.small_position
    schur, inv_e, valid, in_small = _schur_complement(blocks, structure, damped)
    rhs_s = jnp.where(valid, rhs.at[structure.small_flat].get(mode="fill", fill_value=0.0), 0.0)
    rhs_s = rhs_s - _coupling_transpose(blocks, pos, inv_e * rhs, m)
    factor = jnp.linalg.cholesky(schur)
    p_small = jax.scipy.linalg.cho_solve((factor, True), rhs_s)
    p = inv_e * (rhs - _coupling(blocks, pos, p_small, size))
    p = p.at[structure.small_flat].add(p_small, mode="drop")
    eliminated_ok = jnp.all(jnp.where(in_small, True, damped > 0))
    return p, eliminated_ok & jnp.all(jnp.isfinite(p))


def inverse_diagonal(blocks: CellBlocks, structure: HessianStructure, diag: jnp.ndarray) -> jnp.ndarray:
    r"""diag(H^-1) (size,) of the Hessian whose diagonal is ``diag`` (size,; 1 on the entries the
    blocks leave out, which come back as 1), ``structure`` with its dense block
    (``dense_block=True``). With :math:`S = H_{ss} - C^T D_e^{-1} C`: :math:`(H^{-1})_{ss} = S^{-1}`
    and :math:`(H^{-1})_{ii} = 1/d_i + c_i^T S^{-1} c_i / d_i^2` for an eliminated entry i, c_i its
    row of C. NaN where H is not positive definite."""
    size, m = diag.shape[0], structure.small_flat.shape[0]
    schur, inv_e, valid, _ = _schur_complement(blocks, structure, diag)
    factor = jnp.linalg.cholesky(schur)
    s_inv = jax.scipy.linalg.cho_solve((factor, True), jnp.eye(m, dtype=diag.dtype))
    coupling = jnp.zeros((size, m), diag.dtype)
    for k in range(structure.small_position.shape[0]):
        coupling = coupling.at[blocks.index[0], structure.small_position[k]].add(blocks.hess[:, 0, 1 + k])
    out = inv_e + inv_e**2 * jnp.sum(coupling * (coupling @ s_inv), axis=1)
    out = out.at[structure.small_flat].set(jnp.where(valid, jnp.diagonal(s_inv), 1.0), mode="drop")
    positive = jnp.all(jnp.isfinite(factor)) & jnp.all(diag > 0)
    return jnp.where(positive, out, jnp.nan)


def cg_solve(blocks: CellBlocks, damped: jnp.ndarray, rhs: jnp.ndarray,
             free: jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray]:
    """Solve the damped system by Jacobi-preconditioned CG on Hessian-vector products, to a
    relative residual ``CG_RTOL`` or ``CG_MAX_STEPS`` steps. Returns ``(p, positive_definite)``;
    a direction of non-positive curvature met on the way reports False."""
    extra = damped - jnp.where(free, diagonal(blocks, damped.shape[0]), 0.0)  # damping, and 1 on fixed

    def matvec(v):
        return hessian_vector(blocks, v) + extra * v

    inv_m = 1.0 / jnp.where(damped > 0, damped, 1.0)
    target = (CG_RTOL * jnp.linalg.norm(rhs)) ** 2

    def cond(c):
        _, r, _, _, rr, k, ok = c
        return (k < CG_MAX_STEPS) & (jnp.sum(r * r) > target) & ok

    def body(c):
        p, r, z, d, rz, k, ok = c
        ad = matvec(d)
        curvature = d @ ad
        ok = ok & (curvature > 0)
        alpha = jnp.where(ok, rz / curvature, 0.0)
        p, r = p + alpha * d, r - alpha * ad
        z = inv_m * r
        rz_new = r @ z
        d = z + (rz_new / rz) * d
        return p, r, z, d, rz_new, k + 1, ok

    z0 = inv_m * rhs
    init = (jnp.zeros_like(rhs), rhs, z0, z0, rhs @ z0, jnp.asarray(0), jnp.all(damped > 0))
    p, *_, ok = jax.lax.while_loop(cond, body, init)
    return p, ok & jnp.all(jnp.isfinite(p))
