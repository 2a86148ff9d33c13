"""The ``sky`` section of a run config: which sky model, its seeds, the injected r, and the
validation sky's true clustering (counts, K-means seed, per-patch spread)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from compsep_hpc.config_fields import choice, default, field_names, int_value, number, section
from compsep_hpc.errors import ConfigError
from compsep_hpc.model.parameters import DEFAULT_NU_DUST, DEFAULT_NU_SYNCH, PARAMETERS

SKY_MODELS = ("synthetic", "synthetic_clustered", "pysm")
DEFAULT_PATCH_SPREAD = {"beta_dust": 0.1, "temp_dust": 2.0, "beta_synch": 0.1}
"""Half-width of the uniform draw of the clustered sky's patch values around the mean (temp_dust in K)."""


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
    reference frequencies in GHz."""

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


def _patch_spread(given) -> dict[str, float]:
    """Per-parameter half-widths: the defaults, overridden by the parameters ``given`` (each >= 0)."""
    spread = default(SkyConfig, "patch_spread")
    if given is None:
        return spread
    if not isinstance(given, Mapping):
        raise ConfigError(f"sky.patch_spread must map parameters ({', '.join(PARAMETERS)}) to numbers")
    for p, v in given.items():
        if p not in PARAMETERS:
            raise ConfigError(f"sky.patch_spread.{p}: unknown parameter; known: {', '.join(PARAMETERS)}")
        spread[p] = number(v, f"sky.patch_spread.{p}")
        if not 0 <= spread[p] < math.inf:
            raise ConfigError(f"sky.patch_spread.{p} must be a finite number >= 0, got {v!r}")
    return spread


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
    )
