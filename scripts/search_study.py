"""The cheaper grid, measured: exhaustive + full fits against successive halving and linearized
realizations, on configs/paper_nside64.yaml (without its held-out realizations and baselines).

Each variant is one ``mpiexec -n RANKS compsep-hpc run`` of the config with ``--set`` overrides,
in ``OUT/<variant>_fg<seed>``, then ``compsep-hpc reduce --regions-only``. CPU seconds are the
run's (every rank's user + system time, from the children's resource usage); fits and Newton
iterations are counted from the records (each item's latest record holds every realization it
was fitted on, plus its one foreground-only fit). Per region, each variant's ``min_r_upper`` and
``min_cmb_mse`` picks are compared with the exhaustive + full run's, and scored by their figures
in that run (every item there holds all realizations, fitted in full).

    python scripts/search_study.py run --out results/search_study      # the main sky, every variant
    python scripts/search_study.py run --out results/search_study --foreground-seed 1
    python scripts/search_study.py table --out results/search_study [--foreground-seed 1]
    python scripts/search_study.py validate --out results/search_study   # linearized against full, item by item
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "paper_nside64.yaml"
COMMON = ["noise.holdout=0", "grid.multires_baseline=[]"]
VARIANTS = {
    "exhaustive_full": [],
    "exhaustive_linearized": ["fit.realizations=linearized"],
    "halving_full": ["search.strategy=halving"],
    "halving_linearized": ["search.strategy=halving", "fit.realizations=linearized"],
}
PICKS = ("min_r_upper", "min_cmb_mse")
FIGURE = {"min_r_upper": "r_upper", "min_cmb_mse": "cmb_mse"}


def _sky(seed: int | None) -> str:
    return "main" if seed is None else f"fg{seed}"


def _folder(out: Path, variant: str, seed: int | None, criterion: str) -> Path:
    suffix = "" if variant.startswith("exhaustive") else f"_{criterion}"
    return out / f"{variant}{suffix}_{_sky(seed)}"


def _overrides(args, variant: str, criterion: str) -> list[str]:
    sets = [*COMMON, f"noise.realizations={args.realizations}", *VARIANTS[variant]]
    if args.foreground_seed is not None:
        sets.append(f"sky.foreground_seed={args.foreground_seed}")
    if variant.startswith("halving"):
        sets += [f"search.eta={args.eta}", f"search.min_realizations={args.min_realizations}",
                 f"search.criterion={criterion}"]
    return [x for s in sets for x in ("--set", s)]


def run_variant(args, variant: str, criterion: str) -> dict:
    """Run and reduce one variant; its CPU and wall seconds."""
    folder = _folder(Path(args.out), variant, args.foreground_seed, criterion)
    cli = [sys.executable, "-m", "compsep_hpc.cli"]
    command = ["mpiexec", "-n", str(args.ranks), *cli, "run", str(CONFIG), "--output", str(folder),
               *_overrides(args, variant, criterion)]
    before, start = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    subprocess.run(command, check=True)
    after, wall = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter() - start
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    subprocess.run([*cli, "reduce", str(folder), "--regions-only"], check=True, stdout=subprocess.DEVNULL)
    timing = {"variant": variant, "criterion": criterion, "cpu_seconds": cpu, "wall_seconds": wall,
              "ranks": args.ranks}
    (folder / "study_timing.json").write_text(json.dumps(timing, indent=2) + "\n")
    print(json.dumps(timing), flush=True)
    return timing


def _counts(folder: Path) -> dict:
    """Noise fits, foreground-only fits and Newton iterations of a run, from its items' latest records."""
    from compsep_hpc.grid.search import latest_records, rung_records, search_rungs
    from compsep_hpc.grid.work import run_work_list, stored_region_grids
    from compsep_hpc.store.run_folder import load_run_folder

    config, _ = load_run_folder(folder)
    items = run_work_list(folder, config)
    rungs = search_rungs(folder, config, items, stored_region_grids(folder, config) or {})
    records = latest_records(rung_records(folder, config, rungs))
    return {"noise_fits": sum(int(r["realizations"]) for r in records), "systematic_fits": len(records),
            "newton_iterations": sum(int(sum(r["iterations"])) + int(r["systematic_iterations"]) for r in records)}


def _rows(folder: Path) -> dict[int, dict]:
    from compsep_hpc.report.items_table import read_items_csv

    return {r["item_id"]: r for r in read_items_csv(folder / "items.csv")}


def table(args) -> dict:
    """Per variant: CPU ratio, fits, and per region and criterion the pick against exhaustive + full."""
    out = Path(args.out)
    reference = _folder(out, "exhaustive_full", args.foreground_seed, "")
    ref_rows, ref_sel = _rows(reference), json.loads((reference / "selection.json").read_text())
    ref_cpu = json.loads((reference / "study_timing.json").read_text())["cpu_seconds"]
    result = {"foreground_seed": args.foreground_seed, "variants": {}}
    for folder in sorted(out.glob(f"*_{_sky(args.foreground_seed)}")):
        timing = json.loads((folder / "study_timing.json").read_text())
        selection = json.loads((folder / "selection.json").read_text())
        regions = {}
        for region, entry in selection["regions"].items():
            regions[region] = {}
            for key in PICKS:
                pick, best = entry[key], ref_sel["regions"][region][key]
                ref_pick = ref_rows[pick["item_id"]] if pick else None
                figure = FIGURE[key]
                regions[region][key] = {
                    "item_id": pick and pick["item_id"], "same": bool(pick and pick["item_id"] == best["item_id"]),
                    "full_figure": ref_pick and ref_pick[figure], "best_full_figure": best[figure],
                    "best_sigma_r": best.get("sigma_r")}
        name = folder.name[: -len(f"_{_sky(args.foreground_seed)}")]
        result["variants"][name] = {**timing, **_counts(folder), "cpu_ratio": ref_cpu / timing["cpu_seconds"],
                                    "regions": regions}
    _print(result)
    return result


