"""Run configuration: YAML in, validated frozen dataclasses out.

Only ``sky``, ``regions`` and ``grid`` are required; everything else has a default. The resolved
configuration (every default filled in) is what a run stores, and its SHA-256 identifies the run:
two YAML files that resolve to the same values are the same run.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from compsep_hpc.errors import ConfigError
from compsep_hpc.instrument import Instrument, instrument_from_config
from compsep_hpc.sed import DEFAULT_NU_DUST, DEFAULT_NU_SYNCH, PARAMETERS

SKY_MODELS = ("synthetic", "synthetic_clustered", "pysm")
LIKELIHOODS = ("auto", "compressed", "pixel")
FIT_METHODS = ("newton", "lbfgs")
# Newton's projected gradient reaches 1e-14 |NLL| in one or two more iterations; 1e-12 puts the NLL
# within 1e-15 relative of the optimum. L-BFGS's 1e-9 is on the sigmoid variables' gradient.
DEFAULT_GTOL = {"newton": 1e-12, "lbfgs": 1e-9}
LINEAR_SOLVERS = ("schur", "cg")
PATCH_STRATEGIES = ("kmeans", "multires")
# Multi-resolution baseline patch nsides (beta_dust, temp_dust, beta_synch) per Galactic band
# (physics.md); nside 0 = one patch. Capped at the run nside.
MULTIRES_PRESETS = {
    "default": {"GAL020": (64, 0, 2), "GAL040": (64, 4, 2), "GAL060": (64, 8, 4)},
    "alternative": {"GAL020": (64, 0, 4), "GAL040": (64, 4, 4), "GAL060": (64, 8, 8)},
}

DEFAULT_BOUNDS = {"beta_dust": (0.5, 3.0), "temp_dust": (5.0, 50.0), "beta_synch": (-7.0, -0.5)}
DEFAULT_START = {"beta_dust": 1.54, "temp_dust": 20.0, "beta_synch": -3.0}


@dataclass(frozen=True)
class SkyConfig:
    """Which sky: ``model`` in SKY_MODELS; ``r`` the injected tensor-to-scalar ratio."""

    model: str
    preset: str = "c1d1s1"
    seed: int = 0
    r: float = 0.0
    true_patches: tuple[int, int, int] | None = None  # (K_beta_dust, K_temp_dust, K_beta_synch)
    nu_dust: float = DEFAULT_NU_DUST
    nu_synch: float = DEFAULT_NU_SYNCH


@dataclass(frozen=True)
class RegionsConfig:
    names: tuple[str, ...]
    mask_file: str | None = None


@dataclass(frozen=True)
class GridConfig:
    """Patch counts per parameter (K-means), or HEALPix nsides (multires), and the K-means seed."""

    beta_dust: tuple[int, ...]
    temp_dust: tuple[int, ...]
    beta_synch: tuple[int, ...]
    strategy: str = "kmeans"
    seed: int = 0
    multires_baseline: str | None = None  # a MULTIRES_PRESETS name: one baseline item per region


@dataclass(frozen=True)
class NoiseConfig:
    """``holdout``: the last realizations, kept out of selection and used to report its figures."""

    realizations: int = 10
    seed: int = 1234
    holdout: int = 0


@dataclass(frozen=True)
class SpectraConfig:
    """Residual BB spectra: multipoles [lmin, lmax] (lmax defaults to 2 nside) and the taper width
    of the apodized region mask in degrees (None: spectra.apodized_mask's default rule)."""

    lmin: int = 2
    lmax: int = 128
    apod_deg: float | None = None


@dataclass(frozen=True)
class FitConfig:
    """Fit settings. ``method``: ``newton`` (projected Newton, newton.py) or ``lbfgs``;
    ``linear_solver``: the Newton systems' ``cg`` or ``schur`` (exact) solve; ``gtol``: largest
    (projected, for Newton) gradient component relative to |NLL|; ``ftol``: L-BFGS's relative
    NLL change on stalled iterations."""

    @property
    def gradient_tolerance(self) -> float:
        """``gtol``, or the method's default."""
        return DEFAULT_GTOL[self.method] if self.gtol is None else self.gtol

    method: str = "newton"
    linear_solver: str = "cg"
    max_iter: int = 1000
    ftol: float = 1e-15
    gtol: float | None = None  # None: the method's default, DEFAULT_GTOL
    likelihood: str = "auto"
    bounds: Mapping[str, tuple[float, float]] = field(default_factory=lambda: dict(DEFAULT_BOUNDS))
    start: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_START))


