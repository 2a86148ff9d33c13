"""Cost of the paper-scale study on this machine, projected from a timed sample of its items,
for each search (exhaustive, successive halving) and each way of fitting the realizations (full,
linearized).

The study is ``configs/litebird_c1d1s1.yaml``: 6 regions x 3200 items (K_beta_dust 100..5000 x
K_temp_dust x K_beta_synch in {1, 5, 20, 30, 50, 60, 70, 80}) x 100 noise realizations = 1.92 M
fits at nside 64. The pysm3 templates are not on this machine, so the sample runs on the
synthetic d1s1-like sky (same instrument, regions and patch counts). Items are spread over the
whole K_beta_dust range (up to each region's pixel count), over the other two counts and over
the regions. Each item is evaluated with full and with linearized realizations, each twice in one
process: the first call compiles, the second is timed in CPU seconds per stage (the stage clock,
compsep_hpc/stage_clock.py, on ``time.process_time``: every thread of the process, so the figures
are core-seconds whatever else runs on the machine): t_sys, the item's preparation and
foreground-only fit, and t_noise, a realization's fit and CMB map (the spectra and r, a few
per cent of an item at nside 64, are left out). An item costs t_sys + n x t_noise for n realizations; the
exhaustive search gives every item 100, successive halving (grid/search.py, eta and
min_realizations as in the ``search`` section) gives rung k's items min_realizations x eta^k, the
best 1/eta of each region's going on. Compilation (a handful per grid and rank) is left out.

    python scripts/project_study.py --realizations 10 [--eta 3 --min-realizations 5]
"""

from __future__ import annotations

import argparse
import json
import math
import time

SAMPLE = [("GAL020_U", (100, 1, 80)), ("GAL040_L", (1500, 80, 5)), ("GAL060_U", (2900, 20, 50)),
          ("GAL060_L", (4300, 50, 30))]
STUDY_REGIONS, STUDY_ITEMS_PER_REGION, STUDY_REALIZATIONS = 6, 3200, 100


def rung_items(eta: int, min_realizations: int) -> list[tuple[int, int]]:
    """(items, new realizations per item) of each rung of the study's halving search: the rungs'
    realizations as grid/search.py gives them, ceil(m / eta) of each region's m items going on."""
    from compsep_hpc.grid.config import SearchConfig
    from compsep_hpc.grid.search import rung_realizations

    counts = rung_realizations(SearchConfig("halving", eta, min_realizations), STUDY_REALIZATIONS)
    rungs, per_region, held = [], STUDY_ITEMS_PER_REGION, 0
    for n in counts:
        rungs.append((STUDY_REGIONS * per_region, n - held))
        held, per_region = n, math.ceil(per_region / eta)
    return rungs


def _timed(evaluate) -> tuple[dict, object]:
    """The CPU seconds per stage of ``evaluate(clock)``'s second call (the first compiles)."""
    from compsep_hpc.stage_clock import StageClock

    evaluate(StageClock())
    clock = StageClock(timer=time.process_time)
    result = evaluate(clock)
    return clock.seconds, result


def sample_costs(realizations: int) -> list[dict]:
    """Per sample item: t_sys and t_noise (core-seconds) with full and with linearized realizations."""
    import dataclasses

    import numpy as np

    from compsep_hpc.config import parse_config
    from compsep_hpc.grid.experiment import Experiment
    from compsep_hpc.separation.config import FitConfig
    from compsep_hpc.separation.evaluate import evaluate_configuration

    study = load_config_dict()
    raw = {**study, "sky": {"model": "synthetic", "seed": 0}, "noise": {"realizations": realizations},
           "grid": {"beta_dust": [100], "temp_dust": [1], "beta_synch": [1]}}
    exp = Experiment(parse_config(raw))
    rows = []
    for region_name, counts in SAMPLE:
        region, labels = exp.region_data(region_name), exp.labels(region_name, counts)
        row = {"region": region_name, "patches": counts, "pixels": len(region.pixels)}
        for how in ("full", "linearized"):
            fit = dataclasses.replace(FitConfig(), realizations=how)
            stages, result = _timed(lambda clock: evaluate_configuration(region, labels, exp.model, fit,
                                                                        keep_maps=True, clock=clock))
            row[f"{how}_t_sys"] = stages["prepare"] + stages["systematic_fit"]
            row[f"{how}_t_noise"] = (stages["noisy_fits"] + stages["cmb_maps"]) / realizations
            row[f"{how}_iterations"] = float(np.mean(result.fit.iterations))
            row["cells"] = result.n_cells
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def projections(rows: list[dict], eta: int, min_realizations: int) -> dict[str, float]:
    """Core-hours of the study per search and fit, from the sample's mean t_sys and t_noise."""
    n_items = STUDY_REGIONS * STUDY_ITEMS_PER_REGION
    rungs = rung_items(eta, min_realizations)
    out = {}
    for how in ("full", "linearized"):
        t_sys = sum(r[f"{how}_t_sys"] for r in rows) / len(rows)
        t_noise = sum(r[f"{how}_t_noise"] for r in rows) / len(rows)
        out[f"exhaustive_{how}"] = n_items * (t_sys + STUDY_REALIZATIONS * t_noise) / 3600
        out[f"halving_{how}"] = (n_items * t_sys + sum(k * n * t_noise for k, n in rungs)) / 3600
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--realizations", type=int, default=10, help="realizations of each timed sample item")
    parser.add_argument("--eta", type=int, default=3)
    parser.add_argument("--min-realizations", type=int, default=5)
    args = parser.parse_args()
    from compsep_hpc.precision import enable_float64

    enable_float64()
    rows = sample_costs(args.realizations)
    print("| region | patches | pixels | cells | iterations full | t_sys (core-s) | t_noise full | t_noise linearized |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['region']} | {r['patches']} | {r['pixels']} | {r['cells']} | {r['full_iterations']:.0f} | "
              f"{r['full_t_sys']:.3f} | {r['full_t_noise']:.3f} | {r['linearized_t_noise']:.4f} |")
    hours = projections(rows, args.eta, args.min_realizations)
    fits = sum(k * n for k, n in rung_items(args.eta, args.min_realizations))
    print(json.dumps({"rungs": rung_items(args.eta, args.min_realizations), "halving_noise_fits": fits,
                      "exhaustive_noise_fits": STUDY_REGIONS * STUDY_ITEMS_PER_REGION * STUDY_REALIZATIONS,
                      "core_hours": hours}))
    for name, h in hours.items():
        print(f"projected study, {name}: {h:,.1f} core-hours")


def load_config_dict() -> dict:
    """The study config as a plain dict (it is not run as is: its K_beta_dust exceeds region sizes)."""
    from pathlib import Path

    import yaml

    return yaml.safe_load((Path(__file__).resolve().parents[1] / "configs" / "litebird_c1d1s1.yaml").read_text())


if __name__ == "__main__":
    main()
