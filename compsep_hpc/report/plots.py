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

from compsep_hpc.model.component import SpectralParameter  # noqa: E402
from compsep_hpc.store.atomic import atomic_path  # noqa: E402

LABEL_SEED = 12345  # fixed: the shuffled patch colours are the same at every reduce
OUTSIDE = "lightgray"  # colour of the pixels outside the region


def _label_cmap(k: int):
    """Qualitative colours without greys (greys are the pixels outside the region)."""
    if k > 18:
        return plt.get_cmap("turbo")
    colours = [c for i, c in enumerate(plt.get_cmap("tab20").colors) if i not in (14, 15)]
    return matplotlib.colors.ListedColormap(colours[:max(k, 1)])


def save_figure(fig: plt.Figure, path: str | os.PathLike, dpi: int = 100, tight: bool = False, **savefig) -> Path:
    """Write ``fig`` to ``path`` atomically (store/atomic.py) and close it (``savefig``: more
    options of matplotlib's ``savefig``, e.g. ``bbox_inches``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        if tight:
            fig.tight_layout()
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=dpi, **savefig)
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


def grid_curves(patch_counts: Mapping[str, np.ndarray]) -> list[tuple[str, np.ndarray]]:
    """One curve per combination of the patch counts after the first: its legend label and the
    boolean mask of its items (one curve labelled 'all items' for a single parameter)."""
    others = list(patch_counts)[1:]
    columns = [np.asarray(patch_counts[k]) for k in others]
    n_items = len(np.asarray(next(iter(patch_counts.values()))))
    combos = sorted(set(zip(*(c.tolist() for c in columns)))) if others else [()]
    out = []
    for combo in combos:
        mask = np.ones(n_items, bool)
        for column, value in zip(columns, combo):
            mask &= column == value
        out.append((", ".join(f"{k}={v}" for k, v in zip(others, combo)) or "all items", mask))
    return out


def plot_grid(path: str | os.PathLike, patch_counts: Mapping[str, np.ndarray], metric_values: np.ndarray,
              mean_nll: np.ndarray, excluded: np.ndarray, selected: int | None, title: str = "",
              metric: str = "cmb_mse") -> Path:
    """The selection figure ``metric`` (METRIC_LABELS) and mean NLL against the first patch count
    of ``patch_counts`` (``K_<parameter>`` -> counts, the model's fitted order, any number >= 1),
    one curve per combination of the others.

    All arrays have one entry per completed item. ``excluded`` items (unconverged fits) are drawn
    as red crosses, off the curves; ``selected`` is the index of the selected item (a star), or None.
    """
    x_key = next(iter(patch_counts))
    x = np.asarray(patch_counts[x_key])
    ys = (np.asarray(metric_values, float), np.asarray(mean_nll, float))
    excluded = np.asarray(excluded, bool)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, y, name in zip(axes, ys, (METRIC_LABELS[metric], "mean NLL")):
        for label, curve in grid_curves(patch_counts):
            sel = curve & ~excluded
            order = np.argsort(x[sel], kind="stable")
            ax.plot(x[sel][order], y[sel][order], "o-", ms=4, label=label)
        if excluded.any():
            ax.plot(x[excluded], y[excluded], "x", color="red", ms=7, label="excluded (unconverged)")
        if selected is not None:
            ax.plot(x[selected], y[selected], "*", color="black", ms=16, mfc="gold",
                    label="selected", zorder=5)
        if _log_scale(x.astype(float)):
            ax.set_xscale("log")
        if name != "mean NLL" and _log_scale(y[~excluded]):
            ax.set_yscale("log")
        ax.set_xlabel(x_key)
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
                 parameter_maps: Mapping[str, np.ndarray], parameters: Sequence[SpectralParameter],
                 title: str = "") -> Path:
    """Mollweide views, one column per fitted parameter (``parameters``, the model's order): top
    row its patch labels (``labels`` ``(n_parameters, n_pix)``, shuffled colours), bottom row its
    recovered per-pixel values ``parameter_maps[name]`` (``(n_pix,)``, UNSEEN where unknown),
    titled with its declared label. Pixels outside the region are UNSEEN (grey)."""
    n = len(parameters)
    fig = plt.figure(figsize=(5 * n, 7))
    for i, parameter in enumerate(parameters):
        name = parameter.name
        lab = np.asarray(labels[i])
        k = int(lab.max()) + 1 if lab.size else 1
        hp.mollview(region_map(nside, pixels, shuffled_labels(lab)), fig=fig.number, sub=(2, n, i + 1),
                    title=f"{name} patches (K_eff={k})", cmap=_label_cmap(k), min=-0.5, max=k - 0.5,
                    cbar=False, badcolor=OUTSIDE)
        values = np.asarray(parameter_maps[name], float)
        seen = values[values != hp.UNSEEN]
        lo, hi = (float(seen.min()), float(seen.max())) if seen.size else (0.0, 1.0)
        if hi <= lo:
            lo, hi = lo - 0.5 * (abs(lo) or 1) * 1e-3, hi + 0.5 * (abs(hi) or 1) * 1e-3
        hp.mollview(region_map(nside, pixels, values), fig=fig.number, sub=(2, n, i + 1 + n),
                    title=f"recovered {parameter.label} (mean over realizations)",
                    min=lo, max=hi, cmap="viridis", format="%.4g", badcolor=OUTSIDE)
    fig.suptitle(title, y=0.995, fontsize=13)
    return save_figure(fig, path)
