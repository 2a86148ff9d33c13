r"""CMB angular power spectra from CAMB and Gaussian CMB Q/U realizations.

Spectra are :math:`C_\ell` (not :math:`D_\ell = \ell(\ell+1)C_\ell/2\pi`) in
:math:`\mu K_{CMB}^2`, rows (TT, EE, BB, TE), with :math:`C_0 = C_1 = 0`.

Cosmology (Planck-2018-like): :math:`H_0 = 67.4`, :math:`\Omega_b h^2 = 0.0224`,
:math:`\Omega_c h^2 = 0.120`, :math:`\tau = 0.054`, :math:`A_s = 2.1\times10^{-9}`,
:math:`n_s = 0.965`; tensors with :math:`n_t = 0` so that the tensor part is exactly linear in r:

.. math:: C_\ell(r) = C_\ell^{\rm lensed\ scalar} + r\, C_\ell^{\rm tensor}(r=1).

One CAMB run (with non-linear lensing, ``lens_potential_accuracy=1``, and ``max_l`` 500 above the
requested range so the lensing B modes are converged to ~1 %) serves every ``lmax`` up to the next
multiple of 512, and is cached in memory. Every function that needs the spectra also takes them
explicitly (``cmb_spectra``, e.g. a run folder's stored copy): no process-wide state decides which
spectra a sky is drawn from.

Random fields are drawn with :func:`numpy.random.default_rng` (never numpy's global RNG) in
:math:`\ell`-major order, so the modes up to some :math:`\ell` of a draw do not depend on the
``lmax`` of the draw: maps of one seed at different nside share their large scales.
"""

from __future__ import annotations

import functools

import healpy as hp
import numpy as np

COSMOLOGY = {"H0": 67.4, "ombh2": 0.0224, "omch2": 0.120, "tau": 0.054}
PRIMORDIAL = {"As": 2.1e-9, "ns": 0.965}

_CMB_STREAMS = (0, 1)  # RNG stream ids of the CMB E and B modes (see ``rng_stream``)
_BUCKET = 512


def rng_stream(seed: int, stream: int) -> np.random.Generator:
    """Independent generator for one random field: ``default_rng(SeedSequence([seed, stream]))``.

    ``seed`` may be any integer (taken modulo 2**64); ``stream`` numbers the field.
    """
    return np.random.default_rng([int(seed) % 2**64, int(stream)])


@functools.lru_cache(maxsize=8)
def _camb_run(lmax_bucket: int) -> tuple[np.ndarray, np.ndarray]:
    """(lensed scalar, tensor at r=1), each ``(lmax_bucket + 1, 4)`` C_ell in uK^2 (TT,EE,BB,TE)."""
    import camb  # late import: CAMB is only needed here

    pars = camb.CAMBparams()
    pars.set_cosmology(**COSMOLOGY)
    pars.InitPower.set_params(**PRIMORDIAL, r=1.0, nt=0.0)
    pars.set_for_lmax(lmax_bucket + 500, lens_potential_accuracy=1)
    pars.WantTensors = True
    pars.max_l_tensor = lmax_bucket + 100
    pars.max_eta_k_tensor = 3.0 * pars.max_l_tensor
    results = camb.get_results(pars)
    cls = results.get_cmb_power_spectra(lmax=lmax_bucket, CMB_unit="muK", raw_cl=True)
    lensed = np.array(cls["lensed_scalar"], dtype=float)
    tensor = np.array(cls["tensor"], dtype=float)
    lensed[:2] = 0.0
    tensor[:2] = 0.0
    return lensed, tensor


CambSpectra = tuple[np.ndarray, np.ndarray]
"""(lensed scalar, tensor at r = 1), each ``(L + 1, 4)`` C_ell in uK^2 (TT, EE, BB, TE), L a
multiple of 512: what :func:`camb_spectra` returns and a run folder stores."""


