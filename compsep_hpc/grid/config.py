"""The ``grid`` section of a run config: the patch counts searched, what happens to a count above
a region's pixels, and the multires baselines."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from compsep_hpc.config_fields import check_nside, choice, default, field_names, int_list, int_value, section
from compsep_hpc.errors import ConfigError
from compsep_hpc.model.parameters import PARAMETERS

PATCH_STRATEGIES = ("kmeans", "multires")
ABOVE_PIXELS_RULES = ("refuse", "drop", "cap")
"""What a K-means patch count above a region's pixel count does (grid.work.resolve_region_grid):
``refuse`` the run (one-line error), ``drop`` the value in that region, ``cap`` it at the pixel count."""
# Multi-resolution baseline patch nsides (beta_dust, temp_dust, beta_synch) per Galactic band
# (physics.md; paper Tables 4 and 5); nside 0 = one patch. Capped at the run nside.
MULTIRES_PRESETS = {
    "default": {"GAL020": (64, 0, 2), "GAL040": (64, 4, 2), "GAL060": (64, 8, 4)},
    "alternative": {"GAL020": (64, 0, 4), "GAL040": (64, 4, 4), "GAL060": (64, 8, 8)},
}


@dataclass(frozen=True)
class GridConfig:
    """Patch counts per parameter (``kmeans``) or patch nsides (``multires``, 0 = one patch), the
    K-means seed, the rule for counts above a region's pixels (ABOVE_PIXELS_RULES), and the
    MULTIRES_PRESETS names adding one baseline item per region and preset."""

    beta_dust: tuple[int, ...]
    temp_dust: tuple[int, ...]
    beta_synch: tuple[int, ...]
    strategy: str = "kmeans"
    seed: int = 0
    above_pixels: str = "refuse"
    multires_baseline: tuple[str, ...] = ()


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


def parse_grid(raw: Mapping) -> GridConfig:
    """The ``grid`` section (required); defaults from :class:`GridConfig`."""
    g = section(raw, "grid", field_names(GridConfig), required=True)
    get = lambda key: g.get(key, default(GridConfig, key))  # noqa: E731
    strategy = choice(get("strategy"), "grid.strategy", PATCH_STRATEGIES)
    values = []
    for p in PARAMETERS:
        if p not in g:
            raise ConfigError(f"grid.{p} is required")
        values.append(int_list(g[p], f"grid.{p}", 1 if strategy == "kmeans" else 0))
        if strategy == "multires":
            for v in values[-1]:
                if v:
                    check_nside(v, f"grid.{p} patch nside")
    return GridConfig(*values, strategy=strategy, seed=int_value(get("seed"), "grid.seed", 0),
                      above_pixels=choice(get("above_pixels"), "grid.above_pixels", ABOVE_PIXELS_RULES),
                      multires_baseline=_presets(get("multires_baseline")))
