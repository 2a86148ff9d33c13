r"""Residual BB bandpowers on a sky region: pseudo-spectra of the apodized maps, deconvolved of
the mask's mode coupling and of the E-to-B leakage (MASTER or pure-B, coupling.py).

Spectra are :math:`C_\ell` (not :math:`D_\ell`) in :math:`\mu K_{CMB}^2`; maps are HEALPix RING,
Q/U in :math:`\mu K_{CMB}`, given on a region's pixels and weighted by its apodized mask
(apodization.py). Pseudo-spectra come from ``healpy.map2alm_spin`` (spin 2, ``iter=0``) to
:math:`\ell_{pseudo} = 3 n_{side} - 1`; the BB bandpowers of the region's reported bins
(bandpowers.py) are :math:`\hat C_b = E\,(\tilde C^{EE}, \tilde C^{BB})` with the region's
estimator :math:`E` (coupling.BandpowerCoupling), unbiased for any (EE, BB) pair of Gaussian
spectra (``scripts/validate_spectra.py``).

No pixel window or beam is divided out: the skies are synthesised at the run nside by
``alm2map`` (point-sampled, band-limited maps carry no pixel window, like the CAMB templates).

With ``spectra.estimator: pure_b`` the pseudo-spectra are NaMaster's purified ones
(purification.py) and :math:`E` their estimator: the E-to-B leakage then leaves the variance too,
not only the mean (README, "Residual spectra").
"""

from __future__ import annotations

import healpy as hp
import numpy as np

from compsep_hpc.science.coupling import BandpowerCoupling


def pseudo_spectra(qu_region: np.ndarray, pixels: np.ndarray, weights: np.ndarray, lmax_pseudo: int) -> np.ndarray:
    r"""Pseudo-spectra :math:`(\tilde C^{EE}_\ell, \tilde C^{BB}_\ell)` of the weighted maps.

    Args:
        qu_region: Q/U in uK_CMB, shape ``(..., 2, n_pix)``, on ``pixels``; leading axes loop.
        pixels: RING indices of the region (``n_pix``).
        weights: full-sky weights ``(12 nside^2,)``; only their values on ``pixels`` are used.
        lmax_pseudo: last multipole.

    Returns:
        uK_CMB^2, shape ``(..., 2, lmax_pseudo + 1)`` (EE then BB), no normalisation.
    """
    qu = np.asarray(qu_region, dtype=np.float64)
    pixels = np.asarray(pixels)
    weights = np.asarray(weights, dtype=np.float64)
    npix = weights.size
    hp.npix2nside(npix)  # raises on a size that is no HEALPix map
    if qu.ndim < 2 or qu.shape[-2:] != (2, pixels.size):
        raise ValueError(f"qu_region has shape {qu.shape}, expected (..., 2, {pixels.size})")
    flat = qu.reshape(-1, 2, pixels.size)
    out = np.zeros((flat.shape[0], 2, lmax_pseudo + 1))
    maps = np.zeros((2, npix))
    for i, q_u in enumerate(flat):
        maps[:, pixels] = q_u * weights[pixels]
        alm_e, alm_b = hp.map2alm_spin(maps, 2, lmax=lmax_pseudo)
        out[i] = hp.alm2cl(alm_e), hp.alm2cl(alm_b)
    return out.reshape(qu.shape[:-2] + (2, lmax_pseudo + 1))


def bb_bandpowers(qu_region: np.ndarray, pixels: np.ndarray, weights: np.ndarray,
                  coupling: BandpowerCoupling) -> np.ndarray:
    r"""BB bandpowers (uK_CMB^2, ``(..., n_reported)``) of Q/U maps ``(..., 2, n_pix)`` on
    ``pixels``, weighted by ``weights``, the region's mask of ``coupling``: MASTER, or pure-B
    when ``coupling.purify_b``."""
    lmax_pseudo = coupling.window_bb_bb.shape[1] - 1
    if coupling.purify_b:
        from compsep_hpc.science.purification import pure_pseudo_spectra

        pseudo = pure_pseudo_spectra(qu_region, pixels, weights, lmax_pseudo)
    else:
        pseudo = pseudo_spectra(qu_region, pixels, weights, lmax_pseudo)
    return pseudo.reshape(pseudo.shape[:-2] + (-1,)) @ coupling.estimator.T


def residual_spectra(cmb_hat: np.ndarray, cmb_true: np.ndarray, systematic_cmb: np.ndarray,
                     pixels: np.ndarray, weights: np.ndarray, coupling: BandpowerCoupling) -> dict[str, np.ndarray]:
    r"""Systematic, total and statistical CMB residual BB bandpowers (physics.md, paper section 4).

    Args:
        cmb_hat: recovered CMB Q/U per noise realization, ``(n_real, 2, n_pix)``, uK_CMB.
        cmb_true: input CMB Q/U, ``(2, n_pix)``.
        systematic_cmb: CMB component recovered from the noiseless foreground-only sky, ``(2, n_pix)``.
        pixels, weights, coupling: as in :func:`bb_bandpowers`.

    Returns:
        ``{'systematic': B(systematic_cmb), 'per_realization': B(cmb_hat_i - cmb_true)
        (n_real, n_reported), 'total': its mean over i, 'statistical': total - systematic}``,
        bandpowers in uK_CMB^2 (each ``(n_reported,)`` but ``per_realization``).
    """
    cmb_hat = np.asarray(cmb_hat, dtype=np.float64)
    if cmb_hat.ndim != 3:
        raise ValueError(f"cmb_hat has shape {cmb_hat.shape}, expected (n_real, 2, n_pix)")
    diff = cmb_hat - np.asarray(cmb_true, dtype=np.float64)[None]
    per_realization = bb_bandpowers(diff, pixels, weights, coupling)
    total = per_realization.mean(axis=0)
    systematic = bb_bandpowers(systematic_cmb, pixels, weights, coupling)
    return {"systematic": systematic, "total": total, "statistical": total - systematic,
            "per_realization": per_realization}
