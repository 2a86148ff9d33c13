"""The ``regions`` section of a run config, and the region names (no healpy: status reads configs)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from compsep_hpc.errors import ConfigError

MASK_KEYS: tuple[str, ...] = ("GAL020", "GAL040", "GAL060")
"""Names of the three nested Galactic masks, smallest first (also the band names)."""
SPLIT_REGION_NAMES: tuple[str, ...] = tuple(f"{k}_{h}" for k in MASK_KEYS for h in ("U", "L"))
"""The six disjoint regions: each band split into Galactic north (_U) and south (_L)."""
REGION_NAMES: tuple[str, ...] = SPLIT_REGION_NAMES + MASK_KEYS
"""Every accepted region name: the six split regions, then the three whole bands."""


@dataclass(frozen=True)
class RegionsConfig:
    """Region ``names`` (REGION_NAMES) and an optional ``mask_file`` of GAL masks."""

    names: tuple[str, ...]
    mask_file: str | None = None


def band_of(region: str) -> str:
    """The Galactic band (MASK_KEYS) of a region name: ``GAL020_U`` -> ``GAL020``, ``GAL040`` -> ``GAL040``."""
    return region.split("_")[0]


def check_region_name(name: str) -> None:
    """Raise ConfigError unless ``name`` is one of REGION_NAMES."""
    if name not in REGION_NAMES:
        raise ConfigError(f"unknown region {name!r}; known: {', '.join(REGION_NAMES)}")


def parse_regions(raw: Mapping) -> RegionsConfig:
    """The ``regions`` section: a list of names, or ``{names, mask_file}``."""
    reg: Any = raw.get("regions")
    if isinstance(reg, (list, tuple)):
        reg = {"names": reg}
    if not isinstance(reg, Mapping):
        raise ConfigError("'regions' must be a list of region names or {names, mask_file}")
    unknown = set(reg) - {"names", "mask_file"}
    if unknown:
        raise ConfigError(f"unknown key(s) in 'regions': {', '.join(sorted(map(str, unknown)))}")
    names = reg.get("names")
    if not isinstance(names, (list, tuple)) or not names or not all(isinstance(n, str) for n in names):
        raise ConfigError("'regions' needs a non-empty list of region names")
    if len(set(names)) != len(names):
        raise ConfigError("'regions' lists a region twice")
    for n in names:
        check_region_name(n)
    return RegionsConfig(names=tuple(names), mask_file=reg.get("mask_file"))