def _bucket(lmax: int) -> int:
    return _BUCKET * -(-(int(lmax) + 1) // _BUCKET)


def camb_spectra(lmax: int) -> CambSpectra:
    """The CAMB output every CMB spectrum up to ``lmax`` is cut from: (lensed scalar, tensor at
    r = 1), each ``(L + 1, 4)`` C_ell in uK^2 (TT, EE, BB, TE), L = ``lmax`` rounded up to a
    multiple of 512 (the one CAMB run of that bucket, cached). What a run folder stores, so that
    later launches, other ranks and ``reduce`` draw the same CMB without running CAMB again: they
    pass that copy as ``cmb_spectra`` to the functions below."""
    if lmax < 2:
        raise ValueError(f"lmax must be at least 2, got {lmax}")
    return _camb_run(_bucket(lmax))


def check_camb_spectra(cmb_spectra: CambSpectra, lmax: int) -> CambSpectra:
    """``cmb_spectra`` as float arrays, checked: two ``(512 k + 1, 4)`` arrays reaching ``lmax``.
    Raises ValueError otherwise."""
    lensed, tensor = (np.asarray(a, dtype=float) for a in cmb_spectra)
    bucket = lensed.shape[0] - 1
    if bucket % _BUCKET or lensed.shape != (bucket + 1, 4) or tensor.shape != lensed.shape:
        raise ValueError(f"CAMB spectra of shapes {lensed.shape} and {tensor.shape}: expected ({_BUCKET}k + 1, 4)")
    if bucket < lmax:
        raise ValueError(f"CAMB spectra up to ell {bucket} do not reach lmax {lmax}")
    return lensed, tensor


def _spectra_parts(lmax: int, cmb_spectra: CambSpectra | None = None) -> CambSpectra:
    lensed, tensor = camb_spectra(lmax) if cmb_spectra is None else check_camb_spectra(cmb_spectra, lmax)
    return lensed[: lmax + 1], tensor[: lmax + 1]


def _power_spectra(lmax: int, r: float, cmb_spectra: CambSpectra | None = None) -> np.ndarray:
    lensed, tensor = _spectra_parts(lmax, cmb_spectra)
    return (lensed + r * tensor).T.copy()


@functools.lru_cache(maxsize=32)
def _power_spectra_cached(lmax: int, r: float) -> np.ndarray:
    out = _power_spectra(lmax, r)
    out.setflags(write=False)
    return out


def cmb_power_spectra(lmax: int, r: float = 0.0, cmb_spectra: CambSpectra | None = None) -> np.ndarray:
    """Lensed scalar + tensor CMB spectra, :math:`C_\\ell` in uK_CMB^2.

    Args:
        lmax: highest multipole (>= 2).
        r: tensor-to-scalar ratio (at the CAMB default pivot 0.05 Mpc^-1, :math:`n_t = 0`).
        cmb_spectra: the :func:`camb_spectra` to cut them from (e.g. a run folder's stored
            copy); None runs CAMB (once per bucket and process).

    Returns:
        Array ``(4, lmax + 1)``: TT, EE, BB, TE; zero at ell = 0, 1.
    """
    if cmb_spectra is None:
        return np.array(_power_spectra_cached(int(lmax), float(r)))
    return _power_spectra(int(lmax), float(r), cmb_spectra)


def bb_templates(lmax: int, cmb_spectra: CambSpectra | None = None) -> tuple[np.ndarray, np.ndarray]:
    """BB templates for the r likelihood, each ``(lmax + 1,)`` C_ell in uK_CMB^2, cut from
    ``cmb_spectra`` (None: CAMB's, see :func:`cmb_power_spectra`).

    Returns:
        ``(tensor, lensing)``: the unlensed tensor BB at r = 1, and the lensed scalar BB
        (lensing B modes), so that
        :math:`C_\\ell^{BB}(r) = r\\,\\mathrm{tensor} + \\mathrm{lensing}`.
    """
    lensed, tensor = _spectra_parts(int(lmax), cmb_spectra)
    return tensor[:, 2].copy(), lensed[:, 2].copy()


def gaussian_alm(cl: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Gaussian :math:`a_{\\ell m}` with power ``cl`` (shape ``(lmax + 1,)``), healpy ordering.

    :math:`\\langle|a_{\\ell m}|^2\\rangle = C_\\ell`: real and imaginary parts each have variance
    :math:`C_\\ell/2` for m > 0, and :math:`a_{\\ell 0}` is real with variance :math:`C_\\ell`.
    The normal deviates are consumed in :math:`\\ell`-major order (all m of ell = 0, then 1, ...),
    so the result up to some ell does not depend on ``lmax``.
    """
    cl = np.asarray(cl, dtype=float)
    lmax = cl.shape[0] - 1
    ell, m = hp.Alm.getlm(lmax)
    order = np.lexsort((m, ell))  # l-major position -> healpy index
    z = np.empty((ell.size, 2))
    z[order] = rng.standard_normal((ell.size, 2))
    amp = np.sqrt(np.clip(cl, 0.0, None))[ell]
    real = np.where(m == 0, z[:, 0], z[:, 0] / np.sqrt(2.0))
    imag = np.where(m == 0, 0.0, z[:, 1] / np.sqrt(2.0))
    return amp * (real + 1j * imag)


def qu_from_eb(alm_e: np.ndarray, alm_b: np.ndarray, nside: int) -> np.ndarray:
    """Q/U maps ``(2, npix)`` (RING) of E and B harmonic coefficients (healpy conventions)."""
    alm_t = np.zeros_like(alm_e)
    maps = hp.alm2map([alm_t, alm_e, alm_b], nside, pol=True)
    return np.asarray(maps[1:], dtype=float)


def gaussian_eb_qu(
    cl_ee: np.ndarray, cl_bb: np.ndarray, nside: int, rng_e: np.random.Generator,
    rng_b: np.random.Generator,
) -> np.ndarray:
    """Q/U ``(2, npix)`` of a Gaussian polarization field with spectra ``cl_ee`` and ``cl_bb``."""
    return qu_from_eb(gaussian_alm(cl_ee, rng_e), gaussian_alm(cl_bb, rng_b), nside)


def gaussian_cmb_qu(nside: int, r: float, seed: int, cmb_spectra: CambSpectra | None = None) -> np.ndarray:
    """A Gaussian CMB Q/U realization in uK_CMB, shape ``(2, 12 nside^2)``, RING ordering.

    E and B are drawn independently from :func:`cmb_power_spectra` ``(3 nside - 1, r,
    cmb_spectra)`` (``cmb_spectra`` None: CAMB's; the TE correlation is irrelevant to Q/U and
    left out), with RNG streams 0 and 1 of ``seed``
    (:func:`rng_stream`): deterministic, and numpy's global RNG is neither used nor changed.
    No pixel window or beam is applied.
    """
    cls = cmb_power_spectra(3 * nside - 1, r, cmb_spectra)
    return gaussian_eb_qu(
        cls[1], cls[2], nside, rng_stream(seed, _CMB_STREAMS[0]), rng_stream(seed, _CMB_STREAMS[1])
    )
