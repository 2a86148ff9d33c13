"""End-to-end tests of slurm/submit.sh, run_grid.sbatch and reduce.sbatch on a real Slurm.

A module fixture starts a one-node Slurm on this machine with ``scripts/local_slurm.sh`` (root,
slurm-wlm and munge installed: CI installs them; otherwise every test skips with the reason) and
stops it at the end. Like the real site it has ``MpiDefault=none``, so the pip ``mpich`` needs
``COMPSEP_SRUN_MPI=pmi2``; there is no slurmdbd, so jobs are followed with ``scontrol show job``.

Every test submits a tiny config (nside 8, one region, 8 items, 2 noise realizations: test_launcher's,
so the two modules share their compiled shapes in the session cache) with
``slurm/submit.sh``, as a user would on a CPU-only partition: 2 ranks without GPU, 1 core each
(``--ranks 2 --gpus-per-rank 0 --cpus-per-rank 1``; this Slurm has no GPU), 30 min
(REDUCE_SBATCH_ARGS sets the reduce job's CPUs and time). submit.sh checks each config with
``compsep-hpc check`` first. All jobs share the session's JAX compilation cache (the ``env``
fixture's JAX_COMPILATION_CACHE_DIR, which the jobs inherit). Signals and kills wait for what makes
their outcome certain (both ranks' start-up lines, a record), never for a fixed delay, and every
wait has a timeout.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import h5py
import pytest
import yaml

from compsep_hpc.config import load_config
from compsep_hpc.grid.runtime import rank_slice
from compsep_hpc.store.checkpoint import file_attributes, record_files
from compsep_hpc.store.run_folder import create_run_folder

from run_records import done_ids, read_records_strict  # tests/grid/run_records.py

pytestmark = [pytest.mark.e2e, pytest.mark.slurm]

REPO = Path(__file__).resolve().parents[2]
LOCAL_SLURM = REPO / "scripts" / "local_slurm.sh"
SUBMIT = REPO / "slurm" / "submit.sh"
COMPSEP = Path(sys.executable).parent / "compsep-hpc"  # the venv's, beside its python

GRID = {"beta_dust": [1, 2], "temp_dust": [1, 2], "beta_synch": [1, 2]}  # test_launcher's: compiled there
N_ITEMS = 8
N_TASKS = 2
GRID_TIME_LIMIT = "00:30:00"
GRID_OPTIONS = ("--ranks", str(N_TASKS), "--gpus-per-rank", "0", "--cpus-per-rank", "1", "--time", GRID_TIME_LIMIT)
REDUCE_SBATCH_ARGS = "--cpus-per-task=1 --time=00:10:00"
JOB_TIMEOUT = 400  # s, one job from submission to its end (cold compilation included)
POLL = 0.1  # s
FINAL_STATES = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY",
                "PREEMPTED", "BOOT_FAIL", "DEADLINE"}
LAUNCH_ERROR = (f"compsep-hpc: error: SLURM_STEP_NUM_TASKS={N_TASKS} tasks were launched but MPI sees 1 rank: "
                "every task would compute every item; launch with `srun --mpi=pmi2`")
SUBMIT_KNOB = "under slurm/submit.sh or run_grid.sbatch, set COMPSEP_SRUN_MPI=pmi2"


# ---------------------------------------------------------------------------------------------
# the local Slurm
# ---------------------------------------------------------------------------------------------

def _clean_environ() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "PMI_", "PMIX_", "OMPI_"))}


@dataclass
class LocalSlurm:
    conf: str
    state: Path
    mpi_plugins: frozenset[str]

    def cmd(self, *args: str, timeout: float = 30) -> subprocess.CompletedProcess:
        return subprocess.run(list(args), env={**_clean_environ(), "SLURM_CONF": self.conf},
                              capture_output=True, text=True, timeout=timeout)

    def job(self, job_id: str) -> dict[str, str]:
        """``scontrol show job -o`` as a dictionary (JobState, Restarts, ExitCode, Reason, ...)."""
        res = self.cmd("scontrol", "show", "job", "-o", job_id)
        assert res.returncode == 0, f"scontrol show job {job_id}: {res.stderr}"
        return dict(re.findall(r"([A-Za-z][\w/:]*)=(\S*)", res.stdout))

    def queue(self) -> list[str]:
        return self.cmd("squeue", "-h", "-o", "%i").stdout.split()


def _script(action: str, state: Path, timeout: float = 180) -> subprocess.CompletedProcess:
    env = {**_clean_environ(), "LOCAL_SLURM_INSTALL": "0"}  # tests never install packages
    return subprocess.run(["bash", str(LOCAL_SLURM), action, str(state)], env=env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def slurm(tmp_path_factory) -> LocalSlurm:
    """A one-node Slurm for this module, stopped after it; skips every test where it cannot start."""
    if not COMPSEP.is_file():
        pytest.skip(f"no {COMPSEP} beside {sys.executable}")
    if os.geteuid() != 0:
        pytest.skip("the local Slurm runs its daemons as root: run the tests as root")
    state = tmp_path_factory.mktemp("slurm")
    if len(str(state)) > 60:  # Unix socket paths (munge, slurmstepd) are short
        state = Path(tempfile.mkdtemp(prefix="compsep-slurm-"))
    try:
        try:
            res = _script("start", state)
        except subprocess.TimeoutExpired:
            pytest.skip(f"{LOCAL_SLURM.name} start did not finish in time")
        if res.returncode != 0:
            reason = (res.stderr.strip().splitlines() or [f"exit status {res.returncode}"])[-1]
            pytest.skip(f"no local Slurm: {reason}")
        match = re.search(r"^export SLURM_CONF=(\S+)$", res.stdout, re.M)
        assert match, res.stdout
        listing = subprocess.run(["srun", "--mpi=list"], env={**_clean_environ(), "SLURM_CONF": match[1]},
                                 capture_output=True, text=True, timeout=30)
        plugins = frozenset(line.strip() for line in (listing.stdout + listing.stderr).splitlines())
        yield LocalSlurm(match[1], state, plugins)
    finally:
        res = _script("stop", state, timeout=120)
        assert res.returncode == 0, f"{LOCAL_SLURM.name} stop: {res.stderr}"


@pytest.fixture(autouse=True)
def _no_jobs_left_behind(slurm):
    """After each test, cancel whatever it left queued or running (a failed test must not block the next)."""
    yield
    left = slurm.queue()
    if left:
        slurm.cmd("scancel", *left)
        deadline = time.monotonic() + 60
        while slurm.queue() and time.monotonic() < deadline:
            time.sleep(POLL)


# ---------------------------------------------------------------------------------------------
# submitting and following jobs
# ---------------------------------------------------------------------------------------------

@dataclass
class Submission:
    root: Path  # the folder submit.sh ran in: the jobs' working folder, logs/ there
    config: Path
    run_dir: Path
    grid: str
    reduce: str

    def log(self, job_id: str | None = None) -> str:
        job_id = job_id or self.grid
        name = "compsep-grid" if job_id == self.grid else "compsep-reduce"
        path = self.root / "logs" / f"{name}_{job_id}.out"
        return path.read_text() if path.is_file() else ""


def write_config(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    config = root / "grid.yaml"
    config.write_text(yaml.safe_dump({
        "name": "slurm", "nside": 8,
        "sky": {"model": "synthetic_clustered", "seed": 3,
                "true_patches": {"beta_dust": 2, "temp_dust": 1, "beta_synch": 1}},
        "regions": ["GAL060_U"], "grid": GRID, "noise": {"realizations": 2, "seed": 5},
        "output": str(root / "run"),
    }, sort_keys=False))
    return config


def run_submit(slurm: LocalSlurm, env: dict, root: Path, *options: str, srun_mpi: str | None = "pmi2",
               compsep: Path = COMPSEP, extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``slurm/submit.sh grid.yaml OPTIONS...`` in ``root`` (the config written there if absent)."""
    config = root / "grid.yaml"
    if not config.is_file():
        write_config(root)
    e = {k: v for k, v in env.items()
         if not k.startswith(("SLURM_", "SBATCH_", "SALLOC_", "SRUN_", "COMPSEP_SRUN", "COMPSEP_STOP", "GRID_SBATCH"))}
    e.update(SLURM_CONF=slurm.conf, PYTHON=sys.executable, COMPSEP=str(compsep), REDUCE_SBATCH_ARGS=REDUCE_SBATCH_ARGS,
             **(extra_env or {}))
    if srun_mpi:
        e["COMPSEP_SRUN_MPI"] = srun_mpi
    return subprocess.run(["bash", str(SUBMIT), config.name, *options], cwd=root, env=e, capture_output=True,
                          text=True, timeout=300)


