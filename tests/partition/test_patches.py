"""Patches: seeded spherical K-means and multi-resolution HEALPix patches, and their cache."""

from __future__ import annotations

from pathlib import Path

import healpy as hp
import numpy as np
import pytest

import compsep_hpc  # noqa: F401  (float64 JAX)
from compsep_hpc.partition import patches as patches_mod
from compsep_hpc.errors import ConfigError
from compsep_hpc.partition.patches import (
    PatchCache,
    count_patches,
    kmeans_patches,
    multires_patches,
    renumber_labels,
)
from compsep_hpc.partition.regions import region_pixels

NSIDE = 32


@pytest.fixture(scope="module")
def pixels() -> np.ndarray:
    """A GAL020_U-like region at nside 32 (~1200 pixels at high northern latitude)."""
    lat = hp.pix2ang(NSIDE, np.arange(12 * NSIDE**2), lonlat=True)[1]
    fg = 1.0 / (np.abs(np.sin(np.radians(lat))) + 0.05)
    fg += np.random.default_rng(3).uniform(0.0, 0.05, fg.size)
    return region_pixels("GAL020_U", NSIDE, foreground_intensity=fg)


@pytest.fixture(scope="module")
def labels20(pixels: np.ndarray) -> np.ndarray:
    return kmeans_patches(pixels, NSIDE, 20, seed=0)


def _first_occurrence_order(labels: np.ndarray) -> bool:
    """True when labels are 0..K-1 and label j first appears after label j-1."""
    running = np.maximum.accumulate(labels)
    return labels[0] == 0 and np.all(np.diff(running) <= 1) and np.all(labels <= running)


def _vectors(nside: int, pixels: np.ndarray) -> np.ndarray:
    return np.stack(hp.pix2vec(nside, pixels), axis=-1)


def test_kmeans_shape_range_and_numbering(pixels: np.ndarray, labels20: np.ndarray) -> None:
    assert labels20.shape == pixels.shape and labels20.dtype == np.int64
    k_eff = count_patches(labels20)
    assert 15 <= k_eff <= 20
    assert labels20.min() == 0 and labels20.max() == k_eff - 1
    assert _first_occurrence_order(labels20)


def test_kmeans_seeded(pixels: np.ndarray, labels20: np.ndarray) -> None:
    assert np.array_equal(kmeans_patches(pixels, NSIDE, 20, seed=0), labels20)
    other = kmeans_patches(pixels, NSIDE, 20, seed=1)
    assert not np.array_equal(other, labels20)


def test_kmeans_patches_compact(pixels: np.ndarray, labels20: np.ndarray) -> None:
    vec = _vectors(NSIDE, pixels)

    def mean_spread(labels: np.ndarray) -> float:
        spreads = []
        for j in np.unique(labels):
            v = vec[labels == j]
            c = v.mean(axis=0)
            c /= np.linalg.norm(c)
            spreads.append(np.arccos(np.clip(v @ c, -1, 1)).mean())
        return float(np.mean(spreads))

    rng = np.random.default_rng(0)
    sample = vec[rng.choice(len(vec), 300, replace=False)]
    extent = np.arccos(np.clip(sample @ sample.T, -1, 1)).mean()  # mean pairwise distance
    spread = mean_spread(labels20)
    assert spread < 0.25 * extent
    assert spread < 0.3 * mean_spread(rng.permutation(labels20))  # far tighter than random


def test_kmeans_errors_and_trivial_cases(pixels: np.ndarray) -> None:
    with pytest.raises(ConfigError, match=f"K_beta_dust = {pixels.size + 1} exceeds the region's "
                                          f"{pixels.size} pixels"):
        kmeans_patches(pixels, NSIDE, pixels.size + 1, 0, name="K_beta_dust")
    with pytest.raises(ConfigError, match="positive integer"):
        kmeans_patches(pixels, NSIDE, 0, 0)
    with pytest.raises(ConfigError, match="out of range"):
        kmeans_patches(np.array([0, 12 * NSIDE**2]), NSIDE, 1, 0)
    assert np.array_equal(kmeans_patches(pixels, NSIDE, 1, 5), np.zeros(pixels.size, np.int64))
    assert np.array_equal(kmeans_patches(pixels, NSIDE, pixels.size, 5), np.arange(pixels.size))


def test_kmeans_small_regions_lower_sample_size(pixels: np.ndarray) -> None:
    small = pixels[:50]
    for k in (20, 30):  # 3K > N: initial sample shrunk to 2K, then K
        assert patches_mod._sample_size(50, k) == (2 if k == 20 else 1)
        lab = kmeans_patches(small, NSIDE, k, 0)
        assert lab.shape == (50,) and 1 < count_patches(lab) <= k
        assert _first_occurrence_order(lab)
    tiny = kmeans_patches(pixels[:3], NSIDE, 2, 0)  # below jax-healpy's sampler minimum
    assert count_patches(tiny) == 2 and _first_occurrence_order(tiny)


def test_renumber_labels() -> None:
    assert renumber_labels(np.array([7, 7, 3, 9, 3, 7])).tolist() == [0, 0, 1, 2, 1, 0]
    assert count_patches(np.array([4, 4, 1])) == 2


def test_multires(pixels: np.ndarray) -> None:
    assert np.array_equal(multires_patches(pixels, NSIDE, 0), np.zeros(pixels.size, np.int64))
    assert np.array_equal(multires_patches(pixels, NSIDE, NSIDE), np.arange(pixels.size))
    lab = multires_patches(pixels, NSIDE, 4)
    theta, phi = hp.pix2ang(NSIDE, pixels)
    parents = hp.ang2pix(4, theta, phi)  # the nside-4 pixel holding each centre
    assert count_patches(lab) == np.unique(parents).size
    assert np.array_equal(lab, renumber_labels(parents))
    assert _first_occurrence_order(lab)
    for bad in (3, 2 * NSIDE, -1):
        with pytest.raises(ConfigError, match="patch nside"):
            multires_patches(pixels, NSIDE, bad)


def test_patch_cache_memoizes(pixels: np.ndarray, labels20: np.ndarray, monkeypatch,
                              tmp_path: Path) -> None:
    calls = []

    def fake(pix, nside, k, seed, **kw):
        calls.append(k)
        return labels20.copy() if k == 20 else np.zeros(len(pix), np.int64)

    monkeypatch.setattr(patches_mod, "kmeans_patches", fake)
    cache = PatchCache(NSIDE, seed=0, strategy="kmeans")
    first = cache.labels("GAL020_U", pixels, 20)
    assert cache.labels("GAL020_U", pixels, 20) is first
    assert calls == [20]
    cache.labels("GAL020_U", pixels, 1)
    cache.labels("GAL020_U", pixels, 1)
    assert calls == [20, 1] and len(cache) == 2
    with pytest.raises(ValueError, match="different pixels"):
        cache.labels("GAL020_U", pixels[:-1], 20)

    multi = PatchCache(NSIDE, strategy="multires")
    a = multi.labels("GAL020_U", pixels, 4)
    assert multi.labels("GAL020_U", pixels, 4) is a
    assert np.array_equal(a, multires_patches(pixels, NSIDE, 4))
    with pytest.raises(ConfigError):
        PatchCache(NSIDE, strategy="voronoi")
