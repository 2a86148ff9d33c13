r"""Fit one clustering configuration on one region over all noise realizations, and score it.

For a region and patch labels of the model's fitted spectral parameters this fits every noise
realization in one jitted, vmapped call, fits the noiseless foreground-only sky with the same
patches (the systematic fit) and reconstructs the CMB of both: the recovered CMB maps
(n_real, 2, n_pix) and the foreground-only fit's CMB (2, n_pix) in uK_CMB, with the fitted
parameters, and the mean square of that CMB leakage of the foregrounds alone, uK^2. The item's
figures (variance, error, spectra, r) are computed from those maps in science/figures.py.

Pure computation on arrays; no I/O. Needs JAX in float64 (compsep_hpc.precision).
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from compsep_hpc.errors import ConfigError
from compsep_hpc.separation.cells import joint_cells, size_class
from compsep_hpc.separation.fit import FitResult, count_at_bounds
from compsep_hpc.separation.hessian import HessianStructure
from compsep_hpc.separation.lbfgs import minimize_lbfgs
from compsep_hpc.separation.likelihood import (
    SpectralModel,
    cell_moments,
    component_weights,
    compressed_nll,
    compressed_term_nll,
    pixel_data,
    pixel_nll,
    pixel_term_nll,
)
from compsep_hpc.separation import model_terms
from compsep_hpc.separation.newton import NewtonTerms, fisher_sigma, minimize_newton, newton_step
from compsep_hpc.separation.observations import RegionData
from compsep_hpc.separation.packing import (PackedLayout, hessian_structure, pack, packed_layout, per_entry, shift_patches,
                                           split, unpack)
from compsep_hpc.precision import require_float64
from compsep_hpc.stage_clock import StageClock
from compsep_hpc.separation.config import FitConfig
from compsep_hpc.separation.term_derivatives import compressed_term_derivatives, pixel_term_derivatives

MOMENT_BATCH = 8  # realizations whose (n_pix, n_freq, n_freq) outer products are held at once


class ConfigurationResult(NamedTuple):
    """Per-realization fits (leading axis n_real) and the systematic fit of one configuration."""

    n_patches: tuple[int, ...]
    likelihood: str
    n_cells: int
    fit: FitResult
    systematic: FitResult
    systematic_cmb_power: float
    cmb_maps: np.ndarray | None  # (n_real, 2, n_pix) recovered CMB when asked for
    systematic_cmb_map: np.ndarray | None  # (2, n_pix)
    fisher_sigma: dict[str, np.ndarray] | None = None  # per parameter (K_p,), linearized realizations


def choose_likelihood(n_pix: int, n_cells: int, n_freq: int, requested: str = "auto", method: str = "lbfgs",
                      compressed_exact: bool = True) -> str:
    """``compressed`` or ``pixel``: the override, or the cheaper by estimated cost; ``pixel``
    under ``auto`` when the compressed form is not exact (one hit map per band), where asking for
    ``compressed`` raises ConfigError.

    L-BFGS evaluates the NLL: compressed costs per cell the SEDs (~20 flops per band) and
    A^T W A (~3 n_freq^2 flops), per pixel the SEDs and two projections A^T N^-1 d (~6 n_freq
    flops per pixel). The Newton fit's derivatives cost about the same per term in both forms
    (measured: 6,144 cells in 50 ms, 9,830 pixels in 90 ms on 2 CPU cores), and there are never
    more cells than pixels, so it takes the compressed form.
    """
    if requested == "compressed" and not compressed_exact:
        raise ConfigError("fit.likelihood compressed is not exact with one hit map per band")
    if requested != "auto":
        return requested
    if not compressed_exact:
        return "pixel"
    if method == "newton":
        return "compressed"
    compressed = n_cells * n_freq * (20 + 3 * n_freq)
    per_pixel = n_pix * n_freq * (20 + 6)
    return "compressed" if compressed <= per_pixel else "pixel"


class PixelNoise(NamedTuple):
    """A hit map's noise on a region (model/noise_model.py): ``weights`` (n_pix,), the common hit
    weights w_p that the compressed form's moments carry (None with one map per band: that form
    is then not exact), and ``inv_var`` (n_pix, n_freq), each pixel's N^-1 for the per-pixel
    form, uK^-2. A white region has none (None)."""

    weights: jnp.ndarray | None
    inv_var: jnp.ndarray


def pixel_noise(hit_weights: np.ndarray | None, model: SpectralModel) -> PixelNoise | None:
    """The PixelNoise of a region's ``hit_weights`` (RegionData; (1 or n_freq, n_pix)), None when white."""
    if hit_weights is None:
        return None
    inv_var = jnp.asarray(hit_weights.T) * model.inv_noise_var[None, :]
    return PixelNoise(jnp.asarray(hit_weights[0]) if hit_weights.shape[0] == 1 else None, inv_var)


