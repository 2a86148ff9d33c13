"""End-to-end tests of the MPI launcher: work split, resume, kills at any instant, signals, and
the refusal of another config's run folder.

Every run goes through the command line in a subprocess (``python -m compsep_hpc.cli``, under the
``mpiexec`` next to ``sys.executable`` for several ranks). Every process of the test session
shares one JAX compilation cache (tests/conftest.py), so only the first run of each array shape
compiles (the two ranks of the first run, side by side). Configs are tiny (nside 8, one region,
2 noise realizations; the 8-item grid fits in 3 compiled shapes, the SIGTERM test's 3 items in
the same 3); an item takes a few seconds on a laptop core, and a launch about ten more to start
(CAMB, the sky). Launches that do not depend on each other run side by side.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml

from compsep_hpc.store.checkpoint import file_attributes, record_files
from compsep_hpc.config import load_config
from compsep_hpc.grid.runtime import rank_slice
from compsep_hpc.grid.work import work_list

from run_records import done_ids, read_records_strict  # tests/grid/run_records.py

pytestmark = pytest.mark.e2e

RUN_TIMEOUT = 400  # s, one launch of a tiny config (compilation included)
POLL = 0.05  # s


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------

def _find_mpiexec() -> str | None:
    beside = Path(sys.executable).parent / "mpiexec"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("mpiexec")


MPIEXEC = _find_mpiexec()


def write_config(path: Path, *, grid: dict, output: Path, realizations: int = 2, noise_seed: int = 5,
                 regions=("GAL060_U",), name: str = "launch") -> Path:
    """A tiny run config (nside 8, synthetic clustered sky) written as YAML."""
    raw = {
        "name": name,
        "nside": 8,
        "sky": {"model": "synthetic_clustered", "seed": 3,
                "true_patches": {"beta_dust": 2, "temp_dust": 1, "beta_synch": 1}},
        "regions": list(regions),
        "grid": grid,
        "noise": {"realizations": realizations, "seed": noise_seed},
        "output": str(output),
    }
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def cli_command(*args: str, n_ranks: int | None = None) -> list[str]:
    cmd = [sys.executable, "-m", "compsep_hpc.cli", *args]
    if n_ranks is not None:
        cmd = [MPIEXEC, "-n", str(n_ranks), *cmd]
    return cmd


def _token_pids(token: str) -> list[int]:
    """Processes whose environment holds ``token`` (mpiexec, hydra proxies, ranks: hydra puts each
    rank in a session of its own, so a process group does not reach them)."""
    pids = []
    needle = token.encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if needle in (entry / "environ").read_bytes():
                state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
                if state != "Z":
                    pids.append(int(entry.name))
        except OSError:
            continue
    return pids


class Launch:
    """A CLI launch in a new session, tagged so that every process it spawns can be killed."""

    def __init__(self, args: list[str], env: dict, cwd: Path, n_ranks: int | None = None):
        self.token = f"COMPSEP_TEST_LAUNCH={uuid.uuid4().hex}"
        key, value = self.token.split("=")
        self.started = time.monotonic()
        self.proc = subprocess.Popen(cli_command(*args, n_ranks=n_ranks), env={**env, key: value},
                                     cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, start_new_session=True)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def alive(self) -> bool:
        return self.proc.poll() is None

    def sigkill_all(self) -> None:
        """SIGKILL the process group and every process of this launch, and wait until all are gone."""
        pids = _token_pids(self.token) if Path("/proc").is_dir() else []
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.communicate(timeout=30)
        deadline = time.monotonic() + 30
        while Path("/proc").is_dir() and (left := _token_pids(self.token)):
            assert time.monotonic() < deadline, f"processes {left} survived SIGKILL"
            for pid in left:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(POLL)

    def finish(self, timeout: float = RUN_TIMEOUT) -> subprocess.CompletedProcess:
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.sigkill_all()
            pytest.fail(f"{self.proc.args} did not finish within {timeout} s")
        return subprocess.CompletedProcess(self.proc.args, self.proc.returncode, out, err)


def run_cli(*args: str, env: dict, cwd: Path, n_ranks: int | None = None,
            timeout: float = RUN_TIMEOUT) -> subprocess.CompletedProcess:
    return Launch(list(args), env, cwd, n_ranks).finish(timeout)


def finish_all(*launches: Launch) -> list[subprocess.CompletedProcess]:
    """Wait for launches started side by side (independent runs: two cores do them in the time of one)."""
    try:
        return [launch.finish() for launch in launches]
    finally:
        for launch in launches:
            if launch.alive():
                launch.sigkill_all()



def wait_for(launch: Launch, condition, what: str, timeout: float = RUN_TIMEOUT) -> None:
    while not condition():
        if not launch.alive():
            res = launch.finish()
            pytest.fail(f"run ended (rc {res.returncode}) before {what}:\n{res.stderr[-3000:]}")
        if launch.elapsed > timeout:
            launch.sigkill_all()
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(POLL)


def ids_per_file(path: Path) -> list[int]:
    with h5py.File(path, "r", locking=False) as f:
        return [int(i) for i in f["item_id"][:]]


def tree_digest(root: Path) -> dict[str, str]:
    """Relative path -> sha256 of every file (and '<dir>' for folders) under ``root``."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "<dir>"
            for p in sorted(root.rglob("*"))}



