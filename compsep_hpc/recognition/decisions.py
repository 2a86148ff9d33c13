r"""Decision rules of the likelihood route: which candidate each unit (pixel or region) needs,
from the minimum :math:`\chi^2` of every candidate (likelihood_route.py), its parameter count k
and the unit's data count n. Pure numpy.

- ``likelihood_ratio``: forward selection over nested models. Start from the simplest
  candidate (fewest parameters); among the candidates that nest the current one, test
  :math:`\Delta\chi^2 = \chi^2_{cur} - \chi^2_{big}` against a :math:`\chi^2` of
  :math:`\Delta k` degrees of freedom (Wilks); move to the one of smallest p-value if it is below
  ``alpha``; repeat. Nested: curved synchrotron contains the power law (C = 0), a model with AME
  contains the same model without it (AME amplitude 0; its peak frequency is then not identified,
  so Wilks' theorem holds only approximately for that test).
- ``aic``: :math:`\min \chi^2 + 2k`; ``bic``: :math:`\min \chi^2 + k \ln n`.
- ``reduced_chi2`` (the study's rule): the candidate whose :math:`\chi^2 / (n - k)` is closest to 1.

Each rule also gives a per-unit "probability" of its choice: the Akaike (or BIC) weight
:math:`e^{-\Delta/2} / \sum e^{-\Delta/2}` of the chosen candidate; for the likelihood ratio the
confidence :math:`1 - p` of the last test that moved the choice, or the smallest p-value of the
tests that did not (the simplest kept); for the reduced :math:`\chi^2` the :math:`\chi^2`
survival probability of the chosen fit.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.stats import chi2 as chi2_dist

from compsep_hpc.model.sky_model import SkyModel

RULES = ("likelihood_ratio", "aic", "bic", "reduced_chi2")
GENERALISES = {"synch": ("synch",), "curved_synch": ("synch", "curvature")}


def features_of(model: SkyModel) -> frozenset[str]:
    """What a candidate can describe: its components, curved synchrotron also the power law's."""
    out = set()
    for c in model.components:
        out.update(GENERALISES.get(c.name, (c.name,)))
    return frozenset(out)


def nesting(models: Sequence[SkyModel]) -> np.ndarray:
    """``nests[a, b]``: candidate b strictly contains candidate a."""
    f = [features_of(m) for m in models]
    return np.array([[fa < fb for fb in f] for fa in f])


def likelihood_ratio(chi2: np.ndarray, k: np.ndarray, nests: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """Forward nested selection (module docstring): ``(choice (n_units,), probability)``."""
    n_cand, n_units = chi2.shape
    units = np.arange(n_units)
    current = np.argmin(k + 1e-9 * np.arange(n_cand)[:, None], axis=0)
    prob = np.ones(n_units)
    for _ in range(n_cand):
        p = np.ones((n_cand, n_units))
        for j in range(n_cand):
            ok = nests[current, j]
            dk = k[j] - k[current, units]
            dchi = np.maximum(chi2[current, units] - chi2[j], 0.0)
            p[j] = np.where(ok & (dk > 0), chi2_dist.sf(dchi, np.maximum(dk, 1)), 1.0)
        best = np.argmin(p, axis=0)
        p_best = p[best, units]
        move = p_best < alpha
        prob = np.where(move, 1.0 - p_best, np.where(p_best < 1.0, p_best, prob))
        if not move.any():
            break
        current = np.where(move, best, current)
    return current, prob


def _weights(score: np.ndarray) -> np.ndarray:
    w = np.exp(-0.5 * (score - score.min(axis=0)))
    return w / w.sum(axis=0)


def decide(rule: str, chi2: np.ndarray, k: np.ndarray, n: np.ndarray, models: Sequence[SkyModel],
           alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """``(choice, probability)`` per unit of one rule of RULES; ``chi2``, ``k`` (n_cand, n_units),
    ``n`` (n_units,)."""
    units = np.arange(chi2.shape[1])
    if rule == "likelihood_ratio":
        return likelihood_ratio(chi2, k, nesting(models), alpha)
    if rule in ("aic", "bic"):
        score = chi2 + (2.0 * k if rule == "aic" else k * np.log(n)[None])
        choice = np.argmin(score, axis=0)
        return choice, _weights(score)[choice, units]
    if rule == "reduced_chi2":
        dof = np.maximum(n[None] - k, 1)
        choice = np.argmin(np.abs(chi2 / dof - 1.0), axis=0)
        return choice, chi2_dist.sf(chi2[choice, units], dof[choice, units])
    raise ValueError(f"unknown rule {rule!r}; known: {', '.join(RULES)}")