class FitProblem(NamedTuple):
    """The arrays of one configuration's fit over the flat parameter vector (packing.py): patch
    indices per pixel (``labels``) and per joint cell (``cell_patches``) shifted into the vector,
    each pixel's cell, and per-entry start point and bounds; ``family`` and ``fill`` for unpack;
    ``structure`` the Hessian's sparsity for the Newton fit (hessian.py); ``fisher_structure`` the
    same with its dense block, for the Fisher sigma of linearized realizations (else None)."""

    labels: jnp.ndarray
    cell_index: jnp.ndarray
    cell_patches: jnp.ndarray
    start: jnp.ndarray
    lower: jnp.ndarray
    upper: jnp.ndarray
    family: jnp.ndarray
    fill: jnp.ndarray
    structure: HessianStructure
    fisher_structure: HessianStructure | None = None


def fit_problem(labels: np.ndarray, fit: FitConfig, names: tuple[str, ...]) -> tuple[FitProblem, PackedLayout, int]:
    """The fit arrays of patch ``labels`` (n_p, n_pix) of the fitted parameters ``names`` (the
    model's order), joint cells padded to a size class; also the layout (to split fitted vectors)
    and the exact number of joint cells."""
    labels = np.asarray(labels, dtype=np.int64)
    exact = joint_cells(labels)
    cells = joint_cells(labels, pad_to=size_class(exact.n_cells, 8))
    layout = packed_layout(tuple(int(row.max()) + 1 for row in labels))
    problem = FitProblem(
        labels=jnp.asarray(shift_patches(labels, layout)), cell_index=jnp.asarray(cells.cell_index),
        cell_patches=jnp.asarray(shift_patches(cells.cell_patches, layout)),
        start=jnp.asarray(per_entry(fit.start, layout, names)),
        lower=jnp.asarray(per_entry({p: fit.bounds[p][0] for p in names}, layout, names)),
        upper=jnp.asarray(per_entry({p: fit.bounds[p][1] for p in names}, layout, names)),
        family=jnp.asarray(layout.family), fill=jnp.asarray([fit.start[p] for p in names]),
        structure=jax.tree.map(jnp.asarray, hessian_structure(cells.cell_patches, layout,
                                                              dense_block=fit.linear_solver == "schur")),
        fisher_structure=(jax.tree.map(jnp.asarray, hessian_structure(cells.cell_patches, layout))
                          if fit.realizations == "linearized" else None),
    )
    return problem, layout, exact.n_cells


