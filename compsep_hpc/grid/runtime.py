"""What a rank needs around the fits: its MPI communicator and share of the items, the JAX
device and compilation cache, the release of compiled code, and the stop signals.

JAX and mpi4py are imported inside the functions: importing this module is cheap.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Mapping
from pathlib import Path

from compsep_hpc.errors import BroadcastError, CompsepError

class SerialComm:
    """Stand-in for MPI.COMM_WORLD when mpi4py is unavailable: one rank."""

    def Get_rank(self) -> int:
        return 0

    def Get_size(self) -> int:
        return 1

    def bcast(self, obj, root: int = 0):
        return obj

    def allreduce(self, obj):
        return obj


def world_comm():
    """MPI.COMM_WORLD, or a one-rank stand-in when mpi4py or its MPI library cannot load."""
    try:
        from mpi4py import MPI
    except (ImportError, RuntimeError):
        return SerialComm()
    return MPI.COMM_WORLD


# Task counts set by launchers, most specific first: a Slurm job step (srun), the MPI launchers
# (Open MPI's mpirun; PMI/PMIx process managers: MPICH's hydra, srun --mpi=pmi2|pmix), then the
# Slurm allocation (a bare command in a batch script of several tasks).
LAUNCHER_TASK_COUNTS = ("SLURM_STEP_NUM_TASKS", "OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", "SLURM_NTASKS")


def check_launch(n_ranks: int, environ: Mapping[str, str] | None = None) -> None:
    """Refuse a launch whose launcher started several tasks that MPI sees as singletons.

    ``srun`` without an MPI plugin that the MPI library understands (e.g. the pip ``mpich``
    under a site's ``MpiDefault=none``) starts P processes that each see a world of one rank:
    each would compute every item. Raises CompsepError when a launcher variable says more
    than one task and MPI says one.
    """
    environ = os.environ if environ is None else environ
    if n_ranks != 1:
        return
    for name in LAUNCHER_TASK_COUNTS:
        value = environ.get(name, "")
        if value.isdigit() and int(value) > 1:
            raise CompsepError(
                f"{name}={value} tasks were launched but MPI sees 1 rank: every task would compute every item; "
                "launch with `srun --mpi=pmi2` (or `--mpi=pmix`, whichever the MPI library supports; "
                "under slurm/submit.sh or run_grid.sbatch, set COMPSEP_SRUN_MPI=pmi2, their srun's --mpi) "
                "or with `mpiexec -n N` inside the allocation")
        if value:
            return  # the most specific count present says 1 task (e.g. one srun step inside a bigger job)


def rank_slice(n_items: int, rank: int, n_ranks: int) -> tuple[int, int]:
    """Bounds ``[floor(rank n / P), floor((rank+1) n / P))`` of a rank's contiguous share."""
    return rank * n_items // n_ranks, (rank + 1) * n_items // n_ranks


def enable_compilation_cache(run_dir: Path) -> None:
    """Persist compiled fits in ``<run_dir>/jax_cache`` (or $JAX_COMPILATION_CACHE_DIR), so a
    resumed launch and the ranks of one node skip recompilation; executables that compiled in
    over 1 s (or $JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS) are kept."""
    import jax

    if not os.environ.get("JAX_COMPILATION_CACHE_DIR"):
        jax.config.update("jax_compilation_cache_dir", str(run_dir / "jax_cache"))
    if not os.environ.get("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"):
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


class StopFlag:
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


def collective(comm, rank: int, action):
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

