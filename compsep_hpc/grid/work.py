"""The work list of a run: one item per region and grid point, plus the multires baselines.

No JAX and no healpy: ``status`` and ``reduce`` list the items with this module alone.
"""

from __future__ import annotations

from typing import NamedTuple

from compsep_hpc.grid.config import MULTIRES_PRESETS


class WorkItem(NamedTuple):
    """One grid point: region, the grid value per parameter (patch count for ``kmeans``, patch
    nside for ``multires``) and the patch strategy."""

    item_id: int
    region: str
    grid_values: tuple[int, int, int]
    strategy: str = "kmeans"


def multires_baseline_nsides(region: str, preset: str, nside: int) -> tuple[int, int, int]:
    """The preset's patch nsides of the region's Galactic band, capped at the run nside."""
    band = region.split("_")[0]
    return tuple(min(n, nside) for n in MULTIRES_PRESETS[preset][band])


def work_list(config) -> list[WorkItem]:
    """All items of a RunConfig, ordered region-major then K_beta_dust, K_temp_dust,
    K_beta_synch, then (if configured) one multi-resolution baseline item per region; item id = index."""
    g = config.grid
    combos = [(a, b, c) for a in g.beta_dust for b in g.temp_dust for c in g.beta_synch]
    keys = [(r, k, g.strategy) for r in config.regions.names for k in combos]
    if g.multires_baseline:
        keys += [(r, multires_baseline_nsides(r, g.multires_baseline, config.nside), "multires")
                 for r in config.regions.names]
    return [WorkItem(i, *key) for i, key in enumerate(keys)]
