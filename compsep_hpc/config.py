"""Run configuration: YAML in, validated frozen dataclasses out.

Each section has its own dataclass and parser beside the code that uses it (``sky/config.py``,
``partition/config.py``, ``grid/config.py``, ``separation/config.py``, ``science/config.py``);
the defaults are the dataclass fields. Only ``sky``, ``regions`` and ``grid`` are required. The
resolved configuration (every default filled in) is what a run stores, and its SHA-256
identifies the run: two YAML files that resolve to the same values are the same run.

No JAX and no healpy are imported here.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from compsep_hpc.config_fields import check_nside, choice, default, field_names, int_value, number, section
from compsep_hpc.errors import ConfigError
from compsep_hpc.grid.config import GridConfig, SearchConfig, parse_grid, parse_search
from compsep_hpc.model.config import parse_model
from compsep_hpc.model.instrument import Instrument, instrument_from_config
from compsep_hpc.model.sky_model import DEFAULT_MODEL, SkyModel
from compsep_hpc.partition.config import RegionsConfig, parse_regions
from compsep_hpc.science.config import SpectraConfig, parse_spectra
from compsep_hpc.separation.config import FitConfig, parse_fit
from compsep_hpc.sky.config import SkyConfig, hashed_sky, parse_sky

DEFAULT_NSIDE = 64


NOISE_MODELS = ("white", "hits")
GENERATED_HITS = ("litebird_scan", "ground_patch")
HITS_FIELDS = ("model", "hits", "patch_centre", "patch_radius", "scan_step_s")


@dataclass(frozen=True)
class NoiseConfig:
    """Noise realizations: how many, their seed, and ``holdout``, the last realizations, kept out
    of selection and used to report its figures. ``model``: ``white`` (every pixel at the
    instrument's depth) or ``hits`` (model/noise_model.py: sigma_p = sigma / sqrt(w_p), w the hit
    map over its mean on the observed pixels); ``hits``: a HEALPix hit-map file (``.npy``,
    ``.npz``, ``.fits``, any nside), a list of one file per band, ``litebird_scan`` or
    ``ground_patch``; ``patch_centre`` (Galactic lon, lat, deg) and ``patch_radius`` (deg) of
    ``ground_patch``; ``scan_step_s``: seconds between the pointings of ``litebird_scan``."""

    realizations: int = 10
    seed: int = 1234
    holdout: int = 0
    model: str = "white"
    hits: str | tuple[str, ...] | None = None
    patch_centre: tuple[float, float] = (0.0, -60.0)
    patch_radius: float = 25.0
    scan_step_s: float = 10.0


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
    model: SkyModel = DEFAULT_MODEL
    search: SearchConfig = SearchConfig()

    def to_dict(self) -> dict[str, Any]:
        """The resolved configuration as plain YAML/JSON-able values."""
        d = _plain(asdict(self))
        d["grid"] = _plain(self.grid.to_dict())  # the parameters' axes at the top level of the section
        d["model"] = _plain(self.model.to_dict())
        return d

    def sha256(self) -> str:
        """Hash of the resolved configuration, without ``output`` (moving a run keeps its id) and
        without the ``model`` section when it is the default model and without the sky's true
        foreground keys at their defaults (sky/config.py ``hashed_sky``) and without
        ``spectra.estimator`` when it is ``master``, ``fit.realizations`` when it is ``full``, the
        ``search`` section when it is ``exhaustive``, the noise section's hit-map keys under
        ``noise.model: white`` and ``instrument.bandpass`` when None (what runs did before those
        keys), so the runs written before they existed keep their id."""
        d = self.to_dict()
        d.pop("output")
        d["sky"] = hashed_sky(d["sky"])
        if self.model == DEFAULT_MODEL:
            d.pop("model")
        if d["spectra"]["estimator"] == "master":
            d["spectra"].pop("estimator")
        if d["fit"]["realizations"] == "full":
            d["fit"].pop("realizations")
        if d["search"]["strategy"] == "exhaustive":
            d.pop("search")
        if d["instrument"]["bandpass"] is None:  # delta bands, as before the key
            d["instrument"].pop("bandpass")
        if d["noise"]["model"] == "white":  # the hit-map keys, as before they existed
            for key in HITS_FIELDS:
                d["noise"].pop(key)
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()


def _plain(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj


def parse_noise(raw: Mapping) -> NoiseConfig:
    """The ``noise`` section; defaults from :class:`NoiseConfig`."""
    n = section(raw, "noise", field_names(NoiseConfig))
    get = lambda key: n.get(key, default(NoiseConfig, key))  # noqa: E731
    centre = get("patch_centre")
    if not isinstance(centre, (list, tuple)) or len(centre) != 2:
        raise ConfigError("noise.patch_centre must be [Galactic longitude, latitude] in degrees")
    noise = NoiseConfig(realizations=int_value(get("realizations"), "noise.realizations", 1),
                        seed=int_value(get("seed"), "noise.seed", 0),
                        holdout=int_value(get("holdout"), "noise.holdout", 0),
                        model=choice(get("model"), "noise.model", NOISE_MODELS), hits=_hits(get("hits")),
                        patch_centre=tuple(number(v, "noise.patch_centre") for v in centre),
                        patch_radius=number(get("patch_radius"), "noise.patch_radius"),
                        scan_step_s=number(get("scan_step_s"), "noise.scan_step_s"))
    if noise.holdout >= noise.realizations:
        raise ConfigError("noise.holdout must leave at least one realization for selection")
    if (noise.model == "hits") != (noise.hits is not None):
        raise ConfigError("noise.hits is needed by noise.model hits, and only by it")
    if not 0 < noise.patch_radius <= 180 or not 0 < noise.scan_step_s <= 3600:
        raise ConfigError("noise.patch_radius must lie in (0, 180] degrees and noise.scan_step_s in (0, 3600]")
    return noise


def _hits(value: Any) -> str | tuple[str, ...] | None:
    """``noise.hits``: None, a generated map's name, or a readable file (a list: one per band)."""
    if value is None or value in GENERATED_HITS:
        return value
    files = (value,) if isinstance(value, str) else value
    if not isinstance(files, (list, tuple)) or not files or not all(isinstance(f, str) for f in files):
        raise ConfigError(f"noise.hits must be {', '.join(GENERATED_HITS)}, a hit-map file or a list of "
                          f"one per band, got {value!r}")
    for f in files:
        if not Path(f).is_file():
            raise ConfigError(f"noise.hits: cannot read hit map {f}")
    return value if isinstance(value, str) else tuple(files)


