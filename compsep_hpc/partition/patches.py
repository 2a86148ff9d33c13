"""Sky patches inside one region: a label per region pixel, 0..K_eff-1.

Two strategies. ``kmeans``: spherical K-means of the pixel centres (jax-healpy), seeded.
``multires``: the HEALPix pixels of a lower nside that contain each pixel (nside 0 = one patch).

Labels are int64, one per entry of the region's ``pixels`` array (same order), renumbered to
be contiguous in order of first appearance. K-means may leave clusters empty (a centroid that
attracts no pixel), so the effective count K_eff = count_patches(labels) can be below the K
asked for; callers should record K_eff next to K.

K-means runs on the CPU device whatever the default device is: the labels then do not depend
on which accelerator (or none) a rank has, and every MPI rank computes the same patches.
"""

from __future__ import annotations

import hashlib
from collections.abc import Hashable

import healpy as hp
import jax
import numpy as np
from jax_healpy.clustering import find_kmeans_clusters

from compsep_hpc.config_fields import check_nside
from compsep_hpc.errors import ConfigError

STRATEGIES: tuple[str, ...] = ("kmeans", "multires")


def renumber_labels(labels: np.ndarray) -> np.ndarray:
    """Map arbitrary integer labels to 0..K_eff-1 in order of first appearance (int64)."""
    labels = np.asarray(labels)
    if labels.size == 0:
        return np.zeros(0, dtype=np.int64)
    uniq, first, inverse = np.unique(labels, return_index=True, return_inverse=True)
    rank = np.empty(uniq.size, dtype=np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(uniq.size)
    return rank[inverse.reshape(-1)].reshape(labels.shape)


def count_patches(labels: np.ndarray) -> int:
    """Number of distinct patches (non-empty clusters) in a label array."""
    return int(np.unique(np.asarray(labels)).size)


def _check_pixels(pixels: np.ndarray, nside: int) -> np.ndarray:
    check_nside(nside)
    pixels = np.asarray(pixels)
    if pixels.ndim != 1 or (pixels.size and not np.issubdtype(pixels.dtype, np.integer)):
        raise ConfigError("pixels must be a 1-d array of integer HEALPix indices")
    pixels = pixels.astype(np.int64)
    if pixels.size and (pixels.min() < 0 or pixels.max() >= 12 * nside**2):
        raise ConfigError(f"pixel indices out of range for nside {nside}")
    return pixels


def _sample_size(n_pix: int, k: int) -> int | None:
    """Largest initial_sample_size in (3, 2, 1) that jax-healpy's kmeans_sample accepts.

    kmeans_sample draws int(max(2*sqrt(N), s*K)) distinct pixels and needs that to be <= N.
    """
    for s in (3, 2, 1):
        if int(max(2 * np.sqrt(n_pix), s * k)) <= n_pix:
            return s
    return None


def kmeans_patches(pixels: np.ndarray, nside: int, n_patches: int, seed: int,
                   *, name: str = "K") -> np.ndarray:
    """Spherical K-means patches of the pixel centres: int64 labels, one per entry of ``pixels``.

    ``pixels``: distinct RING indices at ``nside``; ``n_patches``: K >= 1; ``seed``: the JAX
    PRNG seed (same inputs -> same labels). K == 1 gives all zeros and K == N one patch per
    pixel, both without K-means. jax-healpy's initial sample of 3*K pixels is shrunk to 2*K or
    K when the region is too small for it. Labels are renumbered in order of first appearance;
    empty clusters make K_eff < K. ``name`` only labels the error message (e.g. "K_beta_dust").
    Raises ConfigError when K exceeds the number of pixels (never clipped) or K < 1.
    """
    pixels = _check_pixels(pixels, nside)
    n = pixels.size
    if isinstance(n_patches, bool) or not isinstance(n_patches, (int, np.integer)) or n_patches < 1:
        raise ConfigError(f"{name} must be a positive integer, got {n_patches!r}")
    k = int(n_patches)
    if k > n:
        raise ConfigError(f"{name} = {k} exceeds the region's {n} pixels")
    if np.unique(pixels).size != n:
        raise ConfigError("pixels must be distinct")
    if k == 1:
        return np.zeros(n, dtype=np.int64)
    if k == n:
        return np.arange(n, dtype=np.int64)
    sample = _sample_size(n, k)
    if sample is None:  # N < 4: too few pixels for jax-healpy's sampler; nearest of K seeds
        vec = np.stack(hp.pix2vec(nside, pixels), axis=-1)
        centres = np.random.default_rng(seed).choice(n, size=k, replace=False)
        return renumber_labels(np.argmax(vec @ vec[centres].T, axis=1))
    cpu = jax.devices("cpu")[0]
    with jax.default_device(cpu):
        full = find_kmeans_clusters(np.zeros(12 * nside**2), pixels, k, jax.random.PRNGKey(seed),
                                    initial_sample_size=sample)
        raw = np.asarray(full)[pixels]
    return renumber_labels(np.rint(raw).astype(np.int64))


def multires_patches(pixels: np.ndarray, nside: int, patch_nside: int) -> np.ndarray:
    """Patches = the HEALPix pixels at ``patch_nside`` that contain each pixel (int64 labels).

    ``patch_nside``: 0 (one patch) or a power of two <= ``nside``. The parent of RING pixel p
    is ring2nest(nside, p) // (nside/patch_nside)**2 in NESTED ordering. Labels are renumbered
    in order of first appearance.
    """
    pixels = _check_pixels(pixels, nside)
    if isinstance(patch_nside, bool) or not isinstance(patch_nside, (int, np.integer)) \
            or patch_nside < 0 or patch_nside & (patch_nside - 1) or patch_nside > nside:
        raise ConfigError(f"patch nside must be 0 or a power of two <= {nside}, "
                          f"got {patch_nside!r}")
    if patch_nside == 0:
        return np.zeros(pixels.size, dtype=np.int64)
    parent = hp.ring2nest(nside, pixels).astype(np.int64) // (nside // int(patch_nside)) ** 2
    return renumber_labels(parent)


def _digest(pixels: np.ndarray) -> str:
    return hashlib.sha1(np.ascontiguousarray(pixels, dtype=np.int64).tobytes()).hexdigest()


class PatchCache:
    """Memoized patch labels per (region name, strategy, K or patch nside, seed).

    ``cache = PatchCache(nside, seed, strategy="kmeans")``; ``cache.labels(region, pixels, k)``
    computes the labels once and returns the same read-only array on later calls. A region
    name must always come with the same pixels (checked by hash; ValueError otherwise).
    """

    def __init__(self, nside: int, seed: int = 0, strategy: str = "kmeans") -> None:
        if strategy not in STRATEGIES:
            raise ConfigError(f"patch strategy must be one of {', '.join(STRATEGIES)}, "
                              f"got {strategy!r}")
        self.nside = int(nside)
        self.seed = int(seed)
        self.strategy = strategy
        self._labels: dict[tuple[Hashable, ...], np.ndarray] = {}
        self._pixel_digest: dict[str, str] = {}

    def __len__(self) -> int:
        return len(self._labels)

    def labels(self, region: str, pixels: np.ndarray, k: int) -> np.ndarray:
        """Labels of ``region``'s ``pixels``: K patches (kmeans) or patch nside ``k`` (multires)."""
        digest = _digest(pixels)
        known = self._pixel_digest.setdefault(region, digest)
        if known != digest:
            raise ValueError(f"region {region!r} given different pixels than before")
        key = (region, self.strategy, int(k), self.seed)
        if key not in self._labels:
            if self.strategy == "kmeans":
                out = kmeans_patches(pixels, self.nside, int(k), self.seed)
            else:
                out = multires_patches(pixels, self.nside, int(k))
            out.setflags(write=False)
            self._labels[key] = out
        return self._labels[key]
