"""MPI grid launcher: split what is left to do, fit, checkpoint, resume.

Rank I of P takes the contiguous slice ``[floor(I N / P), floor((I+1) N / P))`` of the N items
still to do (by item id), so a rerun with any P resumes where the previous launch stopped. Rank 0
checks the run folder (a folder of another config is refused before anything is written) and
broadcasts the decision; after that, ranks never wait for each other. SIGTERM/SIGUSR1 (Slurm's
``--signal``) make a rank stop after the item in progress; SIGKILL loses at most that item and
the one whose record was being written behind it (:mod:`compsep_hpc.background_writer`).
"""

from __future__ import annotations

import logging
import os
import secrets
import signal
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from compsep_hpc import __version__
from compsep_hpc.background_writer import BackgroundWriter
from compsep_hpc.checkpoint import CheckpointWriter, completed_item_ids
from compsep_hpc.config import RunConfig
from compsep_hpc.errors import BroadcastError, CompsepError
from compsep_hpc.pipeline import RECORD_UNITS, Experiment, WorkItem, work_list
from compsep_hpc.run_folder import check_run_folder, config_yaml, create_run_folder, read_templates, write_templates
from compsep_hpc.scoring import CmbTemplates


class SerialComm:
    """Stand-in for MPI.COMM_WORLD when mpi4py is unavailable: one rank."""

    def Get_rank(self) -> int:
        return 0

    def Get_size(self) -> int:
        return 1

    def bcast(self, obj, root: int = 0):
        return obj


def world_comm():
    """MPI.COMM_WORLD, or a one-rank stand-in when mpi4py or its MPI library cannot load."""
    try:
        from mpi4py import MPI
    except (ImportError, RuntimeError):
        return SerialComm()
    return MPI.COMM_WORLD


def rank_slice(n_items: int, rank: int, n_ranks: int) -> tuple[int, int]:
    """Bounds ``[floor(rank n / P), floor((rank+1) n / P))`` of a rank's contiguous share."""
    return rank * n_items // n_ranks, (rank + 1) * n_items // n_ranks


def enable_compilation_cache(run_dir: Path) -> None:
    """Persist compiled fits in ``<run_dir>/jax_cache`` (or $JAX_COMPILATION_CACHE_DIR), so a
    resumed launch and the ranks of one node skip recompilation."""
    import jax

    if not os.environ.get("JAX_COMPILATION_CACHE_DIR"):
        jax.config.update("jax_compilation_cache_dir", str(run_dir / "jax_cache"))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)


def select_local_device(rank: int) -> str:
    """Pin JAX to the GPU of this rank's node-local index (round robin); CPU when there is none."""
    import jax

    local_rank = int(os.environ.get("SLURM_LOCALID", os.environ.get("OMPI_COMM_WORLD_LOCAL_RANK",
                     os.environ.get("MPI_LOCALRANKID", rank))))
    gpus = [d for d in jax.devices() if d.platform != "cpu"]
    if not gpus:
        return "cpu"
    device = gpus[local_rank % len(gpus)]
    jax.config.update("jax_default_device", device)
    return str(device)


MAP_COUNT_FRACTION = 0.5  # release compiled code past this fraction of the kernel's vm.max_map_count


def memory_map_usage() -> tuple[int, int] | None:
    """(memory mappings of this process, the kernel's per-process limit), or None off Linux."""
    try:
        with open("/proc/self/maps", "rb") as maps:
            count = sum(1 for _ in maps)
        with open("/proc/sys/vm/max_map_count") as limit:
            return count, int(limit.read())
    except (OSError, ValueError):
        return None


def release_compiled_code(fraction: float = MAP_COUNT_FRACTION) -> tuple[int, int] | None:
    """Drop JAX's in-memory executables when the process nears its memory-mapping limit.

    XLA's CPU backend maps every compiled executable in hundreds of separate mappings (~700 for a
    fit) and keeps them while the executable is cached; one shape per grid item thus exhausts
    vm.max_map_count (65,530 by default) after ~40 items, and the next compilation segfaults.
    Past ``fraction`` of the limit this clears JAX's caches (the persistent compilation cache
    on disk makes reloading cheap). Returns (mappings before, after) when it cleared, else None.
    """
    usage = memory_map_usage()
    if usage is None or usage[0] <= fraction * usage[1]:
        return None
    import gc

    import jax

    jax.clear_caches()
    gc.collect()
    after = memory_map_usage()
    return usage[0], after[0] if after else -1


class _StopFlag:
    """Records SIGTERM/SIGUSR1 so the item loop stops after the item in progress."""

    SIGNALS = (signal.SIGTERM, signal.SIGUSR1)

    def __init__(self) -> None:
        self.signal: int | None = None
        for sig in self.SIGNALS:
            signal.signal(sig, self._set)

    def _set(self, signum, _frame) -> None:
        self.signal = signum

    def ignore_from_now(self) -> None:
        """Ignore further stop signals: CPython restores the default (fatal) handlers at exit."""
        for sig in self.SIGNALS:
            signal.signal(sig, signal.SIG_IGN)


