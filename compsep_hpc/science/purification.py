r"""Pure-B pseudo-spectra and their mode coupling (Smith 2006), computed by NaMaster (``pymaster``).

A cut sky mixes E into B: with the plain weighted maps :math:`w\,(Q, U)` the pseudo-BB carries
:math:`M^{--} C^{EE}`, which MASTER removes in the mean (coupling.py) but whose variance stays in
the bandpowers. The pure-B estimator takes B from the window-weighted *B-mode* operator instead,

.. math:: \tilde B_{\ell m} = \int \left[w\,\bar\eth^2 + 2\,\bar\eth w\,\bar\eth + \bar\eth^2 w\right] P\,
          Y^{*}_{\ell m}\,d\Omega,

whose leakage from E vanishes for a window whose value and first derivative vanish at the edge
(a smooth taper, apodization.py): the E-to-B part of the coupling then nearly drops out of the
variance. NaMaster builds the fields (``NmtField(weights, [Q, U], purify_b=True)``, the weights'
spin-1 and spin-2 derivatives taken in harmonic space) and their exact coupling matrix
(``NmtWorkspace``); this module reads that matrix in the package's layout and leaves the binning
and the bandpower windows to coupling.py, so ``master`` and ``pure_b`` bandpowers share bins,
binning operators and the r likelihood.

Layout: NaMaster stores the spin-2 x spin-2 coupling with index :math:`4\ell + i`,
:math:`i \in (EE, EB, BE, BB)`; parity keeps (EE, BB) apart from (EB, BE), so the (EE, BB) rows
and columns form the package's stacked ``(2 L, 2 L)`` matrix :math:`\mathbf M`, :math:`L =`
``lmax_pseudo + 1`` (for ``purify_b=False`` it equals coupling.joint_coupling of ducc0's
:math:`M^{++}, M^{--}`, a check in the tests).

Without ``pymaster`` (it builds from source: ``scripts/install_namaster.sh``) the estimator is
refused with one line (science/config.py :func:`require_pymaster`).
"""

from __future__ import annotations

import numpy as np

from compsep_hpc.science.config import require_pymaster

_EE, _BB, _N_SPECTRA = 0, 3, 4


def _field(nmt, weights: np.ndarray, qu_full: np.ndarray | None, lmax_pseudo: int):
    """A spin-2 NaMaster field of full-sky RING ``qu_full`` ``(2, 12 nside^2)`` (None: mask only)
    weighted by ``weights``, B purified."""
    return nmt.NmtField(weights, None if qu_full is None else list(qu_full), spin=2, purify_b=True,
                        lmax=lmax_pseudo)


def pure_b_coupling(weights: np.ndarray, lmax_pseudo: int) -> np.ndarray:
    r""":math:`\mathbf M` of the purified (EE, BB) pseudo-spectra, ``(2 L, 2 L)``, :math:`L =`
    ``lmax_pseudo + 1``, from :math:`\ell = 0` (module docstring): :math:`\langle(\tilde C^{EE},
    \tilde C^{BB})\rangle = \mathbf M\,(C^{EE}, C^{BB})` for the fields of :func:`pure_pseudo_spectra`."""
    nmt = require_pymaster()
    weights = np.asarray(weights, dtype=np.float64)
    field = _field(nmt, weights, None, lmax_pseudo)
    binning = nmt.NmtBin.from_lmax_linear(lmax_pseudo, 10)  # the unbinned matrix does not depend on it
    workspace = nmt.NmtWorkspace.from_fields(field, field, binning)
    full = np.asarray(workspace.get_coupling_matrix())
    n = lmax_pseudo + 1
    if full.shape != (_N_SPECTRA * n, _N_SPECTRA * n):
        raise ValueError(f"NaMaster coupling of shape {full.shape}, expected {(_N_SPECTRA * n,) * 2}")
    idx = np.concatenate([_N_SPECTRA * np.arange(n) + _EE, _N_SPECTRA * np.arange(n) + _BB])
    return full[np.ix_(idx, idx)]


def pure_pseudo_spectra(qu_region: np.ndarray, pixels: np.ndarray, weights: np.ndarray,
                        lmax_pseudo: int) -> np.ndarray:
    r"""Purified pseudo-spectra :math:`(\tilde C^{EE}_\ell, \tilde C^{BB}_\ell)` of Q/U maps.

    Args: as spectra.pseudo_spectra (Q/U uK_CMB ``(..., 2, n_pix)`` on ``pixels``, full-sky
    ``weights``). Returns uK_CMB^2 ``(..., 2, lmax_pseudo + 1)``, EE then BB, no normalisation
    (NaMaster's coupled spectra: :math:`\sum_m |a_{\ell m}|^2/(2\ell+1)`).
    """
    nmt = require_pymaster()
    qu = np.asarray(qu_region, dtype=np.float64)
    weights = np.asarray(weights, dtype=np.float64)
    if qu.ndim < 2 or qu.shape[-2:] != (2, np.size(pixels)):
        raise ValueError(f"qu_region has shape {qu.shape}, expected (..., 2, {np.size(pixels)})")
    flat = qu.reshape(-1, 2, np.size(pixels))
    out = np.zeros((flat.shape[0], 2, lmax_pseudo + 1))
    maps = np.zeros((2, weights.size))
    for i, q_u in enumerate(flat):
        maps[:, pixels] = q_u
        field = _field(nmt, weights, maps, lmax_pseudo)
        cl = nmt.compute_coupled_cell(field, field)
        out[i] = cl[_EE], cl[_BB]
    return out.reshape(qu.shape[:-2] + (2, lmax_pseudo + 1))
