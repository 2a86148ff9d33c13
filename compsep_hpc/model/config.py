"""The ``model`` section of a run config: the components (registry names, or mappings with a
``name`` and the component's options) and the parameters held fixed.

.. code-block:: yaml

    model:
      components: [cmb, dust, {name: curved_synch, pivot: 23.0}]
      fixed: {temp_dust: 20.0}

Absent, the model is CMB + modified black body + power-law synchrotron (``DEFAULT_MODEL``). No JAX.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from compsep_hpc.config_fields import number, section
from compsep_hpc.errors import ConfigError
from compsep_hpc.model.component import Component
from compsep_hpc.model.registry import COMPONENT_TYPES
from compsep_hpc.model.sky_model import DEFAULT_MODEL, MAX_COMPONENTS, SkyModel


def _component(spec: Any, where: str) -> Component:
    """A component from its registry name or ``{name, option: value, ...}``."""
    options = {}
    if isinstance(spec, Mapping):
        options = dict(spec)
        spec = options.pop("name", None)
    if spec not in COMPONENT_TYPES:
        raise ConfigError(f"{where}: unknown component {spec!r}; known: {', '.join(COMPONENT_TYPES)}")
    kind = COMPONENT_TYPES[spec]
    known = {f.name for f in dataclasses.fields(kind)}
    unknown = set(options) - known
    if unknown:
        raise ConfigError(f"{where} ({spec}): unknown option(s) {', '.join(sorted(map(str, unknown)))}; "
                          f"known: {', '.join(sorted(known)) or 'none'}")
    values = {k: number(v, f"{where}.{k}") for k, v in options.items()}
    if any(v <= 0 for k, v in values.items() if k in ("nu_ref", "pivot", "width")):
        raise ConfigError(f"{where} ({spec}): frequencies and widths must be positive")
    return kind(**values)


def _check(model: SkyModel) -> SkyModel:
    names = [c.name for c in model.components]
    if not names or names[0] != "cmb" or names.count("cmb") != 1:
        raise ConfigError("model.components must start with cmb, and name it once")
    if not 2 <= len(names) <= MAX_COMPONENTS:
        raise ConfigError(f"model.components: 2 to {MAX_COMPONENTS} components, got {len(names)}")
    declared = [p.name for p in model.parameters]
    twice = sorted({p for p in declared if declared.count(p) > 1})
    if twice:
        raise ConfigError(f"model.components declare {', '.join(twice)} twice (e.g. synch and curved_synch)")
    unknown = sorted(set(model.fixed) - set(declared))
    if unknown:
        raise ConfigError(f"model.fixed: {', '.join(unknown)} is not a parameter of the model "
                          f"({', '.join(declared)})")
    if not model.fitted:
        raise ConfigError("model: every spectral parameter is fixed; leave at least one to fit")
    return model


def parse_model(raw: Mapping) -> SkyModel:
    """The ``model`` section; absent: ``DEFAULT_MODEL``."""
    m = section(raw, "model", ("components", "fixed"))
    if not m:
        return DEFAULT_MODEL
    specs = m.get("components", [c.name for c in DEFAULT_MODEL.components])
    if not isinstance(specs, (list, tuple)):
        raise ConfigError("model.components must be a list of component names or mappings")
    components = tuple(_component(s, f"model.components[{i}]") for i, s in enumerate(specs))
    fixed = m.get("fixed") or {}
    if not isinstance(fixed, Mapping):
        raise ConfigError("model.fixed must map parameter names to values")
    fixed = {str(k): number(v, f"model.fixed.{k}") for k, v in fixed.items()}
    return _check(SkyModel(components, fixed))
