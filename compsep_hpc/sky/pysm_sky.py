r"""PySM 3 skies (e.g. ``c1d0s0``, ``c1d1s1``, ``d1s1``), read from local templates only.

A preset string is split into PySM component names (``c1d1s1`` -> ``c1``, ``d1``, ``s1``); each
component is evaluated per band with a delta bandpass and converted from uK_RJ to uK_CMB with
PySM's own ``bandpass_unit_conversion`` (:math:`g(\nu)` of :mod:`compsep_hpc.model.sed`). Only Q and U
are kept.

- CMB: the map of the CMB component (``c1`` is PySM's lensed CMB, seed 1111), the same in every
  band; without a CMB component, :func:`gaussian_cmb_qu` ``(nside, sky.r, sky.seed)``. PySM's CMB
  has no adjustable r, so a CMB component with ``sky.r != 0`` is a ConfigError.
- foregrounds: the sum of the other components = total - CMB.
- true parameters: ``mbb_index``/``mbb_temperature`` of a modified-black-body dust component
  (``d0``: 1.54, 20 K; ``d1``: template maps) and ``pl_index`` of a power-law synchrotron
  (``s0``: -3; ``s1``, ``s3``: template map), and ``spectral_curvature`` of the curved one
  (``s3``: -0.052 about ``freq_curve`` 23 GHz, = its Q/U reference: ``curv_synch`` of
  model/components/curved_synchrotron.py with pivot 23 GHz). PySM's SEDs in K_RJ are
  :math:`(\nu/\nu_0)^{\beta_d-2} B_\nu(T_d)/B_{\nu_0}(T_d)`, :math:`(\nu/\nu_0)^{\beta_s}` and
  :math:`(\nu/\nu_0)^{\beta_s + C \ln(\nu/\nu_c)}`: the same :math:`\beta_d, T_d, \beta_s, C`
  as model/components/. AME (``a1``, ``a2``: two spdust2 components each, shifted by a peak
  frequency; ``a2`` polarized at 2 % along the dust angles, :math:`(Q, U) \propto (Q_d, U_d)/P_d`)
  has no log-parabola ``nu_peak_ame``: no true parameter.
- model map: one model everywhere (``model_map`` zeros), named by the registry names of the
  foreground components (dust, synch, curved_synch, ame; another PySM component by its own name).
- foreground intensity: :func:`polarized_intensity` of the foregrounds at 353 and 23 GHz, as for
  the synthetic skies.

Templates. PySM looks a relative template path (``pysm_2/dust_q_new.fits``, ...) up in the
working directory, then in ``$PYSM_LOCAL_DATA``, then downloads it. Here every template a
component names is checked first (:mod:`compsep_hpc.sky.pysm_templates`) and a missing one is a ConfigError; internet access is also
switched off in astropy while PySM runs. For the supported presets the files, under
``$PYSM_LOCAL_DATA`` (single-column HEALPix FITS maps, any nside, uK_RJ for amplitudes):

- ``c1``: ``pysm_2/camb_lenspotentialCls.dat`` (CAMB text columns L, TT, EE, BB, TE, PP, TP, EP
  as :math:`D_\ell`, from L = 2) and ``pysm_2/delens_ells.txt`` (read even though unused);
- ``d0``: ``pysm_2/dust_{t,q,u}_new.fits`` (I at 545 GHz, Q/U at 353 GHz);
  ``d1``: the same plus ``pysm_2/dust_beta.fits`` and ``pysm_2/dust_temp.fits`` (K);
- ``s0``: ``pysm_2/synch_{t,q,u}_new.fits`` (I at 408 MHz, Q/U at 23 GHz);
  ``s1`` and ``s3``: the same plus ``pysm_2/synch_beta.fits``;
- ``a1``: ``pysm_2/ame_t_new.fits`` (I at 22.8 GHz), ``pysm_2/ame2_t_new.fits`` (I at 41 GHz),
  ``pysm_2/ame_nu_peak_0.fits`` (peak frequency map, GHz) and ``pysm_2/emissivity.txt`` (spdust2
  emissivity for a 30 GHz peak: text columns frequency in GHz, emissivity); ``a2``: the same plus
  ``pysm_2/dust_{q,u}_new.fits`` (the polarization angles).

PySM's ``c1`` seeds numpy's global RNG; its state is restored afterwards.
"""

from __future__ import annotations

from contextlib import contextmanager
from collections.abc import Iterator

import numpy as np

from compsep_hpc.model.bandpass import band_average, band_samples
from compsep_hpc.model.instrument import Instrument
from compsep_hpc.sky.config import SkyConfig
from compsep_hpc.errors import ConfigError
from compsep_hpc.sky.cmb import CambSpectra, gaussian_cmb_qu
from compsep_hpc.sky.maps import SkyMaps
from compsep_hpc.sky.pysm_templates import check_templates, preset_components
from compsep_hpc.sky.synthetic import INTENSITY_BANDS, polarized_intensity

