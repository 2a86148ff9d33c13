r"""The offline d1s1-like sky: Gaussian dust and synchrotron with smooth spectral-parameter maps.

Needs no template. Everything is drawn from numpy generators derived from ``sky.seed``
(:func:`compsep_hpc.sky.cmb.rng_stream`, one stream per field), so one config gives bit-identical
maps, and numpy's global RNG is neither used nor changed.

Amplitudes (Q/U, K_CMB, at the reference frequencies ``nu_dust`` and ``nu_synch``):

- each is :math:`A\,m(b)\,f(\hat n)`, where :math:`f` is a Gaussian polarization field with
  :math:`C_\ell^{EE} \propto (\ell/80)^{\alpha}`, :math:`C_\ell^{BB} = \rho\,C_\ell^{EE}`
  (:math:`\ell \ge 2`), normalised so that :math:`\langle Q^2 + U^2\rangle = 1` when summed to
  :math:`\ell = 1000`, and :math:`m(b) = (|\sin b| + \epsilon)^{-p}` is a cosecant-like
  latitude profile, :math:`b` the Galactic latitude of the pixel centre.
- dust: :math:`\alpha = -2.4`, :math:`\rho = 0.5`, :math:`\epsilon = 0.05`, :math:`p = 2.25`,
  :math:`A = 18` uK_CMB at 353 GHz, so the polarized intensity at 353 GHz is ~16 uK_CMB at the
  poles, ~69 uK at :math:`|b| = 30°` and up to ~15000 uK in the plane.
- synchrotron: :math:`\alpha = -3`, :math:`\rho = 0.35`, :math:`\epsilon = 0.1`, :math:`p = 1`,
  :math:`A = 15` uK_RJ at 23 GHz (~14 uK_RJ at the poles, up to ~150 uK_RJ in the plane).
- :math:`A` and :math:`p` are calibrated on Planck's BB power at :math:`\ell = 80` against sky
  fraction (docs/sky_calibration.md, ``scripts/calibrate_sky.py``): with intensity masks of
  :math:`f_{sky}` 0.24-0.71 the dust :math:`D_{80}^{BB}` at 353 GHz and the synchrotron one at
  30 GHz lie within a factor 1.5 of the references; :math:`p = 2.25` for dust gives Planck's
  tenfold rise of the dust power from :math:`f_{sky}` 0.24 to 0.71 (a cosecant, :math:`p = 1`,
  gives about twofold).
- the maps are then moved to ``nu_dust`` / ``nu_synch`` with the *mean* SEDs
  (1.54, 20 K; -3), so the amplitudes never depend on the spectral-parameter maps.

Spectral parameters: smooth Gaussian fields (:math:`C_\ell \propto \ell^{-2}` times a 10° FWHM
Gaussian beam, :math:`\ell \ge 1`) rescaled to zero mean and unit standard deviation over the sky,
then :math:`\beta_d = 1.54 + 0.08 f`, :math:`T_d = 20 + 1.5 f` K, :math:`\beta_s = -3 + 0.1 f`,
each clipped at 3 standard deviations (far inside the declared bounds, model/components/).

True model: dust + power-law synchrotron by default; ``sky.foregrounds`` and
``sky.region_foregrounds`` choose other components (curved synchrotron on the same amplitude and
beta_synch map, polarized AME of sky/ame.py), per region: sky/truth.py.

Foreground intensity (for the Galactic masks): :math:`P_{353} + P_{23}`, the polarized
intensities (uK_CMB) of the total foreground at 353 and 23 GHz with the mean SEDs, smoothed with a
5° FWHM Gaussian beam; it only depends on the amplitudes.

Seeds: the CMB is drawn from ``sky.seed``, the foreground amplitudes and parameter maps from
``sky.foreground_seed`` (``sky.seed`` when unset). The foreground intensity that defines the
regions (without a mask file) is always that of ``sky.seed``'s amplitudes, so another foreground
seed gives another foreground realization, with the same statistics, behind the same CMB and in the
same regions (as an analysis keeps its masks).
"""

from __future__ import annotations

from collections.abc import Sequence

import healpy as hp
import numpy as np

