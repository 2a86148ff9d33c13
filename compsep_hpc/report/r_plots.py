"""Plots of the r figures: residual BB spectra (paper Fig. 10), r likelihoods (Fig. 12) and
r_hat + sigma(r) against each patch count. Writes PNG files; returns their paths relative to the
run folder."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from compsep_hpc.grid.experiment import Experiment  # noqa: E402
from compsep_hpc.model.parameters import PATCH_KEYS  # noqa: E402
from compsep_hpc.report.plots import save_figure  # noqa: E402
from compsep_hpc.science.bandpowers import bin_centres  # noqa: E402
from compsep_hpc.science.coupling import binned_model  # noqa: E402
from compsep_hpc.science.figures import r_figures  # noqa: E402
from compsep_hpc.store.records import SPECTRA_FIELDS  # noqa: E402


def _dl(cl: np.ndarray, ell: np.ndarray) -> np.ndarray:
    """D_ell = ell (ell + 1) C_ell / 2 pi of bandpowers ``cl`` at their bin centres ``ell``."""
    return ell * (ell + 1) * cl / (2 * np.pi)


def _curves(experiment: Experiment, selection: dict, by_id: dict, combined: dict | None,
            combined_baselines: dict[str, dict | None]) -> dict[str, dict]:
    """Bandpowers and coupling of each region's min_r_upper pick (and baseline of each preset),
    plus the combined ones."""
    out: dict[str, dict] = {}
    for region, info in selection["regions"].items():
        picks = {region: info.get("min_r_upper"),
                 **{f"{region} multires {p}": b for p, b in info.get("multires_baselines", {}).items()}}
        for label, pick in picks.items():
            if pick is not None:
                rec = by_id[pick["item_id"]]
                out[label] = {**{k: np.asarray(rec[k]) for k in SPECTRA_FIELDS},
                              "coupling": experiment.geometry(region).coupling}
    combinations = {"combined": combined, **{f"combined multires {p}": c for p, c in combined_baselines.items()}}
    for label, comb in combinations.items():
        if comb is not None:
            out[label] = {**comb, "coupling": experiment.geometry(comb["geometry_name"]).coupling}
    return out


def r_plots(run_dir: Path, experiment: Experiment, selection: dict, records: list[dict],
            combined: dict | None, combined_baselines: dict[str, dict | None] | None = None) -> list[str]:
    """Write the three kinds of r plots; returns their paths relative to ``run_dir``.
    ``combined_baselines``: preset -> the stitched baseline items of that preset."""
    by_id = {r["item_id"]: r for r in records}
    curves = _curves(experiment, selection, by_id, combined, combined_baselines or {})
    written = [_spectra_plot(run_dir, experiment, curves), _likelihood_plot(run_dir, experiment, curves)]
    for region, info in selection["regions"].items():
        rows = [r for r in records if r.get("region") == region and not r.get("baseline_preset")
                and r.get("strategy", "kmeans") == experiment.config.grid.strategy and "r_upper" in r]
        if rows:
            written.append(_r_upper_plot(run_dir, region, rows, info.get("min_r_upper"),
                                         info.get("multires_baselines", {})))
    return written


def _spectra_plot(run_dir: Path, experiment: Experiment, curves: dict[str, dict]) -> str:
    """Systematic and statistical residual BB bandpowers (as D_ell) of each curve, with the lensing
    and r = 0.001 templates through the first curve's windows."""
    templates = experiment.templates
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for i, (label, cur) in enumerate(curves.items()):
        ell = bin_centres(cur["coupling"].binning)
        if i == 0:
            ax.plot(ell, _dl(binned_model(cur["coupling"], templates.lensing), ell), "k-", lw=1, label="lensing BB")
            ax.plot(ell, _dl(binned_model(cur["coupling"], 1e-3 * templates.tensor), ell), "k--", lw=1,
                    label="tensor BB, r = 0.001")
        color = f"C{i % 10}"
        ax.plot(ell, np.abs(_dl(cur["cl_systematic"], ell)), color=color, ls="-", marker="o", ms=3,
                label=f"{label}: systematic")
        ax.plot(ell, np.abs(_dl(cur["cl_statistical"], ell)), color=color, ls=":", marker="s", ms=3,
                label=f"{label}: statistical")
    ax.set(xscale="log", yscale="log", xlabel=r"$\ell$", ylabel=r"$D_\ell^{BB}$ [$\mu$K$^2$]",
           title="residual BB bandpowers of the min r_upper selections")
    ax.legend(fontsize=6, ncol=2)
    return _save(fig, run_dir, "plots/residual_spectra.png")


def _likelihood_plot(run_dir: Path, experiment: Experiment, curves: dict[str, dict]) -> str:
    """The normalised r likelihood of each curve, with its r_hat + sigma(r)."""
    c = experiment.config
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for i, (label, cur) in enumerate(curves.items()):
        r = r_figures(cur["cl_total"], cur["cl_statistical"], experiment.templates, cur["coupling"], c.spectra,
                      c.sky.r)
        ax.plot(r.r_grid, r.posterior / r.posterior.max(), color=f"C{i % 10}",
                label=f"{label}: r = {r.r_hat:.2e} + {r.sigma_r:.1e}")
        ax.axvline(r.r_upper, color=f"C{i % 10}", ls=":", lw=0.8)
    ax.set(xlabel="r", ylabel="L(r) / L_max", title="r likelihoods", xlim=(0, None))
    ax.legend(fontsize=7)
    return _save(fig, run_dir, "plots/r_likelihood.png")


def _r_upper_plot(run_dir: Path, region: str, rows: list[dict], pick: dict | None,
                  baselines: dict[str, dict | None]) -> str:
    """r_hat + sigma(r) of a region's items against each patch count, the pick starred, each
    multires baseline preset's value a horizontal line."""
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.8), sharey=True)
    for ax, key in zip(axes, PATCH_KEYS):
        k = np.array([r[key] for r in rows])
        y = np.array([r["r_upper"] for r in rows])
        ax.scatter(k, y, s=10, alpha=0.5)
        values = np.unique(k)
        ax.plot(values, [y[k == v].min() for v in values], "k-", lw=1, label="best over the others")
        if pick is not None:
            ax.plot(pick[key], pick["r_upper"], "r*", ms=12, label="selected")
        for i, (preset, base) in enumerate(baselines.items()):
            if base is not None and base.get("r_upper") is not None:
                ax.axhline(base["r_upper"], color=f"C{i + 1}", ls="--", lw=1, label=f"multires {preset}")
        ax.set(xlabel=key, yscale="log")
    axes[0].set_ylabel(r"$\hat r + \sigma(r)$")
    axes[0].legend(fontsize=7)
    fig.suptitle(region)
    return _save(fig, run_dir, f"plots/r_upper_{region}.png")


def _save(fig, run_dir: Path, rel: str) -> str:
    save_figure(fig, run_dir / rel, dpi=110, tight=True)
    return rel
