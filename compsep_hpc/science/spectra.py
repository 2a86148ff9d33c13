r"""Residual BB power spectra on a sky region: apodized mask and f_sky-corrected pseudo-C_ell.

Spectra are :math:`C_\ell` (not :math:`D_\ell`) in :math:`\mu K_{CMB}^2`, indexed by
:math:`\ell = 0 \dots \ell_{max}` and set to zero below ``lmin``. Maps are HEALPix RING, Q/U in
:math:`\mu K_{CMB}`.

Estimator (pseudo-C_ell with an f_sky correction, no mode-coupling deconvolution):

.. math:: \hat C_\ell^{BB} = \frac{\tilde C_\ell^{BB}[w\,(Q, U)]}{\langle w^2 \rangle},
   \qquad \langle w^2\rangle = \frac{1}{N_{pix}}\sum_p w_p^2,

where :math:`\tilde C_\ell` is the BB power of the weighted maps: ``healpy.map2alm_spin`` (spin 2,
identical to ``anafast(pol=True, iter=0)`` with T = 0, 4x faster; healpy's default ``iter=3``
changes these spectra by < 0.2 % at :math:`\ell \le 2 n_{side}` and costs ~8x). No pixel
window or beam is divided out: the spectra are those of the pixelised maps, which is what every
residual map of this package shares (the CMB templates of the r likelihood do not carry it; the
squared pixel window lowers the power by about 30 % at :math:`\ell = 2\,n_{side}`). E-to-B leakage
is not corrected: it is small for residual maps, whose E power is comparable to their B power
(CMB E modes cancel in :math:`\hat s - s^{true}`), but it would dominate the BB of a CMB map.

Apodization (:func:`apodized_mask`): cosine taper of the angular distance :math:`d_p` from the
centre of a region pixel to the nearest centre of an out-of-region pixel bordering the region,

.. math:: w_p = \tfrac12\,[1 - \cos(\pi \min(d_p/\theta_{apo}, 1))],

zero outside the region ("C2" taper with :math:`x = d/\theta_{apo}`).
"""

from __future__ import annotations

import healpy as hp
import numpy as np

DEFAULT_MAX_APOD_DEG = 5.0
"""Largest taper width chosen by default (degrees)."""
MIN_KEPT = 0.5
"""Default fallback threshold: binary mask when sum_region(w^2) < MIN_KEPT * n_region."""


def _edge_distance(mask: np.ndarray, nside: int, radius: float) -> np.ndarray:
    """Angular distance (rad) of each region pixel to the nearest out-of-region pixel bordering it.

    Only distances below ``radius`` are computed (HEALPix ``query_disc`` around each border
    pixel, chord-to-arc ``2 arcsin(|a - b|/2)``); farther pixels get ``inf``, outside pixels 0.
    """
    inside = np.flatnonzero(mask)
    neighbours = hp.get_all_neighbours(nside, inside).ravel()
    neighbours = neighbours[neighbours >= 0]
    border = np.unique(neighbours[~mask[neighbours]])
    vec = np.asarray(hp.pix2vec(nside, np.arange(mask.size))).T
    dist = np.full(mask.size, np.inf)
    for b in border:
        idx = hp.query_disc(nside, vec[b], radius)
        chord = np.linalg.norm(vec[idx] - vec[b], axis=1)
        dist[idx] = np.minimum(dist[idx], 2.0 * np.arcsin(np.clip(0.5 * chord, 0.0, 1.0)))
    dist[~mask] = 0.0
    return dist


def apodized_mask(mask: np.ndarray, nside: int, apod_deg: float | None = None, *,
                  min_kept: float = MIN_KEPT) -> np.ndarray:
    r"""Apodized weights in [0, 1] (RING, ``(12 nside^2,)``): cosine taper inside the region.

    Args:
        mask: boolean RING map of the region.
        nside: HEALPix nside of ``mask``.
        apod_deg: taper width :math:`\theta_{apo}` in degrees (see the module docstring);
            ``0`` gives the binary mask. ``None`` (default) picks
            :math:`\theta_{apo} = \max(2\theta_{pix}, \min(5^\circ, d_{med}))`, with
            :math:`\theta_{pix} = \sqrt{4\pi/N_{pix}}` and :math:`d_{med}` the median edge
            distance of the region's pixels: 5 degrees, narrowed on thin regions (the Galactic
            bands) so that at least half of their pixels keep weight 1, never below two pixels.
        min_kept: fallback rule for tiny or thin regions: when
            :math:`\sum_{p\in R} w_p^2 < \mathrm{min\_kept}\cdot N_R` the binary mask is returned
            instead (as float). ``0`` disables the fallback.

    Returns:
        float64 weights, zero outside the region, 1 farther than :math:`\theta_{apo}` from its
        edge, and strictly positive on every region pixel (edge pixels lie about one pixel from
        the nearest outside pixel). A full-sky region gives all ones.
    """
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != (hp.nside2npix(nside),):
        raise ValueError(f"mask has shape {mask.shape}, expected ({hp.nside2npix(nside)},)")
    binary = mask.astype(np.float64)
    if not mask.any() or (apod_deg is not None and apod_deg <= 0):
        return binary
    theta_pix = np.sqrt(4.0 * np.pi / mask.size)
    if apod_deg is None:
        cap = np.radians(DEFAULT_MAX_APOD_DEG)
        dist = _edge_distance(mask, nside, max(cap, 2.0 * theta_pix))
        theta = max(2.0 * theta_pix, min(cap, float(np.median(dist[mask]))))
    else:
        theta = np.radians(float(apod_deg))
        dist = _edge_distance(mask, nside, theta)
    weights = np.where(mask, 0.5 * (1.0 - np.cos(np.pi * np.clip(dist / theta, 0.0, 1.0))), 0.0)
    if np.sum(weights**2) < min_kept * mask.sum():
        return binary
    return weights


