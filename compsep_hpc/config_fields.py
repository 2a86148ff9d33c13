"""Parsing helpers shared by the config sections: a section's mapping, typed values with
one-line errors, the one nside check, and a section's defaults read from its dataclass.

No JAX, no healpy: ``status`` and the Slurm helpers parse run configs with this alone.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np

from compsep_hpc.errors import ConfigError


def section(raw: Mapping, key: str, allowed: set[str] | tuple[str, ...], required: bool = False) -> dict:
    """The mapping ``raw[key]`` (empty when absent and not ``required``); unknown keys refused."""
    value = raw.get(key)
    if value is None:
        if required:
            raise ConfigError(f"missing required section '{key}'")
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"'{key}' must be a mapping")
    unknown = set(value) - set(allowed)
    if unknown:
        raise ConfigError(f"unknown key(s) in '{key}': {', '.join(sorted(map(str, unknown)))}")
    return dict(value)


def field_names(cls: type) -> tuple[str, ...]:
    """The field names of a config dataclass: the keys its YAML section accepts."""
    return tuple(f.name for f in dataclasses.fields(cls))


def default(cls: type, name: str) -> Any:
    """The default of field ``name`` of the dataclass ``cls`` (its factory called if it has one)."""
    f = next(f for f in dataclasses.fields(cls) if f.name == name)
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    if f.default is dataclasses.MISSING:
        raise ConfigError(f"{cls.__name__}.{name} has no default")
    return f.default


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def int_value(value: Any, where: str, minimum: int) -> int:
    """An integer ``>= minimum``; a one-element list (the form of older stored configs) is accepted."""
    if isinstance(value, (list, tuple)) and len(value) == 1:
        value = value[0]
    if not _is_int(value) or value < minimum:
        raise ConfigError(f"'{where}' must be an integer >= {minimum}, got {value!r}")
    return int(value)


def int_list(value: Any, where: str, minimum: int) -> tuple[int, ...]:
    """A non-empty list of integers ``>= minimum`` (a single integer is a list of one)."""
    if _is_int(value):
        value = [value]
    if not isinstance(value, (list, tuple)) or not value:
        raise ConfigError(f"'{where}' must be a non-empty list of integers")
    for v in value:
        if not _is_int(v) or v < minimum:
            raise ConfigError(f"'{where}' must hold integers >= {minimum}, got {v!r}")
    return tuple(int(v) for v in value)


def number(value: Any, where: str) -> float:
    """A real number (int or float, not bool)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ConfigError(f"'{where}' must be a number, got {value!r}")
    return float(value)


def optional_number(value: Any, where: str) -> float | None:
    """None, or :func:`number`."""
    return None if value is None else number(value, where)


def choice(value: Any, where: str, allowed: tuple[str, ...]) -> str:
    """One of ``allowed``."""
    if value not in allowed:
        raise ConfigError(f"{where} must be one of {', '.join(allowed)}, got {value!r}")
    return value


def check_nside(nside: Any, where: str = "nside") -> int:
    """A HEALPix nside: a positive power of two. The package's one nside check."""
    if not _is_int(nside) or nside < 1 or int(nside) & (int(nside) - 1):
        raise ConfigError(f"{where} must be a power of two, got {nside!r}")
    return int(nside)