def assert_complete_once(run_dir: Path, n_items: int) -> list[dict]:
    """Every item recorded exactly once, in all record files together."""
    records = read_records_strict(run_dir)
    all_ids = [i for path in record_files(run_dir) for i in ids_per_file(path)]
    assert sorted(all_ids) == list(range(n_items)), "an item is missing or recorded twice"
    assert [r["item_id"] for r in records] == list(range(n_items))
    assert done_ids(run_dir) == set(range(n_items))
    return records


def assert_records_bitwise_equal(a: list[dict], b: list[dict]) -> None:
    assert [r["item_id"] for r in a] == [r["item_id"] for r in b]
    for ra, rb in zip(a, b):
        assert ra.keys() == rb.keys(), ra["item_id"]
        for key in ra:
            if key == "seconds" or key.startswith("seconds_"):  # wall times (stage_clock.py)
                continue
            va, vb = ra[key], rb[key]
            if isinstance(va, str) or isinstance(vb, str):
                assert va == vb, (ra["item_id"], key)
                continue
            va, vb = np.asarray(va), np.asarray(vb)
            assert (va.dtype, va.shape) == (vb.dtype, vb.shape), (ra["item_id"], key)
            assert va.tobytes() == vb.tobytes(), (ra["item_id"], key, va, vb)


def items_csv_rows(run_dir: Path) -> list[dict]:
    with open(run_dir / "items.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        row.pop("seconds")
    return rows


# ---------------------------------------------------------------------------------------------
# fixtures
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def mpi(env, tmp_path_factory) -> str:
    """The mpiexec to use, after checking that it really starts several mpi4py ranks."""
    if MPIEXEC is None:
        pytest.skip("no mpiexec beside sys.executable nor on PATH (pip install mpich, or load an MPI module)")
    probe = [MPIEXEC, "-n", "2", sys.executable, "-c",  # only rank 0 prints: no interleaved output
             "from mpi4py import MPI; c = MPI.COMM_WORLD; n = c.allreduce(1)\n"
             "if c.Get_rank() == 0: print(n, c.Get_size())"]
    try:
        res = subprocess.run(probe, env=env, capture_output=True, text=True, timeout=120,
                             cwd=tmp_path_factory.mktemp("probe"))
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"{MPIEXEC} cannot start 2 mpi4py ranks: {exc}")
    if res.returncode != 0 or res.stdout.split() != ["2", "2"]:
        pytest.skip(f"{MPIEXEC} -n 2 does not give 2 mpi4py ranks: rc {res.returncode} "
                    f"{res.stdout!r} {res.stderr[-500:]!r}")
    return MPIEXEC


GRID = {"beta_dust": [1, 2], "temp_dust": [1, 2], "beta_synch": [1, 2]}  # 8 items, 3 compiled shapes
N_ITEMS = 8


@pytest.fixture(scope="module")
def grid_run(env, mpi, tmp_path_factory):
    """The 8-item config run for real, uninterrupted, with ``mpiexec -n 2``: the run the split,
    rerun and dry-run tests inspect, and the reference of the kill test."""
    root = tmp_path_factory.mktemp("grid")
    config_path = write_config(root / "grid.yaml", grid=GRID, output=root / "run", name="grid")
    res = run_cli("run", str(config_path), env=env, cwd=root, n_ranks=2)
    assert res.returncode == 0, res.stderr[-3000:]
    items = work_list(load_config(config_path))
    assert len(items) == N_ITEMS
    return {"root": root, "config_path": config_path, "run_dir": root / "run", "items": items}


# ---------------------------------------------------------------------------------------------
# a real 2-rank run
# ---------------------------------------------------------------------------------------------

