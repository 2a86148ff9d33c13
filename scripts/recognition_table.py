"""Print the model-recognition comparison table (README) from recognize run folders.

    python scripts/recognition_table.py CURVATURE_RUN AME_RUN FOUR_CLASS_RUN

Each RUN is a ``compsep-hpc recognize`` folder (scores.json, weights/*.json). Columns: the
study's figures (shared/docs/model_recognition.md), our networks (noiseless and noisy
training, Adadelta; Adam beside), likelihood ratio, AIC, BIC, reduced chi^2: pixel accuracy on
the test sky, and in brackets the per-region accuracy when the region's pixels are pooled (the
route's own region fit for the likelihood rules, the majority of its pixels for a network).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

STUDY = {"power law vs curvature": "98 % / 82 % / 97 % (χ²: 73 %)", "power law vs power law + AME": "97 % / 78 % / 94 %",
         "4 classes": "93 % / 68 % / 93 %"}
ROUTES = ("network_adadelta_noiseless", "network_adadelta_noisy", "network_adam_noisy", "likelihood_ratio", "aic", "bic",
          "reduced_chi2")


def _cell(route: dict | None) -> str:
    if route is None:
        return "–"
    return f"{100 * route['pixel_accuracy']:.1f} % ({100 * route['region_accuracy']:.0f} %)"


def main(runs: list[str]) -> None:
    print("| problem | study: noiseless test / noisy test, noiseless training / 100 noise real. nside 16 | "
          + " | ".join(ROUTES) + " | training s (per network) |")
    print("|---" * (len(ROUTES) + 3) + "|")
    for problem, run in zip(STUDY, runs):
        folder = Path(run)
        if not (folder / "scores.json").exists():
            print(f"| {problem} | {STUDY[problem]} | " + " | ".join("not run" for _ in ROUTES) + " | |")
            continue
        scores = json.loads((folder / "scores.json").read_text())
        seconds = {k: v for k, v in scores["training_seconds"].items()}
        print(f"| {problem} | {STUDY[problem]} | " + " | ".join(_cell(scores["routes"].get(r)) for r in ROUTES)
              + " | " + ", ".join(f"{k} {v:.0f}" for k, v in seconds.items() if v is not None) + " |")


if __name__ == "__main__":
    main(sys.argv[1:])