@dataclass(frozen=True)
class RunConfig:
    name: str
    nside: int
    instrument: Instrument
    sky: SkyConfig
    regions: RegionsConfig
    grid: GridConfig
    noise: NoiseConfig
    fit: FitConfig
    spectra: SpectraConfig
    output: str

    def to_dict(self) -> dict[str, Any]:
        """The resolved configuration as plain YAML/JSON-able values."""
        return _plain(asdict(self))

    def sha256(self) -> str:
        """Hash of the resolved configuration, without ``output`` (moving a run keeps its id)."""
        d = self.to_dict()
        d.pop("output")
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()


def _plain(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj


def _section(raw: Mapping, key: str, allowed: set[str], required: bool = False) -> dict:
    value = raw.get(key)
    if value is None:
        if required:
            raise ConfigError(f"missing required section '{key}'")
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"'{key}' must be a mapping")
    unknown = set(value) - allowed
    if unknown:
        raise ConfigError(f"unknown key(s) in '{key}': {', '.join(sorted(map(str, unknown)))}")
    return dict(value)


def _int_list(value: Any, where: str, minimum: int) -> tuple[int, ...]:
    if isinstance(value, int) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, (list, tuple)) or not value:
        raise ConfigError(f"'{where}' must be a non-empty list of integers")
    out = []
    for v in value:
        if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
            raise ConfigError(f"'{where}' must hold integers >= {minimum}, got {v!r}")
        out.append(v)
    return tuple(out)


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"'{where}' must be a number, got {value!r}")
    return float(value)


def check_nside(nside: Any) -> int:
    if isinstance(nside, bool) or not isinstance(nside, int) or nside < 1 or nside & (nside - 1):
        raise ConfigError(f"nside must be a power of two, got {nside!r}")
    return nside