@contextmanager
def _offline_and_rng_safe() -> Iterator[None]:
    from astropy.utils import data

    state = np.random.get_state()
    try:
        with data.conf.set_temp("allow_internet", False):
            yield
    finally:
        np.random.set_state(state)


def _is_cmb(component: str) -> bool:
    from pysm3.sky import PRESET_MODELS

    return "CMB" in str(PRESET_MODELS[component].get("class", ""))


def _qu_kcmb(model, freq: float) -> np.ndarray:
    import pysm3
    import pysm3.units as u

    emission = model.get_emission(freq * u.GHz)
    factor = pysm3.bandpass_unit_conversion(freq * u.GHz, None, u.uK_CMB)
    return np.asarray((emission * factor).to_value(u.uK_CMB)[1:3], dtype=float)


def _full(value, npix: int) -> np.ndarray:
    value = np.asarray(getattr(value, "value", value), dtype=float)
    return np.array(np.broadcast_to(value, (npix,)))


def _true_params(models: dict, npix: int) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for name, model in models.items():
        if name.startswith("d") and hasattr(model, "mbb_index") and "beta_dust" not in out:
            out["beta_dust"] = _full(model.mbb_index, npix)
            out["temp_dust"] = _full(model.mbb_temperature, npix)
        if name.startswith("s") and hasattr(model, "pl_index") and "beta_synch" not in out:
            out["beta_synch"] = _full(model.pl_index, npix)
            if hasattr(model, "spectral_curvature"):
                out["curv_synch"] = _full(model.spectral_curvature, npix)
    return out


def _registry_name(name: str, model) -> str:
    """The registry name of a PySM foreground component (module docstring), else its own."""
    if hasattr(model, "mbb_index"):
        return "dust"
    if hasattr(model, "pl_index"):
        return "curved_synch" if hasattr(model, "spectral_curvature") else "synch"
    return "ame" if name.startswith("a") else name


def pysm_sky(sky: SkyConfig, nside: int, instrument: Instrument, *, cmb_spectra: CambSpectra | None = None) -> SkyMaps:
    """The PySM sky of ``sky.preset`` at ``nside`` in the instrument's bands (a Gaussian CMB, for a
    preset without one, drawn from ``cmb_spectra``; None: CAMB's).

    Raises ConfigError for a bad preset, a missing template, or a CMB component with r != 0.
    """
    import pysm3

    names = preset_components(sky.preset)
    cmb_names = [n for n in names if _is_cmb(n)]
    if cmb_names and sky.r != 0:
        raise ConfigError(
            f"sky.r = {sky.r:g} cannot be injected into PySM's CMB component {cmb_names[0]}; "
            "set sky.r to 0 or use a preset without a CMB component (e.g. 'd1s1')"
        )
    check_templates(names)
    npix = 12 * nside**2
    freqs = np.asarray(instrument.frequencies, dtype=float)
    with _offline_and_rng_safe():
        try:
            models = {n: pysm3.get_pysm_emission(n, nside)[0] for n in names}
        except OSError as exc:  # includes URLError: a template that PySM would fetch
            raise ConfigError(f"PySM could not read its templates ({exc}); set PYSM_LOCAL_DATA "
                              "to the folder holding them") from exc
        fg_models = [m for n, m in models.items() if n not in cmb_names]

        def foreground(freq: float) -> np.ndarray:
            out = np.zeros((2, npix))
            for m in fg_models:
                out += _qu_kcmb(m, freq)
            return out

        foregrounds = band_average(lambda nus: np.stack([foreground(f) for f in nus]), freqs, band_samples(instrument))
        intensity = polarized_intensity([foreground(f) for f in INTENSITY_BANDS], nside)
        if cmb_names:
            cmb_model = models[cmb_names[0]]
            cmb_map = getattr(cmb_model, "map", None)
            if cmb_map is not None and getattr(cmb_map, "unit", None) == pysm3.units.uK_CMB:
                cmb = np.asarray(cmb_map.value[1:3], dtype=float)
            else:
                cmb = _qu_kcmb(cmb_model, float(freqs[0]))
            for n in cmb_names[1:]:
                cmb = cmb + _qu_kcmb(models[n], float(freqs[0]))
        else:
            cmb = gaussian_cmb_qu(nside, sky.r, sky.seed, cmb_spectra)
    return SkyMaps(
        nside=nside,
        frequencies=freqs,
        cmb=cmb,
        foregrounds=foregrounds,
        foreground_intensity=intensity,
        true_params=_true_params(models, npix),
        description=f"PySM {pysm3.__version__} preset {sky.preset}, nside {nside}"
        + ("" if cmb_names else f", Gaussian CMB seed {sky.seed} r {sky.r:g}"),
        model_map=np.zeros(npix, dtype=np.int16),
        model_names=("+".join(_registry_name(n, m) for n, m in models.items() if n not in cmb_names),),
    )
