r"""Figures of one item from its recovered CMB maps: variance, error, residual BB spectra and r.
numpy + healpy, no I/O; every figure of an item is computed here and nowhere else (the record's
field names, units and shapes are in store/records.py).

Per realization: ``spatial_variance``, the variance over the region's pixels of the recovered CMB,
averaged over Q and U, uK^2. For a subset of noise realizations (the in-sample set, or the
held-out set):

- ``cmb_variance`` (physics.md Eq. 9): :math:`\langle \mathrm{Var}_i[\hat s^{(i)}_{CMB}(p)] \rangle_p`,
  variance over realizations (ddof=0) per pixel and Stokes component, averaged, uK^2;
- ``cmb_mse``: :math:`\langle (\hat s^{(i)}_{CMB}(p) - s_{CMB}(p))^2 \rangle_{i,p}`, uK^2: Eq. 9 plus
  the squared foreground bias. Eq. 9 alone cannot see a bias that is the same in every
  realization (it grows monotonically with the patch counts), so the selection minimises this;
- residual BB bandpowers on the apodized region (spectra.residual_spectra, MASTER-deconvolved,
  the region's bins; science/geometry.py); no pixel window is divided out because the skies are
  synthesised at the run nside by ``alm2map`` (point-sampled, band-limited maps carry no pixel
  window, like the CAMB templates): ``cl_total`` (mean over realizations of the bandpowers of
  s_hat_i - s_true) and ``cl_total_std`` (their standard deviation over realizations, ddof=1: the
  error bar of one realization's bandpower), ``cl_systematic`` (those of the foreground-only fit's CMB) and
  ``cl_statistical`` = total - systematic, uK^2;
- r from the bandpower likelihood (r_estimation.py) with C_obs = W(r_in C_tensor + A_lens C_lens)
  + cl_total and the model W(r C_tensor + A_lens C_lens) + max(cl_statistical, 0), W the region's
  bandpower windows: ``r_hat``, ``sigma_r`` (likelihood width), ``r_upper``, ``r_95``;
- ``r_hat_realizations``: r_hat of each realization, its own residual's bandpowers as the
  residual of C_obs (same model), and ``sigma_r_sim``, their standard deviation (ddof=1; r_hat
  >= 0, so at r = 0 it is the spread of a distribution cut at 0).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from compsep_hpc.science.bandpowers import mode_counts
from compsep_hpc.science.config import SpectraConfig
from compsep_hpc.science.coupling import BandpowerCoupling, binned_model
from compsep_hpc.science.geometry import RegionGeometry
from compsep_hpc.science.r_estimation import RResult, estimate_r
from compsep_hpc.science.spectra import residual_spectra
from compsep_hpc.stage_clock import StageClock


class CmbTemplates(NamedTuple):
    """BB templates in uK^2 (C_ell, ell = 0..3 nside - 1): tensor at r = 1 and lensing."""

    tensor: np.ndarray
    lensing: np.ndarray


def cmb_variance(cmb_maps: np.ndarray) -> float:
    """Eq. 9: variance over realizations of ``cmb_maps`` (n, 2, n_pix), mean over pixels and Q/U, uK^2."""
    return float(np.mean(np.var(cmb_maps, axis=0)))


def cmb_mse(cmb_maps: np.ndarray, true_cmb: np.ndarray) -> float:
    """Mean square error of ``cmb_maps`` (n, 2, n_pix) against ``true_cmb`` (2, n_pix), uK^2."""
    return float(np.mean((cmb_maps - true_cmb) ** 2))


def spatial_variance(cmb_maps: np.ndarray) -> np.ndarray:
    """Per realization, the variance over pixels of ``cmb_maps`` (n, 2, n_pix), mean of Q and U, uK^2."""
    return np.mean(np.var(cmb_maps, axis=2), axis=1)


def r_figures(cl_total: np.ndarray, cl_statistical: np.ndarray, templates: CmbTemplates,
              coupling: BandpowerCoupling, spectra: SpectraConfig, r_in: float) -> RResult:
    """r_hat, sigma_r, r_upper, r_95 from the total and statistical residual bandpowers ``(n_bins,)``.

    The statistical residual enters the model clipped at zero: total - systematic is a noisy
    difference that can dip below zero in some bins with few realizations.
    """
    return estimate_r(cl_total, np.clip(cl_statistical, 0.0, None), binned_model(coupling, templates.tensor),
                      binned_model(coupling, templates.lensing), mode_counts(coupling.binning, coupling.fsky_eff),
                      r_in=r_in, a_lens=spectra.A_lens)


def realization_r_hats(cl_realizations: np.ndarray, cl_statistical: np.ndarray, templates: CmbTemplates,
                       coupling: BandpowerCoupling, spectra: SpectraConfig, r_in: float) -> np.ndarray:
    """r_hat of each realization ``(n,)``: :func:`r_figures` with its own residual bandpowers
    (rows of ``cl_realizations`` ``(n, n_bins)``) as the observed residual."""
    return np.array([r_figures(cl, cl_statistical, templates, coupling, spectra, r_in).r_hat for cl in cl_realizations])


class RealizationSums(NamedTuple):
    """What the figures of a set of realizations are computed from, merged exactly with another
    set's by :func:`merge_sums`: ``count`` realizations, ``cmb_mean`` (2, n_pix) their mean
    recovered CMB, uK_CMB, ``cmb_variance`` and ``cmb_mse`` over them (uK^2), ``cl_realizations``
    (count, n_bins) the residual BB bandpowers of each and ``cl_systematic`` (n_bins,) those of
    the foreground-only fit's CMB, uK^2."""

    count: int
    cmb_mean: np.ndarray
    cmb_variance: float
    cmb_mse: float
    cl_realizations: np.ndarray
    cl_systematic: np.ndarray


