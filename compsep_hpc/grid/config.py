"""The ``grid`` section of a run config: the patch counts searched per fitted parameter of the
model, what happens to a count above a region's pixels, and the multires baselines; and the
``search`` section: which realizations each item gets (exhaustive or successive halving).

.. code-block:: yaml

    grid: {beta_dust: [10, 50], temp_dust: [1, 5], beta_synch: [1], curv_synch: [1, 4], seed: 0}

One axis per fitted parameter of the model (``model.fitted``), named by the parameter; the
resolved config keeps the axes at the top level of ``grid`` (:meth:`GridConfig.to_dict`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from compsep_hpc.config_fields import check_nside, choice, default, field_names, int_list, int_value, section
from compsep_hpc.errors import ConfigError
from compsep_hpc.model.sky_model import DEFAULT_MODEL, SkyModel
from compsep_hpc.science.config import CRITERIA, DEFAULT_CRITERION

PATCH_STRATEGIES = ("kmeans", "multires")
ABOVE_PIXELS_RULES = ("refuse", "drop", "cap")
"""What a K-means patch count above a region's pixel count does (grid.work.resolve_region_grid):
``refuse`` the run (one-line error), ``drop`` the value in that region, ``cap`` it at the pixel count."""
# Multi-resolution baseline patch nsides per Galactic band and parameter (physics.md; paper
# Tables 4 and 5); nside 0 = one patch, and so is a fitted parameter a preset does not name.
# Capped at the run nside.
MULTIRES_PRESETS = {
    "default": {"GAL020": {"beta_dust": 64, "temp_dust": 0, "beta_synch": 2},
                "GAL040": {"beta_dust": 64, "temp_dust": 4, "beta_synch": 2},
                "GAL060": {"beta_dust": 64, "temp_dust": 8, "beta_synch": 4}},
    "alternative": {"GAL020": {"beta_dust": 64, "temp_dust": 0, "beta_synch": 4},
                    "GAL040": {"beta_dust": 64, "temp_dust": 4, "beta_synch": 4},
                    "GAL060": {"beta_dust": 64, "temp_dust": 8, "beta_synch": 8}},
}


@dataclass(frozen=True)
class GridConfig:
    """``values``: per fitted parameter of the model (in ``model.fitted`` order), its patch counts
    (``kmeans``) or patch nsides (``multires``, 0 = one patch); the K-means seed, the rule for
    counts above a region's pixels (ABOVE_PIXELS_RULES), and the MULTIRES_PRESETS names adding one
    baseline item per region and preset."""

    values: Mapping[str, tuple[int, ...]]
    strategy: str = "kmeans"
    seed: int = 0
    above_pixels: str = "refuse"
    multires_baseline: tuple[str, ...] = ()

    @property
    def parameters(self) -> tuple[str, ...]:
        """The grid's parameters, the model's fitted ones in order."""
        return tuple(self.values)

    @property
    def axes(self) -> tuple[tuple[int, ...], ...]:
        """The values of each parameter, ``parameters`` order: ``n_fitted`` tuples."""
        return tuple(self.values.values())

    def to_dict(self) -> dict:
        """The resolved ``grid`` section: the axes at its top level, then the options."""
        return {**{p: list(v) for p, v in self.values.items()}, "strategy": self.strategy, "seed": self.seed,
                "above_pixels": self.above_pixels, "multires_baseline": list(self.multires_baseline)}


GRID_OPTIONS = tuple(name for name in field_names(GridConfig) if name != "values")
"""The keys of the ``grid`` section beside the parameters' axes."""


def _presets(value) -> tuple[str, ...]:
    """``grid.multires_baseline``: null, one preset name or a list of distinct names."""
    if value is None:
        return ()
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, (list, tuple)):
        raise ConfigError("grid.multires_baseline must be a preset name or a list of them")
    for name in names:
        choice(name, "grid.multires_baseline", tuple(MULTIRES_PRESETS))
    if len(set(names)) != len(names):
        raise ConfigError("grid.multires_baseline names a preset twice")
    return tuple(names)


