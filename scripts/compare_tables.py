"""Markdown tables of a reduced K-means-against-multires run (docs/compare_multires.md).

Reads ``selection.json`` and ``items.csv`` of a run reduced with ``--criterion min_r_upper`` and
prints: r_hat, sigma(r), sigma_r_sim and r_hat + sigma(r) of each region's pick and baseline and of
the two combinations; the CMB error of the picks; convergence of the baselines; and the held-out
checks (the common shift of all items, the selected items against it, the picks' held-out ranks).

    python scripts/compare_tables.py RUN_DIR
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np

PAIRS = (("r_upper", "r_hat + sigma(r)"), ("cmb_mse", "CMB error"))


def baseline(entry: dict, preset: str) -> dict | None:
    """The ``preset`` multires baseline of a region or combined entry of ``selection.json``
    (``multires_baselines.<preset>``; runs reduced before the list of presets: ``multires_baseline``)."""
    if "multires_baselines" in entry:
        return entry["multires_baselines"].get(preset)
    return entry.get("multires_baseline") if preset == "default" else None


def _g(x: float | None, digits: int = 3) -> str:
    return "-" if x is None else f"{x:.{digits}g}"


def _k(pick: dict) -> str:
    return f"({pick['K_beta_dust']}, {pick['K_temp_dust']}, {pick['K_beta_synch']})"


def r_table(sel: dict, preset: str) -> str:
    """Per region and combined: the pick's and the ``preset`` baseline's r figures."""
    head = ("| region | K-means pick (K_bd, K_Td, K_bs) | r_hat | sigma(r) | sigma_r_sim | **r_hat + sigma(r)** "
            "| multires r_hat | sigma(r) | sigma_r_sim | **r_hat + sigma(r)** |")
    lines = [head, "|" + "---|" * 10]
    rows = [(region, _k(info["min_r_upper"]), info["min_r_upper"], baseline(info, preset))
            for region, info in sel["regions"].items()]
    comb = sel["combined"]
    if comb.get("min_r_upper"):
        rows.append((f"combined (f_sky {comb['min_r_upper']['fsky']:.3f})", "the picks above", comb["min_r_upper"],
                     baseline(comb, preset)))
    for name, k, pick, base in rows:
        cells = [name, k]
        for entry in (pick, base or {}):
            cells += [_g(entry.get("r_hat")), _g(entry.get("sigma_r")), _g(entry.get("sigma_r_sim")),
                      f"**{_g(entry.get('r_upper'))}**"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def cmb_table(sel: dict, rows: list[dict], preset: str) -> str:
    """Per region: the CMB error of the min_r_upper pick, the min_cmb_mse pick and the baseline,
    and the baseline's unconverged fits and iterations."""
    lines = ["| region | min_r_upper pick | min_cmb_mse pick (K) | multires | multires unconverged fits "
             "| multires mean / max iterations |", "|---|---|---|---|---|---|"]
    for region, info in sel["regions"].items():
        base = baseline(info, preset) or {}
        row = next((r for r in rows if r["item_id"] == str(base.get("item_id"))), None)
        iters = "-" if row is None else f"{float(row['mean_iterations']):.0f} / {row['max_iterations']}"
        lines.append(f"| {region} | {_g(info['min_r_upper']['cmb_mse'])} | {_g(info['min_cmb_mse']['cmb_mse'])} "
                     f"{_k(info['min_cmb_mse'])} | {_g(base.get('cmb_mse'))} | {base.get('n_unconverged', '-')} | {iters} |")
    return "\n".join(lines)


def holdout_lines(sel: dict, rows: list[dict]) -> list[str]:
    """The held-out against in-sample checks over the K-means items (module docstring)."""
    km = [r for r in rows if r["strategy"] == "kmeans"]
    out = []
    for fig, label in PAIRS:
        ratio = np.array([float(r[f"{fig}_holdout"]) / float(r[fig]) for r in km])
        out.append(f"- {label}, all {len(km)} K-means items: median held-out/in-sample {np.median(ratio) - 1:+.1%}, "
                   f"{np.mean(ratio > 1):.0%} worse held out.")
        per_region, ranks = [], []
        for region, info in sel["regions"].items():
            reg = [r for r in km if r["region"] == region]
            pick = next(r for r in reg if r["item_id"] == str(info[f"min_{fig}"]["item_id"]))
            reg_ratio = np.array([float(r[f"{fig}_holdout"]) / float(r[fig]) for r in reg])
            pick_ratio = float(pick[f"{fig}_holdout"]) / float(pick[fig])
            per_region.append(pick_ratio / np.median(reg_ratio) - 1)
            held = sorted(float(r[f"{fig}_holdout"]) for r in reg)
            ranks.append(f"{held.index(float(pick[f'{fig}_holdout'])) + 1}/{len(reg)}")
        out.append(f"  - the min_{fig} picks against their region's median: mean {np.mean(per_region):+.2%} "
                   f"(per region {', '.join(f'{x:+.1%}' for x in per_region)}); held-out rank of each pick: "
                   f"{', '.join(ranks)}.")
    comb = sel["combined"].get("min_r_upper")
    if comb:
        out.append(f"- combined r_hat + sigma(r): {comb['r_upper']:.4g} in-sample, {comb['r_upper_holdout']:.4g} held out.")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--preset", default="default", help="the multires baseline preset compared")
    args = parser.parse_args(argv)
    run_dir, preset = args.run_dir, args.preset
    sel = json.loads((run_dir / "selection.json").read_text())
    with open(run_dir / "items.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    print(r_table(sel, preset), "", cmb_table(sel, rows, preset), "", *holdout_lines(sel, rows), sep="\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
