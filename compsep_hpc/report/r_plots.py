"""Plots of the r figures, one panel per region and one for the combined (stitched) result, each
comparing the K-means pick (criterion ``min_r_upper``) with each multi-resolution baseline preset:

- ``residual_spectra.png`` (paper Fig. 10): systematic and statistical residual BB bandpowers as
  D_ell, the statistical ones with one realization's error bar (``cl_total_std``), beside the
  lensing and r = 0.001 templates put through the panel's bandpower windows;
- ``r_likelihood.png`` (Fig. 12): the normalised r likelihoods, r_hat + sigma(r) written in each panel;
- ``r_hat_realizations.png``: histograms of the per-realization r_hat, with the forecast r_hat;
- ``r_upper_<region>.png``: r_hat + sigma(r) of a region's items against the patch count of each
  fitted parameter of the run's model.

Legends sit outside the panels; the ell axis is linear with integer ticks. Writes PNG files and
returns their paths relative to the run folder.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from compsep_hpc.grid.config import MULTIRES_PRESETS  # noqa: E402
from compsep_hpc.grid.experiment import Experiment  # noqa: E402
from compsep_hpc.report.plots import save_figure  # noqa: E402
from compsep_hpc.science.bandpowers import bin_centres  # noqa: E402
from compsep_hpc.science.coupling import binned_model  # noqa: E402
from compsep_hpc.science.figures import r_figures  # noqa: E402
from compsep_hpc.store.records import SPECTRA_FIELDS  # noqa: E402

KMEANS_LABEL = "K-means pick (min r_upper)"
"""Label of the K-means pick; each multires baseline preset is labelled ``multires <preset>``."""
CURVE_FIELDS = (*SPECTRA_FIELDS, "r_hat", "r_hat_realizations")


def _dl(cl: np.ndarray, ell: np.ndarray) -> np.ndarray:
    """D_ell = ell (ell + 1) C_ell / 2 pi of bandpowers ``cl`` at their bin centres ``ell``."""
    return ell * (ell + 1) * np.asarray(cl) / (2 * np.pi)


def _curve(figures: dict, coupling) -> dict:
    """The plotted figures of a record or combined result, with its region's coupling."""
    return {**{k: np.asarray(figures[k]) for k in CURVE_FIELDS if k in figures}, "coupling": coupling}


def _methods(kmeans: dict | None, baselines: dict[str, dict | None]) -> dict[str, dict]:
    """``{label: entry}`` of the K-means pick and each baseline preset present (colour order)."""
    entries = {KMEANS_LABEL: kmeans, **{f"multires {p}": b for p, b in baselines.items()}}
    return {label: entry for label, entry in entries.items() if entry is not None}


def _panels(experiment: Experiment, selection: dict, by_id: dict, combined: dict | None,
            combined_baselines: dict[str, dict | None]) -> dict[str, dict[str, dict]]:
    """``{panel title: {method label: curve}}``: each region's picks, then the combined ones."""
    panels: dict[str, dict[str, dict]] = {}
    for region, info in selection["regions"].items():
        coupling = experiment.geometry(region).coupling
        picks = _methods(info.get("min_r_upper"), info.get("multires_baselines", {}))
        if picks:
            panels[region] = {label: _curve(by_id[pick["item_id"]], coupling) for label, pick in picks.items()}
    combined_curves = {label: _curve(comb, experiment.geometry(comb["geometry_name"]).coupling)
                       for label, comb in _methods(combined, combined_baselines).items()}
    if combined_curves:
        panels["combined"] = combined_curves
    return panels