def _grid_section(raw: Mapping, model: SkyModel) -> dict:
    """The ``grid`` mapping; ConfigError (one line) for a key that is neither a fitted parameter of
    ``model`` nor a grid option, or for a fitted parameter without its axis."""
    given = raw.get("grid")
    if isinstance(given, Mapping):
        unknown = sorted(set(map(str, given)) - set(model.fitted) - set(GRID_OPTIONS))
        if unknown:
            raise ConfigError(f"unknown key(s) in 'grid': {', '.join(unknown)}: not a fitted parameter of the model "
                              f"({', '.join(model.fitted)}) nor a grid option ({', '.join(GRID_OPTIONS)})")
    g = section(raw, "grid", (*model.fitted, *GRID_OPTIONS), required=True)
    for p in model.fitted:
        if p not in g:
            raise ConfigError(f"grid.{p} is required (a fitted parameter of the model)")
    return g


def parse_grid(raw: Mapping, model: SkyModel = DEFAULT_MODEL) -> GridConfig:
    """The ``grid`` section (required): one axis per fitted parameter of ``model``; the options'
    defaults from :class:`GridConfig`."""
    g = _grid_section(raw, model)
    get = lambda key: g.get(key, default(GridConfig, key))  # noqa: E731
    strategy = choice(get("strategy"), "grid.strategy", PATCH_STRATEGIES)
    values = {}
    for p in model.fitted:
        values[p] = int_list(g[p], f"grid.{p}", 1 if strategy == "kmeans" else 0)
        if strategy == "multires":
            for v in values[p]:
                if v:
                    check_nside(v, f"grid.{p} patch nside")
    return GridConfig(values, strategy=strategy, seed=int_value(get("seed"), "grid.seed", 0),
                      above_pixels=choice(get("above_pixels"), "grid.above_pixels", ABOVE_PIXELS_RULES),
                      multires_baseline=_presets(get("multires_baseline")))


SEARCH_STRATEGIES = ("exhaustive", "halving")
"""How the grid's items get their noise realizations (grid/search.py): ``exhaustive``, every item
all of them; ``halving``, successive halving over realizations."""


@dataclass(frozen=True)
class SearchConfig:
    """The ``search`` section. ``halving``: every item first gets ``min_realizations`` noise
    realizations; per region the best 1/``eta`` of a rung's items by ``criterion`` (the figure that
    ``reduce`` selects on, science/selection.py) get ``eta`` times more, added to their earlier
    ones, until ``noise.realizations``."""

    strategy: str = "exhaustive"
    eta: int = 3
    min_realizations: int = 5
    criterion: str = DEFAULT_CRITERION


def parse_search(raw: Mapping, realizations: int, holdout: int) -> SearchConfig:
    """The ``search`` section; ``realizations`` and ``holdout`` are the ``noise`` section's.
    ConfigError (one line) for eta < 2, fewer than 2 realizations in the first rung or more than
    ``noise.realizations``, an unknown criterion, or halving with held-out realizations."""
    s = section(raw, "search", field_names(SearchConfig))
    get = lambda key: s.get(key, default(SearchConfig, key))  # noqa: E731
    search = SearchConfig(strategy=choice(get("strategy"), "search.strategy", SEARCH_STRATEGIES),
                          eta=int_value(get("eta"), "search.eta", 2),
                          min_realizations=int_value(get("min_realizations"), "search.min_realizations", 2),
                          criterion=choice(get("criterion"), "search.criterion", tuple(CRITERIA)))
    if search.strategy == "halving":
        if search.min_realizations > realizations:
            raise ConfigError(f"search.min_realizations ({search.min_realizations}) is above noise.realizations "
                              f"({realizations})")
        if holdout:
            raise ConfigError("search.strategy halving ranks on all of an item's realizations: it needs "
                              "noise.holdout 0 (score the picks on held-out skies with `compsep-hpc evaluate`)")
    return search
