"""``items.csv``: one row per completed item, derived from its record (store/records.py).

Columns: the item's identity, its patch counts, and per-item summaries of the record's
per-realization fields (mean NLL, iterations, parameters on a bound), the information criteria
(``n_parameters``, ``aic``, ``bic``: report/selection.py), then the r figures with ``r_bias`` =
r_hat - sky.r and the held-out figures when the records carry them. Figures in uK_CMB^2 as in
the record.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Any

import numpy as np

from compsep_hpc.model.parameters import PARAMETERS, PATCH_KEYS
from compsep_hpc.report.selection import information_criteria
from compsep_hpc.store.records import HOLDOUT, R_FIELDS

ITEMS_COLUMNS = (
    "item_id", "region", "strategy", "baseline_preset", *PATCH_KEYS, *(f"n_patches_{p}" for p in PARAMETERS),
    "likelihood", "n_cells", "cmb_variance", "cmb_mse", "mean_nll", "n_parameters", "aic", "bic",
    "mean_spatial_variance", "mean_iterations",
    "max_iterations", "n_unconverged", *(f"at_bound_{p}" for p in PARAMETERS), "systematic_nll",
    "systematic_cmb_power", "systematic_converged", "systematic_at_bound", "seconds",
)
AT_BOUND = tuple(f"at_bound_{p}" for p in PARAMETERS)  # mean over realizations of the parameters on a bound
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


def item_row(rec: dict, grid_values: tuple[int, int, int], region: str, strategy: str = "kmeans",
             baseline_preset: str = "", *, holdout: int = 0, n_data: int = 0, r_in: float = 0.0) -> dict[str, Any]:
    """One ``items.csv`` row of a record (region, K's, strategy and baseline preset, '' for a grid
    item, from the work list; figures from the record). AIC and BIC take the mean NLL of the
    in-sample realizations (all but the last ``holdout``) and ``n_data`` data values (pixels x
    bands x 2; BIC NaN when 0); ``r_bias`` = r_hat - ``r_in`` (the injected r)."""
    n_patches = np.asarray(rec.get("n_patches", [-1, -1, -1])).reshape(-1)
    row: dict[str, Any] = {"item_id": int(rec["item_id"]), "region": region, "strategy": strategy,
                           "baseline_preset": baseline_preset, **dict(zip(PATCH_KEYS, map(int, grid_values)))}
    row.update({f"n_patches_{p}": int(n) for p, n in zip(PARAMETERS, n_patches)})
    row.update(likelihood=rec.get("likelihood", ""), n_cells=int(rec.get("n_cells", -1)),
               cmb_variance=_num(rec, "cmb_variance"), cmb_mse=_num(rec, "cmb_mse"), mean_nll=_mean(rec, "nll"),
               mean_spatial_variance=_mean(rec, "spatial_variance"),
               mean_iterations=_mean(rec, "iterations"),
               max_iterations=int(_mean(rec, "iterations", np.max)) if np.size(rec.get("iterations", [])) else -1,
               n_unconverged=int(rec.get("n_unconverged", -1)),
               **_at_bound(rec),
               systematic_nll=_num(rec, "systematic_nll"),
               systematic_cmb_power=_num(rec, "systematic_cmb_power"),
               systematic_converged=bool(rec.get("systematic_converged", False)),
               systematic_at_bound=int(np.sum(rec["systematic_n_at_bound"])) if "systematic_n_at_bound" in rec else -1,
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


def _at_bound(rec: dict) -> dict[str, float]:
    """Mean over realizations of each family's parameters on a bound (NaN for older records)."""
    counts = rec.get("n_at_bound")
    if counts is None:
        return {k: math.nan for k in AT_BOUND}
    return {k: float(v) for k, v in zip(AT_BOUND, np.mean(np.asarray(counts).reshape(-1, 3), axis=0))}


def items_csv(rows: list[dict]) -> str:
    """The ``items.csv`` text: ITEMS_COLUMNS, plus the r columns when some row has them."""
    extra = [k for k in (*R_COLUMNS, *HOLDOUT_COLUMNS) if any(k in r for r in rows)]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=[*ITEMS_COLUMNS, *extra], restval="nan", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()




def _cell(text: str) -> Any:
    """An ``items.csv`` cell back as the int, float or bool ``items_csv`` wrote; other text as is."""
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return {"True": True, "False": False}.get(text, text)


def read_items_csv(path: str | Path) -> list[dict]:
    """The rows of an ``items.csv`` (the inverse of :func:`items_csv`), numbers and booleans typed."""
    with open(path, newline="") as f:
        return [{k: _cell(v) for k, v in row.items()} for row in csv.DictReader(f)]
