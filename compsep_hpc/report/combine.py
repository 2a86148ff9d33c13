"""Combined result of a selection: refit each region's selected item with its CMB maps kept,
stitch the (disjoint) regions into one sky, and compute the combined residual spectra and r.

No MPI and no files: the reducer calls it and writes what it returns.
"""

from __future__ import annotations

import numpy as np

from compsep_hpc.grid.experiment import Experiment
from compsep_hpc.grid.work import WorkItem
from compsep_hpc.partition.regions import region_mask
from compsep_hpc.science.figures import split_figures


def combined_figures(experiment: Experiment, selected: dict[str, WorkItem]) -> dict:
    """Figures of the union of the regions, each fitted with its own selected configuration.

    Returns the in-sample figures (and ``*_holdout`` ones when the run holds realizations out),
    with the stitched region's ``n_pix``, ``fsky`` and ``geometry_name`` (its geometry is
    ``experiment.geometry``-cached under that name, for the run folder); spectra are uK^2 BB bandpowers.
    """
    c = experiment.config
    maps, truth, systematic, pixels = [], [], [], []
    union = np.zeros(12 * c.nside**2, dtype=bool)
    for region, item in selected.items():
        result = experiment.evaluate(item, keep_maps=True)
        data = experiment.region_data(region)
        maps.append(result.cmb_maps)
        truth.append(data.cmb)
        systematic.append(result.systematic_cmb_map)
        pixels.append(data.pixels)
        union |= region_mask(region, c.nside, mask_file=c.regions.mask_file,
                             foreground_intensity=experiment.sky.foreground_intensity)
    order = np.argsort(np.concatenate(pixels))
    cmb_maps = np.concatenate(maps, axis=-1)[..., order]
    true_cmb = np.concatenate(truth, axis=-1)[..., order]
    sys_map = np.concatenate(systematic, axis=-1)[..., order]
    name = union_name(selected)
    geometry = experiment.union_geometry(name, union)
    out: dict = {"n_pix": int(geometry.pixels.size), "fsky": float(geometry.fsky), "geometry_name": name}
    out.update(split_figures(cmb_maps, true_cmb, sys_map, geometry, experiment.templates, c.spectra,
                             c.sky.r, c.noise.holdout))
    return out


def union_name(selected: dict) -> str:
    """The name of the union of the regions of ``selected`` (its run-folder geometry file)."""
    return "union_" + "+".join(sorted(selected))
