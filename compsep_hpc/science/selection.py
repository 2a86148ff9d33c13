r"""Selection rules: the criteria, which items may be scored, the best of a set, and its JSON form.

Each criterion minimises one figure of the ``items.csv`` row of an item (store/item_rows.py:
record figures, science/figures.py, or the information criteria below), among the items whose
every fit converged and whose figure is finite (:func:`usable`); ``selection.json`` gives every
region's pick under each:

- ``min_cmb_mse`` (the default): ``cmb_mse``, :math:`\langle(\hat s_i - s)^2\rangle`, the noise
  variance plus the squared foreground bias of the recovered CMB. For the best CMB map.
- ``min_variance``: ``cmb_variance``, the paper's Eq. 9, the variance over noise realizations only.
  Blind to a bias that is the same in every realization, it favours few patches (its noise term
  grows with the patch counts); the paper's own figure, for comparison with it.
- ``min_r_upper``: ``r_upper`` = r_hat + sigma(r) from the residual BB spectra. For the tightest
  constraint on r (needs records with the r figures).
- ``min_r_upper_low_bias``: ``r_upper`` among the items whose systematic residual, as a bias on r,
  ``r_bias`` = r_hat - ``sky.r``, is at most ``max_r_bias`` (a ``reduce`` option, default
  DEFAULT_MAX_R_BIAS, stored in ``selection.json``). In the r likelihood (science/r_estimation.py)
  the observed spectrum holds the total residual and the model the statistical one, so r_hat - r_in
  is the r that the systematic residual ``cl_systematic`` mimics (exactly, where the statistical
  residual is not clipped at 0). The paper's rule: the tightest r among the configurations whose
  foreground bias stays small.
- ``min_aic``, ``min_bic``: information criteria on the spectral likelihood. The NLL of the fit is
  :math:`-2\ln L` up to a constant (physics.md: no 1/2; the amplitudes are maximised
  analytically, the profile likelihood), so with :math:`k` = the item's patches summed over the
  model's fitted parameters, :math:`\sum_p K_p` (:math:`K_{\beta_d} + K_{T_d} + K_{\beta_s}` for the
  default model; the effective counts: K-means may leave patches empty) and :math:`n` its data
  values (pixels x bands x 2 Stokes):
  :math:`\mathrm{AIC} = \overline{\mathrm{NLL}} + 2k`, :math:`\mathrm{BIC} = \overline{\mathrm{NLL}} + k\ln n`,
  :math:`\overline{\mathrm{NLL}}` the mean over the in-sample noise realizations. The amplitudes
  (one per component, pixel and Stokes) are as many in every item of a region: they shift all its
  AIC/BIC alike and are left out of k.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from compsep_hpc.errors import CompsepError
from compsep_hpc.science.config import CRITERIA, DEFAULT_CRITERION, DEFAULT_MAX_R_BIAS  # noqa: F401 (the rules' table)


RENAMED_CRITERIA = {"variance": "min_cmb_mse", "r_upper": "min_r_upper"}
"""Names of earlier versions: ``variance`` minimised cmb_mse, not the variance."""

SELECTION_METRIC = CRITERIA[DEFAULT_CRITERION].figure


def criterion_metric(criterion: str) -> str:
    """The figure ``criterion`` minimises; CompsepError (one line) for an unknown or renamed one."""
    if criterion in CRITERIA:
        return CRITERIA[criterion].figure
    if criterion in RENAMED_CRITERIA:
        raise CompsepError(f"criterion {criterion!r} is now called {RENAMED_CRITERIA[criterion]!r} "
                           f"(choose one of {', '.join(CRITERIA)}; min_variance is the paper's Eq. 9)")
    raise CompsepError(f"unknown criterion {criterion!r}; choose one of {', '.join(CRITERIA)}")


def information_criteria(mean_nll: float, n_parameters: int, n_data: int) -> tuple[float, float]:
    """``(AIC, BIC)`` = ``(mean_nll + 2 k, mean_nll + k ln n)``, ``mean_nll`` on the -2 ln L scale
    (the fit's NLL), k = ``n_parameters``, n = ``n_data`` (BIC is NaN when n < 1)."""
    bic = mean_nll + n_parameters * math.log(n_data) if n_data >= 1 else math.nan
    return mean_nll + 2.0 * n_parameters, bic


def usable(row: dict, metric: str = SELECTION_METRIC) -> bool:
    """True when an item may be scored: every noise realization's fit and the systematic
    (foreground-only) fit converged, and the metric is finite."""
    return (row["n_unconverged"] == 0 and bool(row.get("systematic_converged", False))
            and math.isfinite(row.get(metric, math.nan)))


def select(rows: list[dict], metric: str = SELECTION_METRIC) -> tuple[dict | None, int]:
    """The usable row of minimum ``metric`` (lowest item id on ties) and the number excluded."""
    ok = [r for r in rows if usable(r, metric)]
    best = min(ok, key=lambda r: (r[metric], r["item_id"])) if ok else None
    return best, len(rows) - len(ok)


def within_bias_cap(row: dict, max_r_bias: float) -> bool:
    """True when the item's ``r_bias`` (r_hat - sky.r) is finite and at most ``max_r_bias``."""
    return math.isfinite(row.get("r_bias", math.nan)) and row["r_bias"] <= max_r_bias


def candidates(rows: list[dict], criterion: str, max_r_bias: float = DEFAULT_MAX_R_BIAS) -> list[dict]:
    """The rows ``criterion`` may pick: usable for its figure, and under the bias cap if it has one."""
    rule = CRITERIA[criterion]
    return [r for r in rows if usable(r, rule.figure) and (not rule.bias_capped or within_bias_cap(r, max_r_bias))]


def pick(rows: list[dict], criterion: str, max_r_bias: float = DEFAULT_MAX_R_BIAS) -> dict | None:
    """The row ``criterion`` selects among ``rows``: its candidate of minimum figure (lowest item id
    on ties); None when no row qualifies."""
    figure = CRITERIA[criterion].figure
    return min(candidates(rows, criterion, max_r_bias), key=lambda r: (r[figure], r["item_id"]), default=None)


def json_float(x: Any) -> float | None:
    """A finite float, or None (JSON has no NaN)."""
    return float(x) if x is not None and math.isfinite(x) else None


def choice(row: dict | None, figures: Sequence[str], patch_keys: Sequence[str]) -> dict | None:
    """The JSON form of a picked row: its ``patch_keys`` (the model's ``K_<parameter>``, first and
    in order), its figures (None when not finite) and item id."""
    if row is None:
        return None
    return {**{k: row[k] for k in patch_keys},
            **{f: row[f] if type(row[f]) is int else json_float(row[f]) for f in figures if f in row},
            "item_id": row["item_id"]}


def pick_patch_keys(entry: dict) -> tuple[str, ...]:
    """The ``K_<parameter>`` keys of a pick's JSON form (:func:`choice`), in the model's order: a
    ``selection.json`` names its run's parameters by itself."""
    return tuple(k for k in entry if k.startswith("K_"))


def scalars(figures: dict | None) -> dict | None:
    """The JSON-able scalar figures of a combined result (spectra go to the plots)."""
    if figures is None:
        return None
    return {k: (v if isinstance(v, str) else int(v) if k == "n_pix" else json_float(float(v)))
            for k, v in figures.items() if np.ndim(v) == 0}