def test_two_ranks_take_contiguous_slices_of_the_work_list(grid_run):
    run_dir, items = grid_run["run_dir"], grid_run["items"]
    by_rank: dict[int, list[int]] = {}
    launches = set()
    for path in record_files(run_dir):
        attrs = file_attributes(path)
        assert attrs["n_ranks"] == 2
        launches.add(attrs["launch_id"])
        by_rank.setdefault(attrs["rank"], []).extend(ids_per_file(path))
    assert len(launches) == 1
    assert sorted(by_rank) == [0, 1]
    for rank, ids in by_rank.items():
        lo, hi = rank_slice(N_ITEMS, rank, 2)
        assert ids == [it.item_id for it in items[lo:hi]]  # its slice, in work-list order
    assert sorted(by_rank[0] + by_rank[1]) == list(range(N_ITEMS))
    assert_complete_once(run_dir, N_ITEMS)


def test_rerun_of_a_complete_run_computes_nothing(grid_run, env):
    run_dir = grid_run["run_dir"]
    checkpoints_before = tree_digest(run_dir / "checkpoints")
    meta_before = {n: (run_dir / n).read_bytes() for n in ("config.yaml", "run.json")}
    ids_before = done_ids(run_dir)
    res = run_cli("run", str(grid_run["config_path"]), env=env, cwd=grid_run["root"], n_ranks=2)
    assert res.returncode == 0, res.stderr[-3000:]
    assert res.stderr.count("finished 0 item(s)") == 2, res.stderr[-3000:]
    assert tree_digest(run_dir / "checkpoints") == checkpoints_before  # no new or changed record file
    assert {n: (run_dir / n).read_bytes() for n in meta_before} == meta_before
    assert done_ids(run_dir) == ids_before == set(range(N_ITEMS))
    assert_complete_once(run_dir, N_ITEMS)


def test_dry_run_prints_the_split_and_writes_nothing(grid_run, env, tmp_path):
    n_ranks = 3  # 8 items on 3 ranks: slices of 2, 3, 3 items
    fresh = tmp_path / "fresh"
    run_dir = grid_run["run_dir"]
    before, before_complete = tree_digest(tmp_path), tree_digest(run_dir)
    # A fresh folder with 3 ranks, and the complete folder with one rank, side by side.
    res, res_complete = finish_all(
        Launch(["run", str(grid_run["config_path"]), "--output", str(fresh), "--dry-run"], env, tmp_path, n_ranks),
        Launch(["run", str(grid_run["config_path"]), "--dry-run"], env, grid_run["root"]))
    assert res.returncode == 0, res.stderr[-3000:]
    assert not fresh.exists()
    assert tree_digest(tmp_path) == before
    out = res.stdout
    assert f"{N_ITEMS} items in the work list" in out and f"{N_ITEMS} to do" in out, out
    for rank in range(n_ranks):
        lo, hi = rank_slice(N_ITEMS, rank, n_ranks)
        assert f"rank {rank}: {hi - lo} item(s): items {lo}..{hi - 1}" in out, out

    # On the complete folder: nothing left to do, and the folder is left as it was.
    res = res_complete
    assert res.returncode == 0, res.stderr[-3000:]
    assert f"{N_ITEMS} done, 0 to do" in res.stdout, res.stdout
    assert "rank 0: 0 item(s): nothing" in res.stdout, res.stdout
    assert tree_digest(run_dir) == before_complete


# ---------------------------------------------------------------------------------------------
# SIGKILL at several instants, resume with other rank counts, compare with an uninterrupted run
# ---------------------------------------------------------------------------------------------

