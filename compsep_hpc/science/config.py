"""The ``spectra`` section of a run config: the residual BB bandpowers (binning, multipole range),
the taper of the region masks, and the lensing amplitude of the r likelihood; and the table of
the selection criteria (science/selection.py), which configs name (``search.criterion``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple

from compsep_hpc.config_fields import choice, default, field_names, int_value, number, section
from compsep_hpc.errors import ConfigError


class Criterion(NamedTuple):
    """A selection rule: the row ``figure`` it minimises, whether that needs the r records, and
    whether only items with ``r_bias`` <= ``max_r_bias`` compete."""

    figure: str
    needs_r: bool = False
    bias_capped: bool = False


CRITERIA: dict[str, Criterion] = {
    "min_cmb_mse": Criterion("cmb_mse"),
    "min_variance": Criterion("cmb_variance"),
    "min_r_upper": Criterion("r_upper", needs_r=True),
    "min_r_upper_low_bias": Criterion("r_upper", needs_r=True, bias_capped=True),
    "min_aic": Criterion("aic"),
    "min_bic": Criterion("bic"),
}
"""criterion -> its rule (science/selection.py says what each does); the one table of the criteria."""
DEFAULT_CRITERION = "min_cmb_mse"
DEFAULT_MAX_R_BIAS = 1e-3
"""Default cap of ``min_r_upper_low_bias`` on r_hat - sky.r: LiteBIRD's target total uncertainty on r."""

APOD_TYPES = ("C1", "C2")
"""NaMaster's tapers (science/apodization.py)."""
ESTIMATORS = ("master", "pure_b")
"""BB bandpower estimators (science/coupling.py): MASTER, or pure-B through NaMaster."""
INSTALL_HINT = "scripts/install_namaster.sh"
"""What installs pymaster, which pure_b needs."""


def require_pymaster():
    """The ``pymaster`` module, or :class:`ConfigError` (one line naming the install script)."""
    try:
        import pymaster
    except ImportError as err:
        raise ConfigError(f"spectra.estimator pure_b needs pymaster (NaMaster), which does not import here "
                          f"({err}): install it with {INSTALL_HINT}") from None
    return pymaster


@dataclass(frozen=True)
class SpectraConfig:
    """Residual BB bandpowers over [lmin, lmax] in bins of ``delta_ell`` multipoles.

    ``lmin`` None: each region's own, from its size (science/bandpowers.region_lmin); ``lmax``
    None: 2 nside, resolved by :func:`parse_spectra`. ``apod_type`` and ``apod_deg``: the taper
    of the region masks (science/apodization.py), width in degrees (0: binary mask). ``A_lens``:
    amplitude of the lensing BB in the observed and the model spectra of the r likelihood
    (1: no delensing). ``estimator``: ``master`` (pseudo-spectra of the weighted maps) or
    ``pure_b`` (NaMaster's purified B, science/purification.py; needs pymaster).
    """

    lmin: int | None = None
    lmax: int | None = None
    delta_ell: int = 10
    apod_type: str = "C2"
    apod_deg: float = 2.0
    A_lens: float = 1.0
    estimator: str = "master"


def parse_spectra(raw: Mapping, nside: int) -> SpectraConfig:
    """The ``spectra`` section with ``lmax`` resolved; needs 2 <= lmin < lmax <= 3 nside - 1,
    delta_ell >= 1, apod_deg >= 0 and A_lens >= 0; ``pure_b`` is refused where pymaster does not
    import (one line naming scripts/install_namaster.sh)."""
    sp = section(raw, "spectra", field_names(SpectraConfig))
    get = lambda key: sp.get(key, default(SpectraConfig, key))  # noqa: E731
    lmin, lmax = get("lmin"), get("lmax")
    spectra = SpectraConfig(
        lmin=None if lmin is None else int_value(lmin, "spectra.lmin", 2),
        lmax=int_value(2 * nside if lmax is None else lmax, "spectra.lmax", 3),
        delta_ell=int_value(get("delta_ell"), "spectra.delta_ell", 1),
        apod_type=choice(get("apod_type"), "spectra.apod_type", APOD_TYPES),
        apod_deg=number(get("apod_deg"), "spectra.apod_deg"),
        A_lens=number(get("A_lens"), "spectra.A_lens"),
        estimator=choice(get("estimator"), "spectra.estimator", ESTIMATORS),
    )
    if spectra.estimator == "pure_b":
        require_pymaster()
    if not (spectra.lmin or 2) < spectra.lmax <= 3 * nside - 1:
        raise ConfigError(f"spectra: need 2 <= lmin < lmax <= 3 nside - 1 = {3 * nside - 1}")
    if spectra.apod_deg < 0 or spectra.A_lens < 0:
        raise ConfigError("spectra: need apod_deg >= 0 and A_lens >= 0")
    return spectra
