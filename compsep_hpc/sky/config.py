"""The ``sky`` section of a run config: which sky model, its seeds, the injected r, the validation
sky's true clustering (counts, K-means seed, per-patch spread), and the synthetic skies' true
foreground components (``foregrounds``, per region ``region_foregrounds``, the ``true_values`` of
the parameters that have no map, ``ame_polarization_fraction``; see sky/truth.py).

.. code-block:: yaml

    sky:
      model: synthetic
      foregrounds: [dust, synch]               # the default; cmb is implicit
      region_foregrounds: {GAL020: [dust, {name: curved_synch, pivot: 23.0}]}
      true_values: {curv_synch: -0.052, nu_peak_ame: 25.0}
      ame_polarization_fraction: 0.02
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from compsep_hpc.config_fields import choice, default, field_names, int_value, number, section
from compsep_hpc.errors import ConfigError
from compsep_hpc.model.parameters import DEFAULT_NU_DUST, DEFAULT_NU_SYNCH, PARAMETERS
from compsep_hpc.model.registry import COMPONENT_TYPES
from compsep_hpc.partition.config import MASK_KEYS, REGION_NAMES

SKY_MODELS = ("synthetic", "synthetic_clustered", "pysm")
DEFAULT_PATCH_SPREAD = {"beta_dust": 0.1, "temp_dust": 2.0, "beta_synch": 0.1}
"""Half-width of the uniform draw of the clustered sky's patch values around the mean (temp_dust in K)."""
DEFAULT_FOREGROUNDS = ("dust", "synch")
"""The synthetic skies' true foregrounds unless ``sky.foregrounds`` says otherwise (cmb is implicit)."""
TRUE_FOREGROUNDS = ("dust", "synch", "curved_synch", "ame")
"""The components a synthetic sky can hold (sky/truth.py gives each its amplitude)."""
DEFAULT_TRUE_VALUES = {"curv_synch": -0.052, "nu_peak_ame": 25.0}
"""True values of the parameters that have no map: the synchrotron curvature C about 23 GHz (Kogut
2012, ApJ 753, 110) and the AME peak frequency in GHz."""
DEFAULT_AME_POLARIZATION_FRACTION = 0.02
TRUTH_KEYS = ("foregrounds", "region_foregrounds", "true_values", "ame_polarization_fraction")
"""The sky keys of the true foreground model: left out of the config hash at their defaults."""

Spec = str | Mapping
"""A component spec: a registry name, or ``{name, option: value}`` (options other than nu_ref)."""


@dataclass(frozen=True)
class SkyConfig:
    """``model`` in SKY_MODELS; ``preset`` the PySM preset; ``seed`` draws the CMB and, unless
    ``foreground_seed`` is set, the synthetic foregrounds (amplitudes, parameter maps, clustered
    patch values); ``foreground_seed`` (synthetic skies only) draws the foregrounds alone, the CMB
    and the regions' masks staying those of ``seed``; ``r`` the injected tensor-to-scalar ratio;
    ``true_patches`` (K_beta_dust, K_temp_dust, K_beta_synch) of ``synthetic_clustered``, whose
    true patches are K-means partitions seeded by ``truth_kmeans_seed`` (by default not
    ``grid.seed``, the fit's: the truth is then not one of the fitted partitions) with values
    uniform in mean +- ``patch_spread`` per parameter; ``nu_dust``, ``nu_synch`` the SED
    reference frequencies in GHz; ``foregrounds`` (specs, sky/truth.py) the true foreground
    components of the synthetic skies, ``region_foregrounds`` those of a band or region instead
    (band/region name -> specs), ``true_values`` the values of the parameters without a map,
    ``ame_polarization_fraction`` the polarized fraction of the AME intensity."""

    model: str
    preset: str = "c1d1s1"
    seed: int = 0
    foreground_seed: int | None = None
    r: float = 0.0
    true_patches: tuple[int, int, int] | None = None
    truth_kmeans_seed: int = 1
    patch_spread: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_PATCH_SPREAD))
    nu_dust: float = DEFAULT_NU_DUST
    nu_synch: float = DEFAULT_NU_SYNCH
    foregrounds: tuple[Spec, ...] = DEFAULT_FOREGROUNDS
    region_foregrounds: Mapping[str, tuple[Spec, ...]] = field(default_factory=dict)
    true_values: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_TRUE_VALUES))
    ame_polarization_fraction: float = DEFAULT_AME_POLARIZATION_FRACTION

    @property
    def foreground_rng_seed(self) -> int:
        """The seed of the synthetic foregrounds: ``foreground_seed``, or ``seed`` when unset."""
        return self.seed if self.foreground_seed is None else self.foreground_seed


