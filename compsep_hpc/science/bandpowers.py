r"""Bandpower binning of the residual BB spectra: bin edges, the lmin of a region, mode counts.

Multipoles are grouped in bins :math:`b = [\ell_b, \ell_{b+1})` of width :math:`\Delta\ell`
(``spectra.delta_ell``, 10 at every nside: the width the mode coupling of the package's regions
needs, see the README). The *reported* bins tile :math:`[\ell_{min}, \ell_{max}]`; the
deconvolution also solves for *nuisance* bins below (:math:`[2, \ell_{min})`, the modes larger
than the region) and above (:math:`(\ell_{max}, \ell_{pseudo}]`, :math:`\ell_{pseudo} = 3 n_{side} - 1`,
the modes the maps carry beyond :math:`\ell_{max}`), which couple into the reported ones and are
then dropped. A remainder narrower than :math:`\Delta\ell/2` joins the last bin of its range.

Bandpowers are bin averages of :math:`C_\ell` (uK_CMB^2, not :math:`D_\ell`): the binning operator
:math:`P_{b\ell} = 1/n_b` for :math:`\ell \in b` (NaMaster's default weights), and its
piecewise-constant inverse :math:`Q_{\ell b} = 1` for :math:`\ell \in b`.

Region lmin (:func:`region_lmin`): the spherical cap of the region's effective sky fraction
:math:`f = w_2^2/w_4` has angular diameter :math:`D = 2\arccos(1 - 2f)`; modes of wavelength above
:math:`2D` (:math:`\ell < 180^\circ / D`) do not fit in it, so
:math:`\ell_{min} = \max(2, \lceil 180^\circ / D \rceil)`.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np


class Binning(NamedTuple):
    """Bins ``edges[b] <= ell < edges[b+1]`` tiling ``[2, lmax_pseudo]``; the reported ones are
    ``first .. first + n_reported - 1`` and tile ``[lmin, lmax]``."""

    edges: np.ndarray
    first: int
    n_reported: int

    @property
    def lmax_pseudo(self) -> int:
        return int(self.edges[-1]) - 1

    @property
    def reported(self) -> slice:
        return slice(self.first, self.first + self.n_reported)

    @property
    def n_bins(self) -> int:
        return int(self.edges.size) - 1


def region_lmin(fsky_eff: float) -> int:
    r""":math:`\max(2, \lceil 180^\circ/D\rceil)`, :math:`D = 2\arccos(1 - 2 f_{sky,eff})` (module docstring)."""
    if not 0 < fsky_eff <= 1:
        raise ValueError(f"fsky_eff must lie in (0, 1], got {fsky_eff}")
    diameter = 2.0 * math.degrees(math.acos(1.0 - 2.0 * fsky_eff))
    return max(2, math.ceil(180.0 / diameter))


def _range_edges(lo: int, hi: int, delta_ell: int) -> list[int]:
    """Edges of bins of width ``delta_ell`` tiling ``[lo, hi)``; a remainder < delta_ell/2 joins the last."""
    if hi <= lo:
        return [lo]
    edges = list(range(lo, hi, delta_ell)) + [hi]
    if len(edges) > 2 and hi - edges[-2] < delta_ell / 2:
        del edges[-2]
    return edges


def bandpower_binning(lmin: int, lmax: int, delta_ell: int, lmax_pseudo: int) -> Binning:
    """The bins of the module docstring: ``[2, lmin)`` (if lmin > 2), reported bins of
    ``delta_ell`` over ``[lmin, lmax]``, nuisance bins of ``delta_ell`` over ``(lmax, lmax_pseudo]``."""
    if not 2 <= lmin < lmax <= lmax_pseudo or delta_ell < 1:
        raise ValueError(f"need 2 <= lmin < lmax <= lmax_pseudo and delta_ell >= 1, got {lmin}, {lmax}, "
                         f"{lmax_pseudo}, {delta_ell}")
    low = [2] if lmin > 2 else []
    reported = _range_edges(lmin, lmax + 1, delta_ell)
    high = _range_edges(lmax + 1, lmax_pseudo + 1, delta_ell)[1:]
    edges = np.array(low + reported + high, dtype=np.int64)
    return Binning(edges, len(low), len(reported) - 1)


def binning_operators(binning: Binning) -> tuple[np.ndarray, np.ndarray]:
    r"""``(P, Q)``: :math:`P_{b\ell} = \ell(\ell+1)/S_b` (:math:`S_b = \sum_{\ell\in b}\ell(\ell+1)`),
    ``(n_bins, lmax_pseudo + 1)``, the :math:`\ell(\ell+1)`-weighted mean of :math:`C_\ell` over
    each bin; :math:`Q_{\ell b} = S_b / (n_b\,\ell(\ell+1))`, ``(lmax_pseudo + 1, n_bins)``, spreads
    a bandpower over its bin with a flat :math:`D_\ell` (``P Q = 1``); both 0 at :math:`\ell < 2`."""
    ell = np.arange(binning.lmax_pseudo + 1)
    member = (ell[None, :] >= binning.edges[:-1, None]) & (ell[None, :] < binning.edges[1:, None])
    weight = member * (ell * (ell + 1.0))[None, :]
    s_b = weight.sum(axis=1, keepdims=True)
    n_b = member.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        spread = np.where(member, s_b / n_b / (ell * (ell + 1.0))[None, :], 0.0)
    return weight / s_b, spread.T


def bin_centres(binning: Binning) -> np.ndarray:
    """Mean multipole of each reported bin, ``(n_reported,)``."""
    lo, hi = binning.edges[binning.reported], binning.edges[binning.first + 1: binning.first + binning.n_reported + 1]
    return 0.5 * (lo + hi - 1)


def mode_counts(binning: Binning, fsky_eff: float) -> np.ndarray:
    r""":math:`\nu_b = f_{sky,eff} \sum_{\ell\in b}(2\ell+1)` of each reported bin, ``(n_reported,)``."""
    lo = binning.edges[binning.reported]
    hi = binning.edges[binning.first + 1: binning.first + binning.n_reported + 1]
    return fsky_eff * (hi**2 - lo**2).astype(np.float64)  # sum_{l=lo}^{hi-1} (2l+1) = hi^2 - lo^2
