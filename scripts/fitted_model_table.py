#!/usr/bin/env python
"""Per-region table of runs that fit different sky models to one sky.

Each RUN_DIR is a run folder (``compsep-hpc run``) of the same sky, fitted with its own
``model:``; the table has one row per region and run: the sky's true foregrounds there
(``sky.foregrounds`` / ``sky.region_foregrounds``), the fitted model, the systematic CMB residual
power (uK^2, the noiseless fit), r_hat, sigma(r), r_hat + sigma(r), and each fitted parameter of
``--parameters`` that the run fits: mean +- std over realizations (per patch) and the noiseless
fit's value. Rows are the items of ``--item`` (one per region; default: each run's only item per
region). The README's curved-synchrotron check::

    COMMON=(--set nside=64 --set noise.realizations=20
            --set "regions=[GAL020_U, GAL020_L, GAL040_U, GAL040_L, GAL060_U, GAL060_L]")
    mpiexec -n 2 compsep-hpc run configs/curved_synch.yaml --output results/curved64 "${COMMON[@]}" \\
        --set "grid={beta_dust: [30], temp_dust: [5], beta_synch: [5], curv_synch: [1]}"
    mpiexec -n 2 compsep-hpc run configs/curved_synch.yaml --output results/powerlaw64 "${COMMON[@]}" \\
        --set "model.components=[cmb, dust, synch]" --set name=powerlaw64 \\
        --set "grid={beta_dust: [30], temp_dust: [5], beta_synch: [5]}"
    python scripts/fitted_model_table.py results/powerlaw64 results/curved64 --parameters curv_synch
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from compsep_hpc.errors import CompsepError
from compsep_hpc.partition.config import band_of
from compsep_hpc.sky.truth import spec_label
from compsep_hpc.store.checkpoint import read_records
from compsep_hpc.store.run_folder import load_run_folder


def true_foregrounds(sky, region: str) -> str:
    """The sky's true foregrounds in ``region`` as labels joined by ' + '."""
    specs = sky.region_foregrounds.get(region) or sky.region_foregrounds.get(band_of(region)) or sky.foregrounds
    return " + ".join(spec_label(s) for s in specs)


def parameter_cell(record: dict, name: str) -> str:
    """``mean +- std`` over realizations per patch, then ``; noiseless VALUE`` ('' if not fitted)."""
    if f"{name}_mean" not in record:
        return ""
    mean, std = np.atleast_1d(record[f"{name}_mean"]), np.atleast_1d(record[f"{name}_std"])
    noiseless = np.atleast_1d(record[f"systematic_{name}"])
    fits = ", ".join(f"{m:+.4f} ± {s:.4f}" for m, s in zip(mean, std))
    return f"{fits}; noiseless {', '.join(f'{v:+.4f}' for v in noiseless)}"


def run_rows(run_dir: Path, item: dict[str, int] | None, parameters: list[str]) -> list[tuple]:
    """(region, row cells) of one run folder: one row per region."""
    config, _ = load_run_folder(run_dir)
    model = "cmb + " + " + ".join(c.name for c in config.model.components[1:])
    rows: dict[str, tuple] = {}
    for record in read_records(run_dir):
        if item and any(record.get(k) != v for k, v in item.items()):
            continue
        region = record["region"]
        if region in rows:
            raise CompsepError(f"{run_dir}: several items in {region}; choose one with --item")
        rows[region] = (region, true_foregrounds(config.sky, region), model,
                        f"{record['systematic_cmb_power']:.3e}",
                        *(f"{record[k]:.4f}" if k in record else "" for k in ("r_hat", "sigma_r", "r_upper")),
                        *(parameter_cell(record, p) for p in parameters))
    return [rows[r] for r in config.regions.names if r in rows]


def parse_item(text: str | None) -> dict[str, int] | None:
    """``K_beta_dust=30,K_temp_dust=5`` -> dict."""
    if not text:
        return None
    return {k.strip(): int(v) for k, v in (pair.split("=") for pair in text.split(","))}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", type=Path, nargs="+", help="run folders of the same sky")
    p.add_argument("--parameters", nargs="*", default=[], help="fitted parameters to report (e.g. curv_synch)")
    p.add_argument("--item", help="the item per region, e.g. K_beta_dust=30,K_temp_dust=5")
    args = p.parse_args(argv)
    try:
        per_run = [run_rows(run, parse_item(args.item), args.parameters) for run in args.runs]
    except (CompsepError, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    head = ["region", "true foregrounds", "fitted model", "systematic CMB power [uK²]", "r̂", "σ(r)",
            "r̂ + σ(r)", *(f"{q} (mean ± std over realizations; noiseless fit)" for q in args.parameters)]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    regions = list(dict.fromkeys(row[0] for rows in per_run for row in rows))
    for region in regions:
        for rows in per_run:
            for row in rows:
                if row[0] == region:
                    print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
