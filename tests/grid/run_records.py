"""Reading a run folder that launches or jobs are writing, for the end-to-end tests of this folder."""

from __future__ import annotations

import warnings
from pathlib import Path

from compsep_hpc.store.checkpoint import completed_item_ids, read_records


def done_ids(run_dir: Path) -> set[int]:
    """Ids of the items recorded so far (silent about a record file being replaced right now)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return completed_item_ids(run_dir)


def read_records_strict(run_dir: Path) -> list[dict]:
    """Every record, failing on any warning (an item read from two files, an unreadable file)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        records = read_records(run_dir)
    assert not caught, [str(w.message) for w in caught]
    return records
