"""The cached inputs of one run config and the evaluation of its items into records.

No MPI and no files here: the launcher decides which items a rank evaluates and where records
go. Everything built here (sky, regions, patch maps, region data) is deterministic in the
config, so every rank, and every rerun, rebuilds the same inputs.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from pathlib import Path

import numpy as np

from compsep_hpc import __version__
from compsep_hpc.config import RunConfig
from compsep_hpc.errors import ConfigError
from compsep_hpc.grid.region_grids import RegionGrid, resolve_region_grids
from compsep_hpc.grid.work import WorkItem
from compsep_hpc.model.noise_model import NoiseModel, noise_model
from compsep_hpc.partition.patches import PatchCache
from compsep_hpc.partition.regions import region_mask, region_pixels
from compsep_hpc.science.figures import CmbTemplates, item_figures, merged_item_figures, record_sums
from compsep_hpc.science.geometry import RegionGeometry, region_geometry
from compsep_hpc.separation.evaluate import ConfigurationResult, evaluate_configuration
from compsep_hpc.separation.fit import FitResult
from compsep_hpc.separation.observations import RegionData, region_data, spectral_model
from compsep_hpc.sky import SkyMaps, make_sky
from compsep_hpc.sky.cmb import CambSpectra, bb_templates, camb_spectra
from compsep_hpc.stage_clock import StageClock
from compsep_hpc.store.records import item_record, merged_record
from compsep_hpc.store.run_folder import load_run_folder, read_cmb_spectra, read_geometry, read_templates


def run_sky(config: RunConfig, cmb_spectra: CambSpectra | None = None) -> SkyMaps:
    """The sky of a run: its sky section at the run nside in the run's bands (the clustered sky's
    true patches are K-means partitions of the run's regions with the sky's own seed), its CMB
    drawn from ``cmb_spectra`` (the run folder's stored copy; None: CAMB's)."""
    return make_sky(config.sky, config.nside, config.instrument, regions=config.regions, cmb_spectra=cmb_spectra)


def systematic_fit(record: dict, parameters: tuple[str, ...]) -> FitResult:
    """The foreground-only fit stored in an item's ``record`` (store/records.py), ``parameters``
    the fitted ones, as the host FitResult that evaluate_configuration reuses."""
    return FitResult(params={p: np.asarray(record[f"systematic_{p}"]) for p in parameters},
                     nll=np.float64(record["systematic_nll"]), iterations=np.int64(record["systematic_iterations"]),
                     converged=np.bool_(record["systematic_converged"]),
                     n_at_bound=np.asarray(record["systematic_n_at_bound"]))


class Experiment:
    """Lazily built, cached inputs of one run config, and the evaluation of its items."""

    def __init__(self, config: RunConfig, templates: CmbTemplates | None = None,
                 cmb_spectra: CambSpectra | None = None):
        self.config = config
        self._cmb_spectra = cmb_spectra
        self.patch_caches = {s: PatchCache(config.nside, config.grid.seed, strategy=s) for s in ("kmeans", "multires")}
        self._templates = templates
        self._pixels: dict[str, np.ndarray] = {}
        self._geometry: dict[str, RegionGeometry] = {}
        self._data: dict[str, RegionData] = {}
        self._results: dict[tuple, ConfigurationResult] | None = None

    @classmethod
    def from_run_folder(cls, run_dir: str | Path, config: RunConfig | None = None) -> Experiment:
        """The Experiment of a run folder: its config (or ``config``, a variant of it such as an
        evaluation's other foreground seed) with the folder's stored inputs (:meth:`use_run_folder`)."""
        if config is None:
            config, _ = load_run_folder(run_dir)
        return cls(config).use_run_folder(run_dir)

    def use_run_folder(self, run_dir: str | Path) -> Experiment:
        """Use the run folder's stored BB templates, the CMB spectra its sky is drawn from, and the
        stored geometries of the run's regions (others, e.g. unions, are read with
        :meth:`use_stored_geometry` or computed when asked); what is not stored yet is computed as
        for a new run. Returns ``self``. ValueError when the sky was already drawn from other
        CMB spectra."""
        stored = read_templates(run_dir)
        if stored is not None:
            self.templates = CmbTemplates(*stored)
        self.use_cmb_spectra(read_cmb_spectra(run_dir))
        for region in self.config.regions.names:
            self.use_stored_geometry(run_dir, region)
        return self

    def use_stored_geometry(self, run_dir: str | Path, name: str) -> bool:
        """Use the run folder's geometry of the region or union ``name`` where stored; whether it was."""
        geometry = read_geometry(run_dir, name)
        if geometry is not None:
            self.use_geometry(name, geometry)
        return geometry is not None

    @property
    def templates(self) -> CmbTemplates:
        """BB templates (tensor r = 1, lensing) up to 3 nside - 1 (the bandpower windows' reach);
        from CAMB unless given."""
        if self._templates is None:
            self._templates = CmbTemplates(*bb_templates(3 * self.config.nside - 1, self._cmb_spectra))
        return self._templates

    @templates.setter
    def templates(self, templates: CmbTemplates) -> None:
        self._templates = templates

    @property
    def cmb_spectra(self) -> CambSpectra:
        """The CAMB spectra the run's CMB is drawn from: the given ones (the run folder's copy),
        else CAMB's (sky.cmb.camb_spectra, run once per process)."""
        return camb_spectra(3 * self.config.nside - 1) if self._cmb_spectra is None else self._cmb_spectra

    def use_cmb_spectra(self, cmb_spectra: CambSpectra | None) -> None:
        """Draw the CMB from ``cmb_spectra`` (the run folder's copy; None keeps the current ones).
        ValueError when the sky was already drawn from other spectra."""
        if cmb_spectra is None:
            return
        if "sky" in self.__dict__ and not all(np.array_equal(a, b) for a, b in zip(self.cmb_spectra, cmb_spectra)):
            raise ValueError("the sky was already drawn from other CMB spectra")
        self._cmb_spectra = cmb_spectra

    @cached_property
    def sky(self) -> SkyMaps:
        return run_sky(self.config, self._cmb_spectra)

    @cached_property
    def model(self):
        c = self.config
        return spectral_model(c.instrument, c.nside, c.model)

    @cached_property
    def noise_model(self) -> NoiseModel:
        """Each band's per-pixel noise (model/noise_model.py): white, or scaled by the hit map(s)."""
        c = self.config
        return noise_model(c.instrument, c.nside, c.noise)

    def _intensity(self) -> np.ndarray | None:
        """The sky's foreground intensity when the regions are derived from it (no mask file);
        with a mask file the sky is not built for the regions."""
        return None if self.config.regions.mask_file is not None else self.sky.foreground_intensity

    def region_mask(self, region: str) -> np.ndarray:
        """Boolean full-sky RING mask of a region."""
        c = self.config
        return region_mask(region, c.nside, mask_file=c.regions.mask_file, foreground_intensity=self._intensity())

    def geometry(self, region: str) -> RegionGeometry:
        """Pixels, apodized weights, taper warning and MASTER coupling of a region (science/geometry.py):
        the stored one when :meth:`use_geometry` gave it, else computed from its mask."""
        if region not in self._geometry:
            self._geometry[region] = region_geometry(self.region_mask(region), self.config.spectra)
        return self._geometry[region]

    def use_geometry(self, name: str, geometry: RegionGeometry) -> None:
        """Use ``geometry`` (e.g. the run folder's copy) for the region or union ``name``."""
        self._geometry[name] = geometry

    def union_geometry(self, name: str, mask) -> RegionGeometry:
        """The geometry of a union of regions (boolean RING ``mask``), cached under ``name``."""
        if name not in self._geometry:
            self._geometry[name] = region_geometry(mask, self.config.spectra)
        return self._geometry[name]

    def pixels(self, region: str) -> np.ndarray:
        if region not in self._pixels:
            c = self.config
            self._pixels[region] = region_pixels(region, c.nside, mask_file=c.regions.mask_file,
                                                 foreground_intensity=self._intensity())
        return self._pixels[region]

    def region_data(self, region: str, realizations: range | None = None) -> RegionData:
        """Sky + noise of the noise realizations ``realizations`` (default: all of
        ``noise.realizations``) on the region; the last one asked for is kept (items are region-major)."""
        c = self.config
        realizations = range(c.noise.realizations) if realizations is None else realizations
        key = (region, realizations.start, realizations.stop)
        if key not in self._data:
            self._data = {}
            self._data[key] = region_data(self.sky, c.instrument, region, self.pixels(region), c.noise.seed, realizations,
                                          None if c.noise.model == "white" else self.noise_model)
        return self._data[key]

    def region_grids(self) -> dict[str, RegionGrid]:
        """Each region's grid under ``grid.above_pixels`` (grid/region_grids.py), from the regions'
        pixels (the sky's, without a mask file).

        Raises ConfigError for an empty region, a count above a region's pixels under ``refuse``,
        a parameter left without value under ``drop``, a multires patch nside above the run nside,
        or a hit map that is unreadable, malformed or without hits in a region's pixel."""
        noise = self.noise_model  # a bad hit-map file is refused before the sky is built
        grids = resolve_region_grids(self.config, lambda region: len(self.pixels(region)))
        for region in self.config.regions.names:
            noise.check_region(region, self.pixels(region))
        return grids

    def pixels_need_missing_templates(self) -> str | None:
        """Why the regions' pixels cannot be computed now, or None when they can: a pysm sky
        without a mask file derives its regions from the sky's foreground intensity, which needs
        the PySM templates; the message names the first one missing. Builds nothing."""
        c = self.config
        if c.sky.model != "pysm" or c.regions.mask_file is not None:
            return None
        from compsep_hpc.sky.pysm_templates import check_templates, preset_components

        components = preset_components(c.sky.preset)  # a bad preset is refused here, templates or not
        try:
            check_templates(components)
        except ConfigError as exc:
            return str(exc)
        return None

    def labels(self, region: str, grid_values: tuple[int, ...], strategy: str = "kmeans") -> np.ndarray:
        """Patch labels ``(n_fitted, n_pix)`` of the fitted parameters on the region (``grid_values``:
        one patch count or nside per fitted parameter, ``config.model.fitted`` order)."""
        pixels = self.pixels(region)
        cache = self.patch_caches[strategy]
        return np.stack([cache.labels(region, pixels, k) for k in grid_values])

    def keep_results(self) -> None:
        """From now on, keep every ``evaluate`` result (with its CMB maps) in memory, so that a
        configuration fitted for its record is not fitted again for a stitched (combined) figure.
        For the few refits of ``reduce``/``evaluate``, not for a grid's many items."""
        if self._results is None:
            self._results = {}

    def evaluate(self, item: WorkItem, keep_maps: bool = True, clock: StageClock | None = None,
                 realizations: range | None = None, systematic: FitResult | None = None) -> ConfigurationResult:
        """Fit an item's configuration on the noise ``realizations`` (default: all; under halving
        ``search.min_realizations`` at a time, one compiled shape for every rung) and on the
        foreground-only sky, or reuse ``systematic``, that fit when known (a kept result is reused:
        ``keep_results``); seconds per stage charged to ``clock``."""
        key = (item.region, tuple(item.grid_values), item.strategy)
        if self._results is not None and key in self._results and realizations is None:
            return self._results[key]
        clock = StageClock() if clock is None else clock
        with clock.stage("prepare"):
            region = self.region_data(item.region, realizations)
            labels = self.labels(item.region, item.grid_values, item.strategy)
        batch = self.config.search.min_realizations if self.config.search.strategy == "halving" else None
        result = evaluate_configuration(region, labels, self.model, self.config.fit,
                                        keep_maps=True if self._results is not None else keep_maps, clock=clock,
                                        systematic=systematic, batch=batch)
        if self._results is not None and realizations is None:
            self._results[key] = result
        return result

    def true_cmb(self, region: str) -> np.ndarray:
        """The sky's CMB Q/U on the region (2, n_pix), uK_CMB."""
        return self.sky.cmb[:, self.pixels(region)]

    def figures(self, item: WorkItem, result: ConfigurationResult, clock: StageClock | None = None) -> dict:
        """The item's figures (science/figures.py): in-sample, and ``_holdout`` for the held-out ones."""
        c = self.config
        return item_figures(result.cmb_maps, self.true_cmb(item.region), result.systematic_cmb_map,
                            self.geometry(item.region), self.templates, c.spectra, c.sky.r, c.noise.holdout, clock)

    def record(self, item: WorkItem, wait: Callable[[], None] | None = None) -> dict:
        """Evaluate an item and flatten it into its record (store/records.py), with its seconds
        per stage (stage_clock.py) and their sum; ``wait`` (the launcher's wait for the previous
        record's write) is called after the item's figures and charged to ``write``."""
        clock = StageClock()
        result = self.evaluate(item, keep_maps=True, clock=clock)
        figures = self.figures(item, result, clock)
        if wait is not None:
            with clock.stage("write"):
                wait()
        return item_record(item, result, figures, clock.seconds, __version__, self.config.model)

    def rung_record(self, item: WorkItem, rung: int, realizations: range, earlier: dict | None,
                    wait: Callable[[], None] | None = None) -> dict:
        """The record of an item in a rung of successive halving (grid/search.py): its fits on the
        new noise ``realizations`` added to those of its ``earlier`` record (the previous rung's;
        None in the first), whose foreground-only fit is reused; figures over all of them
        (science/figures.merged_item_figures); ``rung`` is stored in the record; ``wait`` as in
        :meth:`record`."""
        clock = StageClock()
        c = self.config
        systematic = None if earlier is None else systematic_fit(earlier, c.model.fitted)
        result = self.evaluate(item, keep_maps=True, clock=clock, realizations=realizations, systematic=systematic)
        figures = merged_item_figures(result.cmb_maps, self.true_cmb(item.region), result.systematic_cmb_map,
                                      self.geometry(item.region), self.templates, c.spectra, c.sky.r,
                                      None if earlier is None else record_sums(earlier), clock)
        if wait is not None:
            with clock.stage("write"):
                wait()
        record = item_record(item, result, figures, clock.seconds, __version__, c.model, rung=rung)
        return record if earlier is None else merged_record(earlier, record, c.model)
