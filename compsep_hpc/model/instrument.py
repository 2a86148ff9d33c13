r"""Instruments: band frequencies and polarization depths (no JAX; the noise maps are in noise.py).

Per-pixel noise of band :math:`\nu`: :math:`\sigma_\nu = \mathrm{depth}_{p,\nu} / \theta_{pix}`,
:math:`\theta_{pix} = \sqrt{4\pi / N_{pix}}` in arcmin, in uK_CMB for Q and U alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
import numpy as np

from compsep_hpc.errors import ConfigError

ARCMIN_PER_RAD = 60.0 * 180.0 / np.pi


BANDPASS_SHAPES = ("tophat", "tabulated")


@dataclass(frozen=True)
class Bandpass:
    """Each band's transmission (model/bandpass.py integrates over it): ``tophat`` of relative
    ``width`` (nu in nu_c (1 -+ width/2)) sampled at ``samples`` frequencies, or ``tabulated``:
    per band the frequencies ``nu`` (GHz, increasing) and the ``transmission`` there."""

    shape: str = "tophat"
    width: float = 0.3
    samples: int = 9
    nu: tuple[tuple[float, ...], ...] | None = None
    transmission: tuple[tuple[float, ...], ...] | None = None


@dataclass(frozen=True)
class Instrument:
    """A set of bands: ``frequencies`` in GHz, ``depth_p`` polarization depths in uK_CMB·arcmin,
    ``bandpass``: None (delta bands at ``frequencies``) or each band's transmission."""

    name: str
    frequencies: tuple[float, ...]
    depth_p: tuple[float, ...]
    bandpass: Bandpass | None = None

    def __post_init__(self) -> None:
        if len(self.frequencies) != len(self.depth_p):
            raise ConfigError(
                f"instrument {self.name!r}: {len(self.frequencies)} frequencies but "
                f"{len(self.depth_p)} depths"
            )
        if len(self.frequencies) < 4:
            raise ConfigError(f"instrument {self.name!r}: 3 components need at least 4 bands")
        if min(self.frequencies) <= 0 or min(self.depth_p) <= 0:
            raise ConfigError(f"instrument {self.name!r}: frequencies and depths must be positive")

    @property
    def n_freq(self) -> int:
        return len(self.frequencies)

    def noise_sigma(self, nside: int) -> np.ndarray:
        """White-noise standard deviation per pixel and band, uK_CMB, shape ``(n_freq,)``."""
        pixel_arcmin = np.sqrt(4.0 * np.pi / (12 * nside**2)) * ARCMIN_PER_RAD
        return np.asarray(self.depth_p, dtype=float) / pixel_arcmin


LITEBIRD = Instrument(
    name="litebird",
    frequencies=(40.0, 50.0, 60.0, 68.0, 78.0, 89.0, 100.0, 119.0, 140.0, 166.0, 195.0, 235.0,
                 280.0, 337.0, 402.0),
    depth_p=(37.42, 33.46, 21.31, 16.87, 12.07, 11.30, 6.56, 4.58, 4.79, 5.57, 5.85, 10.79,
             13.8, 21.95, 47.45),
)

QUIJOTE_LOW = {11.0: 840.0, 13.0: 840.0}
"""QUIJOTE MFI's 11 and 13 GHz bands: depth_p in uK_CMB·arcmin (the value this project adopts for
the wide survey, the same in both bands), to anchor synchrotron and AME below LiteBIRD's 40 GHz."""


def combined(name: str, *bands: Mapping[float, float]) -> Instrument:
    """One instrument of several sets of bands ``{frequency GHz: depth_p uK·arcmin}``, sorted by
    ascending frequency (a frequency listed twice is refused)."""
    merged = [(float(f), float(d)) for b in bands for f, d in b.items()]
    if len({f for f, _ in merged}) != len(merged):
        raise ConfigError(f"instrument {name!r}: a frequency is listed twice")
    merged.sort()
    return Instrument(name=name, frequencies=tuple(f for f, _ in merged), depth_p=tuple(d for _, d in merged))


LITEBIRD_QUIJOTE = combined("litebird_quijote", dict(zip(LITEBIRD.frequencies, LITEBIRD.depth_p)), QUIJOTE_LOW)
"""LiteBIRD's 15 bands and QUIJOTE's 11 and 13 GHz: 17 bands, 11 to 402 GHz."""