def _collective(comm, rank: int, action):
    """Run ``action`` on rank 0 and broadcast its result or its error message to every rank."""
    outcome = None
    if rank == 0:
        try:
            outcome = ("ok", action())
        except CompsepError as exc:
            outcome = ("error", str(exc))
    status, value = comm.bcast(outcome, root=0)
    if status == "error":
        raise BroadcastError(value, rank)
    return value


def _logger(log_path: Path | None, rank: int) -> logging.Logger:
    log = logging.getLogger(f"compsep_hpc.rank{rank}")
    log.setLevel(logging.INFO)
    log.handlers.clear()
    if log_path is not None:
        handler = logging.FileHandler(log_path)
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
        log.addHandler(handler)
    return log


def _progress(rank: int, n_ranks: int, done: int, total: int, start: float, item: WorkItem) -> None:
    elapsed = time.perf_counter() - start
    eta = elapsed / done * (total - done) if done else float("nan")
    k = "/".join(map(str, item.grid_values))
    print(f"[rank {rank}/{n_ranks}] {done}/{total} items | {item.region} K={k} | elapsed {elapsed:.0f}s "
          f"ETA {eta:.0f}s", file=sys.stderr, flush=True)


def launch(config: RunConfig, run_dir: str | Path, *, dry_run: bool = False, comm=None) -> list[int]:
    """Run (or resume) the grid of ``config`` in ``run_dir``; returns the item ids this rank did."""
    stop = _StopFlag()  # before anything slow: a stop signal during start-up must not kill the rank
    comm = comm or world_comm()
    rank, n_ranks = comm.Get_rank(), comm.Get_size()
    run_dir = Path(run_dir)
    items = work_list(config)
    experiment = Experiment(config)

    def prepare():
        exists = check_run_folder(config, run_dir)  # refuses another config; writes nothing
        experiment.validate()
        done = completed_item_ids(run_dir) if exists else set()
        launch_id = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)
        if not dry_run:
            create_run_folder(config, run_dir)
            write_templates(run_dir, *experiment.templates)
        return sorted(done), launch_id

    done, launch_id = _collective(comm, rank, prepare)
    todo = [it for it in items if it.item_id not in set(done)]
    lo, hi = rank_slice(len(todo), rank, n_ranks)
    mine = todo[lo:hi]
    if dry_run:
        if rank == 0:
            print(f"{len(items)} items in the work list, {len(done)} done, {len(todo)} to do on {n_ranks} rank(s)")
            for r in range(n_ranks):
                a, b = rank_slice(len(todo), r, n_ranks)
                ids = f"items {todo[a].item_id}..{todo[b - 1].item_id}" if b > a else "nothing"
                print(f"  rank {r}: {b - a} item(s): {ids}")
        stop.ignore_from_now()
        return []

    experiment.templates = CmbTemplates(*read_templates(run_dir))  # the run's stored copy, on every rank
    enable_compilation_cache(run_dir)
    device = select_local_device(rank)
    log = _logger(run_dir / "logs" / f"{launch_id}_rank{rank:05d}.log", rank)
    log.info("launch %s rank %d/%d device %s: %d of %d items left to do, mine: %d",
             launch_id, rank, n_ranks, device, len(todo), len(items), len(mine))
    completed: list[int] = []
    start = time.perf_counter()
    by_id = {item.item_id: item for item in mine}

    def written(item_id: int, record) -> None:  # on the writer thread, once the record is durable
        item = by_id[item_id]
        completed.append(item_id)
        log.info("item %d %s K=%s done in %.2fs, cmb_variance %.6g, unconverged %d",
                 item_id, item.region, item.grid_values, record["seconds"],
                 record["cmb_variance"], record["n_unconverged"])
        _progress(rank, n_ranks, len(completed), len(mine), start, item)

    writer = BackgroundWriter(CheckpointWriter(
        run_dir, rank=rank, n_ranks=n_ranks, launch_id=launch_id, config_sha256=config.sha256(),
        config_yaml=config_yaml(config), package_version=__version__, units=RECORD_UNITS,
    ), on_written=written)
    try:
        for item in mine:
            if stop.signal is not None:
                log.info("signal %d received: stopping before item %d", stop.signal, item.item_id)
                break
            writer.append(item.item_id, experiment.record(item))  # written while the next item fits
            released = release_compiled_code()
            if released is not None:
                log.info("memory mappings %d near the limit: cleared JAX caches, %d left", *released)
    finally:
        writer.close()
        stop.ignore_from_now()
    return completed
