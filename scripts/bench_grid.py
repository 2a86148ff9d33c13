#!/usr/bin/env python
"""Throughput of the MPI grid search: items per hour per rank, and the speed-up from 1 to P ranks.

Runs ``mpiexec -n P python -m compsep_hpc.cli run CONFIG --output <fresh temp folder>`` for each
config and rank count, and prints a markdown table:

- ``wall s``: the whole launch (interpreter and JAX start, sky, templates, compilation, items);
- ``items/h/rank (wall)``: items / wall hours / P, what a cluster allocation actually delivers;
- ``items/h/rank (busy)``: items / the rank's summed per-item seconds (from the records), i.e.
  the steady rate without start-up, averaged over ranks;
- ``speed-up``: wall(1 rank) / wall(P ranks) of the same config.

Configs: ``demo`` (configs/demo.yaml) and ``validation`` (the paper's validation sky, reduced so
that it runs in minutes on a laptop: nside 32, region GAL020_U, true clustering (20, 3, 2), a
6-item grid around it, 10 noise realizations). Each run has its own empty JAX compilation cache
(cold start, as a fresh cluster job) unless ``--warm``, where an untimed 1-rank run of the config
fills a cache that the timed runs share. Not part of the test suite.

    python scripts/bench_grid.py                      # demo + validation, 1 and 2 ranks
    python scripts/bench_grid.py --configs demo --ranks 1 2 4 --warm
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]

VALIDATION_REDUCED = {
    "name": "validation_reduced",
    "nside": 32,
    "instrument": "litebird",
    "sky": {"model": "synthetic_clustered", "seed": 0, "r": 0.0,
            "true_patches": {"beta_dust": 20, "temp_dust": 3, "beta_synch": 2}},
    "regions": ["GAL020_U"],
    "grid": {"beta_dust": [10, 20, 30], "temp_dust": [1, 3], "beta_synch": [2], "seed": 0},
    "noise": {"realizations": 10, "seed": 1234},
}


def find_mpiexec() -> str:
    beside = Path(sys.executable).parent / "mpiexec"
    found = str(beside) if beside.is_file() else shutil.which("mpiexec")
    if not found:
        sys.exit("bench_grid: no mpiexec beside the interpreter nor on PATH (pip install mpich)")
    return found


def config_path(name: str, workdir: Path) -> Path:
    if name == "demo":
        return REPO / "configs" / "demo.yaml"
    if name == "validation":
        path = workdir / "validation_reduced.yaml"
        path.write_text(yaml.safe_dump(VALIDATION_REDUCED, sort_keys=False))
        return path
    path = Path(name)
    if not path.is_file():
        sys.exit(f"bench_grid: unknown config {name!r} (demo, validation, or a YAML path)")
    return path


def launch(mpiexec: str, n_ranks: int, config: Path, run_dir: Path, cache: Path, timeout: float) -> float:
    """Run the grid in a fresh folder; returns the wall-clock seconds."""
    env = dict(os.environ, JAX_COMPILATION_CACHE_DIR=str(cache))
    env.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=1")
    cmd = [mpiexec, "-n", str(n_ranks), sys.executable, "-m", "compsep_hpc.cli", "run", str(config),
           "--output", str(run_dir)]
    start = time.perf_counter()
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    wall = time.perf_counter() - start
    if res.returncode != 0:
        sys.exit(f"bench_grid: {' '.join(cmd)} failed (rc {res.returncode}):\n{res.stderr[-4000:]}")
    return wall


def busy_rate(run_dir: Path) -> tuple[int, float, float]:
    """(items, mean seconds per item, items/hour/rank from the per-item seconds averaged over ranks)."""
    import h5py

    from compsep_hpc.store.checkpoint import file_attributes, read_records, record_files

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        records = {r["item_id"]: r for r in read_records(run_dir)}
    per_rank: dict[int, list[float]] = {}
    for path in record_files(run_dir):
        rank = int(file_attributes(path)["rank"])
        with h5py.File(path, "r", locking=False) as f:
            ids = [int(i) for i in f["item_id"][:]]
        per_rank.setdefault(rank, []).extend(float(records[i]["seconds"]) for i in ids)
    rates = [3600.0 * len(s) / sum(s) for s in per_rank.values() if sum(s) > 0]
    seconds = [s for v in per_rank.values() for s in v]
    return len(records), sum(seconds) / len(seconds), sum(rates) / len(rates)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", nargs="+", default=["demo", "validation"],
                        help="demo, validation, or YAML paths (default: demo validation)")
    parser.add_argument("--ranks", nargs="+", type=int, default=[1, 2], help="rank counts (default: 1 2)")
    parser.add_argument("--warm", action="store_true",
                        help="fill a shared compilation cache with an untimed 1-rank run first")
    parser.add_argument("--timeout", type=float, default=3600.0, help="per launch, seconds")
    parser.add_argument("--keep", type=Path, help="keep the run folders under this folder")
    args = parser.parse_args(argv)
    mpiexec = find_mpiexec()

    root = Path(tempfile.mkdtemp(prefix="bench_grid_")) if args.keep is None else args.keep
    root.mkdir(parents=True, exist_ok=True)
    rows = []
    try:
        for name in args.configs:
            config = config_path(name, root)
            label = Path(name).stem if name not in ("demo", "validation") else name
            shared_cache = root / f"{label}_cache"
            if args.warm:
                print(f"[bench] {label}: warm-up run (1 rank, untimed)", file=sys.stderr, flush=True)
                launch(mpiexec, 1, config, root / f"{label}_warmup", shared_cache, args.timeout)
            walls: dict[int, float] = {}
            for n in args.ranks:
                run_dir = root / f"{label}_{n}ranks"
                cache = shared_cache if args.warm else root / f"{label}_{n}ranks_cache"
                print(f"[bench] {label}: {n} rank(s) ...", file=sys.stderr, flush=True)
                walls[n] = wall = launch(mpiexec, n, config, run_dir, cache, args.timeout)
                items, mean_s, busy = busy_rate(run_dir)
                print(f"[bench] {label}: {n} rank(s): {items} items in {wall:.1f} s", file=sys.stderr, flush=True)
                rows.append((label, n, items, wall, 3600.0 * items / wall / n, busy, mean_s,
                             walls[args.ranks[0]] / wall))
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)

    print(f"\nHost: {platform.node()}, {os.cpu_count()} CPU core(s); "
          f"JAX_PLATFORMS={os.environ.get('JAX_PLATFORMS', '(default)')}; "
          f"{'warm' if args.warm else 'cold'} compilation cache\n")
    print("| config | ranks | items | wall s | items/h/rank (wall) | items/h/rank (busy) | s/item (busy) "
          f"| speed-up vs {args.ranks[0]} rank(s) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for label, n, items, wall, per_rank, busy, mean_s, speedup in rows:
        print(f"| {label} | {n} | {items} | {wall:.1f} | {per_rank:.1f} | {busy:.1f} | {mean_s:.2f} "
              f"| {speedup:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
