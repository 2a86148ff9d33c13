r"""The synthetic skies' true foreground model: which components hold in which pixel, and the band
maps they make.

``sky.foregrounds`` names the components everywhere, ``sky.region_foregrounds`` those of a band or
region instead (sky/config.py). Each distinct list is a *model*; the **model map** ``(npix,)``
(int16) holds, per pixel, the index of its model in ``model_names`` (0: ``sky.foregrounds``; the
region lists follow in their order, a list equal to an earlier one shares its index). A model's
name joins its components with ``+`` (``dust+synch``, ``dust+curved_synch(pivot=30)``). The
regions' pixels are :func:`compsep_hpc.partition.regions.region_pixels` of the run's
``mask_file``, or else of the sky's region-defining foreground intensity, which depends on the
dust and synchrotron amplitudes only, whatever the true model.

Band maps, uK_CMB, ``(n_freq, 2, npix)``:

.. math:: d_\nu(p) = \sum_{c \ni p} s_c(p)\, a_c(\nu; \theta_c(p)),

the sum over the components of pixel p's model, each the registry component (model/components/)
with its options, normalised where its amplitude is given: dust at ``sky.nu_dust``, synch and
curved_synch at ``sky.nu_synch`` (both the synchrotron amplitude), ame at 23 GHz (sky/ame.py).
:math:`\theta_c` are the parameter maps (beta_dust, temp_dust, beta_synch) and, for the parameters
without a map, ``sky.true_values`` (curv_synch, pivot 23 GHz unless set; nu_peak_ame).

True parameter maps of the parameters without a map (curv_synch, nu_peak_ame) are made for the
components present somewhere: their value where a component declaring them holds, NaN elsewhere.
The mapped parameters keep their maps in every pixel (``model_map`` tells where they apply).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import numpy as np

from compsep_hpc.model.component import Component
from compsep_hpc.model.registry import COMPONENT_TYPES
from compsep_hpc.sky.ame import AME_NU
from compsep_hpc.sky.config import DEFAULT_FOREGROUNDS, SkyConfig, Spec, spec_name

AMPLITUDE_OF = {"dust": "dust", "synch": "synch", "curved_synch": "synch", "ame": "ame"}
"""The amplitude map each true component scales."""


@dataclasses.dataclass(frozen=True)
class TrueForegrounds:
    """Band maps ``foregrounds`` (uK_CMB, ``(n_freq, 2, npix)``), ``extra_params`` (the maps of
    the parameters without a map, NaN where they do not hold), ``model_map`` and ``model_names``."""

    foregrounds: np.ndarray
    extra_params: dict[str, np.ndarray]
    model_map: np.ndarray
    model_names: tuple[str, ...]


def is_default(sky: SkyConfig) -> bool:
    """True when the sky holds today's dust + power-law synchrotron everywhere."""
    return tuple(sky.foregrounds) == DEFAULT_FOREGROUNDS and not sky.region_foregrounds


def uses(sky: SkyConfig, name: str) -> bool:
    """Whether component ``name`` holds anywhere in the sky."""
    lists = [sky.foregrounds, *sky.region_foregrounds.values()]
    return any(spec_name(s) == name for specs in lists for s in specs)


def spec_label(spec: Spec) -> str:
    """``name``, or ``name(option=value, ...)`` for a spec with options."""
    if isinstance(spec, str):
        return spec
    options = ", ".join(f"{k}={v:g}" for k, v in spec.items() if k != "name")
    return f"{spec['name']}({options})"


def true_component(spec: Spec, sky: SkyConfig) -> Component:
    """The registry component of ``spec``, with its options and its amplitude's reference frequency."""
    name = spec_name(spec)
    nu_ref = {"dust": sky.nu_dust, "synch": sky.nu_synch, "curved_synch": sky.nu_synch, "ame": AME_NU}[name]
    options = {} if isinstance(spec, str) else {k: v for k, v in spec.items() if k != "name"}
    return COMPONENT_TYPES[name](nu_ref=nu_ref, **options)


def model_map(sky: SkyConfig, nside: int, *, mask_file: str | None, intensity: np.ndarray
              ) -> tuple[np.ndarray, list[tuple[Spec, ...]]]:
    """``(model_map, models)``: the int16 map ``(npix,)`` of model indices and the models (lists of
    specs), ``sky.foregrounds`` first (module docstring)."""
    models: list[tuple[Spec, ...]] = [tuple(sky.foregrounds)]
    index = np.zeros(12 * nside**2, dtype=np.int16)
    if sky.region_foregrounds:
        from compsep_hpc.partition.regions import region_pixels  # late import: it pulls in jax-healpy

        for region, specs in sky.region_foregrounds.items():
            if tuple(specs) not in models:
                models.append(tuple(specs))
            pixels = region_pixels(region, nside, mask_file=mask_file, foreground_intensity=intensity)
            index[pixels] = models.index(tuple(specs))
    return index, models


def _holds(index: np.ndarray, models: list[tuple[Spec, ...]], spec: Spec) -> np.ndarray | None:
    """Boolean map of the pixels whose model holds ``spec``; None when it holds everywhere."""
    where = np.isin(index, [k for k, m in enumerate(models) if spec in m])
    return None if where.all() else where


def true_foregrounds(sky: SkyConfig, nside: int, frequencies: np.ndarray, amplitudes: Mapping[str, np.ndarray],
                     params: Mapping[str, np.ndarray], *, mask_file: str | None, intensity: np.ndarray) -> TrueForegrounds:
    """The band maps of the true model (module docstring).

    Args:
        frequencies: band centres ``(n_freq,)`` GHz; amplitudes: ``dust``, ``synch`` (and ``ame``
            when it holds) Q/U ``(2, npix)`` uK_CMB at their reference frequencies; params: the
            mapped parameters ``(npix,)``; mask_file, intensity: what the regions are cut from.
    """
    index, models = model_map(sky, nside, mask_file=mask_file, intensity=intensity)
    nu = np.asarray(frequencies, dtype=float)[:, None]
    npix = index.size
    specs = list(dict.fromkeys(s if isinstance(s, str) else tuple(s.items()) for m in models for s in m))
    terms, extra = [], {}
    for key in specs:
        spec = key if isinstance(key, str) else dict(key)
        comp, holds = true_component(spec, sky), _holds(index, models, spec)
        values = {p.name: params[p.name] if p.name in params else sky.true_values[p.name] for p in comp.parameters}
        sed = np.broadcast_to(np.asarray(comp.sed(nu, **values)), (nu.shape[0], npix))
        term = sed[:, None, :] * amplitudes[AMPLITUDE_OF[comp.name]][None]
        terms.append(term if holds is None else np.where(holds[None, None], term, 0.0))
        for p in comp.parameters:
            if p.name not in params:
                previous = extra.get(p.name, np.full(npix, np.nan))
                extra[p.name] = np.where(np.ones(npix, bool) if holds is None else holds, values[p.name], previous)
    foregrounds = terms[0]
    for term in terms[1:]:
        foregrounds = foregrounds + term
    names = tuple("+".join(spec_label(s) for s in m) for m in models)
    return TrueForegrounds(foregrounds, extra, index, names)
