"""Tests of the crash-safe checkpoint files (compsep_hpc.store.checkpoint)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from compsep_hpc.store import checkpoint as cp
from compsep_hpc.errors import RunFolderError

SHA = "ab" * 32
KW = dict(n_ranks=4, config_sha256=SHA, config_yaml="nside: 8\n", package_version="0.1.0")


def expected(item: int) -> dict:
    """The record item ``item`` holds in every test: different array lengths per item."""
    k = 1 + item % 7
    return {"chi2": np.arange(k, dtype=np.float64) * item + 0.25,
            "patches": np.arange(3 * k, dtype=np.int32).reshape(3, k) - item,
            "r_hat": item * 0.5, "n_iter": item * 3, "converged": item % 2 == 0,
            "region": f"GAL{item:03d}_U", "big": np.full(1000, float(item))}


def assert_record(rec: dict) -> None:
    want = expected(rec["item_id"])
    assert set(rec) == set(want) | {"item_id"}
    for name, value in want.items():
        if isinstance(value, np.ndarray):
            np.testing.assert_array_equal(rec[name], value)
            assert rec[name].dtype == value.dtype
        else:
            assert rec[name] == value and type(rec[name]) is type(value), name


def writer(tmp_path: Path, launch: str, rank: int = 1, **extra) -> cp.CheckpointWriter:
    return cp.CheckpointWriter(tmp_path, rank=rank, launch_id=launch, **{**KW, **extra})


def test_round_trip(tmp_path: Path) -> None:
    order = [5, 2, 9]
    with writer(tmp_path, "L0", units={"chi2": "uK^2", "r_hat": "1"}) as w:
        for item in order:
            w.append(item, expected(item))
        with pytest.raises(cp.CompsepError):
            w.append(5, expected(5))
    files = cp.record_files(tmp_path)
    assert [f.name for f in files] == ["records_L0_rank00001_part0000.h5"]
    records = cp.read_records(tmp_path, config_sha256=SHA)
    assert [r["item_id"] for r in records] == [2, 5, 9]
    for rec in records:
        assert_record(rec)
    assert cp.completed_item_ids(tmp_path) == {2, 5, 9}
    attrs = cp.file_attributes(files[0])
    assert attrs["rank"] == 1 and attrs["n_ranks"] == 4 and attrs["launch_id"] == "L0"
    assert attrs["config_sha256"] == SHA and attrs["config_yaml"] == "nside: 8\n"
    assert attrs["package_version"] == "0.1.0" and attrs["format"] == "compsep-hpc-records/1"
    assert attrs["created_utc"].startswith("20")
    with h5py.File(files[0], "r") as f:
        np.testing.assert_array_equal(f["item_id"][:], order)
        assert f["item_id"].maxshape == (None,) and f["item_id"].chunks is not None
        assert f["items/0000009/chi2"].attrs["units"] == "uK^2"
        assert f["items/0000009/r_hat"].attrs["units"] == "1"
        assert "units" not in f["items/0000009/big"].attrs


def test_bad_input(tmp_path: Path) -> None:
    with pytest.raises(cp.CompsepError):
        writer(tmp_path, "L0", rank=4)
    with pytest.raises(cp.CompsepError):
        writer(tmp_path, "bad/launch")
    w = writer(tmp_path, "L0")
    with pytest.raises(cp.CompsepError):
        w.append(1, {"x": object()})
    with pytest.raises(cp.CompsepError):
        w.append(2, {"item_id": 3})
    w.close()
    with pytest.raises(cp.CompsepError):
        w.append(3, {"x": 1.0})
    assert cp.read_records(tmp_path) == []  # failed appends published nothing
    assert list((tmp_path / "checkpoints").iterdir()) == []


def test_roll_over_and_restart_same_launch(tmp_path: Path) -> None:
    w = writer(tmp_path, "L0", max_records_per_file=2)
    for item in range(5):
        w.append(item, expected(item))
    names = [f.name for f in cp.record_files(tmp_path)]
    assert names == [f"records_L0_rank00001_part{k:04d}.h5" for k in range(3)]
    # A writer restarted with the same launch id fills the last part, then rolls over.
    w = writer(tmp_path, "L0", max_records_per_file=2)
    w.append(5, expected(5))
    w.append(6, expected(6))
    assert len(cp.record_files(tmp_path)) == 4
    records = cp.read_records(tmp_path)
    assert [r["item_id"] for r in records] == list(range(7))
    for rec in records:
        assert_record(rec)


def test_config_hash_mismatch(tmp_path: Path) -> None:
    writer(tmp_path, "L0").append(1, expected(1))
    writer(tmp_path, "L1", config_sha256="cd" * 32).append(2, expected(2))
    with pytest.raises(RunFolderError):
        cp.read_records(tmp_path, config_sha256=SHA)
    assert [r["item_id"] for r in cp.read_records(tmp_path)] == [1, 2]


def test_duplicates_corrupt_and_stray_files(tmp_path: Path) -> None:
    writer(tmp_path, "L0", rank=0).append(3, expected(3))
    w = writer(tmp_path, "L1", rank=0)
    w.append(3, {**expected(3), "big": np.zeros(1)})  # a re-run of item 3: the first file wins
    w.append(4, expected(4))
    folder = tmp_path / "checkpoints"
    good = cp.record_files(tmp_path)[0]
    (folder / "records_L2_rank00000_part0000.h5").write_bytes(good.read_bytes()[:3000])
    (folder / "records_L3_rank00000_part0000.h5").write_bytes(b"not hdf5 at all" * 100)
    (folder / (good.name + ".tmp-otherhost-123")).write_bytes(b"half written")
    with pytest.warns(UserWarning) as caught:
        records = cp.read_records(tmp_path, config_sha256=SHA)
    messages = " ".join(str(c.message) for c in caught)
    assert "L2" in messages and "L3" in messages and "already read" in messages
    assert [r["item_id"] for r in records] == [3, 4]
    for rec in records:
        assert_record(rec)
    with pytest.warns(UserWarning):
        assert cp.completed_item_ids(tmp_path) == {3, 4}
    assert len(cp.record_files(tmp_path)) == 4  # the .tmp file is not a record file


def test_stale_tmp_cleanup(tmp_path: Path) -> None:
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    host = cp._HOST
    own = folder / f"records_L0_rank00001_part0000.h5.tmp-{host}-{os.getpid()}"
    other_live = folder / f"records_L0_rank00002_part0000.h5.tmp-{host}-{os.getpid()}"
    other_dead = folder / f"records_L0_rank00002_part0000.h5.tmp-{host}-{dead.pid}"
    other_host = folder / f"records_L0_rank00003_part0000.h5.tmp-elsewhere-{dead.pid}"
    for p in (own, other_live, other_dead, other_host):
        p.write_bytes(b"x")
    writer(tmp_path, "L0")
    assert not own.exists() and not other_dead.exists()
    assert other_live.exists() and other_host.exists()


CHILD = textwrap.dedent("""
    import os, shutil, signal, sys
    import numpy as np
    sys.path.insert(0, {tests!r})
    from compsep_hpc.store import checkpoint as cp
    from test_checkpoint import KW, expected
    run_dir, launch, mode = sys.argv[1], sys.argv[2], sys.argv[3]
    w = cp.CheckpointWriter(run_dir, rank=0, launch_id=launch, max_records_per_file=3, **KW)
    item = max(cp.completed_item_ids(run_dir), default=-1) + 1
    die = lambda *args: os.kill(os.getpid(), signal.SIGKILL)
    if mode != "loop":  # one good append, then die at a chosen point of the next one
        w.append(item, expected(item))
        item += 1
    if mode == "mid-copy":
        def half_copy(src, dst):
            data = open(src, "rb").read()
            open(dst, "wb").write(data[: len(data) // 2])
            die()
        cp.shutil.copyfile = half_copy
    elif mode == "inside-hdf5":  # record group written, item_id not yet, file open
        write = cp.CheckpointWriter._write_group
        cp.CheckpointWriter._write_group = lambda *a: (write(*a), die())
    elif mode == "before-rename":  # tmp complete, not yet renamed
        cp._fsync_path = die
    print("ready", flush=True)
    while True:
        w.append(item, expected(item))
        item += 1
""")


def run_child(run_dir: Path, launch: str, mode: str = "loop") -> subprocess.Popen:
    code = CHILD.format(tests=str(Path(__file__).parent))
    proc = subprocess.Popen([sys.executable, "-c", code, str(run_dir), launch, mode],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
    return proc


def check_folder(run_dir: Path) -> set[int]:
    """Every file opens, every record is whole and right; returns the completed ids."""
    for path in cp.record_files(run_dir):
        with h5py.File(path, "r") as f:
            assert len(f["items"]) == f["item_id"].shape[0]
    records = cp.read_records(run_dir, config_sha256=SHA)
    for rec in records:
        assert_record(rec)
    ids = [r["item_id"] for r in records]
    assert len(ids) == len(set(ids))
    assert cp.completed_item_ids(run_dir) == set(ids)
    return set(ids)


def test_sigkill_at_random_instants(tmp_path: Path) -> None:
    rng = random.Random(1234)
    done: set[int] = set()
    for kill in range(6):
        proc = run_child(tmp_path, f"K{kill}")
        time.sleep(rng.uniform(0.02, 0.5))
        proc.send_signal(signal.SIGKILL)
        assert proc.wait() == -signal.SIGKILL
        now = check_folder(tmp_path)
        assert done <= now  # nothing completed before is ever lost
        done = now
    assert len(done) > 6  # the children did real work between kills
    # A fresh launch continues appending, and clears this host's dead temporaries.
    w = writer(tmp_path, "fresh", rank=0)
    nxt = max(done) + 1
    w.append(nxt, expected(nxt))
    assert check_folder(tmp_path) == done | {nxt}
    assert not list((tmp_path / "checkpoints").glob("*.tmp-*"))


@pytest.mark.parametrize("mode", ["mid-copy", "inside-hdf5", "before-rename"])
def test_sigkill_at_chosen_points(tmp_path: Path, mode: str) -> None:
    proc = run_child(tmp_path, "D0", mode)
    assert proc.wait() == -signal.SIGKILL
    assert len(list((tmp_path / "checkpoints").glob("*.tmp-*"))) == 1  # left behind, unpublished
    assert check_folder(tmp_path) == {0}
    w = writer(tmp_path, "D1", rank=0)  # a new launch clears the dead temporary and goes on
    w.append(1, expected(1))
    assert check_folder(tmp_path) == {0, 1}
    assert not list((tmp_path / "checkpoints").glob("*.tmp-*"))