def _true_patches(value) -> tuple[int, int, int]:
    if isinstance(value, (list, tuple)) and len(value) == len(PARAMETERS):  # the resolved (stored) form
        value = dict(zip(PARAMETERS, value))
    if not isinstance(value, Mapping) or set(value) != set(PARAMETERS):
        raise ConfigError("sky.true_patches needs beta_dust, temp_dust and beta_synch counts")
    return tuple(int_value(value[p], f"sky.true_patches.{p}", 1) for p in PARAMETERS)


def _numbers(given, key: str, values: dict[str, float], unknown: str, ok, requirement) -> dict[str, float]:
    """``values`` overridden by the parameters ``given`` (``sky.KEY``): each known (else ``unknown``
    is said) and a number with ``ok(parameter, value)`` (else it must be ``requirement(parameter)``)."""
    if given is None:
        return values
    if not isinstance(given, Mapping):
        raise ConfigError(f"sky.{key} must map parameters ({', '.join(values)}) to numbers")
    for p, v in given.items():
        if p not in values:
            raise ConfigError(f"sky.{key}.{p}: {unknown}; known: {', '.join(values)}")
        values[p] = number(v, f"sky.{key}.{p}")
        if not ok(p, values[p]):
            raise ConfigError(f"sky.{key}.{p} must be {requirement(p)}, got {v!r}")
    return values


def _patch_spread(given) -> dict[str, float]:
    """Per-parameter half-widths: the defaults, overridden by the parameters ``given`` (each >= 0)."""
    return _numbers(given, "patch_spread", default(SkyConfig, "patch_spread"), "unknown parameter",
                    lambda p, v: 0 <= v < math.inf, lambda p: "a finite number >= 0")


def _spec(spec, where: str) -> Spec:
    """A component spec in its stored form: the name, or ``{name, options}`` with float options."""
    options = dict(spec) if isinstance(spec, Mapping) else {"name": spec}
    name = options.pop("name", None)
    if name == "cmb":
        raise ConfigError(f"{where}: cmb is implicit in every sky; list foregrounds only")
    if name not in TRUE_FOREGROUNDS:
        raise ConfigError(f"{where}: unknown component {name!r}; known: {', '.join(TRUE_FOREGROUNDS)}")
    known = {f.name for f in dataclasses.fields(COMPONENT_TYPES[name])} - {"nu_ref"}
    if set(options) - known:
        raise ConfigError(f"{where} ({name}): unknown option(s) {', '.join(sorted(map(str, set(options) - known)))}; "
                          f"known: {', '.join(sorted(known)) or 'none'} (nu_ref is the sky's: nu_dust, nu_synch, 23 GHz for ame)")
    values = {k: number(v, f"{where}.{k}") for k, v in options.items()}
    if any(not 0 < v < math.inf for v in values.values()):
        raise ConfigError(f"{where} ({name}): options must be positive and finite")
    return {"name": name, **values} if values else name


def spec_name(spec: Spec) -> str:
    """The registry name of a component spec."""
    return spec if isinstance(spec, str) else spec["name"]


def _specs(value, where: str) -> tuple[Spec, ...]:
    if not isinstance(value, (list, tuple)) or not value:
        raise ConfigError(f"{where} must be a non-empty list of foreground components")
    specs = tuple(_spec(v, f"{where}[{i}]") for i, v in enumerate(value))
    declared = [p.name for s in specs for p in COMPONENT_TYPES[spec_name(s)].parameters]
    twice = sorted({p for p in declared if declared.count(p) > 1})
    if twice:
        raise ConfigError(f"{where}: {', '.join(twice)} declared twice (a component listed twice, or synch with curved_synch)")
    return specs