def test_sigkill_at_any_instant_then_resume_gives_the_uninterrupted_result(grid_run, env, tmp_path):
    """Kill every process of a launch with SIGKILL at three instants (2, 1, then 3 ranks), resume
    with 2 ranks, and compare with the uninterrupted 2-rank run of the same config (grid_run)."""
    config_path, reference = grid_run["config_path"], grid_run["run_dir"]
    killed = tmp_path / "killed"
    ref_records = assert_complete_once(reference, N_ITEMS)

    # A fresh random instant each session (any instant must be safe); COMPSEP_KILL_SEED replays one.
    seed = int(os.environ.get("COMPSEP_KILL_SEED", time.time_ns() % 2**32))
    delay = random.Random(seed).uniform(1.0, 25.0)  # start-up, compute or write
    plan = [  # (ranks, when to kill)
        (2, "after the first record", lambda before, launch: len(done_ids(killed)) > len(before)),
        (1, "mid-way", lambda before, launch: len(done_ids(killed)) >= max(N_ITEMS // 2, len(before) + 1)),
        (3, f"after a random delay of {delay:.1f} s (COMPSEP_KILL_SEED={seed})",
         lambda before, launch: launch.elapsed >= delay or len(done_ids(killed)) >= N_ITEMS - 2),
    ]
    n_killed = 0
    for n_ranks, when, condition in plan:
        before = done_ids(killed)
        launch = Launch(["run", str(config_path), "--output", str(killed)], env, tmp_path, n_ranks=n_ranks)
        wait_for(launch, lambda: condition(before, launch), when)
        assert launch.alive(), f"the {n_ranks}-rank run ended before being killed {when}"
        t_kill = launch.elapsed
        launch.sigkill_all()
        n_killed += 1
        after = done_ids(killed)
        print(f"SIGKILL of {n_ranks} rank(s) {when}, at {t_kill:.1f} s: "
              f"{len(before)} -> {len(after)} of {N_ITEMS} items recorded")
        assert before <= after, f"records lost by the kill {when}"
        assert len(read_records_strict(killed)) == len(after)  # what is recorded is readable, once
    assert n_killed >= 3
    assert len(done_ids(killed)) < N_ITEMS, "the kills left nothing to resume"

    # Resume without interruption: one launch completes the grid.
    res = run_cli("run", str(config_path), "--output", str(killed), env=env, cwd=tmp_path, n_ranks=2)
    assert res.returncode == 0, res.stderr[-3000:]
    records = assert_complete_once(killed, N_ITEMS)
    assert not list((killed / "checkpoints").glob("*.tmp-*")), "stale temporaries left behind"
    launches = {file_attributes(p)["launch_id"] for p in record_files(killed)}
    assert len(launches) >= 2  # the result really is stitched from several launches

    assert_records_bitwise_equal(records, ref_records)

    # reduce reads the stitched folder as the uninterrupted one (the combined refit, a function of
    # records just found bitwise equal, is left out: test_combine and test_slurm's reduce job run it)
    for res in finish_all(*(Launch(["reduce", str(run_dir), "--regions-only"], env, tmp_path)
                            for run_dir in (killed, reference))):
        assert res.returncode == 0, res.stderr[-3000:]
    sel_killed = json.loads((killed / "selection.json").read_text())
    sel_ref = json.loads((reference / "selection.json").read_text())
    assert sel_killed["n_items_done"] == sel_ref["n_items_done"] == N_ITEMS
    assert sel_killed["regions"] == sel_ref["regions"]
    assert items_csv_rows(killed) == items_csv_rows(reference)


# ---------------------------------------------------------------------------------------------
# SIGTERM (Slurm's --signal): stop after the item in progress
# ---------------------------------------------------------------------------------------------

def test_sigterm_stops_after_the_item_in_progress_and_a_rerun_completes(env, tmp_path):
    n_items = 3
    config_path = write_config(tmp_path / "term.yaml", output=tmp_path / "run", name="term",
                               grid={"beta_dust": [1, 2, 3], "temp_dust": [1], "beta_synch": [1]})
    run_dir = tmp_path / "run"
    launch = Launch(["run", str(config_path)], env, tmp_path)  # one rank, no mpiexec
    wait_for(launch, lambda: len(done_ids(run_dir)) >= 1, "the first record")
    at_signal = len(done_ids(run_dir))
    os.kill(launch.proc.pid, signal.SIGTERM)
    res = launch.finish()
    assert res.returncode >= 0, "the run was killed by SIGTERM instead of stopping cleanly"
    done = done_ids(run_dir)
    assert at_signal <= len(done) <= at_signal + 1  # the item in progress is finished, no more
    assert len(done) < n_items
    assert done == set(range(len(done)))  # one rank works in item order
    log = "".join(p.read_text() for p in (run_dir / "logs").glob("*.log"))
    assert f"signal {int(signal.SIGTERM)} received: stopping before item {len(done)}" in log, log

    res = run_cli("run", str(config_path), env=env, cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    assert_complete_once(run_dir, n_items)
    assert len({file_attributes(p)["launch_id"] for p in record_files(run_dir)}) == 2


# ---------------------------------------------------------------------------------------------
# a folder of another config is refused and left untouched
# ---------------------------------------------------------------------------------------------

def test_a_folder_of_another_config_is_refused_untouched(grid_run, env, tmp_path):
    run_dir = grid_run["run_dir"]
    other = write_config(tmp_path / "other.yaml", grid=GRID, output=run_dir, name="grid",
                         noise_seed=6)  # differs from grid.yaml in the noise seed only
    before = tree_digest(run_dir)

    res = run_cli("run", str(other), env=env, cwd=tmp_path)
    assert res.returncode != 0
    lines = res.stderr.splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("compsep-hpc: error:") and "another config" in lines[0], lines
    assert "Traceback" not in res.stderr
    assert tree_digest(run_dir) == before

    # Under mpiexec: every rank refuses (rank 0 decides, tells the others, and alone reports it); nothing is written.
    res = run_cli("run", str(other), env=env, cwd=tmp_path, n_ranks=2)
    assert res.returncode != 0
    assert "Traceback" not in res.stderr
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("compsep-hpc: error:"), res.stderr  # rank 0 reports it once
    assert "another config" in res.stderr
    assert tree_digest(run_dir) == before


# ---------------------------------------------------------------------------------------------
# successive halving: killed mid-rung, resumed on another rank count
# ---------------------------------------------------------------------------------------------

def _keep_first_records(source: Path, target: Path, keep: int) -> None:
    """``target``'s checkpoints: the first ``keep`` records of ``source``'s, as a launch killed
    after writing them leaves them (a record is complete or absent)."""
    from compsep_hpc.store.checkpoint import CheckpointWriter

    attrs = file_attributes(record_files(source)[0])
    records = read_records_strict(source)[:keep]
    with CheckpointWriter(target, rank=0, n_ranks=2, launch_id="killed", config_sha256=attrs["config_sha256"],
                          config_yaml=attrs["config_yaml"], package_version=attrs["package_version"]) as writer:
        for record in records:
            writer.append(record.pop("item_id"), record)


def test_halving_killed_mid_rung_resumes_on_another_rank_count_to_the_same_picks(grid_run, env, tmp_path):
    """A halving run (4 items x 2 realizations, then the best 2 of them x 4) left as a kill in
    rung 1 leaves it (rung 0 complete, one of rung 1's records), resumed with 2 ranks, against the
    uninterrupted 1-rank run: the same rung records, bit for bit, and the same picks, from rung 1."""
    raw = yaml.safe_load(grid_run["config_path"].read_text())
    raw.update(name="halving", noise={"realizations": 4, "seed": 5},
               grid={**raw["grid"], "beta_synch": [1]},  # 4 items, shapes compiled by grid_run
               search={"strategy": "halving", "eta": 2, "min_realizations": 2})
    config_path = tmp_path / "halving.yaml"
    config_path.write_text(yaml.safe_dump(raw, sort_keys=False))
    reference, killed = tmp_path / "reference", tmp_path / "killed"
    res = run_cli("run", str(config_path), "--output", str(reference), env=env, cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    assert [len(done_ids(reference / "rungs" / str(k))) for k in (0, 1)] == [4, 2]

    shutil.copytree(reference, killed, ignore=shutil.ignore_patterns("rungs", "jax_cache"))
    shutil.copytree(reference / "rungs" / "0", killed / "rungs" / "0")
    _keep_first_records(reference / "rungs" / "1", killed / "rungs" / "1", keep=1)
    from compsep_hpc.report.status import status_summary

    status = status_summary(killed)
    assert [(r["done"], r["total"]) for r in status["rungs"]] == [(4, 4), (1, 2)]
    assert not status["complete"]

    res = run_cli("run", str(config_path), "--output", str(killed), env=env, cwd=tmp_path, n_ranks=2)
    assert res.returncode == 0, res.stderr[-3000:]
    for k in (0, 1):
        assert_records_bitwise_equal(read_records_strict(killed / "rungs" / str(k)),
                                     read_records_strict(reference / "rungs" / str(k)))
    rung1 = read_records_strict(reference / "rungs" / "1")
    assert {(r["rung"], r["realizations"], len(r["nll"])) for r in rung1} == {(1, 4, 4)}

    from compsep_hpc.report.reduce import reduce_run

    picks = [reduce_run(run_dir, regions_only=True) for run_dir in (reference, killed)]
    assert picks[0]["regions"] == picks[1]["regions"] and picks[0]["rung"] == 1
    assert picks[0]["regions"]["GAL060_U"]["min_cmb_mse"]["item_id"] in {r["item_id"] for r in rung1}
    assert items_csv_rows(killed) == items_csv_rows(reference)