from compsep_hpc.model import sed
from compsep_hpc.model.bandpass import band_average, band_samples
from compsep_hpc.model.instrument import Instrument
from compsep_hpc.sky.config import SkyConfig
from compsep_hpc.sky.cmb import CambSpectra, gaussian_alm, gaussian_cmb_qu, gaussian_eb_qu, rng_stream
from compsep_hpc.sky.ame import ame_amplitudes
from compsep_hpc.sky.maps import SkyMaps
from compsep_hpc.sky.truth import is_default, spec_label, true_foregrounds, uses

MEAN_PARAMS = {"beta_dust": 1.54, "temp_dust": 20.0, "beta_synch": -3.0}
PARAM_SIGMA = {"beta_dust": 0.08, "temp_dust": 1.5, "beta_synch": 0.1}
PARAM_CLIP_SIGMAS = 3.0
PARAM_FWHM_DEG = 10.0

DUST = {"nu": 353.0, "amplitude_kcmb": 18.0, "alpha": -2.4, "bb_ee": 0.5, "eps": 0.05, "profile_index": 2.25}
SYNCH = {"nu": 23.0, "amplitude_krj": 15.0, "alpha": -3.0, "bb_ee": 0.35, "eps": 0.1, "profile_index": 1.0}

INTENSITY_BANDS = (353.0, 23.0)  # GHz
INTENSITY_FWHM_DEG = 5.0

# RNG streams of sky.seed (0, 1: CMB E/B in cmb.py; 9+: clustered.py)
_STREAMS = {"dust": (2, 3), "synch": (4, 5), "beta_dust": 6, "temp_dust": 7, "beta_synch": 8}
_NORM_LMAX = 1000


def _power_law_spectra(lmax: int, alpha: float, bb_ee: float) -> tuple[np.ndarray, np.ndarray]:
    """EE, BB ~ (ell/80)^alpha for ell >= 2, normalised to <Q^2+U^2> = 1 up to ell = 1000."""
    ell = np.arange(max(lmax, _NORM_LMAX) + 1, dtype=float)
    ee = np.zeros_like(ell)
    ee[2:] = (ell[2:] / 80.0) ** alpha
    n = _NORM_LMAX + 1
    norm = np.sum((2 * ell[:n] + 1) / (4 * np.pi) * ee[:n] * (1 + bb_ee))
    ee = ee[: lmax + 1] / norm
    return ee, bb_ee * ee


def latitude_profile(nside: int, eps: float, index: float = 1.0) -> np.ndarray:
    """Cosecant-like profile ``(|sin b| + eps)^(-index)`` at the RING pixel centres, ``(npix,)``."""
    theta, _ = hp.pix2ang(nside, np.arange(12 * nside**2))
    return (np.abs(np.cos(theta)) + eps) ** -index


def _modulated_field(nside: int, seed: int, spec: dict, streams: tuple[int, int]) -> np.ndarray:
    ee, bb = _power_law_spectra(3 * nside - 1, spec["alpha"], spec["bb_ee"])
    qu = gaussian_eb_qu(ee, bb, nside, rng_stream(seed, streams[0]), rng_stream(seed, streams[1]))
    return qu * latitude_profile(nside, spec["eps"], spec["profile_index"])[None, :]


def foreground_amplitudes(
    nside: int, seed: int, nu_dust: float = sed.DEFAULT_NU_DUST,
    nu_synch: float = sed.DEFAULT_NU_SYNCH,
) -> tuple[np.ndarray, np.ndarray]:
    """Dust and synchrotron Q/U amplitudes, uK_CMB at ``nu_dust`` and ``nu_synch`` GHz.

    Returns:
        ``(dust_qu, synch_qu)``, each ``(2, 12 nside^2)``; see the module docstring for the model.
        They depend on ``(nside, seed, nu_dust, nu_synch)`` only.
    """
    m = MEAN_PARAMS
    dust_353 = DUST["amplitude_kcmb"] * _modulated_field(nside, seed, DUST, _STREAMS["dust"])
    to_nu_dust = float(sed.dust_sed(nu_dust, m["beta_dust"], m["temp_dust"], DUST["nu"]))
    synch_23 = (SYNCH["amplitude_krj"] * float(sed.kcmb_per_krj(SYNCH["nu"]))
                * _modulated_field(nside, seed, SYNCH, _STREAMS["synch"]))
    to_nu_synch = float(sed.synch_sed(nu_synch, m["beta_synch"], SYNCH["nu"]))
    return dust_353 * to_nu_dust, synch_23 * to_nu_synch


