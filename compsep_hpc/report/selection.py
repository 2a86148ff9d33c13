"""Selection rules: which items may be scored, the best of a set, and its JSON form.

Criterion ``variance`` minimises ``cmb_mse`` (SELECTION_METRIC), ``r_upper`` minimises
r_hat + sigma(r); both only among the items whose every fit converged (:func:`usable`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from compsep_hpc.model.parameters import PATCH_KEYS

CRITERIA = ("variance", "r_upper")


SELECTION_METRIC = "cmb_mse"


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
    return {k: (int(v) if k == "n_pix" else json_float(float(v))) for k, v in figures.items() if np.ndim(v) == 0}


