#!/usr/bin/env python
"""Full-sky patch maps of a reduced run's K-means picks and multires baselines (the paper's Figs 7-8).

One row per method (the ``min_r_upper`` K-means picks of ``selection.json``, then each multires
preset), one Mollweide view per fitted parameter of the run's model: every region's
patches of that method, stitched (the regions are disjoint), each patch one colour, the total
number of patches in the title. Pixels outside the regions are grey. The residual spectra, r
likelihoods and r_hat + sigma(r) against the patch counts (Figs 10, 12, 13) are ``reduce``'s plots.

    python scripts/paper_figures.py RUN_DIR --output docs/paper_comparison/patch_maps.png
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import healpy as hp
import matplotlib.pyplot as plt
import numpy as np

from compsep_hpc.precision import enable_float64

enable_float64()  # as the run did: the same K-means partitions, before any JAX array is created

from compsep_hpc.grid.experiment import Experiment  # noqa: E402
from compsep_hpc.partition.patches import renumber_labels  # noqa: E402
from compsep_hpc.report.plots import OUTSIDE, save_figure, shuffled_labels  # noqa: E402


def stitched_labels(experiment: Experiment, picks: dict[str, dict], strategy: str) -> tuple[np.ndarray, list[int]]:
    """Full-sky labels ``(n_parameters, n_pix_sky)`` (-1 outside the regions) of every region's
    pick, each region's patches numbered after the previous regions'; and the total patches per
    fitted parameter."""
    model = experiment.config.model
    n_parameters = len(model.fitted)
    sky = np.full((n_parameters, hp.nside2npix(experiment.config.nside)), -1, dtype=np.int64)
    offset = np.zeros(n_parameters, dtype=np.int64)
    for region, entry in picks.items():
        labels = experiment.labels(region, tuple(entry[k] for k in model.patch_keys), strategy)
        for i in range(n_parameters):
            dense = renumber_labels(labels[i])
            sky[i, experiment.pixels(region)] = dense + offset[i]
            offset[i] += dense.max() + 1
    return sky, [int(n) for n in offset]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--output", type=Path, required=True, help="the PNG written")
    args = parser.parse_args(argv)
    selection = json.loads((args.run_dir / "selection.json").read_text())
    experiment = Experiment.from_run_folder(args.run_dir)  # the run's regions and CMB, as reduce
    config = experiment.config
    regions = selection["regions"]
    methods = {"K-means picks (min_r_upper)": ({r: e["min_r_upper"] for r, e in regions.items()}, "kmeans")}
    for preset in next(iter(regions.values())).get("multires_baselines", {}):
        methods[f"multires {preset}"] = ({r: e["multires_baselines"][preset] for r, e in regions.items()}, "multires")
    parameters = config.model.fitted_parameters
    n = len(parameters)
    fig = plt.figure(figsize=(5 * n, 3.6 * len(methods)))
    for row, (name, (picks, strategy)) in enumerate(methods.items()):
        labels, totals = stitched_labels(experiment, picks, strategy)
        for i, p in enumerate(parameters):
            m = np.where(labels[i] >= 0, shuffled_labels(np.maximum(labels[i], 0)), hp.UNSEEN).astype(float)
            hp.mollview(m, fig=fig.number, sub=(len(methods), n, n * row + i + 1), cmap="turbo", cbar=False,
                        badcolor=OUTSIDE, title=f"{name}: {p.label}, {totals[i]} patches")
    fig.suptitle(f"{config.name}: patches of every region, nside {config.nside}", y=0.995)
    save_figure(fig, args.output, dpi=90)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