def _smooth_unit_field(nside: int, rng: np.random.Generator) -> np.ndarray:
    lmax = 3 * nside - 1
    ell = np.arange(lmax + 1, dtype=float)
    sigma = np.radians(PARAM_FWHM_DEG) / np.sqrt(8 * np.log(2))
    cl = np.zeros(lmax + 1)
    cl[1:] = ell[1:] ** -2.0 * np.exp(-ell[1:] * (ell[1:] + 1) * sigma**2)
    field = hp.alm2map(gaussian_alm(cl, rng), nside)
    return (field - field.mean()) / field.std()


def parameter_maps(nside: int, seed: int) -> dict[str, np.ndarray]:
    """Smooth maps of ``beta_dust``, ``temp_dust`` (K) and ``beta_synch``, each ``(12 nside^2,)``.

    Mean (1.54, 20 K, -3), standard deviations (0.08, 1.5 K, 0.1), clipped at 3 sigma.
    """
    out = {}
    for name, mean in MEAN_PARAMS.items():
        f = _smooth_unit_field(nside, rng_stream(seed, _STREAMS[name]))
        s = PARAM_SIGMA[name]
        half = PARAM_CLIP_SIGMAS * s
        out[name] = np.clip(mean + s * f, mean - half, mean + half)
    return out


def foreground_maps(
    frequencies: Sequence[float] | np.ndarray,
    dust_qu: np.ndarray,
    synch_qu: np.ndarray,
    params: dict[str, np.ndarray],
    nu_dust: float = sed.DEFAULT_NU_DUST,
    nu_synch: float = sed.DEFAULT_NU_SYNCH,
) -> np.ndarray:
    """Band maps of the foregrounds, uK_CMB, shape ``(n_freq, 2, npix)``.

    :math:`d_\\nu(p) = s_d(p)\\,a_d(\\nu; \\beta_d(p), T_d(p)) + s_s(p)\\,a_s(\\nu; \\beta_s(p))`
    with the SEDs of :mod:`compsep_hpc.model.sed` (normalised at ``nu_dust`` and ``nu_synch``).
    ``params`` maps each parameter name to a ``(npix,)`` map (or a scalar).
    """
    nu = np.asarray(frequencies, dtype=float)[:, None]
    a_d = np.asarray(sed.dust_sed(nu, params["beta_dust"], params["temp_dust"], nu_dust))
    a_s = np.asarray(sed.synch_sed(nu, params["beta_synch"], nu_synch))
    a_d = np.broadcast_to(a_d, (nu.shape[0], dust_qu.shape[-1]))
    a_s = np.broadcast_to(a_s, (nu.shape[0], synch_qu.shape[-1]))
    return a_d[:, None, :] * dust_qu[None] + a_s[:, None, :] * synch_qu[None]


def polarized_intensity(bands_qu: Sequence[np.ndarray], nside: int) -> np.ndarray:
    """Sum of the polarized intensities :math:`\\sqrt{Q^2+U^2}` of ``(2, npix)`` maps, smoothed.

    The smoothing is a Gaussian beam of ``INTENSITY_FWHM_DEG`` FWHM (``healpy.smoothing``,
    ``lmax = 3 nside - 1``). Same unit as the inputs.
    """
    p = sum(np.hypot(qu[0], qu[1]) for qu in bands_qu)
    return np.asarray(
        hp.smoothing(p, fwhm=np.radians(INTENSITY_FWHM_DEG), lmax=3 * nside - 1), dtype=float
    )


def foreground_intensity(
    dust_qu: np.ndarray, synch_qu: np.ndarray, nside: int,
    nu_dust: float = sed.DEFAULT_NU_DUST, nu_synch: float = sed.DEFAULT_NU_SYNCH,
) -> np.ndarray:
    """Smoothed :math:`P_{353} + P_{23}` of the foregrounds, mean SEDs, uK_CMB, ``(npix,)``."""
    fg = foreground_maps(INTENSITY_BANDS, dust_qu, synch_qu, MEAN_PARAMS, nu_dust, nu_synch)
    return polarized_intensity(list(fg), nside)


