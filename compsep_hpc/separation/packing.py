r"""One flat parameter vector for the fitted spectral parameters, padded to one size class.

The fit of a configuration with patch counts (K_1, ..., K_{n_p}) of the model's fitted parameters
(model order, e.g. beta_dust, temp_dust, beta_synch) optimises one vector

.. math:: x = (\theta_{1,1..K_1},\ \dots,\ \theta_{n_p,1..K_{n_p}},\ \text{padding})

of length ``size_class(sum K)``. Jitted fits are compiled per array shape, so a grid compiles once
per (size class of the total, size class of the joint cells) instead of once per combination of
per-parameter size classes (396 combinations on the paper-scale three-parameter grid against 12
totals). Patch indices are shifted by each parameter's offset in ``x``.

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


class PackedLayout(NamedTuple):
    """Where each parameter sits in the flat vector: ``offsets[i]`` and ``counts[i]`` for the
    fitted parameters in model order; ``family`` (size,) is the parameter index of every entry
    (padding counts as parameter 0)."""

    offsets: tuple[int, ...]
    counts: tuple[int, ...]
    family: np.ndarray

    @property
    def size(self) -> int:
        return int(self.family.size)


def packed_layout(n_patches: tuple[int, ...]) -> PackedLayout:
    """Layout of the flat vector for the patch counts ``n_patches`` of the fitted parameters."""
    counts = tuple(int(k) for k in n_patches)
    offsets = tuple(int(o) for o in np.concatenate([[0], np.cumsum(counts)[:-1]]))
    family = np.zeros(size_class(sum(counts)), dtype=np.int32)
    for i, (off, k) in enumerate(zip(offsets, counts)):
        family[off:off + k] = i
    return PackedLayout(offsets, counts, family)


def shift_patches(patches: np.ndarray, layout: PackedLayout) -> np.ndarray:
    """Patch indices ``(n_p, n)`` per parameter -> indices into the flat vector."""
    return np.asarray(patches, dtype=np.int64) + np.asarray(layout.offsets, dtype=np.int64)[:, None]


def per_entry(values: dict[str, float], layout: PackedLayout, names: tuple[str, ...]) -> np.ndarray:
    """A per-parameter scalar (start value, bound) repeated over the entries of the flat vector;
    ``names`` are the fitted parameters in layout order."""
    return np.asarray([values[p] for p in names], dtype=np.float64)[layout.family]


def unpack(x: jnp.ndarray, family: jnp.ndarray, fill: jnp.ndarray, names: tuple[str, ...]) -> dict:
    """The likelihood's params dict from flat ``x`` (..., size): entry ``p`` is ``x`` where
    ``family == index of p`` and ``fill[index of p]`` (a finite in-bounds value) elsewhere."""
    return {p: jnp.where(family == i, x, fill[i]) for i, p in enumerate(names)}


def split(x: np.ndarray, layout: PackedLayout, names: tuple[str, ...]) -> dict[str, np.ndarray]:
    """The fitted values of each parameter from flat ``x`` (..., size), padding dropped."""
    x = np.asarray(x)
    return {p: x[..., off:off + k] for p, off, k in zip(names, layout.offsets, layout.counts)}


def pack(values: dict[str, np.ndarray], start: np.ndarray, layout: PackedLayout, names: tuple[str, ...]) -> np.ndarray:
    """The flat vector of the per-parameter ``values`` (the inverse of :func:`split`), the padding
    entries those of ``start`` (size,)."""
    x = np.array(start, dtype=np.float64)
    for p, off, k in zip(names, layout.offsets, layout.counts):
        x[off:off + k] = values[p]
    return x


def hessian_structure(cell_patches: np.ndarray, layout: PackedLayout, dense_block: bool = True) -> HessianStructure:
    """The Hessian's sparsity for the Newton fit, from the cells' unshifted patch indices
    ``cell_patches`` (n_p, n_cells): the family with most patches is eliminated (ties: the first),
    the others form the dense Schur block, padded to ``size_class`` of their total. Without
    ``dense_block`` (the CG solve) the block has one unused row, so its size adds no compilation.
    A one-parameter model has no small family: its Hessian is diagonal."""
    counts = layout.counts
    eliminated = int(np.argmax(counts))
    small = [i for i in range(len(counts)) if i != eliminated]
    n_small = sum(counts[i] for i in small)
    small_flat = np.full(size_class(n_small) if dense_block else 1, layout.size, dtype=np.int64)
    if dense_block and small:
        small_flat[:n_small] = np.concatenate([layout.offsets[i] + np.arange(counts[i]) for i in small])
    cell_patches = np.asarray(cell_patches, dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum([counts[i] for i in small])]).astype(np.int64)
    small_position = np.stack([starts[k] + cell_patches[i] for k, i in enumerate(small)]) if small \
        else np.zeros((0, cell_patches.shape[1]), dtype=np.int64)
    fixed = np.arange(layout.size) >= sum(counts)
    return HessianStructure(np.asarray([eliminated, *small], dtype=np.int64), small_position, small_flat, fixed)
