"""The record of one grid item: every field with its units and shape, written once here.

The launcher builds records with :func:`item_record`, the checkpoint writer stores
:func:`record_units` as HDF5 attributes, and the reducer, ``items.csv`` and the plots read the
fields by the names defined here. The per-parameter fields (``K_<p>``, ``<p>_mean``, ``<p>_std``,
``systematic_<p>``, ``sigma_<p>``, with the unit of the parameter's declaration) are those of the fitted
parameters of the run's model (``config.model``, model/sky_model.py): :func:`record_fields`.
Shapes: ``n_real`` noise realizations (in-sample plus held-out), ``n_parameters`` the model's
fitted parameters (``model.fitted`` order), ``K_p`` patches of parameter ``p``, ``n_bins`` the
reported BB bandpowers of the item's region (its bins, windows and coupling are in the run
folder, store/run_folder.py), ``n_in`` the realizations of the subset (in-sample or held-out).
Figures without suffix are over the in-sample realizations, those with ``_holdout`` over the
held-out ones (runs with ``noise.holdout`` > 0).

No JAX and no healpy here: ``status`` reads records with this module alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any, NamedTuple

import numpy as np

from compsep_hpc.model.sky_model import SkyModel
from compsep_hpc.stage_clock import STAGES

UK2 = "uK_CMB^2"
CL_BB = "uK_CMB^2 (BB bandpowers of C_ell, the region's bins)"


class RecordField(NamedTuple):
    """One field of a record: ``units`` ('' when dimensionless), ``shape`` and a description."""

    name: str
    units: str
    shape: str
    description: str


def _parameter_fields(model: SkyModel) -> tuple[RecordField, ...]:
    """The fields of each fitted parameter ``p``: ``<p>_mean``, ``<p>_std``, ``systematic_<p>``, ``sigma_<p>``."""
    f = RecordField
    per = [(p.name, p.unit) for p in model.fitted_parameters]
    return (*(f(f"{p}_mean", unit, f"(K_{p},)", f"mean over realizations of {p} per patch") for p, unit in per),
            *(f(f"{p}_std", unit, f"(K_{p},)", f"std over realizations of {p} per patch") for p, unit in per),
            *(f(f"systematic_{p}", unit, f"(K_{p},)", f"{p} per patch, foreground-only fit") for p, unit in per),
            *(f(f"sigma_{p}", unit, f"(K_{p},)", f"Fisher sigma of {p} per patch at the foreground-only optimum "
                "(fit.realizations linearized; NaN on a bound)") for p, unit in per))


def _fields(model: SkyModel) -> tuple[RecordField, ...]:
    f = RecordField
    identity = (f("region", "", "()", "region name (str)"), f("strategy", "", "()", "kmeans or multires (str)"),
                f("baseline_preset", "", "()", "multires baseline preset of a baseline item, '' for a grid item (str)"),
                *(f(f"K_{p}", "", "()", f"grid value of {p}: patch count or patch nside") for p in model.fitted))
    fit = (
        f("rung", "", "()", "the search's rung of the record (grid/search.py): 0 in an exhaustive run"),
        f("realizations", "", "()", "noise realizations of the record: ids 0 .. realizations - 1"),
        f("n_patches", "", "(n_parameters,)", "patches per fitted parameter"),
        f("likelihood", "", "()", "compressed or pixel (str)"),
        f("n_cells", "", "()", "joint cells of the fitted parameters' partitions"),
        f("nll", "", "(n_real,)", "negative log-likelihood at the fit"), f("iterations", "", "(n_real,)", "fit iterations"),
        f("converged", "", "(n_real,)", "fit converged (bool)"), f("n_unconverged", "", "()", "noise fits not converged"),
        f("n_at_bound", "", "(n_real, n_parameters)", "parameters on a bound per family"),
        f("spatial_variance", UK2, "(n_real,)", "variance over the region of the recovered CMB, mean of Q and U"),
        f("systematic_nll", "", "()", "NLL of the foreground-only fit"),
        f("systematic_iterations", "", "()", "iterations of the foreground-only fit"),
        f("systematic_converged", "", "()", "foreground-only fit converged (bool)"),
        f("systematic_n_at_bound", "", "(n_parameters,)", "parameters on a bound in the foreground-only fit"),
        f("systematic_cmb_power", UK2, "()", "mean square of the foreground-only fit's CMB"),
        *_parameter_fields(model),
        f("apod_warning", "", "()", "the region is too thin for the mask taper: how much it keeps ('' when fine; str)"),
        f("seconds", "s", "()", "wall time of the item on its rank: the sum of the seconds_<stage>"),
        *(f(f"seconds_{stage}", "s", "()", f"wall time of stage {stage} (stage_clock.STAGES)") for stage in STAGES),
        f("package_version", "", "()", "compsep-hpc version (str)"),
    )
    return identity + fit + FIGURE_FIELDS + MERGE_FIELDS + tuple(
        f(x.name + HOLDOUT, x.units, x.shape, x.description + ", held-out realizations")
        for x in FIGURE_FIELDS if x.name != "cl_systematic")


HOLDOUT = "_holdout"
FIGURE_FIELDS = (
    RecordField("cmb_variance", UK2, "()", "Eq. 9: variance over realizations of the recovered CMB, mean over pixels and Q/U"),
    RecordField("cmb_mse", UK2, "()", "mean square error of the recovered CMB against the truth"),
    RecordField("cl_total", CL_BB, "(n_bins,)", "mean over realizations of the residual BB bandpowers (MASTER)"),
    RecordField("cl_total_std", CL_BB, "(n_bins,)",
                "standard deviation (ddof=1) over realizations of the residual BB bandpowers: one realization's error bar"),
    RecordField("cl_statistical", CL_BB, "(n_bins,)", "cl_total - cl_systematic"),
    RecordField("cl_systematic", CL_BB, "(n_bins,)", "BB bandpowers of the foreground-only fit's CMB"),
    RecordField("r_hat", "", "()", "maximum-likelihood r (forecast style: C_obs = model at r_in + cl_total)"),
    RecordField("sigma_r", "", "()", "68 % upper width of the r likelihood"),
    RecordField("r_upper", "", "()", "r_hat + sigma_r"),
    RecordField("r_95", "", "()", "95 % upper limit on r"),
    RecordField("r_hat_realizations", "", "(n_in,)", "r_hat of each realization, its own residual as C_obs's"),
    RecordField("sigma_r_sim", "", "()", "standard deviation (ddof=1) of r_hat_realizations"),
)
MERGE_FIELDS = (
    RecordField("cmb_mean", "uK_CMB", "(2, n_pix)", "successive halving only: mean over realizations of the "
                "recovered CMB Q/U on the region's pixels, to merge a later rung's realizations"),
    RecordField("cl_realizations", CL_BB, "(n_in, n_bins)", "successive halving only: residual BB bandpowers of "
                "each realization, to merge a later rung's realizations"),
)
PER_REALIZATION_FIELDS = ("nll", "iterations", "converged", "n_at_bound", "spatial_variance")
"""The fields with one entry per noise realization of the record (leading axis n_real)."""
R_FIELDS = ("r_hat", "sigma_r", "sigma_r_sim", "r_upper", "r_95")
SPECTRA_FIELDS = ("cl_total", "cl_total_std", "cl_statistical", "cl_systematic")


@lru_cache(maxsize=8)
def record_fields(model: SkyModel) -> dict[str, RecordField]:
    """The schema of the records of a run of ``model``: field name -> RecordField, the
    per-parameter fields those of ``model.fitted``. Do not modify the returned dict (cached)."""
    return {x.name: x for x in _fields(model)}


def record_units(model: SkyModel) -> dict[str, str]:
    """Units of every dimensioned field of ``model``'s records, for the writer's HDF5 attributes."""
    return {name: x.units for name, x in record_fields(model).items() if x.units}


def check_record(record: dict[str, Any], model: SkyModel) -> dict[str, Any]:
    """``record`` unchanged; ValueError on a field the schema of ``model`` does not define."""
    unknown = sorted(set(record) - set(record_fields(model)) - {"item_id"})
    if unknown:
        raise ValueError(f"record fields not in the schema (store/records.py): {', '.join(unknown)}")
    return record


def item_record(item: Any, result: Any, figures: dict, seconds: float | Mapping[str, float], package_version: str,
                model: SkyModel, rung: int = 0) -> dict[str, Any]:
    """The record of one item of a run of ``model``: ``item`` a grid.work.WorkItem, ``result`` a
    separation.evaluate.ConfigurationResult (``fit.params[p]`` (n_real, K_p) and
    ``systematic.params[p]`` (K_p,) per fitted parameter ``p``), ``figures``
    science.figures.item_figures' output, ``seconds`` the item's wall time, or its seconds per
    stage (stage_clock.StageClock.seconds: ``seconds_<stage>`` fields and their sum), ``rung`` the
    search's rung (grid/search.py)."""
    stages = {f"seconds_{k}": float(v) for k, v in seconds.items()} if isinstance(seconds, Mapping) else {}
    total = sum(stages.values()) if stages else float(seconds)
    fit, sys = result.fit, result.systematic
    record = {
        "region": item.region, "strategy": item.strategy, "baseline_preset": item.preset,
        **{key: int(v) for key, v in zip(model.patch_keys, item.grid_values)},
        "rung": int(rung), "realizations": int(np.size(fit.nll)),
        "n_patches": np.asarray(result.n_patches, dtype=np.int64), "likelihood": result.likelihood,
        "n_cells": int(result.n_cells), "nll": fit.nll, "iterations": fit.iterations.astype(np.int64),
        "converged": fit.converged.astype(bool), "n_unconverged": int(np.sum(~fit.converged)),
        "n_at_bound": np.asarray(fit.n_at_bound, dtype=np.int64),
        "systematic_nll": float(sys.nll), "systematic_iterations": int(sys.iterations),
        "systematic_converged": bool(sys.converged),
        "systematic_n_at_bound": np.asarray(sys.n_at_bound, dtype=np.int64),
        "systematic_cmb_power": float(result.systematic_cmb_power), "seconds": total, **stages,
        "package_version": package_version, **figures,
    }
    for p in model.fitted:
        record[f"{p}_mean"] = fit.params[p].mean(axis=0)
        record[f"{p}_std"] = fit.params[p].std(axis=0)
        record[f"systematic_{p}"] = sys.params[p]
        if result.fisher_sigma is not None:
            record[f"sigma_{p}"] = result.fisher_sigma[p]
    return check_record(record, model)


