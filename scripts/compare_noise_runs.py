r"""r of two reduced runs side by side (issue 25, measurement 1): per region, the min_r_upper K-means
pick and each multires baseline, r_hat and sigma(r) of a reference run (white noise) and of its
twin (e.g. LiteBIRD scan hits of the same mean depth), from each folder's ``items.csv`` (written by
``compsep-hpc reduce DIR --criterion min_r_upper --regions-only``). The pick is each run's own
(the lowest in-sample ``r_upper`` among the region's K-means items); figures are the in-sample
ones. Prints a markdown table; no JAX.

    python scripts/compare_noise_runs.py results/real_instrument_white results/real_instrument_scan
"""

from __future__ import annotations

import argparse
from pathlib import Path

from compsep_hpc.report.items_table import read_items_csv


def rows_by_region(run: Path) -> dict[str, dict[str, dict]]:
    """region -> {'K-means pick': row, <preset>: row} of a reduced run's items.csv."""
    out: dict[str, dict[str, dict]] = {}
    for row in read_items_csv(run / "items.csv"):
        entry = out.setdefault(row["region"], {})
        if row["strategy"] == "multires":
            entry[f"multires {row['baseline_preset']}"] = row
        elif "K-means pick" not in entry or row["r_upper"] < entry["K-means pick"]["r_upper"]:
            entry["K-means pick"] = row
    return out


def label(row: dict) -> str:
    keys = [k for k in row if k.startswith("K_")]
    return "/".join(str(row[k]) for k in keys)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reference", type=Path)
    parser.add_argument("other", type=Path)
    args = parser.parse_args()
    ref, other = rows_by_region(args.reference), rows_by_region(args.other)
    print(f"| region | item | r_hat {args.reference.name} | sigma(r) | r_hat {args.other.name} | sigma(r) |"
          " delta r_hat | sigma(r) ratio |")
    print("|---|---|---|---|---|---|---|---|")
    for region in ref:
        for name, a in ref[region].items():
            b = other.get(region, {}).get(name)
            if b is None:
                continue
            item = name + ("" if name.startswith("multires") else f" ({label(a)} / {label(b)})")
            print(f"| {region} | {item} | {a['r_hat']:.2e} | {a['sigma_r']:.2e} | {b['r_hat']:.2e} | "
                  f"{b['sigma_r']:.2e} | {b['r_hat'] - a['r_hat']:+.2e} | {b['sigma_r'] / a['sigma_r']:.3f} |")


if __name__ == "__main__":
    main()
