"""MPI grid launcher: split what is left to do, fit, checkpoint, resume.

Rank I of P takes the contiguous slice ``[floor(I N / P), floor((I+1) N / P))`` of the N items
still to do (by item id) in the search's running rung (grid/search.py: one rung when exhaustive),
so a rerun with any P resumes where the previous launch stopped. Rank 0
checks the run folder (a folder of another config is refused before anything is written),
resolves each region's grid (``grid.above_pixels``, grid/region_grids.py; stored in the run folder
at the start, and a resume whose grids differ is refused) and broadcasts both; every rank lists
the same items from rank 0's grids. After that, ranks never wait for each other, but at the end
of a rung of successive halving, whose survivors rank 0 reads from the checkpoint files.
SIGTERM/SIGUSR1 (Slurm's ``--signal``) make a rank stop after the item in progress; SIGKILL loses
at most that item and the one whose record was being written behind it
(:mod:`compsep_hpc.store.background_writer`).
"""

from __future__ import annotations

import logging
import secrets
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from collections.abc import Callable
from typing import NamedTuple

from compsep_hpc import __version__
from compsep_hpc.config import RunConfig
from compsep_hpc.grid.dry_run import print_dry_run
from compsep_hpc.grid.experiment import Experiment
from compsep_hpc.grid.region_grids import RegionGrid, check_same_grids, region_grid_bounds, region_grids_json
from compsep_hpc.grid.runtime import (
    SerialComm,
    StopFlag,
    check_launch,
    collective,
    enable_compilation_cache,
    rank_slice,
    release_compiled_code,
    select_local_device,
    world_comm,
)
from compsep_hpc.grid.search import Rung, plan_text, rung_folder, search_rungs
from compsep_hpc.grid.work import WorkItem, stored_region_grids, work_list
from compsep_hpc.precision import enable_float64
from compsep_hpc.store.background_writer import BackgroundWriter
from compsep_hpc.store.checkpoint import CheckpointWriter, completed_item_ids, read_records
from compsep_hpc.store.records import record_units
from compsep_hpc.store.run_folder import (check_run_folder, config_yaml, create_run_folder, read_geometry,
                                          read_cmb_spectra, write_geometry, write_templates)


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


class Preparation(NamedTuple):
    """Rank 0's set-up, broadcast to every rank: the ids already done, the launch id, the regions'
    grids (the work list's definition) and, for a dry run that cannot build the regions, why
    (``grids`` are then upper bounds, see region_grids.region_grid_bounds)."""

    done: list[int]
    launch_id: str
    grids: dict[str, RegionGrid]
    grids_unknown: str | None = None


def _check_stored_grids(config: RunConfig, run_dir: Path, grids: dict[str, RegionGrid]) -> None:
    """A resumed run's grids must be those stored at its start, else item ids would move: refused
    (RunFolderError), nothing written."""
    stored = stored_region_grids(run_dir, config)
    if stored is not None:
        check_same_grids(stored, grids, str(run_dir))


def _prepare(config: RunConfig, run_dir: Path, experiment: Experiment, dry_run: bool) -> Preparation:
    """Rank 0's checks and set-up (writes nothing on a dry run)."""
    exists = check_run_folder(config, run_dir)  # refuses another config; writes nothing
    if not exists and config.regions.mask_file is None:
        region_grid_bounds(config)  # a count above its band's pixels is refused before the sky is built
    if exists:
        experiment.use_cmb_spectra(read_cmb_spectra(run_dir))
    unknown = experiment.pixels_need_missing_templates() if dry_run else None
    grids = region_grid_bounds(config) if unknown else experiment.region_grids()
    if exists and not unknown:
        _check_stored_grids(config, run_dir, grids)
    done = completed_item_ids(run_dir) if exists else set()
    launch_id = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)
    if not dry_run:
        create_run_folder(config, run_dir, region_grids_json(config.grid, grids))
        write_templates(run_dir, *experiment.templates, camb=experiment.cmb_spectra)
        for region in config.regions.names:  # the regions' MASTER couplings, once per run
            write_geometry(run_dir, region, read_geometry(run_dir, region) or experiment.geometry(region))
    return Preparation(sorted(done), launch_id, grids, unknown)


def shared_truth_seed_note(config: RunConfig) -> str | None:
    """A note when the clustered sky's true patches use the fit's K-means seed (the truth is then
    exactly the fitted partition at the true counts), else None."""
    sky = config.sky
    if sky.model != "synthetic_clustered" or sky.truth_kmeans_seed != config.grid.seed:
        return None
    return (f"sky.truth_kmeans_seed = grid.seed = {config.grid.seed}: the true patches are the fit's own "
            "K-means partitions at the true counts (the truth lies inside the fitted model family)")


class Session(NamedTuple):
    """What every rung of one launch on one rank shares."""

    config: RunConfig
    run_dir: Path
    experiment: Experiment
    comm: object
    rank: int
    n_ranks: int
    launch_id: str
    stop: StopFlag
    log: logging.Logger


