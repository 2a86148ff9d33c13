#!/usr/bin/env python
"""Markdown tables of the paper comparison (docs/paper_comparison.md) from reduced run folders.

- ``RUN_DIR`` (reduced with ``--criterion min_r_upper``): per region and combined, the K-means pick
  (``min_r_upper``) against every multires preset of the run: patch counts, r_hat, sigma(r),
  r_hat + sigma(r) (in-sample and on the held-out realizations), the CMB error, fits not converged,
  parameters on a bound, and the change of r_hat + sigma(r) against each preset.
- ``--other-sky S=DIR`` (repeatable): a run of the same grid and noise on foreground seed S
  (``--set sky.foreground_seed=S``), reduced with ``--criterion min_r_upper`` (``--regions-only`` is
  enough): per region the main sky's pick and the presets scored on that sky (its records of the same
  grid items) and the pick that sky makes itself. Where ``compsep-hpc evaluate RUN_DIR
  --foreground-seed S`` has run too, its refits are checked against those records and its stitched
  combined figures are listed.
- ``--validation DIR``: a reduced run on the clustered validation sky; per criterion its pick and the
  rank of the true counts (``--true``, default 100 15 5).

    python scripts/paper_tables.py RUN_DIR --other-sky 1=RUN_ON_SEED_1 --validation VALIDATION_RUN
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from compsep_hpc.report.items_table import read_items_csv
from compsep_hpc.science.selection import CRITERIA, DEFAULT_MAX_R_BIAS, candidates, pick
from truth_recovery import truth_rank  # scripts/, beside this script

PARAMS = ("beta_dust", "temp_dust", "beta_synch")  # the paper's model (the default): its tables' columns
PATCH_KEYS = tuple(f"K_{p}" for p in PARAMS)


def _g(x, digits: int = 3) -> str:
    return "-" if x is None or (isinstance(x, float) and not math.isfinite(x)) else f"{x:.{digits}g}"


def _pct(new, ref) -> str:
    """The change of ``new`` against ``ref`` as a table cell (``+12%``, ``-`` when missing)."""
    return _cell([_change(new, ref)])


def read_rows(run_dir: Path) -> dict[int, dict]:
    """items.csv of a run folder, typed, by item id."""
    return {r["item_id"]: r for r in read_items_csv(run_dir / "items.csv")}


def _presets(sel: dict) -> list[str]:
    return list(next(iter(sel["regions"].values())).get("multires_baselines", {}))


def _methods(entry: dict, presets: list[str]) -> list[tuple[str, dict | None]]:
    return [("K-means pick", entry.get("min_r_upper"))] + [
        (f"multires {p}", entry.get("multires_baselines", {}).get(p)) for p in presets]


def _counts(row: dict | None) -> str:
    if row is None:
        return "-"
    if row["strategy"] == "multires":
        return f"nside ({row['K_beta_dust']}, {row['K_temp_dust']}, {row['K_beta_synch']}) = " \
               f"({row['n_patches_beta_dust']}, {row['n_patches_temp_dust']}, {row['n_patches_beta_synch']})"
    return f"({row['n_patches_beta_dust']}, {row['n_patches_temp_dust']}, {row['n_patches_beta_synch']})"


def main_sky_table(sel: dict, rows: dict[int, dict]) -> str:
    """Per region and method: the row of the main table (module docstring)."""
    presets = _presets(sel)
    head = ["region", "method", "patches (K_bd, K_Td, K_bs)", "r_hat", "sigma(r)", "**r_hat + sigma(r)**",
            "held out", "CMB error (uK^2)", "fits not converged", "params at bound / real.",
            *(f"vs {p}" for p in presets)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for region, entry in sel["regions"].items():
        methods = _methods(entry, presets)
        refs = {p: (entry.get("multires_baselines", {}).get(p) or {}).get("r_upper") for p in presets}
        for name, p in methods:
            row = rows.get(p["item_id"]) if p else None
            at_bound = sum(row[f"at_bound_{q}"] for q in PARAMS) if row else None
            n_fits = "-" if row is None else f"{row['n_unconverged']} + {0 if row['systematic_converged'] else 1} sys"
            cells = [region, name, _counts(row), _g(p and p.get("r_hat")), _g(p and p.get("sigma_r")),
                     f"**{_g(p and p.get('r_upper'))}**", _g(p and p.get("r_upper_holdout")),
                     _g(p and p.get("cmb_mse")), n_fits, _g(at_bound, 2),
                     *(_pct(p and p.get("r_upper"), refs[q]) if name == "K-means pick" else "" for q in presets)]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def combined_table(sel: dict) -> str:
    comb = sel["combined"]
    presets = _presets(sel)
    methods = [("K-means picks", comb.get("min_r_upper"))] + [
        (f"multires {p}", comb.get("multires_baselines", {}).get(p)) for p in presets]
    head = ["combined", "f_sky", "r_hat", "sigma(r)", "**r_hat + sigma(r)**", "held out", "CMB error (uK^2)",
            *(f"vs {p}" for p in presets)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, c in methods:
        c = c or {}
        cells = [name, _g(c.get("fsky")), _g(c.get("r_hat")), _g(c.get("sigma_r")), f"**{_g(c.get('r_upper'))}**",
                 _g(c.get("r_upper_holdout")), _g(c.get("cmb_mse")),
                 *(_pct(c.get("r_upper"), (comb.get("multires_baselines", {}).get(p) or {}).get("r_upper"))
                   if name == "K-means picks" else "" for p in presets)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _grid_key(row: dict) -> tuple:
    return row["region"], row["strategy"], row["K_beta_dust"], row["K_temp_dust"], row["K_beta_synch"]


def _change(new, ref) -> float | None:
    """(new - ref) / ref, None when either is missing."""
    return None if new is None or not ref else (new - ref) / ref


def _cell(value) -> str:
    """A table cell: a list of changes as ``+12%`` (several: ``a / b``), anything else as text."""
    if isinstance(value, list):
        return " / ".join("-" if c is None else f"{c:+.0%}" for c in value)
    return str(value)


def _mean_row(table: list[list]) -> list:
    """The regions' mean of every column of changes (lists); other columns left empty."""
    def mean(column: list) -> list | str:
        if not all(isinstance(c, list) for c in column):
            return ""
        return [None if any(c[i] is None for c in column) else sum(c[i] for c in column) / len(column)
                for i in range(len(column[0]))]

    return ["mean of the regions", *(mean([row[j] for row in table]) for j in range(1, len(table[0])))]


