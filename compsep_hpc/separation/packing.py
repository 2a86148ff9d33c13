r"""One flat parameter vector for the three spectral parameters, padded to one size class.

The fit of a configuration with patch counts (K_bd, K_Td, K_bs) optimises one vector

.. math:: x = (\beta_{d,1..K_{bd}},\ T_{d,1..K_{Td}},\ \beta_{s,1..K_{bs}},\ \text{padding})

of length ``size_class(K_bd + K_Td + K_bs)``. Jitted fits are compiled per array shape, so a grid
compiles once per (size class of the total, size class of the joint cells) instead of once per
combination of three per-parameter size classes (396 combinations on the paper-scale grid against
12 totals). Patch indices are shifted by each parameter's offset in ``x``.

:func:`unpack` turns ``x`` back into the dict the likelihood takes, each entry the whole vector
with the other parameters' entries replaced by a fixed in-bounds value, so every SED is evaluated
on finite, physical inputs and the gradient reaches only the parameter's own entries. Padding
entries belong to no cell: their gradient is zero and they never move.
"""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp
import numpy as np

from compsep_hpc.separation.cells import size_class
from compsep_hpc.separation.hessian import HessianStructure
from compsep_hpc.model.parameters import PARAMETERS


class PackedLayout(NamedTuple):
    """Where each parameter sits in the flat vector: ``offsets[i]`` and ``counts[i]`` for the
    parameters in PARAMETERS order; ``family`` (size,) is the parameter index of every entry
    (padding counts as parameter 0)."""

    offsets: tuple[int, int, int]
    counts: tuple[int, int, int]
    family: np.ndarray

    @property
    def size(self) -> int:
        return int(self.family.size)


def packed_layout(n_patches: tuple[int, int, int]) -> PackedLayout:
    """Layout of the flat vector for patch counts ``n_patches`` (K_bd, K_Td, K_bs)."""
    counts = tuple(int(k) for k in n_patches)
    offsets = (0, counts[0], counts[0] + counts[1])
    family = np.zeros(size_class(sum(counts)), dtype=np.int32)
    for i, (off, k) in enumerate(zip(offsets, counts)):
        family[off:off + k] = i
    return PackedLayout(offsets, counts, family)


def shift_patches(patches: np.ndarray, layout: PackedLayout) -> np.ndarray:
    """Patch indices ``(3, n)`` per parameter -> indices into the flat vector."""
    return np.asarray(patches, dtype=np.int64) + np.asarray(layout.offsets, dtype=np.int64)[:, None]


def per_entry(values: dict[str, float], layout: PackedLayout) -> np.ndarray:
    """A per-parameter scalar (start value, bound) repeated over the entries of the flat vector."""
    return np.asarray([values[p] for p in PARAMETERS], dtype=np.float64)[layout.family]


def unpack(x: jnp.ndarray, family: jnp.ndarray, fill: jnp.ndarray) -> dict:
    """The likelihood's params dict from flat ``x`` (..., size): entry ``p`` is ``x`` where
    ``family == index of p`` and ``fill[index of p]`` (a finite in-bounds value) elsewhere."""
    return {p: jnp.where(family == i, x, fill[i]) for i, p in enumerate(PARAMETERS)}


def split(x: np.ndarray, layout: PackedLayout) -> dict[str, np.ndarray]:
    """The fitted values of each parameter from flat ``x`` (..., size), padding dropped."""
    x = np.asarray(x)
    return {p: x[..., off:off + k] for p, off, k in zip(PARAMETERS, layout.offsets, layout.counts)}


def hessian_structure(cell_patches: np.ndarray, layout: PackedLayout, dense_block: bool = True) -> HessianStructure:
    """The Hessian's sparsity for the Newton fit, from the cells' unshifted patch indices
    ``cell_patches`` (3, n_cells): the family with most patches is eliminated (ties: the first),
    the two others form the dense Schur block, padded to ``size_class`` of their total. Without
    ``dense_block`` (the CG solve) the block has one unused row, so its size adds no compilation."""
    counts = layout.counts
    eliminated = int(np.argmax(counts))
    small = [i for i in range(3) if i != eliminated]
    n_small = counts[small[0]] + counts[small[1]]
    small_flat = np.full(size_class(n_small) if dense_block else 1, layout.size, dtype=np.int64)
    if dense_block:
        small_flat[:n_small] = np.concatenate([layout.offsets[i] + np.arange(counts[i]) for i in small])
    cell_patches = np.asarray(cell_patches, dtype=np.int64)
    small_position = np.stack([cell_patches[small[0]], counts[small[0]] + cell_patches[small[1]]])
    fixed = np.arange(layout.size) >= sum(counts)
    return HessianStructure(np.asarray([eliminated, *small], dtype=np.int64), small_position, small_flat, fixed)