def r_plots(run_dir: Path, experiment: Experiment, selection: dict, records: list[dict],
            combined: dict | None, combined_baselines: dict[str, dict | None] | None = None) -> list[str]:
    """Write the r plots (module docstring); returns their paths relative to ``run_dir``.
    ``combined_baselines``: preset -> the stitched baseline items of that preset."""
    by_id = {r["item_id"]: r for r in records}
    panels = _panels(experiment, selection, by_id, combined, combined_baselines or {})
    written = []
    if panels:
        written += [_spectra_plot(run_dir, experiment, panels), _likelihood_plot(run_dir, experiment, panels),
                    _histogram_plot(run_dir, panels)]
    for region, info in selection["regions"].items():
        rows = [r for r in records if r.get("region") == region and not r.get("baseline_preset")
                and r.get("strategy", "kmeans") == experiment.config.grid.strategy and "r_upper" in r]
        if rows:
            written.append(_r_upper_plot(run_dir, region, rows, experiment.config.model.patch_keys,
                                         info.get("min_r_upper"), info.get("multires_baselines", {})))
    return written


def _grid(n_panels: int, title: str):
    """A constrained-layout figure of ``n_panels`` axes (at most 3 per row) and its flat axes list."""
    ncols = min(3, n_panels)
    nrows = math.ceil(n_panels / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.3 * ncols, 3.3 * nrows + 0.9), layout="constrained",
                             squeeze=False)
    for ax in axes.flat[n_panels:]:
        ax.set_visible(False)
    fig.suptitle(title)
    return fig, list(axes.flat[:n_panels])


def _legend_below(fig, axes) -> None:
    """One legend for the figure, below the panels: the labels of every panel, each once."""
    handles: dict[str, object] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(label, handle)
    fig.legend(handles.values(), handles.keys(), loc="outside lower center", ncol=min(3, len(handles)), fontsize=8)


def _color(label: str) -> str:
    """The colour of a method label: C0 for the K-means pick, C1, C2, ... for the presets in
    MULTIRES_PRESETS order."""
    if label == KMEANS_LABEL:
        return "C0"
    return f"C{1 + list(MULTIRES_PRESETS).index(label.removeprefix('multires '))}"


def _positive(values: np.ndarray) -> np.ndarray:
    """``values`` with non-positive entries NaN (not drawn on a log axis)."""
    return np.where(values > 0, values, np.nan)


def _spectra_plot(run_dir: Path, experiment: Experiment, panels: dict[str, dict[str, dict]]) -> str:
    """Fig. 10: residual BB bandpowers per panel, with the lensing and r = 0.001 templates."""
    templates = experiment.templates
    fig, axes = _grid(len(panels), "residual BB bandpowers (statistical: one realization's error bar; "
                                   "non-positive bandpowers not drawn)")
    for ax, (title, curves) in zip(axes, panels.items()):
        coupling = next(iter(curves.values()))["coupling"]
        ell = bin_centres(coupling.binning)
        ax.plot(ell, _dl(binned_model(coupling, templates.lensing), ell), color="0.4", lw=1, label="lensing BB")
        ax.plot(ell, _dl(binned_model(coupling, 1e-3 * templates.tensor), ell), "k--", lw=1,
                label="tensor BB, r = 0.001")
        for label, cur in curves.items():
            color = _color(label)
            ax.plot(ell, _positive(_dl(cur["cl_systematic"], ell)), color=color, marker="o", ms=3, lw=1,
                    label=f"{label}: systematic")
            stat = _dl(cur["cl_statistical"], ell)
            err = _dl(cur.get("cl_total_std", np.full_like(stat, np.nan)), ell)
            lower = np.where(stat > 0, np.minimum(err, 0.999 * stat), np.nan)  # clipped at the log axis floor
            ax.errorbar(ell, _positive(stat), yerr=[lower, err], color=color, marker="s", ms=3, ls=":", lw=1,
                        capsize=2, label=f"{label}: statistical")
        ax.set(yscale="log", title=title, xlabel=r"$\ell$", ylabel=r"$D_\ell^{BB}$ [$\mu$K$^2$]")
        ax.xaxis.set_major_locator(MaxNLocator(nbins=6, integer=True))
    _legend_below(fig, axes)
    return _save(fig, run_dir, "plots/residual_spectra.png")