def other_sky_table(sel: dict, rows: dict[int, dict], own_sel: dict, own_rows: dict[int, dict]) -> str:
    """On another sky (a run of the same grid and noise on another foreground seed, reduced with
    ``--criterion min_r_upper``): per region, the main sky's pick and each preset scored there (that
    run's record of the same grid item), and the pick that sky makes itself; r_hat + sigma(r) in-sample
    and held out, their changes against each preset, and the regions' mean change."""
    presets = _presets(sel)
    by_key = {_grid_key(r): r for r in own_rows.values()}
    head = ["region", "main sky's pick (K)", "its r_hat + sigma(r) here", "held out",
            *(f"multires {p}" for p in presets), *(f"pick vs {p}" for p in presets),
            "same on the main sky", "this sky's own pick (K)", "its r_hat + sigma(r)", "held out",
            *(f"own pick vs {p}" for p in presets), "main pick vs own pick, held out"]
    table = []
    for region, entry in sel["regions"].items():
        main_pick = rows[entry["min_r_upper"]["item_id"]]
        here = by_key[_grid_key(main_pick)]
        bases = {q: (own_sel["regions"][region].get("multires_baselines", {}).get(q) or {}).get("r_upper")
                 for q in presets}
        main_bases = {q: (entry.get("multires_baselines", {}).get(q) or {}).get("r_upper") for q in presets}
        own = own_sel["regions"][region].get("min_r_upper") or {}
        k = lambda r: f"({r['K_beta_dust']}, {r['K_temp_dust']}, {r['K_beta_synch']})" if r else "-"  # noqa: E731
        table.append([region, k(main_pick), _g(here.get("r_upper")), _g(here.get("r_upper_holdout")),
                      *(_g(bases[q]) for q in presets), *([_change(here.get("r_upper"), bases[q])] for q in presets),
                      [_change(main_pick.get("r_upper"), main_bases[q]) for q in presets],
                      k(own), _g(own.get("r_upper")), _g(own.get("r_upper_holdout")),
                      *([_change(own.get("r_upper"), bases[q])] for q in presets),
                      [_change(here.get("r_upper_holdout"), own.get("r_upper_holdout"))]])
    table.append(_mean_row(table))
    return "\n".join(["| " + " | ".join(head) + " |", "|" + "---|" * len(head),
                      *("| " + " | ".join(_cell(c) for c in row) + " |" for row in table)])