def fit_realizations(data: jnp.ndarray, problem: FitProblem, model: SpectralModel, *, likelihood: str,
                     method: str, max_iter: int, ftol: float, gtol: float, linear_solver: str = "cg",
                     realizations: str = "full", noise: PixelNoise | None = None) -> FitResult:
    """Fit every realization of ``data`` (n_real, n_freq, 2, n_pix), vmapped; params come back
    as flat vectors (n_real, size). ``method``: ``newton`` (newton.py, exact per-term Hessians,
    ``gtol`` on the projected gradient) or ``lbfgs`` (lbfgs.py); ``realizations``: ``full``, or
    ``linearized``: one undamped Newton step from ``problem.start`` (newton.newton_step; the
    caller puts the noiseless optimum there); ``noise``: a hit map's (None: white). Pure: jit it,
    as ``_fit`` does."""
    q = problem
    term_nll, derivatives = term_forms(model, likelihood)
    compressed = likelihood == "compressed"
    inputs, terms = _term_inputs(data, q, model, likelihood, noise)
    term_patches = terms.term_patches
    if realizations == "linearized":
        step = partial(newton_step, structure=q.structure, start=q.start, lower=q.lower, upper=q.upper,
                       linear_solver=linear_solver)
        return jax.vmap(lambda w: step(term_nll, derivatives, w, terms))(inputs)
    if method == "newton":
        solve = partial(minimize_newton, structure=q.structure, start=q.start, lower=q.lower, upper=q.upper,
                        max_iter=max_iter, gtol=gtol, linear_solver=linear_solver)
        return jax.vmap(lambda w: solve(term_nll, derivatives, w, terms))(inputs)
    solve = partial(minimize_lbfgs, start=q.start, lower=q.lower, upper=q.upper, max_iter=max_iter, ftol=ftol,
                    gtol=gtol)
    if model.closed_form:  # per-patch SEDs: the transcendentals once per patch, not per term
        names = model.sky.fitted
        nll = compressed_nll if compressed else pixel_nll
        return jax.vmap(lambda w: solve(lambda x: nll(unpack(x, q.family, q.fill, names), term_patches, w, model)))(
            inputs)
    return jax.vmap(lambda w: solve(lambda x: jnp.sum(term_nll(x[term_patches].T, w))))(inputs)


def term_forms(model: SpectralModel, likelihood: str):
    """``(term_nll, term_derivatives)`` of the ``compressed`` or ``pixel`` form, each taking the
    terms' parameters (n, n_p) and their data: in closed form for the default model
    (likelihood.py, term_derivatives.py), by JAX differentiation for any other (model_terms.py)."""
    if model.closed_form:
        forms = ((compressed_term_nll, compressed_term_derivatives) if likelihood == "compressed"
                 else (pixel_term_nll, pixel_term_derivatives))
    else:
        forms = ((model_terms.compressed_term_nll, model_terms.compressed_term_derivatives) if likelihood == "compressed"
                 else (model_terms.pixel_term_nll, model_terms.pixel_term_derivatives))
    return tuple(partial(f, model=model) for f in forms)


def _term_inputs(data: jnp.ndarray, problem: FitProblem, model: SpectralModel, likelihood: str,
                 noise: PixelNoise | None = None):
    """The terms' data of every realization of ``data`` (n_real, n_freq, 2, n_pix) (cell moments, or
    per-pixel projections; ``noise`` the hit weights, None for white noise) and where the terms sit
    (NewtonTerms)."""
    q = problem
    if likelihood == "compressed":
        return (_moments(data, q, model, None if noise is None else noise.weights),
                NewtonTerms(q.cell_patches, None, q.cell_patches))
    inv_var = None if noise is None else noise.inv_var
    return (jax.vmap(lambda d: pixel_data(d, model.inv_noise_var, inv_var))(data),
            NewtonTerms(q.labels, q.cell_index, q.cell_patches))


@partial(jax.jit, static_argnames=("likelihood",))
def _fisher_sigma(x: jnp.ndarray, foregrounds: jnp.ndarray, problem: FitProblem, model: SpectralModel,
                  likelihood: str, noise: PixelNoise | None = None) -> jnp.ndarray:
    """newton.fisher_sigma (size,) at ``x``, the optimum of the noiseless ``foregrounds`` (1, n_freq, 2, n_pix)."""
    inputs, terms = _term_inputs(foregrounds, problem, model, likelihood, noise)
    derivatives = term_forms(model, likelihood)[1]
    return fisher_sigma(derivatives, jax.tree.map(lambda a: a[0], inputs), terms, problem.fisher_structure, x,
                        problem.lower, problem.upper)


