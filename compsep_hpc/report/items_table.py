"""``items.csv``: one row per completed item (store/item_rows.py), written and read back."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from compsep_hpc.store.item_rows import HOLDOUT_COLUMNS, R_COLUMNS, items_columns


def items_csv(rows: list[dict], parameters: Sequence[str]) -> str:
    """The ``items.csv`` text of a run fitting ``parameters``: :func:`items_columns`, plus the r
    columns when some row has them."""
    extra = [k for k in (*R_COLUMNS, *HOLDOUT_COLUMNS) if any(k in r for r in rows)]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=[*items_columns(parameters), *extra], restval="nan",
                            lineterminator="\n")
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
