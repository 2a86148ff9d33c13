"""The ``recognize`` config: candidate models, training skies, the test sky, the network, the
likelihood route and the verdict. Its own YAML file (not a run config); no JAX.

.. code-block:: yaml

    name: recognize_nside16
    nside: 16
    instrument: litebird_quijote          # or {name, frequencies, depth_p}, as a run config
    candidates:                           # label -> a run config's ``model:`` section
      power_law: {components: [cmb, dust, synch]}
      curved: {components: [cmb, dust, curved_synch]}
    training: {sky: {model: synthetic, seed: 11}, realizations: 100, amplitude_modulation: 0.3,
               noise_seed: 5, validation_fraction: 0.2}
    test: {sky: {model: synthetic, seed: 3, region_foregrounds: {GAL020: [dust, curved_synch]}},
           regions: [GAL020_U, GAL040_U], noise_seed: 99}
    network: {optimizers: [adadelta, adam], learning_rates: {adadelta: 1.0, adam: 0.001},
              epochs: 30, batch_size: 128, dropout: 0.5, seed: 0, noiseless_training: true,
              input_transform: whiten, whiten_floor: 1.0e-10}
    likelihood: {enabled: true, alpha: 0.05, region_patches: {curv_synch: 1, nu_peak_ame: 1}}
    verdict: {route: likelihood_ratio, grid: {beta_dust: [4]}, realizations: 10}

A candidate's label is its name; the training sky of a candidate holds its foreground components
everywhere (``sky.foregrounds`` = the candidate's components after the CMB).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from compsep_hpc.config import apply_overrides
from compsep_hpc.config_fields import check_nside, choice, int_value, number, section
from compsep_hpc.errors import ConfigError
from compsep_hpc.model.config import parse_model
from compsep_hpc.model.instrument import Instrument, instrument_from_config
from compsep_hpc.model.sky_model import SkyModel
from compsep_hpc.partition.config import RegionsConfig, parse_regions
from compsep_hpc.sky.config import SkyConfig, parse_sky

OPTIMIZERS = ("adadelta", "adam")
INPUT_TRANSFORMS = ("whiten", "standardize", "none")  # network.py fit_input_transform's
DEFAULT_LEARNING_RATES = {"adadelta": 1.0, "adam": 1e-3}
ROUTES = ("likelihood_ratio", "aic", "bic", "reduced_chi2", "network")
TOP_KEYS = ("name", "nside", "instrument", "candidates", "training", "test", "network", "likelihood", "verdict",
            "output")


@dataclass(frozen=True)
class TrainingConfig:
    """``realizations`` noise (and modulation) realizations per candidate of the ``sky``;
    ``amplitude_modulation``: rms of the per-pixel Gaussian factor on each component's amplitude;
    ``noise_seed``; ``validation_fraction`` of the vectors held out (shuffled, seeded)."""

    sky: SkyConfig
    realizations: int = 100
    amplitude_modulation: float = 0.3
    noise_seed: int = 5
    validation_fraction: float = 0.2


@dataclass(frozen=True)
class TestSkyConfig:
    """The test sky (a region-dependent true model), its ``regions`` and its one noise realization."""

    sky: SkyConfig
    regions: RegionsConfig
    noise_seed: int = 99


@dataclass(frozen=True)
class NetworkConfig:
    """The study's classifier (recognition/network.py) and its training: one network per optimiser
    on noisy vectors, and with ``noiseless_training`` one more (first optimiser) on noiseless ones.
    ``input_transform`` (``whiten``, ``standardize``, ``none`` = the study's raw min-max features)
    and its eigenvalue ``whiten_floor``: our addition, network.py ``fit_input_transform``."""

    optimizers: tuple[str, ...] = ("adadelta", "adam")
    learning_rates: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_LEARNING_RATES))
    epochs: int = 30
    batch_size: int = 128
    dropout: float = 0.5
    seed: int = 0
    noiseless_training: bool = True
    input_transform: str = "whiten"
    whiten_floor: float = 1e-10


@dataclass(frozen=True)
class LikelihoodConfig:
    """Per-pixel and per-region fits of every candidate with the Newton engine. ``alpha``: the
    likelihood-ratio test's size; ``region_patches``: parameters that take one value per region
    in the region fits (the others one per pixel); ``fit``: a run config's ``fit`` section."""

    enabled: bool = True
    alpha: float = 0.05
    region_patches: tuple[str, ...] = ("curv_synch", "nu_peak_ame")
    fit: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class VerdictConfig:
    """Which route's per-region decision becomes the verdict, and the grid (values per fitted
    parameter) and noise realizations of the per-region run configs written with it."""

    route: str = "likelihood_ratio"
    grid: Mapping[str, tuple[int, ...]] = field(default_factory=lambda: {
        "beta_dust": (4,), "temp_dust": (1,), "beta_synch": (1,), "curv_synch": (1,), "nu_peak_ame": (1,)})
    realizations: int = 10


@dataclass(frozen=True)
class RecognizeConfig:
    name: str
    nside: int
    instrument: Instrument
    candidates: Mapping[str, SkyModel]
    training: TrainingConfig
    test: TestSkyConfig
    network: NetworkConfig
    likelihood: LikelihoodConfig
    verdict: VerdictConfig
    output: str
    raw_candidates: Mapping[str, Any] = field(default_factory=dict, compare=False)

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(self.candidates)

    def to_dict(self) -> dict[str, Any]:
        """The resolved config, plain YAML values."""
        d = _plain(dataclasses.asdict(self))
        d["candidates"] = {k: _plain(m.to_dict()) for k, m in self.candidates.items()}
        d.pop("raw_candidates")
        return d

    def sha256(self) -> str:
        """Hash of the resolved config without ``output``."""
        d = self.to_dict()
        d.pop("output")
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()


def _plain(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj


def _fraction(value: Any, where: str, low: float = 0.0, high: float = 1.0) -> float:
    v = number(value, where)
    if not low <= v < high:
        raise ConfigError(f"'{where}' must lie in [{low:g}, {high:g}), got {v:g}")
    return v


def _candidates(raw: Any) -> dict[str, SkyModel]:
    if not isinstance(raw, Mapping) or len(raw) < 2:
        raise ConfigError("'candidates' must map at least two labels to model sections")
    out = {}
    for label, section_raw in raw.items():
        model = parse_model({"model": section_raw if section_raw is not None else {}})
        if model.components[1:] and not any(c.name in ("synch", "curved_synch") for c in model.components):
            raise ConfigError(f"candidates.{label}: a candidate needs a synchrotron component")
        out[str(label)] = model
    names = [tuple(c.name for c in m.components) for m in out.values()]
    if len(set(names)) != len(names):
        raise ConfigError("candidates: two candidates have the same components")
    return out


def _training(raw: Mapping) -> TrainingConfig:
    t = section(raw, "training", ("sky", "realizations", "amplitude_modulation", "noise_seed",
                                  "validation_fraction"), required=True)
    d = TrainingConfig(sky=None)  # type: ignore[arg-type]
    return TrainingConfig(
        sky=parse_sky({"sky": t.get("sky")}),
        realizations=int_value(t.get("realizations", d.realizations), "training.realizations", 1),
        amplitude_modulation=_fraction(t.get("amplitude_modulation", d.amplitude_modulation),
                                       "training.amplitude_modulation"),
        noise_seed=int_value(t.get("noise_seed", d.noise_seed), "training.noise_seed", 0),
        validation_fraction=_fraction(t.get("validation_fraction", d.validation_fraction),
                                      "training.validation_fraction", 0.01, 0.99))


def _test(raw: Mapping) -> TestSkyConfig:
    t = section(raw, "test", ("sky", "regions", "noise_seed"), required=True)
    return TestSkyConfig(sky=parse_sky({"sky": t.get("sky")}), regions=parse_regions({"regions": t.get("regions")}),
                         noise_seed=int_value(t.get("noise_seed", 99), "test.noise_seed", 0))


def _network(raw: Mapping) -> NetworkConfig:
    n = section(raw, "network", tuple(f.name for f in dataclasses.fields(NetworkConfig)))
    d = NetworkConfig()
    optimizers = n.get("optimizers", list(d.optimizers))
    if isinstance(optimizers, str):
        optimizers = [optimizers]
    if not isinstance(optimizers, (list, tuple)) or not optimizers:
        raise ConfigError("network.optimizers must be a non-empty list")
    optimizers = tuple(choice(o, "network.optimizers", OPTIMIZERS) for o in optimizers)
    rates = dict(DEFAULT_LEARNING_RATES)
    given = n.get("learning_rates") or {}
    if not isinstance(given, Mapping) or set(given) - set(OPTIMIZERS):
        raise ConfigError(f"network.learning_rates must map optimisers ({', '.join(OPTIMIZERS)}) to numbers")
    for k, v in given.items():
        rates[k] = number(v, f"network.learning_rates.{k}")
        if rates[k] <= 0:
            raise ConfigError(f"network.learning_rates.{k} must be positive")
    noiseless = n.get("noiseless_training", d.noiseless_training)
    if not isinstance(noiseless, bool):
        raise ConfigError("network.noiseless_training must be true or false")
    return NetworkConfig(optimizers=optimizers, learning_rates=rates,
                         epochs=int_value(n.get("epochs", d.epochs), "network.epochs", 1),
                         batch_size=int_value(n.get("batch_size", d.batch_size), "network.batch_size", 1),
                         dropout=_fraction(n.get("dropout", d.dropout), "network.dropout"),
                         seed=int_value(n.get("seed", d.seed), "network.seed", 0), noiseless_training=noiseless,
                         input_transform=choice(n.get("input_transform", d.input_transform), "network.input_transform",
                                                INPUT_TRANSFORMS),
                         whiten_floor=_floor(n.get("whiten_floor", d.whiten_floor)))


def _floor(value: Any) -> float:
    v = number(value, "network.whiten_floor")  # YAML 1.1: write 1.0e-10 (1e-10 reads as a string)
    if not 0 < v < 1:
        raise ConfigError(f"'network.whiten_floor' must lie in (0, 1), got {v:g}")
    return v


def _likelihood(raw: Mapping) -> LikelihoodConfig:
    s = section(raw, "likelihood", ("enabled", "alpha", "region_patches", "fit"))
    d = LikelihoodConfig()
    enabled = s.get("enabled", d.enabled)
    if not isinstance(enabled, bool):
        raise ConfigError("likelihood.enabled must be true or false")
    region = s.get("region_patches", list(d.region_patches))
    if not isinstance(region, (list, tuple)) or not all(isinstance(p, str) for p in region):
        raise ConfigError("likelihood.region_patches must be a list of parameter names")
    fit = s.get("fit") or {}
    if not isinstance(fit, Mapping):
        raise ConfigError("likelihood.fit must be a mapping (a run config's fit section)")
    alpha = number(s.get("alpha", d.alpha), "likelihood.alpha")
    if not 0 < alpha < 1:
        raise ConfigError("likelihood.alpha must lie in (0, 1)")
    return LikelihoodConfig(enabled=enabled, alpha=alpha, region_patches=tuple(region), fit=dict(fit))


def _verdict(raw: Mapping, likelihood: LikelihoodConfig) -> VerdictConfig:
    s = section(raw, "verdict", ("route", "grid", "realizations"))
    d = VerdictConfig()
    route = choice(s.get("route", "likelihood_ratio" if likelihood.enabled else "network"), "verdict.route", ROUTES)
    if route != "network" and not likelihood.enabled:
        raise ConfigError(f"verdict.route {route} needs likelihood.enabled: true")
    grid = dict(d.grid)
    given = s.get("grid") or {}
    if not isinstance(given, Mapping):
        raise ConfigError("verdict.grid must map parameters to lists of patch counts")
    for k, v in given.items():
        values = v if isinstance(v, (list, tuple)) else [v]
        grid[str(k)] = tuple(int_value(x, f"verdict.grid.{k}", 1) for x in values)
    return VerdictConfig(route=route, grid=grid,
                         realizations=int_value(s.get("realizations", d.realizations), "verdict.realizations", 1))


def parse_recognize(raw: Any, source: str = "<config>") -> RecognizeConfig:
    """Validate a parsed YAML mapping; ConfigError (one line) otherwise."""
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{source}: a recognize config must be a YAML mapping")
    unknown = set(raw) - set(TOP_KEYS)
    if unknown:
        raise ConfigError(f"unknown top-level key(s) of a recognize config: {', '.join(sorted(map(str, unknown)))}")
    name = str(raw.get("name") or Path(source).stem)
    instrument = instrument_from_config(raw.get("instrument", "litebird_quijote"))
    candidates = _candidates(raw.get("candidates"))
    most = max(m.n_components for m in candidates.values())
    if instrument.n_freq <= most:
        raise ConfigError(f"instrument {instrument.name!r}: {most} components need more than {instrument.n_freq} bands")
    likelihood = _likelihood(raw)
    known = {p.name for m in candidates.values() for p in m.parameters}
    bad = sorted(set(likelihood.region_patches) - known)
    if bad and "region_patches" not in (raw.get("likelihood") or {}):  # the default: keep what the candidates fit
        likelihood = dataclasses.replace(likelihood, region_patches=tuple(
            p for p in likelihood.region_patches if p in known))
    elif bad:
        raise ConfigError(f"likelihood.region_patches: {', '.join(bad)} is no candidate's parameter")
    return RecognizeConfig(
        name=name, nside=check_nside(raw.get("nside", 16)), instrument=instrument, candidates=candidates,
        training=_training(raw), test=_test(raw), network=_network(raw), likelihood=likelihood,
        verdict=_verdict(raw, likelihood), output=str(raw.get("output") or f"results/{name}"),
        raw_candidates=dict(raw.get("candidates")))


def read_yaml(path: str | Path, overrides=()) -> Any:
    """The parsed YAML of ``path`` with ``--set`` overrides; ConfigError (one line) otherwise."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"malformed YAML in {path}") from exc
    if overrides:
        if not isinstance(raw, dict):
            raise ConfigError(f"config {path} is not a mapping")
        raw = apply_overrides(raw, overrides)
    return raw


def load_recognize(path: str | Path, overrides=()) -> RecognizeConfig:
    """Read and validate a recognize config."""
    return parse_recognize(read_yaml(path, overrides), str(path))
