r"""A sky model: the CMB and foreground components whose SEDs are the columns of the mixing
matrix, and which of their spectral parameters are held fixed.

The fitted parameters, in component order, are the model's parameter list: the order of the
flat parameter vector, of the grid axes (``K_<parameter>``), of record fields and table columns.
Column 0 is the CMB (the reconstruction's first row is the CMB estimate).

:math:`A(\nu) = (a_{cmb}, a_1(\nu; \beta_1), \dots)`, each column in K_CMB and 1 at its
component's reference frequency. No JAX at import (the SEDs import it when evaluated).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from compsep_hpc.model.component import Component, SpectralParameter
from compsep_hpc.model.components.cmb import CMB
from compsep_hpc.model.components.dust import ModifiedBlackBody
from compsep_hpc.model.components.synchrotron import PowerLawSynchrotron

MAX_COMPONENTS = 6


@dataclass(frozen=True)
class SkyModel:
    """``components`` (the CMB first, then the foregrounds) and ``fixed``, parameter name ->
    value for the parameters held fixed (in the parameter's unit); the others are fitted."""

    components: tuple[Component, ...] = (CMB(), ModifiedBlackBody(), PowerLawSynchrotron())
    fixed: Mapping[str, float] = field(default_factory=dict)

    def __hash__(self) -> int:  # a static argument of jitted functions
        return hash((self.components, tuple(sorted(self.fixed.items()))))

    @property
    def parameters(self) -> tuple[SpectralParameter, ...]:
        """Every declared spectral parameter, in component order."""
        return tuple(p for c in self.components for p in c.parameters)

    @property
    def fitted_parameters(self) -> tuple[SpectralParameter, ...]:
        """The parameters that are fitted (not in ``fixed``), in component order."""
        return tuple(p for p in self.parameters if p.name not in self.fixed)

    @property
    def fitted(self) -> tuple[str, ...]:
        """Names of the fitted parameters: the model's parameter list."""
        return tuple(p.name for p in self.fitted_parameters)

    @property
    def patch_keys(self) -> tuple[str, ...]:
        """``K_<parameter>`` of each fitted parameter: the grid axes and item keys."""
        return tuple(f"K_{p}" for p in self.fitted)

    @property
    def n_components(self) -> int:
        return len(self.components)

    def parameter(self, name: str) -> SpectralParameter:
        """The declaration of parameter ``name``."""
        return next(p for p in self.parameters if p.name == name)

    def component_of(self, name: str) -> Component:
        """The component that declares parameter ``name``."""
        return next(c for c in self.components if any(p.name == name for p in c.parameters))

    def foreground_seds(self, nu: Any, values: Mapping[str, Any]) -> list:
        """The foreground columns (components 1..), each ``sed(nu, ...)`` with the fitted
        parameters from ``values`` (arrays broadcasting against ``nu``) and the fixed ones from
        ``fixed``; K_CMB."""
        return [c.sed(nu, **{p.name: values[p.name] if p.name in values else self.fixed[p.name]
                             for p in c.parameters}) for c in self.components[1:]]

    def to_dict(self) -> dict:
        """The resolved ``model`` section: every component with all its options, and ``fixed``."""
        return {"components": [{"name": c.name, **{f.name: getattr(c, f.name) for f in fields(c)}}
                               for c in self.components],
                "fixed": dict(self.fixed)}


DEFAULT_MODEL = SkyModel()
