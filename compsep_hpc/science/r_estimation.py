r"""Tensor-to-scalar ratio from residual BB spectra: the r likelihood of physics.md.

All spectra are :math:`C_\ell` in :math:`\mu K_{CMB}^2`, arrays indexed by :math:`\ell` from 0.

.. math::
   -2\ln L(r) = f_{sky} \sum_{\ell=\ell_{min}}^{\ell_{max}} (2\ell+1)
       \left[\frac{C_\ell^{obs}}{C_\ell^{model}(r)} + \ln C_\ell^{model}(r)\right],

   C_\ell^{model}(r) = r\,C_\ell^{tensor} + C_\ell^{lens} + C_\ell^{stat},\qquad
   C_\ell^{obs} = r_{in} C_\ell^{tensor} + C_\ell^{lens} + C_\ell^{res},

with :math:`C^{tensor}` the tensor BB at r = 1 and :math:`C^{lens}` the lensing BB
(:func:`compsep_hpc.sky.cmb.bb_templates`), :math:`C^{res}` the total residual (systematic +
statistical) and :math:`C^{stat}` the statistical residual
(:func:`compsep_hpc.science.spectra.residual_spectra`).

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


def _band(c: np.ndarray, lmin: int, lmax: int) -> np.ndarray:
    c = np.asarray(c, dtype=np.float64)
    if c.ndim != 1 or c.size <= lmax:
        raise ValueError(f"spectrum of shape {c.shape} does not reach lmax = {lmax}")
    return c[lmin: lmax + 1]


def neg2_log_likelihood(r: np.ndarray, c_obs: np.ndarray, c_tensor: np.ndarray,
                        c_lens: np.ndarray, c_stat: np.ndarray, fsky: float, lmin: int,
                        lmax: int) -> np.ndarray:
    """-2 ln L(r) of the module docstring for every value of ``r`` (any shape, same shape out).

    Spectra are ``(>= lmax + 1,)`` C_ell in uK_CMB^2 indexed from ell = 0. Where some
    :math:`C_\\ell^{model}(r) \\le 0` the result is ``+inf``.
    """
    r = np.asarray(r, dtype=np.float64)
    ell = np.arange(lmin, lmax + 1)
    obs, ct = _band(c_obs, lmin, lmax), _band(c_tensor, lmin, lmax)
    base = _band(c_lens, lmin, lmax) + _band(c_stat, lmin, lmax)
    model = r[..., None] * ct + base
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = (2 * ell + 1) * (obs / model + np.log(model))
    out = fsky * terms.sum(axis=-1)
    return np.where(np.all(model > 0, axis=-1), out, np.inf)


def _slope(r: float, obs: np.ndarray, ct: np.ndarray, base: np.ndarray, a: np.ndarray) -> float:
    """d(-2 ln L)/dr / fsky = sum a C_t (1/M - O/M^2)."""
    model = r * ct + base
    return float(np.sum(a * ct * (model - obs) / model**2))


def _span(grid: np.ndarray, chi: np.ndarray, delta: float) -> tuple[float, float]:
    """Grid span where chi < min + delta, widened by one grid step on each side."""
    idx = np.flatnonzero(chi < np.min(chi) + delta)
    return float(grid[max(idx[0] - 1, 0)]), float(grid[min(idx[-1] + 1, grid.size - 1)])


def estimate_r(c_res_total: np.ndarray, c_stat: np.ndarray, c_tensor: np.ndarray,
               c_lens: np.ndarray, fsky: float, *, r_in: float = 0.0, lmin: int = 2,
               lmax: int | None = None, n_coarse: int = 512, n_fine: int = 4000,
               delta: float = 25.0) -> RResult:
    r"""Maximum-likelihood r and its 68 %/95 % bounds (module docstring), r >= 0.

    Args:
        c_res_total: residual added to the observed spectrum (total residual), uK_CMB^2.
        c_stat: statistical residual carried by the model, uK_CMB^2.
        c_tensor, c_lens: BB templates (tensor at r = 1, lensing), uK_CMB^2.
        fsky: sky fraction of the mode count (e.g. :math:`w_2^2/w_4` of the weights).
        r_in: input r of the observed spectrum.
        lmin, lmax: multipole range; ``lmax`` defaults to the shortest spectrum's last ell.
        n_coarse, n_fine, delta: grid controls (module docstring).
    """
    specs = [np.asarray(c, dtype=np.float64) for c in (c_res_total, c_stat, c_tensor, c_lens)]
    lmax = min(c.size for c in specs) - 1 if lmax is None else int(lmax)
    if not 0 <= lmin <= lmax or fsky <= 0:
        raise ValueError(f"need 0 <= lmin <= lmax and fsky > 0, got {lmin}, {lmax}, {fsky}")
    res, stat, ct, cl = (c[: lmax + 1] for c in specs)
    c_obs = r_in * ct + cl + res
    obs, stat_band, ct_band, cl_band = (_band(c, lmin, lmax) for c in (c_obs, stat, ct, cl))
    base = cl_band + stat_band
    a = 2.0 * np.arange(lmin, lmax + 1) + 1.0
    if np.any(base <= 0) or np.any(ct_band < 0) or not np.any(ct_band > 0):
        raise ValueError("need C_lens + C_stat > 0, C_tensor >= 0 and not all zero")

    def chi2(r: np.ndarray) -> np.ndarray:
        return neg2_log_likelihood(r, c_obs, ct, cl, stat, fsky, lmin, lmax)

    r_max = 10.0 * np.sqrt(2.0 / (fsky * np.sum(a * (ct_band / base) ** 2)))  # 10 Fisher widths
    grid, chi = _likelihood_grid(chi2, r_max, n_coarse, n_fine, delta)
    r_hat = _exact_minimum(grid, chi, lambda r: _slope(r, obs, ct_band, base, a))
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
