r"""Mode coupling of an apodized mask for spin-2 fields, and the MASTER bandpower estimator.

Pseudo-spectra :math:`\tilde C_\ell` of the weighted maps :math:`w\,(Q, U)` have the expectation
(Hivon et al. 2002; Kogut et al. 2003)

.. math::
   \langle\tilde C^{EE}_\ell\rangle = \sum_{\ell'} M^{++}_{\ell\ell'} C^{EE}_{\ell'} + M^{--}_{\ell\ell'} C^{BB}_{\ell'},
   \qquad
   \langle\tilde C^{BB}_\ell\rangle = \sum_{\ell'} M^{--}_{\ell\ell'} C^{EE}_{\ell'} + M^{++}_{\ell\ell'} C^{BB}_{\ell'},

i.e. :math:`\langle\tilde{\mathbf C}\rangle = \mathbf M \mathbf C` on the stacked vector
:math:`(C^{EE}, C^{BB})` with :math:`\mathbf M = [[M^{++}, M^{--}], [M^{--}, M^{++}]]`;
:math:`M^{--}` is the E-to-B leakage. ``ducc0.misc.experimental.coupling_matrix_rect`` (optype 4)
computes :math:`M^{\pm\pm}_{\ell\ell'}/(2\ell'+1)` from the mask's power spectrum
:math:`W_\ell = \sum_m |w_{\ell m}|^2/(2\ell+1)` (``healpy.anafast`` of the weights), with
:math:`\ell, \ell'` from 0; :func:`spin2_coupling` multiplies the columns by :math:`2\ell'+1`
(checked in the tests: a full-sky mask gives the identity and no leakage).

Bandpowers (NaMaster's convention), with :math:`P, Q` the binning operators of bandpowers.py
applied to E and B alike:

.. math:: \hat{\mathbf C}_b = (P\mathbf M Q)^{-1} P\,\tilde{\mathbf C},
   \qquad \langle\hat{\mathbf C}_b\rangle = \mathcal W\,\mathbf C,\quad
   \mathcal W = (P\mathbf M Q)^{-1} P\mathbf M,

so the deconvolution removes the EE-to-BB leakage in the mean; :math:`\mathcal W` (bandpower
window functions) puts model spectra through the same estimator. :math:`\mathcal W Q = 1` on the
reported bins (a spectrum flat in :math:`D_\ell` over each bin comes out as its bandpowers, with
no BB from EE), but the rows of :math:`\mathcal W^{BB\leftarrow BB}` do not sum to 1: they
weight each multipole by the coupling, and sum to 0.84-1.00 on the GAL halves (a flat
:math:`C_\ell` is not flat in :math:`D_\ell`, and part of the weight falls on the nuisance bins).
The coupling depends only on the weights, the binning and the estimator: one per region and run.

Estimators (``spectra.estimator``): ``master``, the pseudo-spectra of :math:`w\,(Q, U)` and
ducc0's :math:`\mathbf M` above; ``pure_b``, NaMaster's purified pseudo-spectra and their
:math:`\mathbf M` (purification.py), through the same binning and windows.
"""

from __future__ import annotations

from typing import NamedTuple

import healpy as hp
import numpy as np
import ducc0
from ducc0.misc.experimental import coupling_matrix_rect

from compsep_hpc.science.apodization import fsky_factors
from compsep_hpc.science.bandpowers import Binning, binning_operators


class BandpowerCoupling(NamedTuple):
    """A region's bandpower estimator (MASTER or pure-B) for its reported BB bandpowers (n_rep of them).

    ``estimator`` ``(n_rep, 2 (lmax_pseudo + 1))`` maps the stacked pseudo-spectra
    :math:`(\\tilde C^{EE}, \\tilde C^{BB})` to BB bandpowers; ``window_bb_bb`` and
    ``window_bb_ee`` ``(n_rep, lmax_pseudo + 1)`` give their expectation from true
    :math:`C^{BB}_\\ell` and :math:`C^{EE}_\\ell`; ``binned_coupling`` is :math:`P\\mathbf M Q`
    ``(2 n_bins, 2 n_bins)``; ``w2``, ``w4`` the weights' moments (apodization.fsky_factors);
    ``purify_b`` which pseudo-spectra ``estimator`` takes (False: MASTER's, True: pure-B).
    """

    edges: np.ndarray
    first: int
    n_reported: int
    binned_coupling: np.ndarray
    estimator: np.ndarray
    window_bb_bb: np.ndarray
    window_bb_ee: np.ndarray
    w2: float
    w4: float
    purify_b: bool = False
    """True: the pure-B estimator (bandpowers from purification.pure_pseudo_spectra)."""

    @property
    def binning(self) -> Binning:
        return Binning(self.edges, self.first, self.n_reported)

    @property
    def fsky_eff(self) -> float:
        """:math:`w_2^2/w_4`, the sky fraction counting the modes."""
        return self.w2**2 / self.w4


