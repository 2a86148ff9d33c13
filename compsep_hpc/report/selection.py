r"""Selection rules: the criteria, which items may be scored, the best of a set, and its JSON form.

Each criterion is named for the record figure it minimises (science/figures.py), among the items
whose every fit converged (:func:`usable`); ``selection.json`` gives every region's pick under each:

- ``min_cmb_mse`` (the default): ``cmb_mse``, :math:`\langle(\hat s_i - s)^2\rangle`, the noise
  variance plus the squared foreground bias of the recovered CMB. For the best CMB map.
- ``min_variance``: ``cmb_variance``, the paper's Eq. 9, the variance over noise realizations only.
  Blind to a bias that is the same in every realization, it favours few patches (its noise term
  grows with the patch counts); the paper's own figure, for comparison with it.
- ``min_r_upper``: ``r_upper`` = r_hat + sigma(r) from the residual BB spectra. For the tightest
  constraint on r (needs records with the r figures).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from compsep_hpc.errors import CompsepError
from compsep_hpc.model.parameters import PATCH_KEYS

CRITERIA: dict[str, str] = {"min_cmb_mse": "cmb_mse", "min_variance": "cmb_variance", "min_r_upper": "r_upper"}
"""criterion -> the record figure it minimises."""
DEFAULT_CRITERION = "min_cmb_mse"
RENAMED_CRITERIA = {"variance": "min_cmb_mse", "r_upper": "min_r_upper"}
"""Names of earlier versions: ``variance`` minimised cmb_mse, not the variance."""

SELECTION_METRIC = CRITERIA[DEFAULT_CRITERION]


def criterion_metric(criterion: str) -> str:
    """The figure ``criterion`` minimises; CompsepError (one line) for an unknown or renamed one."""
    if criterion in CRITERIA:
        return CRITERIA[criterion]
    if criterion in RENAMED_CRITERIA:
        raise CompsepError(f"criterion {criterion!r} is now called {RENAMED_CRITERIA[criterion]!r} "
                           f"(choose one of {', '.join(CRITERIA)}; min_variance is the paper's Eq. 9)")
    raise CompsepError(f"unknown criterion {criterion!r}; choose one of {', '.join(CRITERIA)}")


def usable(row: dict, metric: str = SELECTION_METRIC) -> bool:
    """True when an item may be scored: every noise realization's fit and the systematic
    (foreground-only) fit converged, and the metric is finite."""
    return (row["n_unconverged"] == 0 and bool(row.get("systematic_converged", False))
            and math.isfinite(row.get(metric, math.nan)))


def select(rows: list[dict], metric: str = SELECTION_METRIC) -> tuple[dict | None, int]:
    """The usable row of minimum ``metric`` (lowest item id on ties) and the number excluded."""
    ok = [r for r in rows if usable(r, metric)]
    best = min(ok, key=lambda r: (r[metric], r["item_id"])) if ok else None
    return best, len(rows) - len(ok)


def json_float(x: Any) -> float | None:
    """A finite float, or None (JSON has no NaN)."""
    return float(x) if x is not None and math.isfinite(x) else None


def choice(row: dict | None, figures: tuple[str, ...]) -> dict | None:
    """The JSON form of a picked row: its patch keys, its figures (None when not finite) and item id."""
    if row is None:
        return None
    return {**{k: row[k] for k in PATCH_KEYS}, **{f: json_float(row.get(f)) for f in figures if f in row},
            "item_id": row["item_id"]}


def scalars(figures: dict | None) -> dict | None:
    """The JSON-able scalar figures of a combined result (spectra go to the plots)."""
    if figures is None:
        return None
    return {k: (v if isinstance(v, str) else int(v) if k == "n_pix" else json_float(float(v)))
            for k, v in figures.items() if np.ndim(v) == 0}