def parse_config(raw: Any, source: str = "<config>") -> RunConfig:
    """Validate a parsed YAML mapping and fill in defaults. Raises ConfigError."""
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{source}: a run config must be a YAML mapping")
    unknown = set(raw) - set(field_names(RunConfig))
    if unknown:
        raise ConfigError(f"unknown top-level key(s): {', '.join(sorted(map(str, unknown)))}")
    name = str(raw.get("name") or Path(source).stem)
    nside = check_nside(raw.get("nside", DEFAULT_NSIDE))
    model = parse_model(raw)
    instrument = instrument_from_config(raw.get("instrument"))
    noise = parse_noise(raw)
    if isinstance(noise.hits, tuple) and len(noise.hits) != instrument.n_freq:
        raise ConfigError(f"noise.hits: {len(noise.hits)} hit maps for {instrument.n_freq} bands")
    fit = parse_fit(raw, model)
    if isinstance(noise.hits, tuple) and fit.likelihood == "compressed":
        raise ConfigError("fit.likelihood compressed is exact only with one hit map common to every band: "
                          "use auto or pixel with per-band hit maps")
    if instrument.n_freq <= model.n_components:
        raise ConfigError(f"instrument {instrument.name!r}: {model.n_components} components need at least "
                          f"{model.n_components + 1} bands, it has {instrument.n_freq}")
    return RunConfig(
        name=name, nside=nside, instrument=instrument,
        sky=parse_sky(raw), regions=parse_regions(raw), grid=parse_grid(raw, model), noise=noise,
        fit=fit, spectra=parse_spectra(raw, nside), output=str(raw.get("output") or f"results/{name}"),
        model=model, search=parse_search(raw, noise.realizations, noise.holdout),
    )


def apply_overrides(raw: dict, overrides: Sequence[str]) -> dict:
    """A copy of the raw YAML mapping with each ``KEY.SUBKEY=VALUE`` of ``overrides`` set (VALUE read
    as YAML: ``sky.foreground_seed=1``, ``grid.temp_dust=[1, 5]``, ``name=other``); ConfigError (one
    line) for a malformed override or a key path through a non-mapping."""
    out = copy.deepcopy(raw)
    for override in overrides:
        key, sep, text = override.partition("=")
        path = key.strip().split(".")
        if not sep or not all(path):
            raise ConfigError(f"override {override!r} is not KEY=VALUE (e.g. sky.foreground_seed=1)")
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"override {override!r}: malformed YAML value") from exc
        node = out
        for part in path[:-1]:
            if node.get(part) is None:
                node[part] = {}
            node = node[part]
            if not isinstance(node, dict):
                raise ConfigError(f"override {override!r}: {part} is not a section")
        node[path[-1]] = value
    return out


def load_config(path: str | Path, overrides: Sequence[str] = ()) -> RunConfig:
    """Read and validate a YAML run config, with ``overrides`` (``apply_overrides``) set on it.
    Raises ConfigError with a one-line message."""
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
    if overrides:
        if not isinstance(raw, dict):
            raise ConfigError(f"config {path} is not a mapping")
        raw = apply_overrides(raw, overrides)
    return parse_config(raw, str(path))