def _moments(data: jnp.ndarray, problem: FitProblem, model: SpectralModel, weights: jnp.ndarray | None = None):
    """Cell moments of every realization, ``MOMENT_BATCH`` realizations at a time (``weights``:
    the common hit weights, None for white noise)."""
    n_cells = problem.cell_patches.shape[1]
    return jax.lax.map(lambda d: cell_moments(d, problem.cell_index, n_cells, model.inv_noise_var, weights), data,
                       batch_size=MOMENT_BATCH)


_fit = jax.jit(fit_realizations, static_argnames=("likelihood", "method", "max_iter", "ftol", "gtol", "linear_solver",
                                                  "realizations"))


@jax.jit
def _reconstruct(params: jnp.ndarray, data: jnp.ndarray, problem: FitProblem, model: SpectralModel,
                 noise: PixelNoise | None = None) -> jnp.ndarray:
    """The recovered CMB (n_real, 2, n_pix) of ``data`` (n_real, n_freq, 2, n_pix) at the fitted
    flat parameters ``params`` (n_real, size). A common hit weight cancels in M^-1 A^T N^-1 (one
    operator per joint cell); one hit map per band needs one per pixel."""
    if noise is not None and noise.weights is None:
        weights = jax.vmap(lambda x: cmb_weights(x, problem, model, noise.inv_var))(params)  # (n_real, n_pix, f)
        return jnp.einsum("rpf,rfsp->rsp", weights, data)
    weights = jax.vmap(lambda x: cmb_weights(x, problem, model))(params)  # (n_real, n_cells, n_freq)
    return jnp.einsum("rpf,rfsp->rsp", weights[:, problem.cell_index, :], data)


def cmb_weights(x: jnp.ndarray, problem: FitProblem, model: SpectralModel, inv_var: jnp.ndarray | None = None
                ) -> jnp.ndarray:
    """The CMB row of the reconstruction operator per joint cell (n_cells, n_freq) at the flat
    parameters ``x``; per pixel (n_pix, n_freq) with each pixel's N^-1 ``inv_var`` (n_pix, n_freq)."""
    patches = problem.cell_patches if inv_var is None else problem.labels
    if model.closed_form:
        params = unpack(x, problem.family, problem.fill, model.sky.fitted)
        return component_weights(params, patches, model, inv_var)[:, 0, :]
    return model_terms.cmb_weights(x[patches].T, model, inv_var)


def fit_settings(fit: FitConfig) -> dict:
    """The static settings of :func:`fit_realizations` from the config."""
    return dict(method=fit.method, max_iter=fit.max_iter, ftol=fit.ftol, gtol=fit.gradient_tolerance,
                linear_solver=fit.linear_solver)


def _host_result(result: FitResult, problem: FitProblem, layout: PackedLayout, names: tuple[str, ...]) -> FitResult:
    """``result`` on the host, ``n_at_bound`` per family counted, params split per parameter."""
    result = jax.tree.map(np.asarray, result)
    real = ~np.asarray(problem.structure.fixed)
    counts = count_at_bounds(result.params, np.asarray(problem.lower), np.asarray(problem.upper),
                             np.asarray(problem.family), real, len(names))
    return result._replace(n_at_bound=counts, params=split(result.params, layout, names))


def _batches(n: int, batch: int | None) -> list[slice]:
    """Slices of ``batch`` realizations (the last one shorter) covering ``n``; one slice when ``batch`` is None."""
    step = n if batch is None else batch
    return [slice(i, min(i + step, n)) for i in range(0, n, step)] or [slice(0, 0)]


def _joined(results: list[FitResult]) -> FitResult:
    """The batches' results as one (concatenated along the realizations)."""
    return results[0] if len(results) == 1 else jax.tree.map(lambda *parts: jnp.concatenate(parts), *results)


