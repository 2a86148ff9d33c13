"""The ``spectra`` section of a run config: the multipoles of the residual BB spectra and the
taper of the region masks."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from compsep_hpc.config_fields import default, field_names, int_value, optional_number, section
from compsep_hpc.errors import ConfigError


@dataclass(frozen=True)
class SpectraConfig:
    """Residual BB spectra over multipoles [lmin, lmax] (``lmax`` None: 2 nside, resolved by
    :func:`parse_spectra`); ``apod_deg`` the taper width of the apodized region mask in degrees
    (None: spectra.apodized_mask's default rule)."""

    lmin: int = 2
    lmax: int | None = None
    apod_deg: float | None = None


def parse_spectra(raw: Mapping, nside: int) -> SpectraConfig:
    """The ``spectra`` section with ``lmax`` resolved; needs lmin < lmax <= 3 nside - 1."""
    sp = section(raw, "spectra", field_names(SpectraConfig))
    get = lambda key: sp.get(key, default(SpectraConfig, key))  # noqa: E731
    lmax = get("lmax")
    spectra = SpectraConfig(
        lmin=int_value(get("lmin"), "spectra.lmin", 2),
        lmax=int_value(2 * nside if lmax is None else lmax, "spectra.lmax", 2),
        apod_deg=optional_number(get("apod_deg"), "spectra.apod_deg"),
    )
    if not spectra.lmin < spectra.lmax <= 3 * nside - 1:
        raise ConfigError(f"spectra: need lmin < lmax <= 3 nside - 1 = {3 * nside - 1}")
    return spectra
