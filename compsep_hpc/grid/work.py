"""The work list of a run: one item per region and grid point of the region's own grid, then one
multires baseline item per preset and region.

No JAX and no healpy: ``status`` and ``reduce`` list the items with this module alone, from the
regions' grids stored in the run folder (grid/region_grids.py).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

from compsep_hpc.errors import RunFolderError
from compsep_hpc.grid.config import MULTIRES_PRESETS
from compsep_hpc.grid.region_grids import RegionGrid, region_grids_from_json
from compsep_hpc.partition.config import band_of
from compsep_hpc.store.run_folder import REGION_GRIDS_FILE, read_region_grids


class WorkItem(NamedTuple):
    """One grid point: region, the grid value per fitted parameter of the model (``n_fitted``
    values in ``model.fitted`` order: patch count for ``kmeans``, patch nside for ``multires``),
    the patch strategy, and for a multires baseline item its MULTIRES_PRESETS name ('' for the
    grid's own items)."""

    item_id: int
    region: str
    grid_values: tuple[int, ...]
    strategy: str = "kmeans"
    preset: str = ""


def multires_baseline_nsides(region: str, preset: str, nside: int, parameters: Sequence[str]) -> tuple[int, ...]:
    """The preset's patch nsides of the region's Galactic band for each of ``parameters`` (the
    model's fitted ones), capped at the run nside; 0 (one patch) for a parameter the preset does
    not name."""
    band = MULTIRES_PRESETS[preset][band_of(region)]
    return tuple(min(band.get(p, 0), nside) for p in parameters)


def work_list(config, region_grids: Mapping[str, RegionGrid] | None = None) -> list[WorkItem]:
    """All items of a RunConfig, ordered region-major then the values of the fitted parameters in
    the model's order (the last varying fastest) of each region's grid (``region_grids``; None: the
    config's grid in every region, which is every region's grid under ``grid.above_pixels:
    refuse``), then one multires baseline item per ``grid.multires_baseline`` preset (in the
    config's order) and region. Item id = index."""
    g = config.grid
    keys = []
    for region in config.regions.names:
        axes = g.axes if region_grids is None else region_grids[region].values
        keys += [(region, point, g.strategy, "") for point in itertools.product(*axes)]
    for preset in g.multires_baseline:
        keys += [(r, multires_baseline_nsides(r, preset, config.nside, config.model.fitted), "multires", preset)
                 for r in config.regions.names]
    return [WorkItem(i, *key) for i, key in enumerate(keys)]


def stored_region_grids(run_dir: str | Path, config) -> dict[str, RegionGrid] | None:
    """The regions' grids stored in a run folder; None for a folder without them (written before
    they were stored, when ``refuse`` was the only rule: the config's grid is every region's).
    RunFolderError when another rule's run lacks them."""
    content = read_region_grids(run_dir)
    if content is None:
        if config.grid.above_pixels != "refuse":
            raise RunFolderError(f"{run_dir} lacks {REGION_GRIDS_FILE}, the regions' grids under "
                                 f"grid.above_pixels: {config.grid.above_pixels}")
        return None
    return region_grids_from_json(content, config.model.fitted, str(Path(run_dir) / REGION_GRIDS_FILE))


def run_work_list(run_dir: str | Path, config) -> list[WorkItem]:
    """The work list of the run in ``run_dir`` (its stored regions' grids)."""
    return work_list(config, stored_region_grids(run_dir, config))