def realization_sums(cmb_maps: np.ndarray, true_cmb: np.ndarray, systematic_cmb: np.ndarray, geometry: RegionGeometry,
                     clock: StageClock | None = None) -> RealizationSums:
    """The :class:`RealizationSums` of the recovered CMB maps ``cmb_maps`` (n, 2, n_pix); seconds
    charged to ``clock``'s ``cmb_maps`` and ``spectra``."""
    clock = StageClock() if clock is None else clock
    with clock.stage("cmb_maps"):
        mean, variance, mse = cmb_maps.mean(axis=0), cmb_variance(cmb_maps), cmb_mse(cmb_maps, true_cmb)
    with clock.stage("spectra"):
        cls = residual_spectra(cmb_maps, true_cmb, systematic_cmb, geometry.pixels, geometry.weights, geometry.coupling)
    return RealizationSums(cmb_maps.shape[0], mean, variance, mse, cls["per_realization"], cls["systematic"])


def merge_sums(a: RealizationSums, b: RealizationSums) -> RealizationSums:
    r"""The sums of the realizations of ``a`` and ``b`` together (the same item, disjoint
    realizations), exact up to rounding: with :math:`\delta = \bar s_b - \bar s_a` per pixel and
    :math:`n = n_a + n_b`, :math:`\mathrm{Var} = (n_a \mathrm{Var}_a + n_b \mathrm{Var}_b + \frac{n_a n_b}{n}
    \langle\delta^2\rangle_p) / n` (Chan, Golub & LeVeque's pairwise update, averaged over pixels),
    the mean square error and the mean weighted by the counts, the bandpowers stacked."""
    n = a.count + b.count
    delta = b.cmb_mean - a.cmb_mean
    variance = (a.count * a.cmb_variance + b.count * b.cmb_variance + a.count * b.count / n * np.mean(delta**2)) / n
    return RealizationSums(
        count=n, cmb_mean=a.cmb_mean + delta * (b.count / n), cmb_variance=float(variance),
        cmb_mse=float((a.count * a.cmb_mse + b.count * b.cmb_mse) / n),
        cl_realizations=np.concatenate([a.cl_realizations, b.cl_realizations]), cl_systematic=a.cl_systematic)


def sums_figures(sums: RealizationSums, templates: CmbTemplates, coupling: BandpowerCoupling, spectra: SpectraConfig,
                 r_in: float, clock: StageClock | None = None) -> dict[str, np.ndarray | float]:
    """The figures of a set of realizations (see module docstring) from its sums; the r seconds
    charged to ``clock``'s ``r``."""
    clock = StageClock() if clock is None else clock
    cl_total = sums.cl_realizations.mean(axis=0)
    cl_statistical = cl_total - sums.cl_systematic
    with clock.stage("r"):
        r = r_figures(cl_total, cl_statistical, templates, coupling, spectra, r_in)
        r_hats = realization_r_hats(sums.cl_realizations, cl_statistical, templates, coupling, spectra, r_in)
    return {
        "cmb_variance": sums.cmb_variance,
        "cmb_mse": sums.cmb_mse,
        "cl_total": cl_total,
        "cl_total_std": (sums.cl_realizations.std(axis=0, ddof=1) if sums.count > 1
                         else np.full_like(cl_total, np.nan)),
        "cl_statistical": cl_statistical,
        "cl_systematic": sums.cl_systematic,
        "r_hat": r.r_hat,
        "sigma_r": r.sigma_r,
        "r_upper": r.r_upper,
        "r_95": r.r_95,
        "r_hat_realizations": r_hats,
        "sigma_r_sim": float(np.std(r_hats, ddof=1)) if r_hats.size > 1 else float("nan"),
    }