def _systematic(fit_all, foregrounds: jnp.ndarray, problem: FitProblem, layout: PackedLayout, model: SpectralModel,
                systematic: FitResult | None, noise: PixelNoise | None = None) -> tuple[jnp.ndarray, np.ndarray, FitResult]:
    """The foreground-only fit: its flat parameters (size,), its CMB (2, n_pix) and its host
    result; fitted, or ``systematic`` (a host result of the same configuration, e.g. from an
    earlier record) reused, its CMB reconstructed."""
    names = model.sky.fitted
    if systematic is None:
        sys_fit = fit_all(foregrounds, problem)
        params = sys_fit.params[0]
        result = jax.tree.map(lambda x: x[0], _host_result(sys_fit, problem, layout, names))
    else:
        params, result = jnp.asarray(pack(systematic.params, np.asarray(problem.start), layout, names)), systematic
    cmb = np.asarray(_reconstruct(params[None], foregrounds, problem, model, noise))[0]
    return params, cmb, result


def evaluate_configuration(
    region: RegionData,
    labels: np.ndarray,
    model: SpectralModel,
    fit: FitConfig,
    *,
    keep_maps: bool = True,
    clock: StageClock | None = None,
    systematic: FitResult | None = None,
    batch: int | None = None,
) -> ConfigurationResult:
    """Fit and score one configuration. ``labels`` (n_p, n_pix): patch of each pixel per fitted
    parameter of ``model.sky`` (its order); ``systematic``: the configuration's foreground-only
    fit when already known (a host FitResult, params per parameter), else it is fitted;
    ``batch``: the realizations fitted in one vmapped call (None: all), so that runs whose items
    hold different numbers of realizations (successive halving) compile one shape.

    The parameters are fitted as one flat vector padded to a size class (packing.py) and
    the joint cells are padded to a size class too (cells.size_class), so a grid compiles a
    handful of times; padding has no effect on the result. ``clock`` (stage_clock.py) is charged
    the seconds of ``prepare``, ``noisy_fits``, ``cmb_maps`` and ``systematic_fit``. Linearized
    realizations come with the Fisher sigma of every patch parameter at the noiseless optimum
    (newton.fisher_sigma), charged to ``noisy_fits``.
    """
    require_float64()
    clock = StageClock() if clock is None else clock
    names = model.sky.fitted
    with clock.stage("prepare"):
        problem, layout, n_cells = fit_problem(labels, fit, names)
        noise = pixel_noise(region.hit_weights, model)
        likelihood = choose_likelihood(problem.labels.shape[1], n_cells, len(model.frequencies), fit.likelihood,
                                       fit.method, compressed_exact=noise is None or noise.weights is not None)
        data, foregrounds = jnp.asarray(region.data), jnp.asarray(region.foregrounds)[None]
    fit_all = partial(_fit, model=model, likelihood=likelihood, noise=noise, **fit_settings(fit))
    with clock.stage("systematic_fit"):
        sys_params, sys_cmb, sys_result = _systematic(fit_all, foregrounds, problem, layout, model, systematic, noise)
    sigma, batches = None, _batches(data.shape[0], batch)
    with clock.stage("noisy_fits"):
        if fit.realizations == "linearized":  # one Newton step from the noiseless optimum
            linearized = problem._replace(start=sys_params)
            result = _joined([fit_all(data[b], linearized, realizations="linearized") for b in batches])
            sigma = split(np.asarray(_fisher_sigma(sys_params, foregrounds, problem, model, likelihood, noise)),
                          layout, names)
        else:
            result = _joined([fit_all(data[b], problem) for b in batches])
        result = jax.block_until_ready(result)
    with clock.stage("cmb_maps"):
        cmb = (np.concatenate([np.asarray(_reconstruct(result.params[b], data[b], problem, model, noise))
                               for b in batches]) if keep_maps else None)
    return ConfigurationResult(
        n_patches=layout.counts,
        likelihood=likelihood,
        n_cells=n_cells,
        fit=_host_result(result, problem, layout, names),
        systematic=sys_result,
        systematic_cmb_power=float(np.mean(sys_cmb**2)),
        cmb_maps=cmb,
        systematic_cmb_map=sys_cmb,
        fisher_sigma=sigma,
    )
