"""Figures of a recognize run: per route the predicted-model, probability and wrong-pixel maps,
accuracy against training epochs, accuracy against Galactic latitude. Matplotlib (Agg), healpy."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from compsep_hpc.recognition.scores import LATITUDE_EDGES
from compsep_hpc.report.plots import save_figure


def _pyplot():
    import matplotlib.pyplot as plt  # Agg: report.plots selected it

    return plt


def route_maps(path: Path, route: str, pred: np.ndarray, prob: np.ndarray, wrong: np.ndarray,
               labels: Sequence[str]) -> None:
    """Three Mollweide panels: predicted candidate, probability of the prediction, wrong pixels."""
    import healpy as hp

    plt = _pyplot()
    fig = plt.figure(figsize=(15, 4))
    hp.mollview(pred.astype(float), fig=fig.number, sub=(1, 3, 1), min=-0.5, max=len(labels) - 0.5,
                cmap=plt.get_cmap("tab10", len(labels)), title=f"{route}: " + ", ".join(
                    f"{i}={name}" for i, name in enumerate(labels)))
    hp.mollview(prob, fig=fig.number, sub=(1, 3, 2), min=0, max=1, title=f"{route}: probability of the prediction")
    hp.mollview(wrong.astype(float), fig=fig.number, sub=(1, 3, 3), min=-1, max=1, cmap="coolwarm",
                title=f"{route}: wrong pixels (1; -1 = no candidate)")
    save_figure(fig, path, dpi=90)


def accuracy_vs_epoch(path: Path, histories: Mapping[str, Mapping]) -> None:
    """Validation and test-sky accuracy of every network against its epochs."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, h in histories.items():
        epochs = np.arange(1, len(h["validation_accuracy"]) + 1)
        line, = ax.plot(epochs, h["validation_accuracy"], label=f"{name} validation")
        ax.plot(epochs, h["test_accuracy"], "--", color=line.get_color(), label=f"{name} test sky")
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy")
    ax.legend(fontsize=7)
    save_figure(fig, path, dpi=90, bbox_inches="tight")


def accuracy_vs_latitude(path: Path, by_route: Mapping[str, Sequence[float]]) -> None:
    """Test-sky accuracy of every route in bins of |b| (LATITUDE_EDGES)."""
    plt = _pyplot()
    centres = 0.5 * (np.array(LATITUDE_EDGES[:-1]) + np.array(LATITUDE_EDGES[1:]))
    fig, ax = plt.subplots(figsize=(6, 4))
    for route, acc in by_route.items():
        ax.plot(centres, acc, "o-", label=route)
    ax.set_xlabel("|b| [deg]")
    ax.set_ylabel("accuracy")
    ax.legend(fontsize=7)
    save_figure(fig, path, dpi=90, bbox_inches="tight")
