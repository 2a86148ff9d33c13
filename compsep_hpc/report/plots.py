"""Figures of the reducer: grid-search curves and patch / parameter maps.

Pure plotting: every function takes arrays and writes one PNG (atomically: a temporary file in
the same folder, then ``os.replace``), closing its figure. Matplotlib runs on the Agg backend,
so no display is needed (batch nodes, CI).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import healpy as hp  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from compsep_hpc.store.atomic import atomic_path  # noqa: E402

PARAMETER_LABELS = {"beta_dust": r"$\beta_d$", "temp_dust": r"$T_d$ [K]", "beta_synch": r"$\beta_s$"}
LABEL_SEED = 12345  # fixed: the shuffled patch colours are the same at every reduce
OUTSIDE = "lightgray"  # colour of the pixels outside the region


def _label_cmap(k: int):
    """Qualitative colours without greys (greys are the pixels outside the region)."""
    if k > 18:
        return plt.get_cmap("turbo")
    colours = [c for i, c in enumerate(plt.get_cmap("tab20").colors) if i not in (14, 15)]
    return matplotlib.colors.ListedColormap(colours[:max(k, 1)])


def save_figure(fig: plt.Figure, path: str | os.PathLike, dpi: int = 100, tight: bool = False) -> Path:
    """Write ``fig`` to ``path`` atomically (store/atomic.py) and close it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        if tight:
            fig.tight_layout()
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=dpi)
    finally:
        plt.close(fig)
    return path


def _log_scale(values: np.ndarray) -> bool:
    """Log axis when every value is positive and they span more than a decade."""
    v = values[np.isfinite(values)]
    return v.size > 0 and v.min() > 0 and v.max() > 10 * v.min()


METRIC_LABELS = {"cmb_mse": r"CMB mean squared error [$\mu$K$^2$]",
                 "cmb_variance": r"CMB variance over realizations (Eq. 9) [$\mu$K$^2$]",
                 "r_upper": r"$\hat r + \sigma(r)$",
                 "aic": r"AIC = mean NLL + 2k", "bic": r"BIC = mean NLL + k ln n"}


def plot_grid(path: str | os.PathLike, k_beta_dust: np.ndarray, k_temp_dust: np.ndarray,
              k_beta_synch: np.ndarray, metric_values: np.ndarray, mean_nll: np.ndarray,
              excluded: np.ndarray, selected: int | None, title: str = "", metric: str = "cmb_mse") -> Path:
    """The selection figure ``metric`` (METRIC_LABELS) and mean NLL against K_beta_dust, one curve per
    (K_temp_dust, K_beta_synch).

    All arrays have one entry per completed item. ``excluded`` items (unconverged fits) are drawn
    as red crosses, off the curves; ``selected`` is the index of the selected item (a star), or None.
    """
    kbd, ktd, kbs = (np.asarray(a) for a in (k_beta_dust, k_temp_dust, k_beta_synch))
    ys = (np.asarray(metric_values, float), np.asarray(mean_nll, float))
    excluded = np.asarray(excluded, bool)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, y, name in zip(axes, ys, (METRIC_LABELS[metric], "mean NLL")):
        for td, bs in sorted(set(zip(ktd.tolist(), kbs.tolist()))):
            sel = (ktd == td) & (kbs == bs) & ~excluded
            order = np.argsort(kbd[sel], kind="stable")
            ax.plot(kbd[sel][order], y[sel][order], "o-", ms=4,
                    label=f"K_temp_dust={td}, K_beta_synch={bs}")
        if excluded.any():
            ax.plot(kbd[excluded], y[excluded], "x", color="red", ms=7, label="excluded (unconverged)")
        if selected is not None:
            ax.plot(kbd[selected], y[selected], "*", color="black", ms=16, mfc="gold",
                    label="selected", zorder=5)
        if _log_scale(kbd.astype(float)):
            ax.set_xscale("log")
        if name != "mean NLL" and _log_scale(y[~excluded]):
            ax.set_yscale("log")
        ax.set_xlabel("K_beta_dust")
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    return save_figure(fig, path)


def shuffled_labels(labels: np.ndarray, seed: int = LABEL_SEED) -> np.ndarray:
    """Labels relabelled by a fixed random permutation, so neighbouring patches get distinct colours."""
    labels = np.asarray(labels, dtype=np.int64)
    n = int(labels.max()) + 1 if labels.size else 0
    return np.random.default_rng(seed).permutation(n)[labels] if n else labels


def region_map(nside: int, pixels: np.ndarray, values: np.ndarray) -> np.ndarray:
    """A full-sky map: ``values`` on the region ``pixels``, ``hp.UNSEEN`` elsewhere."""
    m = np.full(hp.nside2npix(nside), hp.UNSEEN)
    m[np.asarray(pixels)] = values
    return m


def patch_values(labels: np.ndarray, per_patch: np.ndarray) -> np.ndarray:
    """Per-pixel values of a per-patch array (UNSEEN for a label the array does not cover)."""
    per_patch = np.asarray(per_patch, float).reshape(-1)
    labels = np.asarray(labels, dtype=np.int64)
    out = np.full(labels.shape, hp.UNSEEN)
    ok = labels < per_patch.size
    out[ok] = per_patch[labels[ok]]
    out[~np.isfinite(out)] = hp.UNSEEN
    return out


def plot_patches(path: str | os.PathLike, nside: int, pixels: np.ndarray, labels: np.ndarray,
                 parameter_maps: Mapping[str, np.ndarray], names: Sequence[str], title: str = "") -> Path:
    """Mollweide views: top row the patch labels ``(3, n_pix)`` of each parameter (shuffled
    colours), bottom row the recovered per-pixel parameter values ``parameter_maps[name]``
    (``(n_pix,)``, UNSEEN where unknown). Pixels outside the region are UNSEEN (grey)."""
    fig = plt.figure(figsize=(15, 7))
    for i, name in enumerate(names):
        lab = np.asarray(labels[i])
        k = int(lab.max()) + 1 if lab.size else 1
        hp.mollview(region_map(nside, pixels, shuffled_labels(lab)), fig=fig.number, sub=(2, 3, i + 1),
                    title=f"{name} patches (K_eff={k})", cmap=_label_cmap(k), min=-0.5, max=k - 0.5,
                    cbar=False, badcolor=OUTSIDE)
        values = np.asarray(parameter_maps[name], float)
        seen = values[values != hp.UNSEEN]
        lo, hi = (float(seen.min()), float(seen.max())) if seen.size else (0.0, 1.0)
        if hi <= lo:
            lo, hi = lo - 0.5 * (abs(lo) or 1) * 1e-3, hi + 0.5 * (abs(hi) or 1) * 1e-3
        hp.mollview(region_map(nside, pixels, values), fig=fig.number, sub=(2, 3, i + 4),
                    title=f"recovered {PARAMETER_LABELS.get(name, name)} (mean over realizations)",
                    min=lo, max=hi, cmap="viridis", format="%.4g", badcolor=OUTSIDE)
    fig.suptitle(title, y=0.995, fontsize=13)
    return save_figure(fig, path)