def sky_amplitudes(sky: SkyConfig, nside: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(dust_qu, synch_qu, intensity)``: the amplitudes of ``sky.foreground_rng_seed`` (each
    ``(2, npix)``, uK_CMB at ``nu_dust`` / ``nu_synch``) and the region-defining foreground
    intensity ``(npix,)`` of ``sky.seed``'s amplitudes (the same draw when no foreground seed is set)."""
    dust, synch = foreground_amplitudes(nside, sky.foreground_rng_seed, sky.nu_dust, sky.nu_synch)
    mask_dust, mask_synch = ((dust, synch) if sky.foreground_rng_seed == sky.seed
                             else foreground_amplitudes(nside, sky.seed, sky.nu_dust, sky.nu_synch))
    return dust, synch, foreground_intensity(mask_dust, mask_synch, nside, sky.nu_dust, sky.nu_synch)


def seeds_description(sky: SkyConfig) -> str:
    """``seed S`` or ``seed S, foreground seed F`` for a sky's one-line description."""
    return f"seed {sky.seed}" + ("" if sky.foreground_seed is None else f", foreground seed {sky.foreground_seed}")


def dust_envelope(nside: int) -> np.ndarray:
    """The dust's polarized envelope at 353 GHz, uK_CMB, ``(12 nside^2,)``: :math:`A m(b)` of the
    dust model (its Q/U are this times a unit-variance Gaussian field)."""
    return DUST["amplitude_kcmb"] * latitude_profile(nside, DUST["eps"], DUST["profile_index"])


def synthetic_maps(sky: SkyConfig, nside: int, instrument: Instrument, amplitudes: tuple, params: dict[str, np.ndarray],
                   *, mask_file: str | None, cmb_spectra: CambSpectra | None, description: str) -> SkyMaps:
    """The SkyMaps of a synthetic sky: ``amplitudes`` = :func:`sky_amplitudes`, ``params`` the
    mapped parameters ``(npix,)``, the true model of ``sky`` (sky/truth.py, its regions cut with
    ``mask_file``), the CMB of ``sky.seed`` drawn from ``cmb_spectra`` (None: CAMB's)."""
    dust, synch, intensity = amplitudes
    freqs = np.asarray(instrument.frequencies, dtype=float)
    maps = {"dust": dust, "synch": synch}
    if uses(sky, "ame"):
        maps["ame"] = ame_amplitudes(dust, dust_envelope(nside), sky.ame_polarization_fraction)
    samples = band_samples(instrument)  # None: delta bands; else each band's K_CMB average (model/bandpass.py)
    truth = true_foregrounds(sky, nside, freqs if samples is None else samples.nu.reshape(-1), maps, params,
                             mask_file=mask_file, intensity=intensity)
    if not is_default(sky):
        description += f"; true foregrounds {truth.model_names[0]}" + "".join(
            f", {region}: {'+'.join(map(spec_label, specs))}" for region, specs in sky.region_foregrounds.items())
    return SkyMaps(
        nside=nside,
        frequencies=freqs,
        cmb=gaussian_cmb_qu(nside, sky.r, sky.seed, cmb_spectra),
        foregrounds=band_average(lambda _: truth.foregrounds, freqs, samples),
        foreground_intensity=intensity,
        true_params={**params, **truth.extra_params},
        description=description,
        model_map=truth.model_map,
        model_names=truth.model_names,
    )


def synthetic_sky(sky: SkyConfig, nside: int, instrument: Instrument, *, mask_file: str | None = None,
                  cmb_spectra: CambSpectra | None = None) -> SkyMaps:
    """The synthetic d1s1-like sky (seeds, r, SED references and true model of ``sky``) in the
    instrument's bands, its CMB drawn from ``cmb_spectra`` (None: CAMB's); ``mask_file`` cuts the
    regions of ``sky.region_foregrounds`` (None: the sky's foreground intensity)."""
    amplitudes = sky_amplitudes(sky, nside)
    return synthetic_maps(sky, nside, instrument, amplitudes, parameter_maps(nside, sky.foreground_rng_seed),
                          mask_file=mask_file, cmb_spectra=cmb_spectra,
                          description=f"synthetic d1s1-like sky, nside {nside}, {seeds_description(sky)}, r {sky.r:g}")