def submit(slurm: LocalSlurm, env: dict, root: Path, *, srun_mpi: str | None = "pmi2", compsep: Path = COMPSEP,
           extra_env: dict[str, str] | None = None) -> Submission:
    """``slurm/submit.sh grid.yaml`` with GRID_OPTIONS in ``root``: queues both jobs."""
    if srun_mpi and srun_mpi not in slurm.mpi_plugins:
        pytest.skip(f"this Slurm has no mpi/{srun_mpi} plugin (srun --mpi=list: {sorted(slurm.mpi_plugins)})")
    res = run_submit(slurm, env, root, *GRID_OPTIONS, srun_mpi=srun_mpi, compsep=compsep, extra_env=extra_env)
    assert res.returncode == 0, f"submit.sh failed:\n{res.stdout}\n{res.stderr[-3000:]}"
    grid = re.search(r"^grid job +(\d+):", res.stdout, re.M)
    reduce = re.search(rf"^reduce job +(\d+) \(after {grid[1] if grid else '?'} succeeds; cancelled if it fails\)",
                       res.stdout, re.M)
    assert grid and reduce, res.stdout
    return Submission(root, root / "grid.yaml", root / "run", grid[1], reduce[1])


def wait_for(slurm: LocalSlurm, sub: Submission, job_id: str, condition, what: str,
             timeout: float = JOB_TIMEOUT) -> dict[str, str]:
    """Poll ``scontrol show job`` until ``condition(info)``; fails (with the job's log) on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        info = slurm.job(job_id)
        if condition(info):
            return info
        if time.monotonic() > deadline:
            pytest.fail(f"job {job_id}: timed out after {timeout} s waiting for {what}; "
                        f"state {info.get('JobState')} ({info.get('Reason')})\n{sub.log(job_id)[-3000:]}")
        time.sleep(POLL)


def wait_ended(slurm: LocalSlurm, sub: Submission, job_id: str) -> dict[str, str]:
    return wait_for(slurm, sub, job_id, lambda i: i.get("JobState") in FINAL_STATES, "its end")


def wait_running_until(slurm: LocalSlurm, sub: Submission, condition, what: str) -> None:
    """Wait for ``condition()`` while the grid job has not ended (it must not end first)."""
    deadline = time.monotonic() + JOB_TIMEOUT
    while not condition():
        info = slurm.job(sub.grid)
        if info.get("JobState") in FINAL_STATES:
            pytest.fail(f"job {sub.grid} ended ({info['JobState']}) before {what}:\n{sub.log()[-3000:]}")
        if time.monotonic() > deadline:
            pytest.fail(f"job {sub.grid}: timed out waiting for {what}:\n{sub.log()[-3000:]}")
        time.sleep(POLL)


def assert_reduce_cancelled(slurm: LocalSlurm, sub: Submission) -> None:
    """The reduce job of a failed or cancelled grid job is cancelled by Slurm (submit.sh queues it
    with --kill-on-invalid-dep=yes): it never runs and leaves the queue, so a resubmission does
    not leave a second reduce job waiting behind it."""
    info = wait_for(slurm, sub, sub.reduce, lambda i: i.get("JobState") in FINAL_STATES,
                    "its cancellation (the grid job failed)", timeout=60)
    assert info["JobState"] == "CANCELLED", info
    assert sub.reduce not in slurm.queue()
    assert not (sub.root / "logs" / f"compsep-reduce_{sub.reduce}.out").exists(), "the reduce job ran"
    assert not (sub.run_dir / "selection.json").exists()


def job_processes(slurm: LocalSlurm, job_id: str) -> list[int]:
    """Live processes of this Slurm's job ``job_id`` (by SLURM_JOB_ID and SLURM_CONF in their environment)."""
    needles = (f"\0SLURM_JOB_ID={job_id}\0".encode(), f"\0SLURM_CONF={slurm.conf}\0".encode())
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = b"\0" + (entry / "environ").read_bytes() + b"\0"
            if all(n in environ for n in needles):
                if (entry / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
                    pids.append(int(entry.name))
        except OSError:
            continue
    return pids


def assert_no_processes_left(slurm: LocalSlurm, job_id: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while (left := job_processes(slurm, job_id)) and time.monotonic() < deadline:
        time.sleep(POLL)
    assert not left, f"processes {left} of job {job_id} outlived it"


def mpich_segments(job_id: str, step: int = 0, node: int = 0) -> tuple[Path, Path]:
    """MPICH's shared-memory segments (shm, vci) of srun step JOBID.STEP on a node: named after the
    FNV-1a hash of the PMI kvs name, JOBID.STEPID under srun, so a requeued job's step 0 meets its
    predecessor's."""
    h = 0x811C9DC5
    for byte in f"{job_id}.{step}".encode():
        h = ((h ^ byte) * 0x01000193) & 0xFFFFFFFF
    return Path(f"/dev/shm/mpich_shm_{h:x}_{node}"), Path(f"/dev/shm/mpich_vci_{h:x}_{node}")


def slurm_time(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S")


# ---------------------------------------------------------------------------------------------
# the run folder
# ---------------------------------------------------------------------------------------------



def launches(run_dir: Path) -> list[tuple[str, dict[int, list[int]]]]:
    """(launch id, {rank: item ids in the order recorded}) of every launch, oldest first, from the
    ranks' logs (a launch that recorded nothing too) and the record files."""
    ids = {p.name.split("_rank")[0] for p in (run_dir / "logs").glob("*_rank*.log")}
    by_launch: dict[str, dict[int, list[int]]] = {launch_id: {} for launch_id in ids}
    for path in record_files(run_dir):
        attrs = file_attributes(path)
        assert attrs["n_ranks"] == N_TASKS, f"{path.name} was written by a launch of {attrs['n_ranks']} rank(s)"
        with h5py.File(path, "r", locking=False) as f:
            by_launch.setdefault(attrs["launch_id"], {}).setdefault(attrs["rank"], []).extend(
                int(i) for i in f["item_id"][:])
    return sorted(by_launch.items())  # launch ids start with their UTC time


def assert_contiguous_prefixes(run_dir: Path) -> list[tuple[str, dict[int, list[int]]]]:
    """Each launch's rank recorded a prefix of its contiguous slice of the items left at that launch
    (lost: only items in progress and those not started), and every item is recorded at most once.
    Returns (launch id, {rank: the slice it was given}) per launch."""
    done: set[int] = set()
    slices = []
    for launch_id, ranks in launches(run_dir):
        todo = [i for i in range(N_ITEMS) if i not in done]
        given = {r: todo[slice(*rank_slice(len(todo), r, N_TASKS))] for r in range(N_TASKS)}
        for rank, ids in ranks.items():
            assert ids == given[rank][:len(ids)], (launch_id, rank, ids, given[rank])
            assert not done & set(ids), f"launch {launch_id} recomputed recorded items"
            done |= set(ids)
        slices.append((launch_id, given))
    read_records_strict(run_dir)
    return slices


def rank_logs(run_dir: Path, launch_id: str) -> dict[int, str]:
    return {int(p.stem.rsplit("rank", 1)[1]): p.read_text()
            for p in sorted((run_dir / "logs").glob(f"{launch_id}_rank*.log"))}


def started_ranks(run_dir: Path) -> int:
    """Ranks (of all launches) that logged their start-up line: launch() installs its stop handlers
    before that, and the rank has not started its first item yet."""
    logs = run_dir / "logs"
    if not logs.is_dir():
        return 0
    return sum(" device " in p.read_text() for p in logs.glob("*_rank*.log"))


# ---------------------------------------------------------------------------------------------
# 2 srun tasks with --mpi=pmi2, and the reduce job after them
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def pmi2_run(slurm, env, tmp_path_factory) -> tuple[Submission, dict, dict]:
    """One uninterrupted submission with COMPSEP_SRUN_MPI=pmi2; (submission, grid job, reduce job)."""
    sub = submit(slurm, env, tmp_path_factory.mktemp("pmi2"))
    grid = wait_ended(slurm, sub, sub.grid)
    reduce = wait_ended(slurm, sub, sub.reduce)
    print(f"[slurm] pmi2 run: grid job {sub.grid} {grid['JobState']} (exit {grid['ExitCode']}, restarts "
          f"{grid['Restarts']}), reduce job {sub.reduce} {reduce['JobState']} (exit {reduce['ExitCode']})")
    return sub, grid, reduce


def test_two_srun_tasks_take_contiguous_slices(pmi2_run):
    sub, grid, _ = pmi2_run
    log = sub.log()
    assert grid["JobState"] == "COMPLETED" and grid["ExitCode"] == "0:0", log[-3000:]
    assert grid["Restarts"] == "0"
    assert f"{N_TASKS} ranks (srun MPI plugin: pmi2)" in log and f"all {N_ITEMS} items done" in log, log
    # submit.sh's resources, on a Slurm without GPU: no GPU asked for
    assert (grid["NumTasks"], grid["CPUs/Task"], grid["TimeLimit"]) == (str(N_TASKS), "1", GRID_TIME_LIMIT), grid
    assert not [f"{k}={v}" for k, v in grid.items() if "gpu" in f"{k}={v}".lower()], grid
    runs = launches(sub.run_dir)  # every record file says n_ranks 2
    assert len(runs) == 1, "one launch"
    _, ranks = runs[0]
    assert sorted(ranks) == list(range(N_TASKS)), "the 2 tasks are ranks 0 and 1 of 2"
    for rank, ids in ranks.items():
        assert ids == list(range(*rank_slice(N_ITEMS, rank, N_TASKS))), (rank, ids)
    records = read_records_strict(sub.run_dir)  # no "already read from another file" warning
    assert sorted(r["item_id"] for r in records) == list(range(N_ITEMS))
    print(f"[slurm] items per rank: {dict(sorted(ranks.items()))}")


def test_reduce_job_runs_after_the_grid_job(pmi2_run):
    sub, grid, reduce = pmi2_run
    assert reduce["JobState"] == "COMPLETED" and reduce["ExitCode"] == "0:0", sub.log(sub.reduce)[-3000:]
    assert slurm_time(reduce["StartTime"]) >= slurm_time(grid["EndTime"])
    assert f"items done: {N_ITEMS} / {N_ITEMS}" in sub.log(sub.reduce)
    selection = sub.run_dir / "selection.json"
    assert selection.is_file()
    assert json.loads(selection.read_text())["n_items_done"] == N_ITEMS


# ---------------------------------------------------------------------------------------------
# the time-limit signal: stop after the current item, requeue, resume
# ---------------------------------------------------------------------------------------------

def test_time_limit_signal_stops_ranks_then_the_job_requeues_and_completes(slurm, env, tmp_path):
    sub = submit(slurm, env, tmp_path)
    # Both ranks logged their start-up line, so their SIGUSR1 handlers are in place; each has 4
    # items and stops after the one in progress: items are certain to remain, whatever the timing.
    wait_running_until(slurm, sub, lambda: started_ranks(sub.run_dir) == N_TASKS, "both ranks started")
    res = slurm.cmd("scancel", "--signal=USR1", "--batch", sub.grid)  # what --signal=B:USR1@300 sends
    assert res.returncode == 0, res.stderr

    # The requeued job waits (Slurm delays its restart by AuthInfo's cred_expire, 10 s here): hold it
    # and leave in /dev/shm what ranks killed outright (e.g. past COMPSEP_STOP_GRACE) leave behind,
    # MPICH's segment named after JOBID.0, which the new step 0 would attach to and hang on.
    info = wait_for(slurm, sub, sub.grid, lambda i: i.get("JobState") in FINAL_STATES or (
        i.get("Restarts") != "0" and i.get("JobState") in ("PENDING", "RUNNING")), "the requeued job pending")
    assert info["Restarts"] == "1" and info["JobState"] == "PENDING", info
    assert slurm.cmd("scontrol", "hold", sub.grid).returncode == 0
    stale = mpich_segments(sub.grid)[0]
    stale.write_bytes(b"")
    try:
        assert slurm.cmd("scontrol", "release", sub.grid).returncode == 0
        grid = wait_ended(slurm, sub, sub.grid)
    finally:
        stale.unlink(missing_ok=True)
    log = sub.log()
    assert f"removed MPICH shared memory left by an earlier run of this job: {stale}" in log, log
    assert grid["JobState"] == "COMPLETED" and grid["ExitCode"] == "0:0", log[-3000:]
    assert grid["Restarts"] == "1", grid
    assert log.count("SIGUSR1 (time limit near)") == 1, log
    assert re.search(rf"items done: requeueing job {sub.grid}\n", log), log
    assert f"job {sub.grid} (restart 0)" in log and f"job {sub.grid} (restart 1)" in log, log
    assert f"all {N_ITEMS} items done" in log

    slices = assert_contiguous_prefixes(sub.run_dir)
    assert len(slices) == 2, "the stopped launch and the requeued one"
    (first_id, _), (_, second_given) = slices
    first, second = (ranks for _, ranks in launches(sub.run_dir))
    assert all(len(ids) <= 1 for ids in first.values()), f"a rank went past its item in progress: {first}"
    for rank, text in rank_logs(sub.run_dir, first_id).items():
        assert f"signal {int(signal.SIGUSR1)} received: stopping before item" in text, (rank, text)
    assert second == {r: ids for r, ids in second_given.items() if ids}, "the requeued launch did all the rest"
    assert done_ids(sub.run_dir) == set(range(N_ITEMS))
    print(f"[slurm] requeue: job {sub.grid} restarts {grid['Restarts']}, {grid['JobState']}; items per rank: "
          f"before the signal {first}, after the requeue {second}")

    reduce = wait_ended(slurm, sub, sub.reduce)  # afterok holds across the requeue
    assert reduce["JobState"] == "COMPLETED", sub.log(sub.reduce)[-3000:]
    assert slurm_time(reduce["StartTime"]) >= slurm_time(grid["EndTime"])
    assert (sub.run_dir / "selection.json").is_file()
    print(f"[slurm] requeue: reduce job {sub.reduce} {reduce['JobState']}")


# ---------------------------------------------------------------------------------------------
# jobs killed outright, then resubmitted
# ---------------------------------------------------------------------------------------------

def _killed(slurm: LocalSlurm, sub: Submission, kill: list[str]) -> tuple[set[int], set[int], dict]:
    """``scancel KILL...`` now; returns (items recorded at the kill, after it, the job's final info)."""
    at_kill = done_ids(sub.run_dir)
    res = slurm.cmd("scancel", *kill)
    assert res.returncode == 0, res.stderr
    info = wait_ended(slurm, sub, sub.grid)
    assert_no_processes_left(slurm, sub.grid)
    after = done_ids(sub.run_dir)
    assert at_kill <= after, "a record was lost"
    assert len(after) < N_ITEMS, "the kill left nothing to do"
    assert_contiguous_prefixes(sub.run_dir)  # readable, once each; only items in progress are missing
    assert "requeueing job" not in sub.log() and "items done\n" not in sub.log()
    assert_reduce_cancelled(slurm, sub)
    for segment in mpich_segments(sub.grid):
        segment.unlink(missing_ok=True)  # left in /dev/shm by the ranks killed here (no later job has this id)
    print(f"[slurm] `scancel {' '.join(kill)}`: job {sub.grid} {info['JobState']} (exit {info['ExitCode']}, "
          f"restarts {info['Restarts']}); {len(at_kill)} items recorded at the kill, {len(after)} after")
    return at_kill, after, info


def test_killed_jobs_lose_at_most_the_items_in_progress_and_a_resubmission_completes(slurm, env, tmp_path):
    # 1. Once the first item is recorded, the srun step is SIGKILLed outright (as by the OOM killer):
    # the ranks die mid-item, the batch shell sees srun fail with items left and no stop signal, and
    # does not requeue. The other rank is still in its first items (each new shape costs seconds),
    # so items remain.
    sub = submit(slurm, env, tmp_path)
    wait_running_until(slurm, sub, lambda: bool(done_ids(sub.run_dir)), "the first record")
    at_kill, after, info = _killed(slurm, sub, ["--signal=KILL", f"{sub.grid}.0"])
    assert info["JobState"] == "FAILED" and info["ExitCode"] == "137:0" and info["Restarts"] == "0", info
    assert "with %d of %d items done and no stop signal: not requeueing" % (len(after), N_ITEMS) in sub.log()

    # 2. Resubmitted, and cancelled (`scancel JOBID`: SIGTERM, then SIGKILL KillWait = 2 s later)
    # as soon as both ranks have started: each finishes at most the item in progress.
    sub = submit(slurm, env, tmp_path)
    started = started_ranks(sub.run_dir)
    wait_running_until(slurm, sub, lambda: started_ranks(sub.run_dir) == started + N_TASKS, "both ranks started")
    _, after, info = _killed(slurm, sub, [sub.grid])
    assert info["JobState"] == "CANCELLED" and info["Restarts"] == "0", info
    assert all(len(ids) <= 1 for ids in launches(sub.run_dir)[-1][1].values())

    # 3. Resubmitted again: completes exactly what is missing. The two earlier reduce jobs were
    # cancelled with their grid jobs: only this submission's jobs are queued. (The reduce job after
    # a complete grid job, requeued or not, is tested above: cancelled here.)
    sub = submit(slurm, env, tmp_path)
    assert set(slurm.queue()) <= {sub.grid, sub.reduce}, slurm.queue()
    slurm.cmd("scancel", sub.reduce)
    grid = wait_ended(slurm, sub, sub.grid)
    assert grid["JobState"] == "COMPLETED" and grid["ExitCode"] == "0:0", sub.log()[-3000:]
    runs = launches(sub.run_dir)
    assert len(runs) == 3
    assert sorted(i for ids in runs[-1][1].values() for i in ids) == sorted(set(range(N_ITEMS)) - after)
    assert_contiguous_prefixes(sub.run_dir)
    assert done_ids(sub.run_dir) == set(range(N_ITEMS))
    assert not list((sub.run_dir / "checkpoints").glob("*.tmp-*")), "stale temporaries left behind"
    print(f"[slurm] resubmission: grid job {sub.grid} {grid['JobState']} (exit {grid['ExitCode']}) computed "
          f"the {N_ITEMS - len(after)} items left; items per launch and rank: {[r for _, r in runs]}")


# ---------------------------------------------------------------------------------------------
# plain srun under MpiDefault=none: singleton ranks, refused
# ---------------------------------------------------------------------------------------------

def test_plain_srun_of_the_pip_mpich_is_refused_with_one_line(slurm, env, tmp_path):
    sub = submit(slurm, env, tmp_path, srun_mpi=None)
    grid = wait_ended(slurm, sub, sub.grid)
    log = sub.log()
    assert grid["JobState"] == "FAILED" and grid["ExitCode"] == "2:0", (grid, log)
    assert "(srun MPI plugin: the site default)" in log
    errors = [line for line in log.splitlines() if line.startswith("compsep-hpc: error:")]
    assert len(errors) == N_TASKS and all(e.startswith(LAUNCH_ERROR) for e in errors), log  # one line per task
    assert all(SUBMIT_KNOB in e for e in errors), errors  # srun's option and submit.sh's variable, both named
    assert "Traceback" not in log, log
    assert not sub.run_dir.exists(), "a refused launch wrote something"
    assert_reduce_cancelled(slurm, sub)
    print(f"[slurm] plain srun: job {sub.grid} {grid['JobState']} (exit {grid['ExitCode']}): {errors[0][:90]}...")


# ---------------------------------------------------------------------------------------------
# submit.sh's refusals: one line, nothing queued
# ---------------------------------------------------------------------------------------------

def test_asking_for_gpus_on_a_cpu_only_slurm_names_the_option(slurm, env, tmp_path):
    """submit.sh asks for one GPU per rank unless --gpus-per-rank 0. This Slurm has no GPU: sbatch
    refuses the grid job (its own message), submit.sh names the option, and nothing is queued."""
    res = run_submit(slurm, env, tmp_path, "--ranks", str(N_TASKS), "--cpus-per-rank", "1")
    assert res.returncode == 1, (res.stdout, res.stderr)
    assert "Invalid generic resource (gres) specification" in res.stderr, res.stderr
    assert res.stderr.strip().splitlines()[-1] == (
        f"submit.sh: error: sbatch refused the grid job (above), which asks for {N_TASKS} GPU(s); "
        "on a partition without GPUs, give --gpus-per-rank 0")
    assert not slurm.queue()


@pytest.mark.parametrize("options, extra_env, message", [
    (("--time", "5", "--stop-before", "300"), {},
     "--stop-before 300 s reaches the grid job's time limit --time 5 (300 s): the stop signal would come before "
     "the ranks start an item; give a longer --time or a shorter --stop-before"),
    (("--time", "0-0:04"), {}, "--stop-before 300 s reaches the grid job's time limit --time 0-0:04 (240 s)"),
    (("--signal=B:USR1@60",), {},
     "sbatch options: give the stop signal's lead as submit.sh --stop-before SECONDS, not --signal=B:USR1@60"),
    ((), {"GRID_SBATCH_ARGS": "--exclusive --time=10"},
     "GRID_SBATCH_ARGS: give the grid job's time limit as submit.sh --time LIMIT (checked against --stop-before), "
     "not --time=10"),
    (("--stop-before", "60"), {"COMPSEP_STOP_GRACE": "60"},
     "COMPSEP_STOP_GRACE=60: must be a number of seconds below --stop-before (60 s)"),
    (("--time", "12h"), {}, "--time 12h: not a Slurm time limit"),
], ids=["lead-reaches-limit", "default-lead-over-limit", "signal-option", "time-in-grid-args", "grace-over-lead",
        "bad-time"])
def test_a_stop_signal_that_cannot_leave_time_for_an_item_is_refused(slurm, env, tmp_path, options, extra_env,
                                                                     message):
    res = run_submit(slurm, env, tmp_path, *GRID_OPTIONS[:6], *options, extra_env=extra_env)
    assert res.returncode == 2, (res.stdout, res.stderr)
    lines = res.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"submit.sh: error: {message}"), res.stderr
    assert not slurm.queue() and res.stdout == ""
    assert not (tmp_path / "logs").exists()


# ---------------------------------------------------------------------------------------------
# a run that recorded no item is not requeued
# ---------------------------------------------------------------------------------------------

STAND_IN = """#!/bin/bash
# compsep-hpc, except that `run` stands for ranks still in their start-up when the stop signal
# comes: {what}.
if [[ $1 == run ]]; then
    trap {on_signal} USR1
    touch "$RANKS_WAITING/rank$SLURM_PROCID"
    while :; do sleep 0.1; done
fi
exec {compsep} "$@"
"""


def _signal_before_the_first_item(slurm: LocalSlurm, env: dict, root: Path, what: str, on_signal: str,
                                  extra_env: dict[str, str] | None = None) -> Submission:
    """Submit with a compsep-hpc whose ranks wait (``on_signal`` the trap of their SIGUSR1), in a run
    folder of 0 of N_ITEMS items done, and send the time-limit signal once both ranks wait."""
    config = load_config(write_config(root))
    create_run_folder(config, config.output)  # 0 of N_ITEMS items done (the config's grid in its region)
    stand_in = root / "compsep-hpc"
    stand_in.write_text(STAND_IN.format(what=what, on_signal=on_signal, compsep=COMPSEP))
    stand_in.chmod(0o755)
    waiting = root / "ranks_waiting"
    waiting.mkdir()
    sub = submit(slurm, env, root, compsep=stand_in, extra_env={"RANKS_WAITING": str(waiting), **(extra_env or {})})
    wait_running_until(slurm, sub, lambda: len(list(waiting.iterdir())) == N_TASKS, "both ranks waiting")
    res = slurm.cmd("scancel", "--signal=USR1", "--batch", sub.grid)  # what --signal=B:USR1@S sends
    assert res.returncode == 0, res.stderr
    return sub


def test_a_run_stopped_before_its_first_item_is_not_requeued(slurm, env, tmp_path):
    sub = _signal_before_the_first_item(slurm, env, tmp_path, "each stops at once, no item done", "'exit 0'")
    info = wait_for(slurm, sub, sub.grid, lambda i: i.get("JobState") in FINAL_STATES or i.get("Restarts") != "0",
                    "its end or its requeue")
    log = sub.log()
    assert info["JobState"] == "FAILED" and info["ExitCode"] == "3:0" and info["Restarts"] == "0", (info, log)
    assert (f"stop signal and no item recorded since this run started (0 of {N_ITEMS} items done): not requeueing"
            in log), log
    assert "requeueing job" not in log
    assert_reduce_cancelled(slurm, sub)
    print(f"[slurm] no progress: job {sub.grid} {info['JobState']} (exit {info['ExitCode']}, restarts {info['Restarts']})")


def test_ranks_busy_past_the_grace_without_progress_are_not_requeued(slurm, env, tmp_path):
    sub = _signal_before_the_first_item(slurm, env, tmp_path, "each stays busy, no item done", "''",
                                        {"COMPSEP_STOP_GRACE": "1"})
    decision = "ranks still busy 1 s after SIGUSR1 and no item recorded since this run started: not requeueing"
    info = wait_for(slurm, sub, sub.grid, lambda i: i.get("Restarts") != "0" or i.get("JobState") in FINAL_STATES
                    or decision in sub.log(), "the watchdog's decision")
    assert info["JobState"] == "RUNNING" and info["Restarts"] == "0", (info, sub.log())
    assert decision in sub.log() and "requeueing now" not in sub.log()
    assert slurm.cmd("scancel", sub.grid).returncode == 0  # else it would run until its time limit
    info = wait_ended(slurm, sub, sub.grid)
    assert info["JobState"] == "CANCELLED" and info["Restarts"] == "0", info
    assert_reduce_cancelled(slurm, sub)
