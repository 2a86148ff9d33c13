"""The component protocol: what a sky component declares, and its spectral parameters.

A component is one column of the mixing matrix A: a name, its spectral parameters (name, unit,
default start and bounds, plot label), a reference frequency, and its SED in K_CMB, equal to 1 at
the reference frequency. Everything else (the parameter list of a model, grid axes, record fields,
table columns and plot labels) derives from these declarations (model/sky_model.py).

No JAX here: the config, ``status`` and ``reduce`` read the declarations without it. Each
component's ``sed`` is a pure JAX function (it imports ``jax.numpy`` when called).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Protocol


@dataclass(frozen=True)
class SpectralParameter:
    """One spectral parameter: ``name`` (the key of configs, records and grids: ``K_<name>`` is its
    patch count), ``unit`` ('' when dimensionless), the default fit ``start`` and ``bounds``
    (low, high), and the plot ``label``."""

    name: str
    unit: str
    start: float
    bounds: tuple[float, float]
    label: str


class Component(Protocol):
    """A sky component: a frozen dataclass with the fields below (its options, such as
    ``nu_ref``, are dataclass fields, so a config can set them and the resolved config stores them).

    ``sed(nu, **values)`` takes the band frequencies ``nu`` (GHz, any shape) and one value (or
    array broadcasting against ``nu``) per parameter of ``parameters``, and returns the SED in
    K_CMB, 1 at ``nu_ref``.
    """

    name: ClassVar[str]
    parameters: ClassVar[tuple[SpectralParameter, ...]]
    nu_ref: float

    def sed(self, nu: Any, **values: Any) -> Any:
        ...
