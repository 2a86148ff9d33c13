r"""The synthetic skies' polarized AME amplitude: a dust-correlated intensity, polarized at a small
fraction along the dust polarization angles.

Template (all maps ``(npix,)`` or ``(2, npix)``, RING):

- dust intensity at 353 GHz, uK_CMB: the dust model's polarized envelope over a dust polarization
  fraction, :math:`I_{d,353}(\hat n) = A_d\, m_d(b) / p_d`, with :math:`A_d\, m_d(b)` = 18 uK_CMB
  :math:`\times (|\sin b| + 0.05)^{-2.25}` (sky/synthetic.py ``dust_envelope``) and :math:`p_d` = 0.05 (Planck
  2018 results XII: dust is polarized at a few per cent on average at 353 GHz, up to ~20 %). With
  the Gaussian field's mean :math:`\langle|f|\rangle \approx 0.89`, the synthetic dust is then
  polarized at ~4.4 % on average.
- AME intensity at :math:`\nu_A` = 23 GHz, K_RJ: :math:`I_A = R\, I_{d,353}` (both in K_RJ), the
  AME emissivity relative to dust of Davies et al. 2006 (MNRAS 370, 1125; Dickinson et al. 2018,
  New Astron. Rev. 80, 1): :math:`\epsilon` ≈ 10 uK_RJ at ~23 GHz per MJy sr⁻¹ of dust emission at
  100 μm, carried to 353 GHz with the mean dust SED (modified black body, β 1.54, T 20 K):

  .. math:: R = \epsilon\, \frac{2 k \nu_{353}^2}{c^2}\,
            \frac{I_\nu(100\,\mu m)}{I_\nu(353\,\mathrm{GHz})}
          = 10^{-5}\ \mathrm{K\,(MJy\,sr^{-1})^{-1}} \times 3828\ \mathrm{MJy\,sr^{-1}\,K^{-1}}
            \times 16.55 \approx 0.633

  (:func:`ame_per_dust_353`), i.e. ~16 uK_RJ of AME intensity at 23 GHz at the Galactic poles.
  An emissivity per 100 μm intensity depends on the dust temperature (Tibbs et al. 2013): it is
  an order of magnitude, taken at the model's mean 20 K.
- polarization: :math:`(Q, U)_A = f_A\, I_A\, g(\nu_A)\, (Q_d, U_d) / P_d` in uK_CMB at 23 GHz,
  :math:`f_A` = ``sky.ame_polarization_fraction`` (default 0.02, the upper range of the measured
  ≲ 1-2 %, as PySM's a2), :math:`(Q_d, U_d)/P_d = (\cos 2\psi_d, \sin 2\psi_d)` the dust
  angles of the sky's own dust amplitude (zero where :math:`P_d = 0`).

The SED is model/components/ame.py's, normalised at 23 GHz: these amplitudes are its ``s``.
"""

from __future__ import annotations

import numpy as np

from compsep_hpc.model.units import GHZ, H_PLANCK, K_BOLTZMANN, kcmb_per_krj

AME_NU = 23.0  # GHz: where the amplitudes are given (the AME component's nu_ref)
AME_EMISSIVITY = 10.0  # uK_RJ at ~23 GHz per MJy/sr of dust at 100 um (Davies et al. 2006)
DUST_POLARIZATION_FRACTION = 0.05  # p_d of the dust intensity template
DUST_SED = (1.54, 20.0)  # beta_dust, temp_dust (K): the mean dust SED that carries 100 um to 353 GHz
NU_100_MICRON = 2997.92458  # GHz
SPEED_OF_LIGHT = 2.99792458e8  # m / s
MJY_SR = 1e-20  # W m^-2 Hz^-1 sr^-1


def _planck(nu_ghz: float, temp: float) -> float:
    """B_nu(T) up to its constant 2h/c^2: nu^3 / (e^{h nu / k T} - 1), nu in GHz."""
    return nu_ghz**3 / np.expm1(H_PLANCK * nu_ghz * GHZ / (K_BOLTZMANN * temp))


def ame_per_dust_353() -> float:
    """R: AME brightness at 23 GHz per dust brightness at 353 GHz, both K_RJ (module docstring)."""
    beta, temp = DUST_SED
    sed_ratio = (NU_100_MICRON / 353.0) ** beta * _planck(NU_100_MICRON, temp) / _planck(353.0, temp)
    mjy_per_krj = 2 * K_BOLTZMANN * (353.0 * GHZ) ** 2 / SPEED_OF_LIGHT**2 / MJY_SR
    return AME_EMISSIVITY * 1e-6 * mjy_per_krj * sed_ratio


def ame_intensity(dust_envelope: np.ndarray) -> np.ndarray:
    """AME intensity at 23 GHz, uK_CMB, shaped as ``dust_envelope`` (the dust's polarized envelope
    A_d m_d(b) at 353 GHz, uK_CMB): R (A_d m_d / p_d) / g(353) g(23)."""
    to_krj = ame_per_dust_353() / float(kcmb_per_krj(353.0))
    return to_krj * float(kcmb_per_krj(AME_NU)) * np.asarray(dust_envelope) / DUST_POLARIZATION_FRACTION


def ame_amplitudes(dust_qu: np.ndarray, dust_envelope: np.ndarray, fraction: float) -> np.ndarray:
    """Polarized AME Q/U at 23 GHz, uK_CMB, ``(2, npix)``: ``fraction`` of :func:`ame_intensity`
    ``(dust_envelope)`` along the angles of ``dust_qu`` (``(2, npix)``, any unit)."""
    p_dust = np.hypot(dust_qu[0], dust_qu[1])
    angles = np.divide(dust_qu, p_dust, out=np.zeros_like(dust_qu, dtype=float), where=p_dust > 0)
    return fraction * ame_intensity(dust_envelope) * angles
