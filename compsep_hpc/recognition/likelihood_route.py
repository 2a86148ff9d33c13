r"""The likelihood route: fit every candidate model with the project's Newton engine, per pixel and
per region, and return each unit's minimum :math:`\chi^2` and parameter count.

For one pixel p (both Stokes), with the amplitudes maximised analytically (physics.md):

.. math:: \chi^2_{min}(p) = \sum_{s \in Q,U} d_{p,s}^T N^{-1} d_{p,s} + \mathrm{NLL}_p(\hat\beta),

:math:`\mathrm{NLL}_p` the pixel's term of the spectral likelihood (no 1/2), evaluated by the
engine's own term function (separation/evaluate.py ``term_forms``) at the Newton fit's optimum.
Units: :math:`\chi^2` dimensionless; data uK_CMB, N^-1 uK^-2.

- Per pixel: every fitted spectral parameter has one patch per pixel. Parameters
  :math:`k = 2 n_c + n_\beta` (Q and U amplitudes of the n_c components, the spectral
  parameters), data :math:`n = 2 n_\nu`.
- Per region: the parameters of ``likelihood.region_patches`` (default curv_synch, nu_peak_ame)
  take one value for the whole region, the others one per pixel; :math:`\chi^2` is the sum over
  the region's pixels, :math:`k = 2 n_c N + \sum_\beta K_\beta`, :math:`n = 2 n_\nu N`.

No I/O. Needs JAX in float64.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from compsep_hpc.model.instrument import Instrument
from compsep_hpc.model.sky_model import SkyModel
from compsep_hpc.separation.config import FitConfig, parse_fit
from compsep_hpc.separation.fit import FitResult
from compsep_hpc.recognition.decisions import nesting
from compsep_hpc.separation.cells import size_class
from compsep_hpc.separation.evaluate import fit_problem, fit_realizations, fit_settings, term_forms
from compsep_hpc.separation.likelihood import pixel_data
from compsep_hpc.separation.observations import spectral_model

_fit = jax.jit(fit_realizations, static_argnames=("likelihood", "method", "max_iter", "ftol", "gtol", "linear_solver",
                                                  "realizations"))


@partial(jax.jit, static_argnames=("settings",))
def _fit_each(data: jnp.ndarray, starts: jnp.ndarray, problem, model, settings: tuple) -> FitResult:
    """One independent fit per unit: ``data`` (n_units, n_freq, 2, n), ``starts`` (n_units, size);
    each unit its own line search and stopping rule (vmapped)."""
    def one(d, s):
        result = fit_realizations(d[None], problem._replace(start=s), model, likelihood="compressed", **dict(settings))
        return jax.tree.map(lambda a: a[0], result)
    return jax.vmap(one)(data, starts)


class CandidateFit(NamedTuple):
    """One candidate fitted on a set of pixels: ``chi2`` (n_pix,) per pixel at the optimum,
    ``params`` name -> (n_pix,) fitted values per pixel, ``n_patches`` per fitted parameter,
    ``converged`` the fraction of its fits that met the stopping rule."""

    chi2: np.ndarray
    params: dict[str, np.ndarray]
    n_patches: dict[str, int]
    converged: float


def candidate_fit_config(model: SkyModel, fit_raw: Mapping[str, Any]) -> FitConfig:
    """The ``fit`` section for one candidate: bounds and start of the parameters it does not
    fit are dropped, so one section serves every candidate."""
    raw = dict(fit_raw)
    for key in ("bounds", "start"):
        if key in raw:
            raw[key] = {p: v for p, v in (raw[key] or {}).items() if p in model.fitted}
    return parse_fit({"fit": raw}, model)


def patch_labels(model: SkyModel, n_pix: int, shared: Sequence[str] = ()) -> np.ndarray:
    """Patch labels (n_p, n_pix): one patch per pixel, or one for the parameters in ``shared``."""
    rows = [np.zeros(n_pix, np.int64) if p in shared else np.arange(n_pix) for p in model.fitted]
    return np.stack(rows)


def padded_labels(labels: np.ndarray) -> np.ndarray:
    """``labels`` (n_p, n) extended to ``size_class(n)`` pixels, the extra ones in pixel 0's
    patches: with zero data they add nothing to its cell's moments (the fit is unchanged), and
    regions of similar sizes share one compiled fit."""
    n = labels.shape[1]
    extra = size_class(n) - n
    return np.concatenate([labels, np.repeat(labels[:, :1], extra, axis=1)], axis=1)


def _start_vector(problem, labels: np.ndarray, names: tuple[str, ...], fit: FitConfig,
                  warm: Mapping[str, np.ndarray] | None) -> np.ndarray:
    """The flat start vector: the config's start, or the ``warm`` per-pixel values (n_pix,) of
    the parameters a nested candidate fitted (a shared patch takes their median), in bounds."""
    start = np.array(problem.start)
    shifted = np.asarray(problem.labels)[:, :len(labels[0])]
    for i, name in enumerate(names):
        if warm is None or name not in warm:
            continue
        values = np.clip(warm[name], *fit.bounds[name])
        entries = shifted[i]
        if int(labels[i].max()) == 0:
            start[entries[0]] = np.median(values)
        else:
            start[entries] = values
    return start


def fit_candidate(data: np.ndarray, model: SkyModel, instrument: Instrument, nside: int, fit: FitConfig,
                  shared: Sequence[str] = (), warm: Mapping[str, np.ndarray] | None = None,
                  each_pixel: bool = False) -> CandidateFit:
    """Fit ``model`` to ``data`` (n_freq, 2, n_pix) uK_CMB and return the per-pixel chi^2 at the
    optimum. ``each_pixel``: every pixel is its own fit (vmapped, own line search); otherwise one
    fit of all pixels, with one patch per pixel and per fitted parameter, one for the ``shared``
    ones. ``warm``: per-pixel start values (a nested candidate's fit)."""
    spectral = spectral_model(instrument, nside, model)
    n_pix = data.shape[-1]
    settings = fit_settings(fit)
    if each_pixel:
        labels = patch_labels(model, 1)
        problem, _, _ = fit_problem(labels, fit, model.fitted)
        starts = np.tile(np.asarray(problem.start), (n_pix, 1))
        for i, name in enumerate(model.fitted):
            if warm is not None and name in warm:
                starts[:, i] = np.clip(warm[name], *fit.bounds[name])
        units = jnp.moveaxis(jnp.asarray(data), -1, 0)[..., None]  # (n_pix, n_freq, 2, 1)
        result = _fit_each(units, jnp.asarray(starts), problem, spectral, tuple(sorted(settings.items())))
        theta = result.params[:, :len(model.fitted)]
        converged = np.asarray(result.converged)
    else:
        labels = patch_labels(model, n_pix, shared)
        padded = padded_labels(labels)
        problem, _, _ = fit_problem(padded, fit, model.fitted)
        problem = problem._replace(start=jnp.asarray(_start_vector(problem, labels, model.fitted, fit, warm)))
        zeros = jnp.zeros((*data.shape[:2], padded.shape[1] - n_pix))
        result = _fit(jnp.concatenate([jnp.asarray(data), zeros], axis=-1)[None], problem, model=spectral,
                      likelihood="compressed", **settings)
        theta = result.params[0][problem.labels[:, :n_pix]].T  # (n_pix, n_p)
        converged = np.asarray(result.converged)[0]
    term_nll = term_forms(spectral, "pixel")[0]
    pdata = pixel_data(jnp.asarray(data), spectral.inv_noise_var)
    white = jnp.einsum("f,fsp->p", spectral.inv_noise_var, jnp.asarray(data) ** 2)
    chi2 = np.asarray(white + term_nll(theta, pdata))
    params = {name: np.asarray(theta[:, i]) for i, name in enumerate(model.fitted)}
    counts = {name: (n_pix if each_pixel else int(labels[i].max()) + 1) for i, name in enumerate(model.fitted)}
    return CandidateFit(chi2, params, counts, float(np.mean(converged)))


def fit_order(models: Sequence[SkyModel]) -> list[tuple[int, int | None]]:
    """(candidate, nested candidate to start from or None), simplest candidates first; the start
    is the nested candidate with most parameters."""
    nests = nesting(models)
    order = sorted(range(len(models)), key=lambda i: (len(models[i].fitted), models[i].n_components, i))
    out = []
    for i in order:
        inner = [j for j in order if nests[j, i]]
        out.append((i, max(inner, key=lambda j: (len(models[j].fitted), models[j].n_components)) if inner else None))
    return out


def pixel_parameter_count(model: SkyModel) -> int:
    """k of one pixel: Q and U amplitudes of every component and one value per fitted parameter."""
    return 2 * model.n_components + len(model.fitted)


def region_parameter_count(model: SkyModel, n_pix: int, fit: CandidateFit) -> int:
    """k of a region fit: the amplitudes of every pixel and the patches of every fitted parameter."""
    return 2 * model.n_components * n_pix + sum(fit.n_patches.values())


class RouteFits(NamedTuple):
    """``chi2`` (n_cand, n_units), ``k`` (n_cand, n_units), ``n`` (n_units,) data values,
    ``converged`` (n_cand,) all fits converged."""

    chi2: np.ndarray
    k: np.ndarray
    n: np.ndarray
    converged: np.ndarray


def pixel_fits(data: np.ndarray, candidates: Mapping[str, SkyModel], instrument: Instrument, nside: int,
               fit_raw: Mapping[str, Any]) -> tuple[RouteFits, list[CandidateFit]]:
    """Every candidate fitted on each pixel of ``data`` (n_freq, 2, n_pix) on its own, nested
    candidates first, each larger one started from the fit of a candidate it nests."""
    models = list(candidates.values())
    fits: list[CandidateFit | None] = [None] * len(models)
    for i, inner in fit_order(models):
        warm = None if inner is None else fits[inner].params
        fits[i] = fit_candidate(data, models[i], instrument, nside, candidate_fit_config(models[i], fit_raw),
                                warm=warm, each_pixel=True)
    n_pix = data.shape[-1]
    k = np.array([[pixel_parameter_count(m)] * n_pix for m in models])
    return (RouteFits(np.stack([f.chi2 for f in fits]), k, np.full(n_pix, 2 * data.shape[0]),
                      np.array([f.converged for f in fits])), fits)


def region_fits(data: np.ndarray, regions: Mapping[str, np.ndarray], candidates: Mapping[str, SkyModel],
                instrument: Instrument, nside: int, fit_raw: Mapping[str, Any], shared: Sequence[str]) -> RouteFits:
    """Every candidate fitted on each region's pixels (``shared`` parameters: one value per
    region), nested candidates first; one unit per region, in the order of ``regions``."""
    models = list(candidates.values())
    n_reg = len(regions)
    chi2, k, converged = np.zeros((len(models), n_reg)), np.zeros((len(models), n_reg), np.int64), np.zeros(len(models))
    fitted: dict[tuple[int, int], dict[str, np.ndarray]] = {}
    for i, inner in fit_order(models):
        config = candidate_fit_config(models[i], fit_raw)
        fits = []
        for r, pix in enumerate(regions.values()):
            warm = None if inner is None else fitted[(inner, r)]
            fits.append(fit_candidate(data[:, :, pix], models[i], instrument, nside, config, shared, warm=warm))
            fitted[(i, r)] = fits[-1].params
        chi2[i] = [float(np.sum(f.chi2)) for f in fits]
        k[i] = [region_parameter_count(models[i], len(pix), f) for f, pix in zip(fits, regions.values())]
        converged[i] = float(np.mean([f.converged for f in fits]))
    n = np.array([2 * data.shape[0] * len(pix) for pix in regions.values()])
    return RouteFits(chi2, k, n, converged)
