"""The summary row of an item (an ``items.csv`` row), derived from its record (store/records.py).

Columns: the item's identity, its patch counts (``K_<p>``, ``n_patches_<p>`` per fitted parameter
``p`` of the run's model, ``model.fitted`` order), and per-item summaries of the record's
per-realization fields (mean NLL, iterations, parameters on a bound), the information criteria
(``n_parameters``, ``aic``, ``bic``: science/selection.py), the search rung the record is of and
the realizations it holds (grid/search.py), then the r figures with ``r_bias`` =
r_hat - sky.r and the held-out figures when the records carry them. Figures in uK_CMB^2 as in
the record.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from compsep_hpc.science.selection import information_criteria
from compsep_hpc.store.records import HOLDOUT, R_FIELDS


def at_bound_columns(parameters: Sequence[str]) -> tuple[str, ...]:
    """``at_bound_<p>`` of each fitted parameter: the mean over realizations of its patches on a bound."""
    return tuple(f"at_bound_{p}" for p in parameters)


def items_columns(parameters: Sequence[str]) -> tuple[str, ...]:
    """The columns of every ``items.csv`` row of a run whose fitted parameters are ``parameters``."""
    return ("item_id", "region", "strategy", "baseline_preset", *(f"K_{p}" for p in parameters),
            *(f"n_patches_{p}" for p in parameters),
            "likelihood", "n_cells", "cmb_variance", "cmb_mse", "mean_nll", "n_parameters", "aic", "bic",
            "mean_spatial_variance", "mean_iterations",
            "max_iterations", "n_unconverged", *at_bound_columns(parameters), "systematic_nll",
            "systematic_cmb_power", "systematic_converged", "systematic_at_bound", "rung", "realizations", "seconds")


R_COLUMNS = (*R_FIELDS, "r_bias")  # appended to items.csv when records carry them; r_bias = r_hat - sky.r
HOLDOUT_COLUMNS = tuple(f"{k}{HOLDOUT}" for k in ("cmb_variance", "cmb_mse", *R_FIELDS))


def _num(rec: dict, key: str) -> float:
    """A scalar field as float, NaN when absent or not numeric."""
    try:
        return float(rec[key])
    except (KeyError, TypeError, ValueError):
        return math.nan


def _mean(rec: dict, key: str, fn=np.mean) -> float:
    value = rec.get(key)
    return float(fn(value)) if value is not None and np.size(value) else math.nan


def item_row(rec: dict, parameters: Sequence[str], grid_values: Sequence[int], region: str,
             strategy: str = "kmeans", baseline_preset: str = "", *, holdout: int = 0, n_data: int = 0,
             r_in: float = 0.0) -> dict[str, Any]:
    """One ``items.csv`` row of a record of a run fitting ``parameters`` (``model.fitted``; region,
    K's (``grid_values``, one per parameter), strategy and baseline preset, '' for a grid item,
    from the work list; figures from the record). AIC and BIC take the mean NLL of the in-sample
    realizations (all but the last ``holdout``), k = the sum of the effective patches of the
    fitted parameters, and ``n_data`` data values (pixels x bands x 2; BIC NaN when 0);
    ``r_bias`` = r_hat - ``r_in`` (the injected r)."""
    n_patches = np.asarray(rec.get("n_patches", [-1] * len(parameters))).reshape(-1)
    row: dict[str, Any] = {"item_id": int(rec["item_id"]), "region": region, "strategy": strategy,
                           "baseline_preset": baseline_preset,
                           **{f"K_{p}": int(k) for p, k in zip(parameters, grid_values)}}
    row.update({f"n_patches_{p}": int(n) for p, n in zip(parameters, n_patches)})
    row.update(likelihood=rec.get("likelihood", ""), n_cells=int(rec.get("n_cells", -1)),
               cmb_variance=_num(rec, "cmb_variance"), cmb_mse=_num(rec, "cmb_mse"), mean_nll=_mean(rec, "nll"),
               mean_spatial_variance=_mean(rec, "spatial_variance"),
               mean_iterations=_mean(rec, "iterations"),
               max_iterations=int(_mean(rec, "iterations", np.max)) if np.size(rec.get("iterations", [])) else -1,
               n_unconverged=int(rec.get("n_unconverged", -1)),
               **_at_bound(rec, parameters),
               systematic_nll=_num(rec, "systematic_nll"),
               systematic_cmb_power=_num(rec, "systematic_cmb_power"),
               systematic_converged=bool(rec.get("systematic_converged", False)),
               systematic_at_bound=int(np.sum(rec["systematic_n_at_bound"])) if "systematic_n_at_bound" in rec else -1,
               rung=int(rec.get("rung", 0)), realizations=int(rec.get("realizations", np.size(rec.get("nll", [])))),
               seconds=_num(rec, "seconds"))
    row.update({k: _num(rec, k) for k in (*R_COLUMNS, *HOLDOUT_COLUMNS) if k in rec})
    if "r_hat" in rec:
        row["r_bias"] = _num(rec, "r_hat") - r_in
    row["n_parameters"] = int(np.sum(n_patches)) if np.all(n_patches > 0) else -1
    nll = np.asarray(rec.get("nll", []), dtype=float).reshape(-1)
    in_sample = nll[: nll.size - holdout] if nll.size > holdout else nll[:0]
    aic_bic = (information_criteria(float(np.mean(in_sample)), row["n_parameters"], n_data)
               if in_sample.size and row["n_parameters"] > 0 else (math.nan, math.nan))
    row.update(aic=aic_bic[0], bic=aic_bic[1])
    return row


def _at_bound(rec: dict, parameters: Sequence[str]) -> dict[str, float]:
    """Mean over realizations of each family's parameters on a bound, from ``n_at_bound``
    (n_real, n_parameters) (NaN for older records)."""
    columns = at_bound_columns(parameters)
    counts = rec.get("n_at_bound")
    if counts is None:
        return {k: math.nan for k in columns}
    means = np.mean(np.asarray(counts).reshape(-1, len(parameters)), axis=0)
    return {k: float(v) for k, v in zip(columns, means)}