def fsky_factors(weights: np.ndarray) -> tuple[float, float]:
    r"""``(w2, w4)``: :math:`\langle w^2\rangle` and :math:`\langle w^4\rangle` over the sphere.

    ``w2`` is the pseudo-C_ell normalisation (divide by it); :math:`w_2^2/w_4` is the effective
    sky fraction counting the modes (the ``fsky`` of the r likelihood). A binary mask gives
    ``w2 == w4 ==`` its sky fraction.
    """
    w = np.asarray(weights, dtype=np.float64)
    return float(np.mean(w**2)), float(np.mean(w**4))


def bb_spectrum(qu_region: np.ndarray, pixels: np.ndarray, nside: int, weights: np.ndarray,
                lmin: int = 2, lmax: int | None = None) -> np.ndarray:
    r"""f_sky-corrected pseudo-C_ell BB of Q/U maps given on a region's pixels.

    Args:
        qu_region: Q/U in uK_CMB, shape ``(..., 2, n_pix)``, on ``pixels``; leading axes loop.
        pixels: RING indices of the region (``n_pix``).
        nside: HEALPix nside.
        weights: full-sky weights ``(12 nside^2,)`` (e.g. :func:`apodized_mask`); only their
            values on ``pixels`` are used (in the map and in :math:`\langle w^2\rangle`).
        lmin, lmax: multipole range; ``lmax`` defaults to ``2 nside``. Output is 0 below lmin.

    Returns:
        :math:`\tilde C_\ell^{BB}/\langle w^2\rangle` in uK_CMB^2, shape ``(..., lmax + 1)``.
    """
    qu = np.asarray(qu_region, dtype=np.float64)
    pixels = np.asarray(pixels)
    npix = hp.nside2npix(nside)
    weights = np.asarray(weights, dtype=np.float64)
    if qu.ndim < 2 or qu.shape[-2:] != (2, pixels.size):
        raise ValueError(f"qu_region has shape {qu.shape}, expected (..., 2, {pixels.size})")
    if weights.shape != (npix,):
        raise ValueError(f"weights have shape {weights.shape}, expected ({npix},)")
    lmax = 2 * nside if lmax is None else int(lmax)
    w2 = float(np.sum(weights[pixels] ** 2)) / npix  # <w^2> of the weights on ``pixels``
    if w2 <= 0:
        raise ValueError("weights vanish everywhere")
    flat = qu.reshape(-1, 2, pixels.size)
    out = np.zeros((flat.shape[0], lmax + 1))
    maps = np.zeros((2, npix))
    for i, q_u in enumerate(flat):
        maps[:, pixels] = q_u * weights[pixels]
        out[i] = hp.alm2cl(hp.map2alm_spin(maps, 2, lmax=lmax)[1]) / w2
    out[:, : max(int(lmin), 0)] = 0.0
    return out.reshape(qu.shape[:-2] + (lmax + 1,))


def residual_spectra(cmb_hat: np.ndarray, cmb_true: np.ndarray, systematic_cmb: np.ndarray,
                     pixels: np.ndarray, nside: int, weights: np.ndarray,
                     lmax: int | None = None, lmin: int = 2) -> dict[str, np.ndarray]:
    r"""Systematic, total and statistical CMB residual BB spectra (physics.md, paper section 4).

    Args:
        cmb_hat: recovered CMB Q/U per noise realization, ``(n_real, 2, n_pix)``, uK_CMB.
        cmb_true: input CMB Q/U, ``(2, n_pix)``.
        systematic_cmb: CMB component recovered from the noiseless foreground-only sky,
            ``(2, n_pix)``.
        pixels, nside, weights, lmax, lmin: as in :func:`bb_spectrum`.

    Returns:
        ``{'systematic': C(systematic_cmb), 'total': mean_i C(cmb_hat_i - cmb_true),
        'statistical': total - systematic}``, each ``(lmax + 1,)`` C_ell in uK_CMB^2, zero below
        ``lmin``.
    """
    cmb_hat = np.asarray(cmb_hat, dtype=np.float64)
    if cmb_hat.ndim != 3:
        raise ValueError(f"cmb_hat has shape {cmb_hat.shape}, expected (n_real, 2, n_pix)")
    diff = cmb_hat - np.asarray(cmb_true, dtype=np.float64)[None]
    total = bb_spectrum(diff, pixels, nside, weights, lmin, lmax).mean(axis=0)
    systematic = bb_spectrum(systematic_cmb, pixels, nside, weights, lmin, lmax)
    return {"systematic": systematic, "total": total, "statistical": total - systematic}