def evaluation_check(sel: dict, rows: dict[int, dict], evaluation: dict, own_rows: dict[int, dict]) -> str:
    """``compsep-hpc evaluate``'s refit of the main sky's min_r_upper picks against the other run's
    record of the same items: the largest relative difference of r_hat + sigma(r), and the combined
    (stitched) figures of the picks and presets on that sky."""
    by_key = {_grid_key(r): r for r in own_rows.values()}
    diffs = []
    for region, entry in evaluation["regions"].items():
        new = (entry.get("min_r_upper") or {}).get("r_upper")
        ref = by_key[_grid_key(rows[sel["regions"][region]["min_r_upper"]["item_id"]])].get("r_upper")
        if new is not None and ref:
            diffs.append(abs(new - ref) / ref)
    lines = [f"evaluate vs the run on that sky, same items: max relative difference of r_hat + sigma(r) "
             f"{max(diffs):.2g} over {len(diffs)} regions" if diffs else "no region to compare", "",
             "| combined on this sky | r_hat | sigma(r) | r_hat + sigma(r) | held out | CMB error |",
             "|---|---|---|---|---|---|"]
    for key, c in evaluation.get("combined", {}).items():
        c = c or {}
        lines.append(f"| {key} | {_g(c.get('r_hat'))} | {_g(c.get('sigma_r'))} | {_g(c.get('r_upper'))} | "
                     f"{_g(c.get('r_upper_holdout'))} | {_g(c.get('cmb_mse'))} |")
    return "\n".join(lines)


def validation_table(rows: dict[int, dict], true: tuple[int, int, int], max_r_bias: float) -> str:
    """Per criterion: the pick, and the rank and figure of the true counts among the items that criterion
    may pick (converged; under the bias cap for min_r_upper_low_bias); ``-`` when the truth is not one."""
    items = [r for r in rows.values() if r["strategy"] == "kmeans"]
    truth = next((r for r in items if (r["K_beta_dust"], r["K_temp_dust"], r["K_beta_synch"]) == true), None)
    lines = ["| criterion | figure | pick (K_bd, K_Td, K_bs) | pick's figure | truth's figure | truth - pick "
             "| truth's rank |", "|---|---|---|---|---|---|---|"]
    for key, rule in CRITERIA.items():
        if rule.needs_r and not all("r_upper" in r for r in items):
            continue
        best = pick(items, key, max_r_bias)
        rank = truth_rank(items, key, true, max_r_bias, PATCH_KEYS)
        n_eligible = len(candidates(items, key, max_r_bias))
        lines.append(f"| {key} | {rule.figure} | "
                     f"{'-' if best is None else (best['K_beta_dust'], best['K_temp_dust'], best['K_beta_synch'])} | "
                     f"{_g(best and best[rule.figure], 4)} | {_g(truth and truth[rule.figure], 4)} | "
                     f"{_g(best and truth and truth[rule.figure] - best[rule.figure], 3)} | "
                     f"{'-' if rank is None else f'{rank}/{n_eligible}'} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--other-sky", action="append", default=[], metavar="S=DIR",
                        help="the run of the same grid on foreground seed S, reduced with --criterion min_r_upper")
    parser.add_argument("--validation", type=Path, help="a reduced run on the clustered validation sky")
    parser.add_argument("--true", type=int, nargs=3, default=(100, 15, 5))
    parser.add_argument("--max-r-bias", type=float, default=DEFAULT_MAX_R_BIAS)
    args = parser.parse_args(argv)
    sel = json.loads((args.run_dir / "selection.json").read_text())
    rows = read_rows(args.run_dir)
    print("### Main sky, per region\n", main_sky_table(sel, rows), "\n### Main sky, combined\n",
          combined_table(sel), sep="\n")
    for seed, folder in (o.split("=", 1) for o in args.other_sky):
        own_sel = json.loads((Path(folder) / "selection.json").read_text())
        own_rows = read_rows(Path(folder))
        print(f"\n### Foreground seed {seed}\n", other_sky_table(sel, rows, own_sel, own_rows), sep="\n")
        evaluation = args.run_dir / "evaluations" / f"foreground_seed_{seed}" / "evaluation.json"
        if evaluation.exists():
            print("", evaluation_check(sel, rows, json.loads(evaluation.read_text()), own_rows), sep="\n")
    if args.validation:
        print(f"\n### Validation sky, true counts {tuple(args.true)}\n",
              validation_table(read_rows(args.validation), tuple(args.true), args.max_r_bias), sep="\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
