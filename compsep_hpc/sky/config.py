"""The ``sky`` section of a run config: which sky model, its seed, the injected r."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from compsep_hpc.config_fields import choice, default, field_names, int_value, number, section
from compsep_hpc.errors import ConfigError
from compsep_hpc.model.parameters import DEFAULT_NU_DUST, DEFAULT_NU_SYNCH, PARAMETERS

SKY_MODELS = ("synthetic", "synthetic_clustered", "pysm")


@dataclass(frozen=True)
class SkyConfig:
    """``model`` in SKY_MODELS; ``preset`` the PySM preset; ``r`` the injected tensor-to-scalar
    ratio; ``true_patches`` (K_beta_dust, K_temp_dust, K_beta_synch) of ``synthetic_clustered``;
    ``nu_dust``, ``nu_synch`` the SED reference frequencies in GHz."""

    model: str
    preset: str = "c1d1s1"
    seed: int = 0
    r: float = 0.0
    true_patches: tuple[int, int, int] | None = None
    nu_dust: float = DEFAULT_NU_DUST
    nu_synch: float = DEFAULT_NU_SYNCH


def _true_patches(value) -> tuple[int, int, int]:
    if isinstance(value, (list, tuple)) and len(value) == len(PARAMETERS):  # the resolved (stored) form
        value = dict(zip(PARAMETERS, value))
    if not isinstance(value, Mapping) or set(value) != set(PARAMETERS):
        raise ConfigError("sky.true_patches needs beta_dust, temp_dust and beta_synch counts")
    return tuple(int_value(value[p], f"sky.true_patches.{p}", 1) for p in PARAMETERS)


def parse_sky(raw: Mapping) -> SkyConfig:
    """The ``sky`` section (required); defaults from :class:`SkyConfig`."""
    s = section(raw, "sky", field_names(SkyConfig), required=True)
    model = choice(s.get("model"), "sky.model", SKY_MODELS)
    get = lambda key: s.get(key, default(SkyConfig, key))  # noqa: E731
    return SkyConfig(
        model=model,
        preset=str(get("preset")),
        seed=int_value(get("seed"), "sky.seed", 0),
        r=number(get("r"), "sky.r"),
        true_patches=_true_patches(s.get("true_patches")) if model == "synthetic_clustered" else None,
        nu_dust=number(get("nu_dust"), "sky.nu_dust"),
        nu_synch=number(get("nu_synch"), "sky.nu_synch"),
    )