def _likelihood_plot(run_dir: Path, experiment: Experiment, panels: dict[str, dict[str, dict]]) -> str:
    """Fig. 12: the normalised r likelihood of each method per panel, r_hat + sigma(r) written in it."""
    c = experiment.config
    fig, axes = _grid(len(panels), "r likelihoods (dotted: r_hat + sigma(r))")
    for ax, (title, curves) in zip(axes, panels.items()):
        right = 0.0
        for i, (label, cur) in enumerate(curves.items()):
            r = r_figures(cur["cl_total"], cur["cl_statistical"], experiment.templates, cur["coupling"], c.spectra,
                          c.sky.r)
            color = _color(label)
            ax.plot(r.r_grid, r.posterior / r.posterior.max(), color=color, label=label)
            ax.axvline(r.r_upper, color=color, ls=":", lw=0.8)
            ax.text(0.97, 0.95 - 0.09 * i, f"{r.r_hat:.2e} + {r.sigma_r:.1e}", color=color, fontsize=7,
                    ha="right", va="top", transform=ax.transAxes)
            right = max(right, r.r_hat + 4.0 * r.sigma_r)
        ax.set(title=title, xlabel="r", ylabel=r"$L(r) / L_{max}$", xlim=(0, right or None), ylim=(0, 1.05))
        ax.ticklabel_format(axis="x", style="sci", scilimits=(-2, 2))
    _legend_below(fig, axes)
    return _save(fig, run_dir, "plots/r_likelihood.png")


def _histogram_plot(run_dir: Path, panels: dict[str, dict[str, dict]]) -> str:
    """Histograms of the per-realization r_hat of each method per panel, the forecast r_hat dashed."""
    fig, axes = _grid(len(panels), "r_hat of each noise realization (dashed: forecast r_hat of the mean residual)")
    for ax, (title, curves) in zip(axes, panels.items()):
        ax.set(title=title, xlabel=r"$\hat r$", ylabel="realizations")
        samples = {label: cur["r_hat_realizations"] for label, cur in curves.items()
                   if np.size(cur.get("r_hat_realizations", ())) > 0}
        if not samples:
            continue
        pooled = np.concatenate(list(samples.values()))
        edges = np.histogram_bin_edges(pooled, bins=max(5, min(30, pooled.size // 4)))  # shared by the methods
        for label, r_hats in samples.items():
            color = _color(label)
            ax.hist(r_hats, bins=edges, histtype="step", color=color, label=f"{label}: per realization")
            ax.axvline(float(curves[label]["r_hat"]), color=color, ls="--", lw=1)
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.ticklabel_format(axis="x", style="sci", scilimits=(-2, 2))
    _legend_below(fig, axes)
    return _save(fig, run_dir, "plots/r_hat_realizations.png")


def _r_upper_plot(run_dir: Path, region: str, rows: list[dict], patch_keys: tuple[str, ...], pick: dict | None,
                  baselines: dict[str, dict | None]) -> str:
    """r_hat + sigma(r) of a region's items (records) against each patch count (``patch_keys``, one
    panel each), the pick starred, each multires baseline preset's value a horizontal line."""
    fig, axes = plt.subplots(1, len(patch_keys), figsize=(4 * len(patch_keys), 3.8), sharey=True, squeeze=False)
    axes = axes[0]
    for ax, key in zip(axes, patch_keys):
        k = np.array([r[key] for r in rows])
        y = np.array([r["r_upper"] for r in rows])
        ax.scatter(k, y, s=10, alpha=0.5)
        values = np.unique(k)
        ax.plot(values, [y[k == v].min() for v in values], "k-", lw=1, label="best over the others")
        if pick is not None:
            ax.plot(pick[key], pick["r_upper"], "r*", ms=12, label="selected")
        for preset, base in baselines.items():
            if base is not None and base.get("r_upper") is not None:
                ax.axhline(base["r_upper"], color=_color(f"multires {preset}"), ls="--", lw=1,
                           label=f"multires {preset}")
        ax.set(xlabel=key, yscale="log")
    axes[0].set_ylabel(r"$\hat r + \sigma(r)$")
    axes[0].legend(fontsize=7)
    fig.suptitle(region)
    fig.tight_layout()
    return _save(fig, run_dir, f"plots/r_upper_{region}.png")


def _save(fig, run_dir: Path, rel: str) -> str:
    save_figure(fig, run_dir / rel, dpi=110)
    return rel
