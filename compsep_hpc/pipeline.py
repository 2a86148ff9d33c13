"""From a run config to scored grid items: work list, cached sky/regions/patches, one record per item.

No MPI and no files here: the launcher decides which items a rank evaluates and where records go.
Everything a rank builds (sky, regions, patch maps, region data) is deterministic in the config, so
every rank, and every rerun, rebuilds the same inputs.
"""

from __future__ import annotations

import time
from functools import cached_property
from typing import NamedTuple

import numpy as np

from compsep_hpc import __version__
from compsep_hpc.config import MULTIRES_PRESETS, RunConfig
from compsep_hpc.errors import ConfigError
from compsep_hpc.evaluate import ConfigurationResult, evaluate_configuration
from compsep_hpc.observations import RegionData, region_data, spectral_model
from compsep_hpc.patches import PatchCache
from compsep_hpc.regions import region_mask, region_pixels
from compsep_hpc.scoring import CmbTemplates, RegionGeometry, region_geometry, split_figures
from compsep_hpc.sed import PARAMETERS
from compsep_hpc.sky import SkyMaps, make_sky
from compsep_hpc.sky.cmb import bb_templates
from compsep_hpc.spectra import apodized_mask

PATCH_KEYS = ("K_beta_dust", "K_temp_dust", "K_beta_synch")


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


def work_list(config: RunConfig) -> list[WorkItem]:
    """All items, ordered region-major then K_beta_dust, K_temp_dust, K_beta_synch, then (if
    configured) one multi-resolution baseline item per region; item id = index."""
    g = config.grid
    combos = [(a, b, c) for a in g.beta_dust for b in g.temp_dust for c in g.beta_synch]
    keys = [(r, k, g.strategy) for r in config.regions.names for k in combos]
    if g.multires_baseline:
        keys += [(r, multires_baseline_nsides(r, g.multires_baseline, config.nside), "multires")
                 for r in config.regions.names]
    return [WorkItem(i, *key) for i, key in enumerate(keys)]


class Experiment:
    """Lazily built, cached inputs of one run config, and the evaluation of its items."""

    def __init__(self, config: RunConfig, templates: CmbTemplates | None = None):
        self.config = config
        self.patch_caches = {s: PatchCache(config.nside, config.grid.seed, strategy=s) for s in ("kmeans", "multires")}
        self._templates = templates
        self._pixels: dict[str, np.ndarray] = {}
        self._geometry: dict[str, RegionGeometry] = {}
        self._data: dict[str, RegionData] = {}

    @property
    def templates(self) -> CmbTemplates:
        """BB templates (tensor r = 1, lensing) up to spectra.lmax; from CAMB unless given."""
        if self._templates is None:
            self._templates = CmbTemplates(*bb_templates(self.config.spectra.lmax))
        return self._templates

    @templates.setter
    def templates(self, templates: CmbTemplates) -> None:
        self._templates = templates

    def geometry(self, region: str) -> RegionGeometry:
        """Pixels, apodized weights and f_sky of a region, for its residual spectra."""
        if region not in self._geometry:
            c = self.config
            mask = region_mask(region, c.nside, mask_file=c.regions.mask_file,
                               foreground_intensity=self.sky.foreground_intensity)
            self._geometry[region] = region_geometry(self.pixels(region), apodized_mask(mask, c.nside, c.spectra.apod_deg))
        return self._geometry[region]

    @cached_property
    def sky(self) -> SkyMaps:
        return make_sky(self.config)

    @cached_property
    def model(self):
        c = self.config
        return spectral_model(c.instrument, c.nside, c.sky.nu_dust, c.sky.nu_synch)

    def pixels(self, region: str) -> np.ndarray:
        if region not in self._pixels:
            self._pixels[region] = region_pixels(
                region, self.config.nside, mask_file=self.config.regions.mask_file,
                foreground_intensity=self.sky.foreground_intensity,
            )
        return self._pixels[region]

    def region_data(self, region: str) -> RegionData:
        """Sky + noise of all realizations on the region (kept for every item of the region)."""
        if region not in self._data:
            self._data = {}  # one region's data at a time: items are region-major
            c = self.config
            self._data[region] = region_data(
                self.sky, c.instrument, region, self.pixels(region), c.noise.seed, range(c.noise.realizations)
            )
        return self._data[region]

    def validate(self) -> None:
        """Check every region is non-empty and no patch count exceeds its region's pixels."""
        g = self.config.grid
        for region in self.config.regions.names:
            n_pix = len(self.pixels(region))
            if n_pix == 0:
                raise ConfigError(f"region {region} has no pixel at nside {self.config.nside}")
            if g.strategy == "kmeans":
                for name, values in zip(PATCH_KEYS, (g.beta_dust, g.temp_dust, g.beta_synch)):
                    if max(values) > n_pix:
                        raise ConfigError(
                            f"{name} = {max(values)} exceeds the {n_pix} pixels of region {region} "
                            f"at nside {self.config.nside}"
                        )
            elif max(max(g.beta_dust), max(g.temp_dust), max(g.beta_synch)) > self.config.nside:
                raise ConfigError(f"a multires patch nside exceeds the run nside {self.config.nside}")

    def labels(self, region: str, grid_values: tuple[int, int, int], strategy: str = "kmeans") -> np.ndarray:
        """Patch labels ``(3, n_pix)`` of the three parameters on the region."""
        pixels = self.pixels(region)
        cache = self.patch_caches[strategy]
        return np.stack([cache.labels(region, pixels, k) for k in grid_values])

    def evaluate(self, item: WorkItem, keep_maps: bool = False) -> ConfigurationResult:
        return evaluate_configuration(
            self.region_data(item.region), self.labels(item.region, item.grid_values, item.strategy),
            self.model, self.config.fit, keep_maps=keep_maps,
        )

    def figures(self, item: WorkItem, result: ConfigurationResult) -> dict:
        """Variance, error, residual spectra and r of the in-sample realizations, and the same
        with suffix ``_holdout`` for the held-out ones (noise.holdout > 0)."""
        c = self.config
        return split_figures(result.cmb_maps, self.region_data(item.region).cmb, result.systematic_cmb_map,
                             self.geometry(item.region), c.nside, self.templates, c.spectra, c.sky.r, c.noise.holdout)

    def record(self, item: WorkItem) -> dict:
        """Evaluate an item and flatten it into a checkpoint record (arrays, scalars, strings)."""
        start = time.perf_counter()
        result = self.evaluate(item, keep_maps=True)
        figures = self.figures(item, result)
        return item_record(item, result, figures, time.perf_counter() - start)