def parse_config(raw: Any, source: str = "<config>") -> RunConfig:
    """Validate a parsed YAML mapping and fill in defaults. Raises ConfigError."""
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{source}: a run config must be a YAML mapping")
    top = {"name", "nside", "instrument", "sky", "regions", "grid", "noise", "fit", "spectra", "output"}
    unknown = set(raw) - top
    if unknown:
        raise ConfigError(f"unknown top-level key(s): {', '.join(sorted(map(str, unknown)))}")
    name = str(raw.get("name") or Path(source).stem)
    nside = check_nside(raw.get("nside", 64))
    instrument = instrument_from_config(raw.get("instrument"))

    s = _section(raw, "sky", {"model", "preset", "seed", "r", "true_patches", "nu_dust", "nu_synch"},
                 required=True)
    model = s.get("model")
    if model not in SKY_MODELS:
        raise ConfigError(f"sky.model must be one of {', '.join(SKY_MODELS)}, got {model!r}")
    true_patches = None
    if model == "synthetic_clustered":
        tp = s.get("true_patches")
        if isinstance(tp, (list, tuple)) and len(tp) == len(PARAMETERS):  # the resolved (stored) form
            tp = dict(zip(PARAMETERS, tp))
        if not isinstance(tp, Mapping) or set(tp) != set(PARAMETERS):
            raise ConfigError("sky.true_patches needs beta_dust, temp_dust and beta_synch counts")
        true_patches = tuple(_int_list(tp[p], f"sky.true_patches.{p}", 1)[0] for p in PARAMETERS)
    sky = SkyConfig(
        model=model,
        preset=str(s.get("preset", "c1d1s1")),
        seed=int(s.get("seed", 0)),
        r=_number(s.get("r", 0.0), "sky.r"),
        true_patches=true_patches,
        nu_dust=_number(s.get("nu_dust", DEFAULT_NU_DUST), "sky.nu_dust"),
        nu_synch=_number(s.get("nu_synch", DEFAULT_NU_SYNCH), "sky.nu_synch"),
    )

    reg = raw.get("regions")
    if isinstance(reg, (list, tuple)):
        reg = {"names": reg}
    if not isinstance(reg, Mapping):
        raise ConfigError("'regions' must be a list of region names or {names, mask_file}")
    unknown = set(reg) - {"names", "mask_file"}
    if unknown:
        raise ConfigError(f"unknown key(s) in 'regions': {', '.join(sorted(unknown))}")
    names = reg.get("names")
    if not isinstance(names, (list, tuple)) or not names or not all(isinstance(n, str) for n in names):
        raise ConfigError("'regions' needs a non-empty list of region names")
    if len(set(names)) != len(names):
        raise ConfigError("'regions' lists a region twice")
    from compsep_hpc.regions import check_region_name  # late import: regions imports healpy

    for n in names:
        check_region_name(n)
    regions = RegionsConfig(names=tuple(names), mask_file=reg.get("mask_file"))

    g = _section(raw, "grid", set(PARAMETERS) | {"strategy", "seed", "multires_baseline"}, required=True)
    strategy = g.get("strategy", "kmeans")
    if strategy not in PATCH_STRATEGIES:
        raise ConfigError(f"grid.strategy must be one of {', '.join(PATCH_STRATEGIES)}")
    minimum = 1 if strategy == "kmeans" else 0
    for p in PARAMETERS:
        if p not in g:
            raise ConfigError(f"grid.{p} is required")
    grid = GridConfig(
        *(_int_list(g[p], f"grid.{p}", minimum) for p in PARAMETERS),
        strategy=strategy,
        seed=int(g.get("seed", 0)),
        multires_baseline=g.get("multires_baseline"),
    )
    if grid.multires_baseline is not None and grid.multires_baseline not in MULTIRES_PRESETS:
        raise ConfigError(f"grid.multires_baseline must be one of {', '.join(MULTIRES_PRESETS)}")
    if strategy == "multires":
        for p, vals in zip(PARAMETERS, (grid.beta_dust, grid.temp_dust, grid.beta_synch)):
            for v in vals:
                if v:
                    check_nside(v)

    n = _section(raw, "noise", {"realizations", "seed", "holdout"})
    noise = NoiseConfig(
        realizations=_int_list(n.get("realizations", 10), "noise.realizations", 1)[0],
        seed=int(n.get("seed", 1234)),
        holdout=_int_list(n.get("holdout", 0), "noise.holdout", 0)[0],
    )
    if noise.holdout >= noise.realizations:
        raise ConfigError("noise.holdout must leave at least one realization for selection")

    sp = _section(raw, "spectra", {"lmin", "lmax", "apod_deg"})
    lmax = sp.get("lmax") or 2 * nside
    spectra = SpectraConfig(
        lmin=_int_list(sp.get("lmin", 2), "spectra.lmin", 2)[0],
        lmax=_int_list(lmax, "spectra.lmax", 2)[0],
        apod_deg=None if sp.get("apod_deg") is None else _number(sp["apod_deg"], "spectra.apod_deg"),
    )
    if not spectra.lmin < spectra.lmax <= 3 * nside - 1:
        raise ConfigError(f"spectra: need lmin < lmax <= 3 nside - 1 = {3 * nside - 1}")

    f = _section(raw, "fit", {"method", "linear_solver", "max_iter", "ftol", "gtol", "likelihood", "bounds", "start"})
    likelihood = f.get("likelihood", "auto")
    if likelihood not in LIKELIHOODS:
        raise ConfigError(f"fit.likelihood must be one of {', '.join(LIKELIHOODS)}")
    for key, allowed in (("method", FIT_METHODS), ("linear_solver", LINEAR_SOLVERS)):
        if f.get(key, getattr(FitConfig, key)) not in allowed:
            raise ConfigError(f"fit.{key} must be one of {', '.join(allowed)}")
    bounds = dict(DEFAULT_BOUNDS)
    for p, b in (f.get("bounds") or {}).items():
        if p not in PARAMETERS or not isinstance(b, (list, tuple)) or len(b) != 2:
            raise ConfigError(f"fit.bounds.{p}: expected one of {PARAMETERS} with [low, high]")
        lo, hi = (_number(v, f"fit.bounds.{p}") for v in b)
        if not lo < hi:
            raise ConfigError(f"fit.bounds.{p}: low must be below high")
        bounds[p] = (lo, hi)
    start = dict(DEFAULT_START)
    for p, v in (f.get("start") or {}).items():
        if p not in PARAMETERS:
            raise ConfigError(f"fit.start.{p}: unknown parameter")
        start[p] = _number(v, f"fit.start.{p}")
    for p in PARAMETERS:
        if not bounds[p][0] < start[p] < bounds[p][1]:
            raise ConfigError(f"fit.start.{p}={start[p]} lies outside its bounds {bounds[p]}")
    fit = FitConfig(
        method=f.get("method", FitConfig.method),
        linear_solver=f.get("linear_solver", FitConfig.linear_solver),
        max_iter=_int_list(f.get("max_iter", 1000), "fit.max_iter", 1)[0],
        ftol=_number(f.get("ftol", 1e-15), "fit.ftol"),
        gtol=None if f.get("gtol") is None else _number(f["gtol"], "fit.gtol"),
        likelihood=likelihood,
        bounds=bounds,
        start=start,
    )
    output = str(raw.get("output") or f"results/{name}")
    return RunConfig(name, nside, instrument, sky, regions, grid, noise, fit, spectra, output)


def load_config(path: str | Path) -> RunConfig:
    """Read and validate a YAML run config. Raises ConfigError with a one-line message."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror}") from exc
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"malformed YAML in {path}{where}") from exc
    return parse_config(raw, str(path))