def _print(result: dict) -> None:
    print(f"\nsky: {_sky(result['foreground_seed'])}")
    print("| variant | CPU s | CPU ratio | noise fits | Newton iterations | same min_r_upper picks | same min_cmb_mse picks |")
    print("|---|---|---|---|---|---|---|")
    for name, v in result["variants"].items():
        same = {k: sum(v["regions"][r][k]["same"] for r in v["regions"]) for k in PICKS}
        print(f"| {name} | {v['cpu_seconds']:.0f} | {v['cpu_ratio']:.2f} | {v['noise_fits']} | "
              f"{v['newton_iterations']} | {same['min_r_upper']}/{len(v['regions'])} | "
              f"{same['min_cmb_mse']}/{len(v['regions'])} |")
    for name, v in result["variants"].items():
        for region, picks in v["regions"].items():
            for key, p in picks.items():
                if not p["same"]:
                    gap = (p["full_figure"] - p["best_full_figure"]) if p["full_figure"] is not None else math.nan
                    sigma = f", {gap / p['best_sigma_r']:.2f} sigma_r" if key == "min_r_upper" and p["best_sigma_r"] else ""
                    print(f"  {name} {region} {key}: item {p['item_id']} full {p['full_figure']:.4g} against best "
                          f"{p['best_full_figure']:.4g} ({gap:+.3g}{sigma})")


def _spearman(a: list[float], b: list[float]) -> float:
    """Spearman's rank correlation of two equally long lists (no ties expected)."""
    import numpy as np

    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1])


def validate(args) -> dict:
    """``linearized`` against ``full`` item by item (the exhaustive runs of the grid): relative
    differences of the figures (median, 95th percentile, max), Spearman's rank correlation of
    r_hat + sigma(r) per region, whether each criterion's pick is unchanged, and the Fisher sigma
    per patch (linearized records) against the full fits' scatter (std over realizations)."""
    import numpy as np

    from compsep_hpc.store.checkpoint import read_records

    out = Path(args.out)
    folders = {how: _folder(out, f"exhaustive_{how}", args.foreground_seed, "") for how in ("full", "linearized")}
    rows = {how: _rows(f) for how, f in folders.items()}
    figures = ("cmb_mse", "cmb_variance", "r_hat", "sigma_r", "r_upper")
    result: dict = {"items": len(rows["full"]), "relative_difference": {}, "spearman_r_upper": {}, "same_pick": {}}
    for figure in figures:
        rel = np.array([abs(rows["linearized"][i][figure] / rows["full"][i][figure] - 1) for i in rows["full"]])
        result["relative_difference"][figure] = {"median": float(np.median(rel)), "p95": float(np.percentile(rel, 95)),
                                                 "max": float(rel.max())}
    selections = {how: json.loads((f / "selection.json").read_text()) for how, f in folders.items()}
    for region in selections["full"]["regions"]:
        ids = sorted(i for i, r in rows["full"].items() if r["region"] == region)
        result["spearman_r_upper"][region] = _spearman([rows["full"][i]["r_upper"] for i in ids],
                                                       [rows["linearized"][i]["r_upper"] for i in ids])
        result["same_pick"][region] = {k: selections["full"]["regions"][region][k]["item_id"]
                                       == selections["linearized"]["regions"][region][k]["item_id"] for k in PICKS}
    full = {r["item_id"]: r for r in read_records(folders["full"])}
    ratios: dict[str, list[float]] = {}
    for record in read_records(folders["linearized"]):
        for key in record:
            if key.startswith("sigma_") and key != "sigma_r" and not key.startswith("sigma_r_"):
                p = key[len("sigma_"):]
                sigma, scatter = np.asarray(record[key]), np.asarray(full[record["item_id"]][f"{p}_std"])
                ok = np.isfinite(sigma) & (sigma > 0) & (scatter > 0)
                ratios.setdefault(p, []).extend((scatter[ok] / sigma[ok]).tolist())
    result["full_scatter_over_fisher_sigma"] = {p: {"median": float(np.median(v)), "p16": float(np.percentile(v, 16)),
                                                    "p84": float(np.percentile(v, 84)), "patches": len(v)}
                                                for p, v in ratios.items()}
    print(json.dumps(result, indent=2))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["run", "table", "validate"])
    parser.add_argument("--out", default="results/search_study")
    parser.add_argument("--foreground-seed", type=int, default=None, help="sky.foreground_seed (default: the main sky)")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--criteria", nargs="+", default=list(PICKS), choices=list(PICKS),
                        help="the search.criterion of each halving variant")
    parser.add_argument("--realizations", type=int, default=30)
    parser.add_argument("--eta", type=int, default=3)
    parser.add_argument("--min-realizations", type=int, default=5)
    parser.add_argument("--ranks", type=int, default=2)
    args = parser.parse_args()
    if args.action == "run":
        for variant in args.variants:
            for criterion in (args.criteria if variant.startswith("halving") else [""]):
                run_variant(args, variant, criterion or "min_cmb_mse")
    else:
        result = table(args) if args.action == "table" else validate(args)
        name = f"{'study' if args.action == 'table' else 'linearized'}_{_sky(args.foreground_seed)}.json"
        Path(args.out, name).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