def launch(config: RunConfig, run_dir: str | Path, *, dry_run: bool = False, comm=None) -> list[int]:
    """Run (or resume) the grid of ``config`` in ``run_dir``; returns the item ids this rank did."""
    stop = StopFlag()  # before anything slow: a stop signal during start-up must not kill the rank
    enable_float64()
    comm = comm or world_comm()
    rank, n_ranks = comm.Get_rank(), comm.Get_size()
    check_launch(n_ranks)  # before anything is read or written
    run_dir = Path(run_dir)
    experiment = Experiment(config)
    prepared = collective(comm, rank, lambda: _prepare(config, run_dir, experiment, dry_run))
    done, launch_id, grids, grids_unknown = prepared
    items = work_list(config, grids)  # the same on every rank: rank 0's grids
    if dry_run:
        if rank == 0:
            print_dry_run(config, grids, grids_unknown, items, done, n_ranks)
            print(plan_text(config, items), flush=True)
        stop.ignore_from_now()
        return []
    experiment.use_run_folder(run_dir)  # what rank 0 stored, on every rank: templates, CMB spectra, geometries
    enable_compilation_cache(run_dir)
    device = select_local_device(rank)
    log = _logger(run_dir / "logs" / f"{launch_id}_rank{rank:05d}.log", rank)
    log.info("launch %s rank %d/%d device %s: %d items, search %s", launch_id, rank, n_ranks, device, len(items),
             config.search.strategy)
    note = shared_truth_seed_note(config)
    if note is not None:
        log.info("note: %s", note)
        if rank == 0:
            print(f"compsep-hpc: note: {note}", file=sys.stderr, flush=True)
    session = Session(config, run_dir, experiment, comm, rank, n_ranks, launch_id, stop, log)
    try:
        return _search(session, items, grids)
    finally:
        stop.ignore_from_now()


def _search(session: Session, items: list[WorkItem], grids: dict[str, RegionGrid]) -> list[int]:
    """The search driver (grid/search.py): rank 0 reads from the checkpoint files which rung is
    running and what it still has to do, every rank runs its contiguous share of that, then (under
    halving) all wait and go on with the next rung, unless a rank was stopped by a signal."""
    s = session
    completed: list[int] = []
    while True:
        rung = collective(s.comm, s.rank, lambda: search_rungs(s.run_dir, s.config, items, grids))[-1]
        todo = rung.todo
        if not todo:
            return completed
        lo, hi = rank_slice(len(todo), s.rank, s.n_ranks)
        s.log.info("rung %d: %d of %d items left, realizations %d..%d, mine: %d", rung.index, len(todo),
                   len(rung.items), rung.first, rung.realizations - 1, hi - lo)
        completed += _run_rung(session, rung, todo[lo:hi])
        if s.config.search.strategy == "exhaustive" or s.comm.allreduce(int(s.stop.signal is not None)):
            return completed


def run_items(config: RunConfig, run_dir: str | Path, experiment: Experiment, items: list[WorkItem],
              launch_id: str) -> list[int]:
    """launch(items, all realizations) in this one process, without MPI: the records of ``items``
    under ``config``'s exhaustive search appended to ``run_dir``'s checkpoints (``compsep-hpc
    evaluate``'s refits of a run's picks); returns the ids recorded (a stop signal ends it early)."""
    stop = StopFlag()
    session = Session(config, Path(run_dir), experiment, SerialComm(), 0, 1, launch_id, stop, _logger(None, 0))
    try:
        return _run_rung(session, Rung(0, 0, config.noise.realizations, tuple(items), frozenset()), list(items))
    finally:
        stop.ignore_from_now()


def _run_rung(session: Session, rung: Rung, mine: list[WorkItem]) -> list[int]:
    """Evaluate ``mine`` of ``rung`` (launch(items, realizations)): the exhaustive record of all
    realizations, or under halving the rung's record of its new realizations added to the
    previous rung's record of the item."""
    s = session
    c = s.config
    earlier: dict[int, dict] = {}
    if rung.index > 0:
        folder = rung_folder(s.run_dir, c.search, rung.index - 1)
        earlier = {r["item_id"]: r for r in read_records(folder, config_sha256=c.sha256(),
                                                         item_ids={it.item_id for it in mine})}
    if c.search.strategy == "exhaustive":
        evaluate = s.experiment.record
    else:
        evaluate = lambda item, wait: s.experiment.rung_record(  # noqa: E731
            item, rung.index, rung.new_realizations, earlier.get(item.item_id), wait=wait)
    writer = CheckpointWriter(rung_folder(s.run_dir, c.search, rung.index), rank=s.rank, n_ranks=s.n_ranks,
                              launch_id=s.launch_id, config_sha256=c.sha256(), config_yaml=config_yaml(c),
                              package_version=__version__, units=record_units(c.model))
    return _run_items(evaluate, mine, writer, s.stop, s.log, (s.rank, s.n_ranks))


def _run_items(evaluate: Callable, mine: list[WorkItem], writer: CheckpointWriter, stop: StopFlag,
               log: logging.Logger, rank_of: tuple[int, int]) -> list[int]:
    """Evaluate ``mine`` in order (``evaluate(item, wait)``: its record), each record written behind
    the next item's fit; stops early on a signal."""
    completed: list[int] = []
    start = time.perf_counter()
    by_id = {item.item_id: item for item in mine}

    def written(item_id: int, record) -> None:  # on the writer thread, once the record is durable
        item = by_id[item_id]
        completed.append(item_id)
        log.info("item %d %s K=%s rung %d done in %.2fs, cmb_variance %.6g, unconverged %d",
                 item_id, item.region, item.grid_values, record["rung"], record["seconds"],
                 record["cmb_variance"], record["n_unconverged"])
        _progress(*rank_of, len(completed), len(mine), start, item)

    background = BackgroundWriter(writer, on_written=written)
    try:
        for item in mine:
            if stop.signal is not None:
                log.info("signal %d received: stopping before item %d", stop.signal, item.item_id)
                break
            record = evaluate(item, wait=background.wait)  # the previous record is written meanwhile
            background.append(item.item_id, record)  # written while the next item fits
            released = release_compiled_code()
            if released is not None:
                log.info("memory mappings %d near the limit: cleared JAX caches, %d left", *released)
    finally:
        background.close()
    return completed
