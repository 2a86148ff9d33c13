"""Joint cells of the fitted parameters' patch partitions, and the padded size classes that bound
recompilation.

A joint cell is the set of pixels sharing one patch of every fitted parameter (for the default
model the triple (patch_beta_dust, patch_temp_dust, patch_beta_synch)); all its pixels share the
mixing matrix. Host-side numpy, no JAX.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class JointCells(NamedTuple):
    """``cell_index`` (n_pix,): cell of each pixel; ``cell_patches`` (n_p, n_cells_padded): the patch
    triple of each cell, padding cells pointing at patch 0; ``n_cells``: cells actually present."""

    cell_index: np.ndarray
    cell_patches: np.ndarray
    n_cells: int


def size_class(n: int, minimum: int = 1) -> int:
    """Smallest value >= n of the form 2^k or 3*2^(k-1) (at most 1.5x padding, few distinct sizes)."""
    n = max(int(n), minimum, 1)
    p = 1 << (n - 1).bit_length()  # next power of two >= n
    three_quarters = 3 * p // 4
    return three_quarters if three_quarters >= n and p >= 4 else p


def joint_cells(patch_indices: np.ndarray, pad_to: int | None = None) -> JointCells:
    """Joint cells of ``patch_indices`` (n_p, n_pix) int, in order of first appearance."""
    patch_indices = np.asarray(patch_indices, dtype=np.int64)
    triples, first, inverse = np.unique(patch_indices.T, axis=0, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    n_cells = order.size
    padded = n_cells if pad_to is None else max(pad_to, n_cells)
    cell_patches = np.zeros((patch_indices.shape[0], padded), dtype=np.int64)
    cell_patches[:, :n_cells] = triples[order].T
    return JointCells(rank[inverse.reshape(-1)], cell_patches, n_cells)
