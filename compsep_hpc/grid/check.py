"""What ``compsep-hpc check`` does: the launch's refusals that need no sky, in about a second.

The checks of ``compsep-hpc run`` (and ``run --dry-run``) that do not build the sky, so that
neither JAX nor the sky's K-means is loaded (``slurm/submit.sh`` runs it before queueing):

- the config parses and validates (done by the caller, which loads it);
- the run folder: a folder of another config, or a non-empty folder that is no run folder, is
  refused;
- each region's grid under ``grid.above_pixels``, against the region's pixel count: the one
  stored at the run's start when the run folder has it (the launch lists the items from it), the
  mask file's (exact), or, for regions derived from the sky, their band's (an upper bound:
  ``refuse`` refuses the values above the band; the launch refuses those between the region's
  own count and its band's, which only the sky gives: ``run --dry-run`` builds it);
- a pysm sky's preset and templates (the launch refuses a missing template).

Writes nothing; errors are CompsepError (one line).
"""

from __future__ import annotations

from pathlib import Path

from compsep_hpc.config import RunConfig
from compsep_hpc.grid.dry_run import dry_run_text
from compsep_hpc.grid.region_grids import RegionGrid, region_grid_bounds, resolve_region_grids
from compsep_hpc.grid.search import plan_text
from compsep_hpc.grid.work import stored_region_grids, work_list
from compsep_hpc.store.checkpoint import completed_item_ids
from compsep_hpc.store.run_folder import check_run_folder

SKY_DERIVED_REGIONS = ("the regions are derived from the sky, which only the launch builds "
                       "(`compsep-hpc run CONFIG --dry-run` builds it and prints the exact counts)")


def mask_file_grids(config: RunConfig) -> dict[str, RegionGrid]:
    """The regions' grids from their pixel counts in the config's mask file (healpy, no sky)."""
    from compsep_hpc.partition.regions import region_pixels

    mask_file = config.regions.mask_file
    return resolve_region_grids(config, lambda region: len(region_pixels(region, config.nside, mask_file=mask_file)))


def check_pysm_templates(config: RunConfig) -> None:
    """ConfigError for a pysm sky whose preset is malformed or whose templates are not on disk."""
    if config.sky.model != "pysm":
        return
    from compsep_hpc.sky.pysm_templates import check_templates, preset_components

    check_templates(preset_components(config.sky.preset))


def check_text(config: RunConfig, run_dir: str | Path) -> str:
    """Check ``config`` for a launch into ``run_dir`` without the sky (see the module docstring) and
    return the report: the run folder's state, then each region's grid as the dry run prints it."""
    run_dir = Path(run_dir)
    exists = check_run_folder(config, run_dir)
    stored = stored_region_grids(run_dir, config) if exists else None
    check_pysm_templates(config)
    unknown = None
    if stored is not None:
        grids = stored
    elif config.regions.mask_file is not None:
        grids = mask_file_grids(config)
    else:
        grids, unknown = region_grid_bounds(config), SKY_DERIVED_REGIONS
    done = sorted(completed_item_ids(run_dir)) if exists else []
    folder = (f"run folder {run_dir}: this config's run, its regions' grids as stored at its start" if stored
              else f"run folder {run_dir}: " + ("this config's run" if exists else "new"))
    items = work_list(config, grids)
    return "\n".join([f"config valid; {folder}", dry_run_text(config, grids, unknown, items, done, None),
                      plan_text(config, items)])