def _region_foregrounds(value) -> dict[str, tuple[Spec, ...]]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError("sky.region_foregrounds must map bands or regions to foreground lists")
    for name in value:
        if name not in REGION_NAMES:
            raise ConfigError(f"sky.region_foregrounds: unknown band or region {name!r}; known: {', '.join(REGION_NAMES)}")
    overlaps = [b for b in MASK_KEYS if b in value and any(n.startswith(f"{b}_") for n in value)]
    if overlaps:
        raise ConfigError(f"sky.region_foregrounds names band {overlaps[0]} and one of its halves; give one or the other")
    return {str(k): _specs(v, f"sky.region_foregrounds.{k}") for k, v in value.items()}


def _true_values(given) -> dict[str, float]:
    """The defaults, overridden by the values ``given`` (finite; nu_peak_ame positive)."""
    return _numbers(given, "true_values", dict(DEFAULT_TRUE_VALUES), "not a parameter without a map",
                    lambda p, v: math.isfinite(v) and (p != "nu_peak_ame" or v > 0),
                    lambda p: "finite and positive" if p == "nu_peak_ame" else "finite")


def _truth(s: Mapping, model: str) -> dict:
    """The true-foreground fields of the sky section (defaults filled in), checked."""
    fraction = number(s.get("ame_polarization_fraction", DEFAULT_AME_POLARIZATION_FRACTION), "sky.ame_polarization_fraction")
    if not 0 <= fraction <= 1:
        raise ConfigError(f"sky.ame_polarization_fraction must lie in [0, 1], got {fraction!r}")
    foregrounds = s.get("foregrounds")
    truth = {"foregrounds": DEFAULT_FOREGROUNDS if foregrounds is None else _specs(foregrounds, "sky.foregrounds"),
             "region_foregrounds": _region_foregrounds(s.get("region_foregrounds")),
             "true_values": _true_values(s.get("true_values")), "ame_polarization_fraction": fraction}
    changed = list(hashed_sky(truth))
    if model == "pysm" and changed:
        raise ConfigError(f"sky.{changed[0]} needs a synthetic sky model (a pysm sky's components and "
                          "their values are its sky.preset's)")
    return truth


def hashed_sky(resolved: Mapping) -> dict:
    """The resolved sky section as the config hash sees it: the TRUTH_KEYS at their defaults left
    out, so that every config written before they existed keeps its run id."""
    defaults = {"foregrounds": list(DEFAULT_FOREGROUNDS), "region_foregrounds": {}, "true_values": DEFAULT_TRUE_VALUES,
                "ame_polarization_fraction": DEFAULT_AME_POLARIZATION_FRACTION}
    return {k: v for k, v in resolved.items() if k not in TRUTH_KEYS or _plain(v) != _plain(defaults[k])}


def _plain(value):
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return dict(value) if isinstance(value, Mapping) else value


def parse_sky(raw: Mapping) -> SkyConfig:
    """The ``sky`` section (required); defaults from :class:`SkyConfig`."""
    s = section(raw, "sky", field_names(SkyConfig), required=True)
    model = choice(s.get("model"), "sky.model", SKY_MODELS)
    get = lambda key: s.get(key, default(SkyConfig, key))  # noqa: E731
    foreground_seed = get("foreground_seed")
    if foreground_seed is not None:
        if model == "pysm":
            raise ConfigError("sky.foreground_seed needs a synthetic sky model (pysm foregrounds are templates)")
        foreground_seed = int_value(foreground_seed, "sky.foreground_seed", 0)
    return SkyConfig(
        model=model,
        preset=str(get("preset")),
        seed=int_value(get("seed"), "sky.seed", 0),
        foreground_seed=foreground_seed,
        r=number(get("r"), "sky.r"),
        true_patches=_true_patches(s.get("true_patches")) if model == "synthetic_clustered" else None,
        truth_kmeans_seed=int_value(get("truth_kmeans_seed"), "sky.truth_kmeans_seed", 0),
        patch_spread=_patch_spread(s.get("patch_spread")),
        nu_dust=number(get("nu_dust"), "sky.nu_dust"),
        nu_synch=number(get("nu_synch"), "sky.nu_synch"),
        **_truth(s, model),
    )