KNOWN_INSTRUMENTS = {"litebird": LITEBIRD, "litebird_quijote": LITEBIRD_QUIJOTE}


def _bandpass(spec: Mapping | None, n_freq: int) -> Bandpass | None:
    """``instrument.bandpass``: None, ``{shape: tophat, width, samples}`` or ``{shape: tabulated,
    nu: [[GHz...] per band], transmission: [[...] per band]}``."""
    if spec is None:
        return None
    names = {f.name for f in fields(Bandpass)}
    if not isinstance(spec, Mapping) or set(spec) - names:
        raise ConfigError(f"instrument.bandpass must be a mapping of {', '.join(sorted(names))}")
    get = lambda key: spec.get(key, getattr(Bandpass(), key))  # noqa: E731
    try:
        nu, tr = get("nu"), get("transmission")
        band = Bandpass(shape=str(get("shape")), width=float(get("width")), samples=int(get("samples")),
                        nu=None if nu is None else tuple(tuple(float(v) for v in b) for b in nu),
                        transmission=None if tr is None else tuple(tuple(float(v) for v in b) for b in tr))
    except (TypeError, ValueError) as exc:
        raise ConfigError("instrument.bandpass: width, samples and the tabulated nu and transmission must be numbers"
                          ) from exc
    if band.shape not in BANDPASS_SHAPES:
        raise ConfigError(f"instrument.bandpass.shape must be one of {', '.join(BANDPASS_SHAPES)}, got {band.shape!r}")
    if band.shape == "tophat" and not (0 < band.width < 2 and band.samples >= 2):
        raise ConfigError("instrument.bandpass: a tophat needs 0 < width < 2 and samples >= 2")
    if band.shape == "tabulated":
        if band.nu is None or band.transmission is None or len(band.nu) != n_freq or len(band.transmission) != n_freq:
            raise ConfigError(f"instrument.bandpass tabulated: nu and transmission need one list per band ({n_freq})")
        for nu_b, t_b in zip(band.nu, band.transmission):
            if len(nu_b) != len(t_b) or len(nu_b) < 2 or min(nu_b) <= 0 or np.any(np.diff(nu_b) <= 0) \
                    or min(t_b) < 0 or max(t_b) <= 0:
                raise ConfigError("instrument.bandpass tabulated: each band needs >= 2 increasing positive "
                                  "frequencies and as many non-negative transmissions, not all zero")
    return band


def instrument_from_config(spec: str | Mapping | None) -> Instrument:
    """An instrument from a known name or a mapping ``{name?, frequencies, depth_p, bandpass?}``
    (a known name without frequencies and depths takes that instrument's)."""
    if spec is None:
        return LITEBIRD
    if isinstance(spec, str):
        if spec.lower() not in KNOWN_INSTRUMENTS:
            raise ConfigError(
                f"unknown instrument {spec!r}; known: {', '.join(KNOWN_INSTRUMENTS)} "
                "(or give a mapping with frequencies and depth_p)"
            )
        return KNOWN_INSTRUMENTS[spec.lower()]
    if isinstance(spec, Mapping):
        unknown = set(spec) - {"name", "frequencies", "depth_p", "bandpass"}
        if unknown:
            raise ConfigError(f"unknown instrument keys: {', '.join(sorted(unknown))}")
        if "frequencies" not in spec and "depth_p" not in spec and str(spec.get("name")).lower() in KNOWN_INSTRUMENTS:
            known = KNOWN_INSTRUMENTS[str(spec["name"]).lower()]
            return Instrument(known.name, known.frequencies, known.depth_p, _bandpass(spec.get("bandpass"), known.n_freq))
        try:
            freqs = tuple(float(f) for f in spec["frequencies"])
            depths = tuple(float(d) for d in spec["depth_p"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(
                "instrument mapping needs numeric lists 'frequencies' (GHz) and 'depth_p' (uK.arcmin)"
            ) from exc
        return Instrument(name=str(spec.get("name", "custom")), frequencies=freqs, depth_p=depths,
                          bandpass=_bandpass(spec.get("bandpass"), len(freqs)))
    raise ConfigError(f"instrument must be a name or a mapping, not {type(spec).__name__}")
