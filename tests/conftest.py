"""Shared test helpers: small configs and paths."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from compsep_hpc.precision import enable_float64

enable_float64()  # as the entry points do; the package itself leaves JAX's settings alone

REPO = Path(__file__).resolve().parents[1]
SHARED_MASKS = Path(os.environ.get("COMPSEP_SHARED_DATA", REPO.parent / "shared" / "data")) / "GAL_PlanckMasks_64.npz"


@pytest.fixture
def tiny_raw_config(tmp_path) -> dict:
    """A run config small enough for an end-to-end run in seconds (nside 8, 2 items)."""
    return {
        "name": "tiny",
        "nside": 8,
        "sky": {"model": "synthetic_clustered", "seed": 3, "true_patches": {"beta_dust": 2, "temp_dust": 1, "beta_synch": 1}},
        "regions": ["GAL060_U"],
        "grid": {"beta_dust": [1, 2], "temp_dust": [1], "beta_synch": [1]},
        "noise": {"realizations": 3, "seed": 5},
        "output": str(tmp_path / "run"),
    }


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> dict:
    """Subprocess environment: CPU JAX, one host device, a compilation cache shared by the module."""
    e = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "PMI_", "OMPI_"))}
    e.update(JAX_PLATFORMS="cpu", XLA_FLAGS="--xla_force_host_platform_device_count=1",
             JAX_COMPILATION_CACHE_DIR=str(tmp_path_factory.mktemp("jax_cache")))
    return e