def mask_power(weights: np.ndarray, lmax: int) -> np.ndarray:
    r""":math:`W_\ell`, :math:`\ell = 0..` ``lmax``, of full-sky RING ``weights``: ``healpy.map2alm(iter=0)``
    computed by ducc0's adjoint synthesis (:math:`4\pi/N_{pix}` times it), which, unlike healpy,
    runs quietly beyond :math:`\ell = 4 n_{side}`."""
    weights = np.asarray(weights, dtype=np.float64)
    geometry = ducc0.healpix.Healpix_Base(hp.npix2nside(weights.size), "RING").sht_info()
    alm = ducc0.sht.adjoint_synthesis(map=weights[None], lmax=lmax, spin=0, nthreads=1, **geometry)[0]
    return hp.alm2cl(alm * (4.0 * np.pi / weights.size))


def spin2_coupling(weights: np.ndarray, lmax_pseudo: int) -> tuple[np.ndarray, np.ndarray]:
    r"""``(M++, M--)``, each ``(lmax_pseudo + 1, lmax_pseudo + 1)`` indexed from :math:`\ell = 0`
    (module docstring); the mask's power is taken to :math:`2\,\ell_{pseudo}`."""
    out = np.zeros((2, lmax_pseudo + 1, lmax_pseudo + 1))
    coupling_matrix_rect(mask_power(weights, 2 * lmax_pseudo)[None, :], (4,), out, nthreads=1)
    out *= (2.0 * np.arange(lmax_pseudo + 1) + 1.0)[None, None, :]
    return out[0], out[1]


def joint_coupling(m_pp: np.ndarray, m_mm: np.ndarray) -> np.ndarray:
    """:math:`\\mathbf M` of the stacked (EE, BB) spectra, ``(2 L, 2 L)`` for ``(L, L)`` inputs."""
    return np.block([[m_pp, m_mm], [m_mm, m_pp]])


def bandpower_coupling(weights: np.ndarray, binning: Binning, estimator: str = "master") -> BandpowerCoupling:
    """The estimator (``master`` or ``pure_b``, module docstring) and windows of the reported BB
    bins of ``binning`` for ``weights`` (full-sky RING weights, e.g. apodization.apodized_mask)."""
    lp = binning.lmax_pseudo
    if estimator == "pure_b":
        from compsep_hpc.science.purification import pure_b_coupling

        m_joint = pure_b_coupling(weights, lp)
    elif estimator == "master":
        m_joint = joint_coupling(*spin2_coupling(weights, lp))
    else:
        raise ValueError(f"estimator must be master or pure_b, got {estimator!r}")
    p, q = binning_operators(binning)
    zero_p, zero_q = np.zeros_like(p), np.zeros_like(q)
    p_joint = np.block([[p, zero_p], [zero_p, p]])
    q_joint = np.block([[q, zero_q], [zero_q, q]])
    binned = p_joint @ m_joint @ q_joint
    inverse = np.linalg.inv(binned)
    bb_rows = binning.n_bins + np.arange(binning.first, binning.first + binning.n_reported)
    rows = inverse[bb_rows] @ p_joint
    windows = rows @ m_joint
    w2, w4 = fsky_factors(weights)
    return BandpowerCoupling(binning.edges, binning.first, binning.n_reported, binned, rows,
                             windows[:, lp + 1:], windows[:, : lp + 1], w2, w4, estimator == "pure_b")


def binned_model(coupling: BandpowerCoupling, cl_bb: np.ndarray, cl_ee: np.ndarray | None = None) -> np.ndarray:
    r"""Expected BB bandpowers ``(..., n_rep)`` of model spectra :math:`C^{BB}_\ell` (and
    :math:`C^{EE}_\ell`, default 0), ``(..., >= lmax_pseudo + 1)`` uK_CMB^2 from :math:`\ell = 0`:
    :math:`\mathcal W^{BB\leftarrow BB} C^{BB} + \mathcal W^{BB\leftarrow EE} C^{EE}`."""
    n = coupling.window_bb_bb.shape[1]
    cl_bb = np.asarray(cl_bb, dtype=np.float64)
    if cl_bb.shape[-1] < n:
        raise ValueError(f"model spectrum of length {cl_bb.shape[-1]} does not reach lmax_pseudo = {n - 1}")
    out = cl_bb[..., :n] @ coupling.window_bb_bb.T
    if cl_ee is not None:
        out = out + np.asarray(cl_ee, dtype=np.float64)[..., :n] @ coupling.window_bb_ee.T
    return out