def item_record(item: WorkItem, result: ConfigurationResult, figures: dict, seconds: float) -> dict:
    """The checkpoint record of one item. Units: variances and spectra uK^2, temp_dust K, s.

    ``figures`` (Experiment.figures) overrides the all-realization variance and error with the
    in-sample ones and adds spectra and r."""
    fit, sys = result.fit, result.systematic
    record = {
        "region": item.region,
        "strategy": item.strategy,
        **{key: int(v) for key, v in zip(PATCH_KEYS, item.grid_values)},
        "n_patches": np.asarray(result.n_patches, dtype=np.int64),
        "likelihood": result.likelihood,
        "n_cells": int(result.n_cells),
        "nll": fit.nll,
        "iterations": fit.iterations.astype(np.int64),
        "converged": fit.converged.astype(bool),
        "n_unconverged": int(np.sum(~fit.converged)),
        "n_at_bound": np.asarray(fit.n_at_bound, dtype=np.int64),
        "spatial_variance": result.spatial_variance,
        "cmb_variance": float(result.cmb_variance),
        "cmb_mse": float(result.cmb_mse),
        "systematic_nll": float(sys.nll),
        "systematic_iterations": int(sys.iterations),
        "systematic_converged": bool(sys.converged),
        "systematic_n_at_bound": np.asarray(sys.n_at_bound, dtype=np.int64),
        "systematic_cmb_power": float(result.systematic_cmb_power),
        "seconds": float(seconds),
        "package_version": __version__,
        **figures,
    }
    for p in PARAMETERS:
        record[f"{p}_mean"] = fit.params[p].mean(axis=0)
        record[f"{p}_std"] = fit.params[p].std(axis=0)
        record[f"systematic_{p}"] = sys.params[p]
    return record


RECORD_UNITS = {
    "cmb_variance": "uK_CMB^2", "cmb_mse": "uK_CMB^2", "spatial_variance": "uK_CMB^2", "systematic_cmb_power": "uK_CMB^2",
    "cl_total": "uK_CMB^2 (C_ell BB, ell = 0..lmax)", "cl_statistical": "uK_CMB^2 (C_ell BB, ell = 0..lmax)",
    "cl_systematic": "uK_CMB^2 (C_ell BB, ell = 0..lmax)",
    "temp_dust_mean": "K", "temp_dust_std": "K", "systematic_temp_dust": "K", "seconds": "s",
}
