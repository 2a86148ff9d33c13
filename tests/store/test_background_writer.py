"""Tests of the background checkpoint writer (compsep_hpc.store.background_writer)."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from compsep_hpc.store import checkpoint as cp
from compsep_hpc.store.background_writer import BackgroundWriter

SHA = "cd" * 32
KW = dict(n_ranks=2, config_sha256=SHA, config_yaml="nside: 8\n", package_version="0.1.0")


def expected(item: int) -> dict:
    return {"cmb_variance": np.linspace(0.0, 1.0, 3 + item) * item, "n_iter": item * 7,
            "region": f"GAL{item:03d}_L"}


def assert_record(rec: dict) -> None:
    want = expected(rec["item_id"])
    np.testing.assert_array_equal(rec["cmb_variance"], want["cmb_variance"])
    assert (rec["n_iter"], rec["region"]) == (want["n_iter"], want["region"])


def writer(tmp_path: Path, launch: str) -> cp.CheckpointWriter:
    return cp.CheckpointWriter(tmp_path, rank=1, launch_id=launch, **KW)


class GatedWriter(cp.CheckpointWriter):
    """A CheckpointWriter whose appends wait for ``gate`` and note the order of events."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.gate = threading.Event()
        self.started = threading.Event()
        self.events: list[str] = []

    def append(self, item_id, record) -> None:
        self.started.set()
        self.events.append(f"start {item_id}")
        assert self.gate.wait(timeout=30)
        super().append(item_id, record)
        self.events.append(f"end {item_id}")


def test_records_round_trip_in_order(tmp_path: Path) -> None:
    seen: list[int] = []
    with BackgroundWriter(writer(tmp_path, "L0"), on_written=lambda i, rec: seen.append(i)) as w:
        for item in (3, 1, 8, 2):
            w.append(item, expected(item))
    assert seen == [3, 1, 8, 2]
    records = cp.read_records(tmp_path, config_sha256=SHA)
    assert [r["item_id"] for r in records] == [1, 2, 3, 8]
    for rec in records:
        assert_record(rec)


def test_append_returns_before_the_write_and_one_record_is_in_flight(tmp_path: Path) -> None:
    gated = GatedWriter(tmp_path, rank=1, launch_id="L0", **KW)
    w = BackgroundWriter(gated)
    w.append(4, expected(4))  # returns although the write is blocked on the gate
    assert gated.started.wait(timeout=30)
    assert gated.events == ["start 4"] and cp.read_records(tmp_path) == []
    second = threading.Thread(target=w.append, args=(5, expected(5)))
    second.start()
    second.join(timeout=0.5)
    assert second.is_alive(), "a second append must wait for the record in flight"
    gated.gate.set()
    second.join(timeout=30)
    w.close()
    assert gated.events == ["start 4", "end 4", "start 5", "end 5"]
    assert [r["item_id"] for r in cp.read_records(tmp_path)] == [4, 5]


def test_a_failed_write_is_raised_in_the_caller_and_the_writer_closes(tmp_path: Path) -> None:
    inner = writer(tmp_path, "L0")
    w = BackgroundWriter(inner)
    w.append(1, expected(1))
    w.append(1, expected(1))  # the duplicate fails on the writer thread...
    with pytest.raises(cp.CompsepError, match="already recorded"):
        w.close()  # ...and is raised here
    assert inner._closed
    assert [r["item_id"] for r in cp.read_records(tmp_path)] == [1]