def merged_record(earlier: dict[str, Any], record: dict[str, Any], model: SkyModel) -> dict[str, Any]:
    """``record``, an item's fits on new noise realizations whose figures already cover the
    ``earlier`` record's realizations too (science/figures.merged_item_figures), with the earlier
    realizations added: per-realization fields (PER_REALIZATION_FIELDS) stacked, earlier first;
    ``n_unconverged`` and ``realizations`` summed; each patch's ``<p>_mean`` and ``<p>_std``
    (ddof=0) over all realizations by the pairwise update. The rest (figures, foreground-only fit,
    seconds: this rung's work) is ``record``'s."""
    out = dict(record)
    for name in PER_REALIZATION_FIELDS:
        out[name] = np.concatenate([np.asarray(earlier[name]), np.asarray(record[name])])
    n_a, n_b = int(earlier["realizations"]), int(record["realizations"])
    n = n_a + n_b
    out["realizations"], out["n_unconverged"] = n, int(earlier["n_unconverged"]) + int(record["n_unconverged"])
    for p in model.fitted:
        mean_a, mean_b = np.asarray(earlier[f"{p}_mean"]), np.asarray(record[f"{p}_mean"])
        delta = mean_b - mean_a
        m2 = n_a * np.asarray(earlier[f"{p}_std"]) ** 2 + n_b * np.asarray(record[f"{p}_std"]) ** 2
        out[f"{p}_mean"] = mean_a + delta * (n_b / n)
        out[f"{p}_std"] = np.sqrt((m2 + delta**2 * (n_a * n_b / n)) / n)
    return check_record(out, model)