def subset_figures(
    cmb_maps: np.ndarray, true_cmb: np.ndarray, systematic_cmb: np.ndarray, geometry: RegionGeometry,
    templates: CmbTemplates, spectra: SpectraConfig, r_in: float, clock: StageClock | None = None,
) -> dict[str, np.ndarray | float]:
    """Figures of the realizations ``cmb_maps`` (n, 2, n_pix) of one item (see module docstring),
    their seconds charged to ``clock``'s ``cmb_maps``, ``spectra`` and ``r`` when given."""
    sums = realization_sums(cmb_maps, true_cmb, systematic_cmb, geometry, clock)
    return sums_figures(sums, templates, geometry.coupling, spectra, r_in, clock)


def split_figures(
    cmb_maps: np.ndarray, true_cmb: np.ndarray, systematic_cmb: np.ndarray, geometry: RegionGeometry,
    templates: CmbTemplates, spectra: SpectraConfig, r_in: float, holdout: int, clock: StageClock | None = None,
) -> dict[str, np.ndarray | float]:
    """:func:`subset_figures` of the in-sample realizations (all but the last ``holdout``) and,
    when ``holdout`` > 0, of the held-out ones with the suffix ``_holdout`` (the systematic
    spectrum does not depend on noise and is given once)."""
    n_in = cmb_maps.shape[0] - holdout
    subsets = {"": slice(0, n_in)}
    if holdout:
        subsets["_holdout"] = slice(n_in, None)
    out: dict[str, np.ndarray | float] = {}
    for suffix, rows in subsets.items():
        figures = subset_figures(cmb_maps[rows], true_cmb, systematic_cmb, geometry, templates, spectra, r_in, clock)
        out.update({f"{k}{suffix}": v for k, v in figures.items() if not (suffix and k == "cl_systematic")})
    return out


def item_figures(
    cmb_maps: np.ndarray, true_cmb: np.ndarray, systematic_cmb: np.ndarray, geometry: RegionGeometry,
    templates: CmbTemplates, spectra: SpectraConfig, r_in: float, holdout: int, clock: StageClock | None = None,
) -> dict[str, np.ndarray | float]:
    """Every figure of one item: ``spatial_variance`` of all realizations, the region's
    ``apod_warning`` and :func:`split_figures`; seconds per stage charged to ``clock``
    (stage_clock.py) when given."""
    clock = StageClock() if clock is None else clock
    with clock.stage("cmb_maps"):
        per_realization = spatial_variance(cmb_maps)
    return {"spatial_variance": per_realization, "apod_warning": geometry.apod_warning,
            **split_figures(cmb_maps, true_cmb, systematic_cmb, geometry, templates, spectra, r_in, holdout, clock)}


def merged_item_figures(
    cmb_maps: np.ndarray, true_cmb: np.ndarray, systematic_cmb: np.ndarray, geometry: RegionGeometry,
    templates: CmbTemplates, spectra: SpectraConfig, r_in: float, earlier: RealizationSums | None,
    clock: StageClock | None = None,
) -> dict[str, np.ndarray | float]:
    """The figures of an item in a rung of successive halving (no held-out realizations): those of
    the ``earlier`` realizations' sums (None in the first rung) and of ``cmb_maps`` (n, 2, n_pix),
    the new ones, together; with ``spatial_variance`` of the new ones, the region's
    ``apod_warning``, and the merged ``cmb_mean`` and ``cl_realizations``, from which the next rung
    merges again."""
    clock = StageClock() if clock is None else clock
    with clock.stage("cmb_maps"):
        per_realization = spatial_variance(cmb_maps)
    sums = realization_sums(cmb_maps, true_cmb, systematic_cmb, geometry, clock)
    if earlier is not None:
        sums = merge_sums(earlier, sums)
    return {"spatial_variance": per_realization, "apod_warning": geometry.apod_warning,
            **sums_figures(sums, templates, geometry.coupling, spectra, r_in, clock),
            "cmb_mean": sums.cmb_mean, "cl_realizations": sums.cl_realizations}


def record_sums(record: dict) -> RealizationSums:
    """The :class:`RealizationSums` stored in a rung's record (:func:`merged_item_figures`'s fields)."""
    cl = np.asarray(record["cl_realizations"])
    return RealizationSums(cl.shape[0], np.asarray(record["cmb_mean"]), float(record["cmb_variance"]),
                           float(record["cmb_mse"]), cl, np.asarray(record["cl_systematic"]))
