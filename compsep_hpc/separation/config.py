"""The ``fit`` section of a run config: method, tolerances, likelihood form, bounds and start."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from compsep_hpc.config_fields import choice, default, field_names, int_value, number, optional_number, section
from compsep_hpc.errors import ConfigError
from compsep_hpc.model.sky_model import DEFAULT_MODEL, SkyModel

LIKELIHOODS = ("auto", "compressed", "pixel")
FIT_METHODS = ("newton", "lbfgs")
LINEAR_SOLVERS = ("schur", "cg")
REALIZATIONS = ("full", "linearized")
# Newton's projected gradient reaches 1e-14 |NLL| in one or two more iterations; 1e-12 puts the NLL
# within 1e-15 relative of the optimum. L-BFGS's 1e-9 is on the sigmoid variables' gradient.
DEFAULT_GTOL = {"newton": 1e-12, "lbfgs": 1e-9}


def model_bounds(model: SkyModel) -> dict[str, tuple[float, float]]:
    """The declared bounds of the model's fitted parameters (model/components/)."""
    return {p.name: tuple(p.bounds) for p in model.fitted_parameters}


def model_start(model: SkyModel) -> dict[str, float]:
    """The declared start of the model's fitted parameters."""
    return {p.name: p.start for p in model.fitted_parameters}


@dataclass(frozen=True)
class FitConfig:
    """Fit settings. ``method``: ``newton`` (projected Newton, newton.py) or ``lbfgs``;
    ``linear_solver``: the Newton systems' ``cg`` or ``schur`` (exact) solve; ``gtol``: largest
    (projected, for Newton) gradient component relative to |NLL| (None: DEFAULT_GTOL of the
    method); ``ftol``: L-BFGS's relative NLL change on stalled iterations; ``likelihood``:
    ``auto``, ``compressed`` or ``pixel``; ``bounds`` and ``start`` per fitted parameter of the
    model, in the parameter's unit (defaults: the components' declarations); ``realizations``:
    ``full`` (every noise realization fitted to convergence) or ``linearized`` (one undamped
    projected Newton step per realization from the noiseless fit's optimum, Newton only;
    separation/newton.py :func:`newton_step`)."""

    method: str = "newton"
    linear_solver: str = "cg"
    max_iter: int = 1000
    ftol: float = 1e-15
    gtol: float | None = None
    likelihood: str = "auto"
    bounds: Mapping[str, tuple[float, float]] = field(default_factory=lambda: model_bounds(DEFAULT_MODEL))
    start: Mapping[str, float] = field(default_factory=lambda: model_start(DEFAULT_MODEL))
    realizations: str = "full"

    @property
    def gradient_tolerance(self) -> float:
        """``gtol``, or the method's default."""
        return DEFAULT_GTOL[self.method] if self.gtol is None else self.gtol


def _bounds(given: Mapping | None, model: SkyModel) -> dict[str, tuple[float, float]]:
    bounds = model_bounds(model)
    for p, b in (given or {}).items():
        if p not in bounds or not isinstance(b, (list, tuple)) or len(b) != 2:
            raise ConfigError(f"fit.bounds.{p}: expected a fitted parameter ({', '.join(bounds)}) with [low, high]")
        lo, hi = (number(v, f"fit.bounds.{p}") for v in b)
        if not lo < hi:
            raise ConfigError(f"fit.bounds.{p}: low must be below high")
        bounds[p] = (lo, hi)
    return bounds


def _start(given: Mapping | None, bounds: Mapping[str, tuple[float, float]], model: SkyModel) -> dict[str, float]:
    start = model_start(model)
    for p, v in (given or {}).items():
        if p not in start:
            raise ConfigError(f"fit.start.{p}: not a fitted parameter ({', '.join(start)})")
        start[p] = number(v, f"fit.start.{p}")
    for p in start:
        if not bounds[p][0] < start[p] < bounds[p][1]:
            raise ConfigError(f"fit.start.{p}={start[p]} lies outside its bounds {bounds[p]}")
    return start


def parse_fit(raw: Mapping, model: SkyModel = DEFAULT_MODEL) -> FitConfig:
    """The ``fit`` section; defaults from :class:`FitConfig`, bounds and start from ``model``."""
    f = section(raw, "fit", field_names(FitConfig))
    get = lambda key: f.get(key, default(FitConfig, key))  # noqa: E731
    bounds = _bounds(f.get("bounds"), model)
    fit = FitConfig(
        method=choice(get("method"), "fit.method", FIT_METHODS),
        linear_solver=choice(get("linear_solver"), "fit.linear_solver", LINEAR_SOLVERS),
        max_iter=int_value(get("max_iter"), "fit.max_iter", 1),
        ftol=number(get("ftol"), "fit.ftol"),
        gtol=optional_number(get("gtol"), "fit.gtol"),
        likelihood=choice(get("likelihood"), "fit.likelihood", LIKELIHOODS),
        bounds=bounds,
        start=_start(f.get("start"), bounds, model),
        realizations=choice(get("realizations"), "fit.realizations", REALIZATIONS),
    )
    if fit.realizations == "linearized" and fit.method != "newton":
        raise ConfigError("fit.realizations linearized takes a Newton step: it needs fit.method newton")
    return fit
