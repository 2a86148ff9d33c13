"""The ``grid`` section of a run config: the patch counts searched and the multires baseline."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from compsep_hpc.config_fields import check_nside, choice, default, field_names, int_list, int_value, section
from compsep_hpc.errors import ConfigError
from compsep_hpc.model.parameters import PARAMETERS

PATCH_STRATEGIES = ("kmeans", "multires")
# Multi-resolution baseline patch nsides (beta_dust, temp_dust, beta_synch) per Galactic band
# (physics.md); nside 0 = one patch. Capped at the run nside.
MULTIRES_PRESETS = {
    "default": {"GAL020": (64, 0, 2), "GAL040": (64, 4, 2), "GAL060": (64, 8, 4)},
    "alternative": {"GAL020": (64, 0, 4), "GAL040": (64, 4, 4), "GAL060": (64, 8, 8)},
}


@dataclass(frozen=True)
class GridConfig:
    """Patch counts per parameter (``kmeans``) or patch nsides (``multires``, 0 = one patch), the
    K-means seed, and an optional MULTIRES_PRESETS name adding one baseline item per region."""

    beta_dust: tuple[int, ...]
    temp_dust: tuple[int, ...]
    beta_synch: tuple[int, ...]
    strategy: str = "kmeans"
    seed: int = 0
    multires_baseline: str | None = None


def parse_grid(raw: Mapping) -> GridConfig:
    """The ``grid`` section (required); defaults from :class:`GridConfig`."""
    g = section(raw, "grid", field_names(GridConfig), required=True)
    strategy = choice(g.get("strategy", default(GridConfig, "strategy")), "grid.strategy", PATCH_STRATEGIES)
    baseline = g.get("multires_baseline", default(GridConfig, "multires_baseline"))
    if baseline is not None:
        choice(baseline, "grid.multires_baseline", tuple(MULTIRES_PRESETS))
    values = []
    for p in PARAMETERS:
        if p not in g:
            raise ConfigError(f"grid.{p} is required")
        values.append(int_list(g[p], f"grid.{p}", 1 if strategy == "kmeans" else 0))
        if strategy == "multires":
            for v in values[-1]:
                if v:
                    check_nside(v, f"grid.{p} patch nside")
    return GridConfig(*values, strategy=strategy, seed=int_value(g.get("seed", default(GridConfig, "seed")), "grid.seed", 0),
                      multires_baseline=baseline)
