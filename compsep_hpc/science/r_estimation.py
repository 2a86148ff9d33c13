r"""Tensor-to-scalar ratio from residual BB bandpowers: the r likelihood of physics.md on bins.

All spectra are bandpowers :math:`C_b` in :math:`\mu K_{CMB}^2` (C_ell binned by the region's
MASTER estimator, science/coupling.py), arrays of shape ``(n_bins,)``:

.. math::
   -2\ln L(r) = \sum_b \nu_b
       \left[\frac{C_b^{obs}}{C_b^{model}(r)} + \ln C_b^{model}(r)\right],

   C_b^{model}(r) = r\,T_b + A_{lens} L_b + C_b^{stat},\qquad
   C_b^{obs} = r_{in} T_b + A_{lens} L_b + C_b^{res},

with :math:`T_b, L_b` the tensor (r = 1) and lensing BB templates put through the bandpower
windows (``coupling.binned_model``), :math:`A_{lens}` the lensing amplitude (``spectra.A_lens``),
:math:`C^{res}` the total residual (systematic + statistical, or one realization's residual) and
:math:`C^{stat}` the statistical residual, and :math:`\nu_b` the modes of bin b,
:math:`\nu_b = f_{sky,eff}\sum_{\ell\in b}(2\ell+1)`, :math:`f_{sky,eff} = w_2^2/w_4`
(``bandpowers.mode_counts``). One multipole per bin with :math:`\nu_\ell = f_{sky}(2\ell+1)` is
the unbinned likelihood.

Estimates (:func:`estimate_r`), with :math:`P(r) \propto L(r)` for :math:`r \ge 0` (flat prior):

- ``r_hat``: maximum of L on r >= 0 (exact root of :math:`d(-2\ln L)/dr`, or 0 at the boundary).
- ``sigma_r``: upper 68 % width,
  :math:`\int_{\hat r}^{\hat r+\sigma_r} P = 0.6827\int_{\hat r}^\infty P`
  (a Gaussian gives its :math:`\sigma`; for :math:`\hat r = 0` it is the 68 % upper limit).
  ``sigma_minus`` is the same below,
  :math:`\int_{\hat r-\sigma_-}^{\hat r} P = 0.6827\int_0^{\hat r} P` (0 when r_hat = 0).
- ``r_upper`` = ``r_hat + sigma_r`` (the selection metric);
  ``r_95``: :math:`\int_0^{r_{95}} P = 0.95`.

Grid: a linear grid on :math:`[0, r_{max}]`, :math:`r_{max}` growing 4x from 10 Fisher widths
until :math:`-2\ln L` at :math:`r_{max}` exceeds its grid minimum by ``delta``(25); then twice a
linear grid of ``n_fine`` points on the span where :math:`-2\ln L < \min + \delta` (plus one
step each side, never below 0), with ``r_hat`` inserted. Integrals are trapezoidal; the
neglected tails hold less than :math:`e^{-\delta/2}` of the mass.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

SIGMA_LEVEL = 0.6827
"""Probability of the 68 % intervals (Gaussian one sigma)."""
UPPER_LEVEL = 0.95
"""Probability below ``r_95``."""


class RResult(NamedTuple):
    """Output of :func:`estimate_r`; see the module docstring for the definitions."""

    r_hat: float
    sigma_r: float
    sigma_minus: float
    r_upper: float
    r_95: float
    r_grid: np.ndarray
    neg2_log_like: np.ndarray
    posterior: np.ndarray
    """Normalised density P(r) on ``r_grid`` (trapezoidal integral 1)."""


def _bandpowers(*spectra: np.ndarray) -> list[np.ndarray]:
    out = [np.asarray(c, dtype=np.float64) for c in spectra]
    if any(c.ndim != 1 or c.shape != out[0].shape for c in out):
        raise ValueError(f"bandpowers must share one 1-d shape, got {[c.shape for c in out]}")
    return out


def neg2_log_likelihood(r: np.ndarray, c_obs: np.ndarray, c_tensor: np.ndarray, c_lens: np.ndarray,
                        c_stat: np.ndarray, n_modes: np.ndarray, a_lens: float = 1.0) -> np.ndarray:
    """-2 ln L(r) of the module docstring for every value of ``r`` (any shape, same shape out).

    Bandpowers ``c_*`` and mode counts ``n_modes`` are ``(n_bins,)``, uK_CMB^2; ``a_lens`` scales
    ``c_lens`` in the model. Where some :math:`C_b^{model}(r) \\le 0` the result is ``+inf``.
    """
    r = np.asarray(r, dtype=np.float64)
    obs, ct, cl, cs, nu = _bandpowers(c_obs, c_tensor, c_lens, c_stat, n_modes)
    model = r[..., None] * ct + (a_lens * cl + cs)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = nu * (obs / model + np.log(model))
    out = terms.sum(axis=-1)
    return np.where(np.all(model > 0, axis=-1), out, np.inf)


def _slope(r: float, obs: np.ndarray, ct: np.ndarray, base: np.ndarray, nu: np.ndarray) -> float:
    """d(-2 ln L)/dr = sum_b nu_b T_b (1/M_b - O_b/M_b^2)."""
    model = r * ct + base
    return float(np.sum(nu * ct * (model - obs) / model**2))


def _span(grid: np.ndarray, chi: np.ndarray, delta: float) -> tuple[float, float]:
    """Grid span where chi < min + delta, widened by one grid step on each side."""
    idx = np.flatnonzero(chi < np.min(chi) + delta)
    return float(grid[max(idx[0] - 1, 0)]), float(grid[min(idx[-1] + 1, grid.size - 1)])


def estimate_r(c_res_total: np.ndarray, c_stat: np.ndarray, c_tensor: np.ndarray, c_lens: np.ndarray,
               n_modes: np.ndarray, *, r_in: float = 0.0, a_lens: float = 1.0, n_coarse: int = 512,
               n_fine: int = 4000, delta: float = 25.0) -> RResult:
    r"""Maximum-likelihood r and its 68 %/95 % bounds (module docstring), r >= 0.

    Args:
        c_res_total: residual added to the observed bandpowers (total residual), uK_CMB^2, ``(n_bins,)``.
        c_stat: statistical residual carried by the model, uK_CMB^2.
        c_tensor, c_lens: windowed BB templates (tensor at r = 1, lensing), uK_CMB^2.
        n_modes: modes per bin :math:`
u_b`.
        r_in: input r of the observed spectrum; a_lens: lensing amplitude (observed and model).
        n_coarse, n_fine, delta: grid controls (module docstring).
    """
    res, stat, ct, cl, nu = _bandpowers(c_res_total, c_stat, c_tensor, c_lens, n_modes)
    if np.any(nu <= 0) or a_lens < 0:
        raise ValueError("need n_modes > 0 and a_lens >= 0")
    obs = r_in * ct + a_lens * cl + res
    base = a_lens * cl + stat
    if np.any(base <= 0) or np.any(ct < 0) or not np.any(ct > 0):
        raise ValueError("need A_lens C_lens + C_stat > 0, C_tensor >= 0 and not all zero")

    def chi2(r: np.ndarray) -> np.ndarray:
        return neg2_log_likelihood(r, obs, ct, cl, stat, nu, a_lens)

    r_max = 10.0 * np.sqrt(2.0 / np.sum(nu * (ct / base) ** 2))  # 10 Fisher widths
    grid, chi = _likelihood_grid(chi2, r_max, n_coarse, n_fine, delta)
    r_hat = _exact_minimum(grid, chi, lambda r: _slope(r, obs, ct, base, nu))
    grid = np.union1d(grid, [r_hat])
    chi = chi2(grid)
    return _posterior_figures(grid, chi, np.exp(-0.5 * (chi - chi2(np.array(r_hat)))), r_hat)


def _likelihood_grid(chi2, r_max: float, n_coarse: int, n_fine: int, delta: float) -> tuple[np.ndarray, np.ndarray]:
    """The grid of the module docstring and -2 ln L on it: r_max grown 4x until L falls by
    ``delta`` at its end, then two refinements on the span where -2 ln L < min + delta."""
    for _ in range(64):
        grid = np.linspace(0.0, r_max, n_coarse)
        chi = chi2(grid)
        if chi[-1] > chi.min() + delta:
            break
        r_max *= 4.0
    else:
        raise ValueError("the r likelihood does not fall off: check the spectra")
    for _ in range(2):  # two refinements: the second grid no longer depends on the coarse one
        grid = np.linspace(*_span(grid, chi, delta), n_fine)
        chi = chi2(grid)
    return grid, chi


def _exact_minimum(grid: np.ndarray, chi: np.ndarray, slope) -> float:
    """The grid minimum refined by bisection on the slope when it is interior (machine precision)."""
    i = int(np.argmin(chi))
    lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, grid.size - 1)]
    r_hat = float(grid[i])
    if slope(lo) < 0 < slope(hi):
        for _ in range(200):
            mid = 0.5 * (lo + hi)
            if mid in (lo, hi):
                break
            lo, hi = (mid, hi) if slope(mid) < 0 else (lo, mid)
        r_hat = 0.5 * (lo + hi)
    return r_hat


def _posterior_figures(grid: np.ndarray, chi: np.ndarray, like: np.ndarray, r_hat: float) -> RResult:
    """sigma_r, sigma_minus and r_95 from trapezoidal integrals of L on ``grid`` (which holds r_hat)."""
    cum = np.concatenate([[0.0], np.cumsum(0.5 * (like[1:] + like[:-1]) * np.diff(grid))])
    j = int(np.searchsorted(grid, r_hat))
    c_hat, total = cum[j], cum[-1]
    r_hi = np.interp(c_hat + SIGMA_LEVEL * (total - c_hat), cum, grid)
    r_lo = np.interp(c_hat * (1.0 - SIGMA_LEVEL), cum, grid) if j > 0 else r_hat
    r_95 = float(np.interp(UPPER_LEVEL * total, cum, grid))
    sigma = float(r_hi - r_hat)
    return RResult(r_hat, sigma, float(r_hat - r_lo), r_hat + sigma, r_95, grid, chi, like / total)
