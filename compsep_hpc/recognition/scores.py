"""Scores of a route's per-pixel predictions against the test sky's true models: accuracy,
confusion matrix, per-region pooled decisions, accuracy by Galactic latitude. Pure numpy."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

LATITUDE_EDGES = (0.0, 10.0, 20.0, 30.0, 45.0, 60.0, 90.0)  # |b| bins, degrees


def accuracy(pred: np.ndarray, truth: np.ndarray) -> float:
    """Fraction of the labelled pixels (truth >= 0) predicted right; NaN without any."""
    keep = truth >= 0
    return float(np.mean(pred[keep] == truth[keep])) if keep.any() else float("nan")


def confusion(pred: np.ndarray, truth: np.ndarray, n_classes: int) -> np.ndarray:
    """Counts ``[true, predicted]`` (n_classes, n_classes) over the labelled pixels."""
    keep = truth >= 0
    out = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(out, (truth[keep], pred[keep]), 1)
    return out


def majority(pred: np.ndarray, regions: Mapping[str, np.ndarray], n_classes: int) -> dict[str, int]:
    """Each region's most frequent pixel prediction (ties: the lower index)."""
    return {r: int(np.argmax(np.bincount(pred[p], minlength=n_classes))) for r, p in regions.items()}


def region_truth(truth: np.ndarray, regions: Mapping[str, np.ndarray]) -> dict[str, int]:
    """Each region's true candidate: the most frequent pixel label (-1 where none is a candidate)."""
    out = {}
    for r, p in regions.items():
        labels = truth[p]
        labels = labels[labels >= 0]
        out[r] = int(np.argmax(np.bincount(labels))) if labels.size else -1
    return out


def region_accuracy(decided: Mapping[str, int], truth: Mapping[str, int]) -> float:
    """Fraction of the regions with a true candidate whose decision is right."""
    scored = [decided[r] == t for r, t in truth.items() if t >= 0]
    return float(np.mean(scored)) if scored else float("nan")


def galactic_latitude(nside: int) -> np.ndarray:
    """|b| in degrees at the RING pixel centres, ``(12 nside^2,)``."""
    import healpy as hp

    theta, _ = hp.pix2ang(nside, np.arange(12 * nside**2))
    return np.abs(90.0 - np.degrees(theta))


def accuracy_by_latitude(pred: np.ndarray, truth: np.ndarray, latitude: np.ndarray) -> list[float]:
    """Accuracy in each |b| bin of LATITUDE_EDGES (NaN for an empty bin)."""
    out = []
    for lo, hi in zip(LATITUDE_EDGES[:-1], LATITUDE_EDGES[1:]):
        sel = (latitude >= lo) & (latitude < hi if hi < 90 else latitude <= hi)
        out.append(accuracy(pred[sel], truth[sel]))
    return out
