r"""Polarized anomalous microwave emission (spinning dust): a parabola in log frequency - log
flux density with peak frequency ``nu_peak_ame`` (GHz), the phenomenological AME model of Planck
2015 results X (A&A 594, A10, 2016, Sect. 4.3; also Stevenson 2014, ApJ 781, 113):

.. math:: \ln S(\nu) = \ln S(\nu_p) - \frac{\ln^2(\nu/\nu_p)}{2 w^2},

with a fixed width ``width`` w in ln nu (0.6: a log-slope of about -2.5 at 60 GHz for a 25 GHz
peak, a typical spdust2 shape). In brightness temperature :math:`T_{RJ} \propto S/\nu^2`; in
K_CMB, normalised at ``nu_ref``:

.. math:: a(\nu) = \frac{S(\nu)}{S(\nu_r)}\, \frac{\nu_r^2}{\nu^2}\, \frac{g(\nu)}{g(\nu_r)}.

Pure JAX (imported when called).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from compsep_hpc.model.component import SpectralParameter
from compsep_hpc.model.units import kcmb_per_krj

DEFAULT_NU_AME = 23.0  # GHz
DEFAULT_WIDTH = 0.6  # in ln(nu)


def ame_sed(nu: Any, nu_peak_ame: Any, nu_ref: float = DEFAULT_NU_AME, width: float = DEFAULT_WIDTH) -> Any:
    """Log-parabola spinning-dust SED in K_CMB, 1 at ``nu_ref``, peaking (in flux) at ``nu_peak_ame``."""
    import jax.numpy as jnp

    nu = jnp.asarray(nu, dtype=float)
    peak = jnp.asarray(nu_peak_ame)
    log_ratio = (jnp.log(nu_ref / peak) ** 2 - jnp.log(nu / peak) ** 2) / (2.0 * width**2)
    return jnp.exp(log_ratio) * (nu_ref / nu) ** 2 * kcmb_per_krj(nu) / kcmb_per_krj(nu_ref)


@dataclass(frozen=True)
class PolarizedAME:
    """Polarized AME (log-parabola spinning dust), amplitudes in K_CMB at ``nu_ref`` GHz."""

    name: ClassVar[str] = "ame"
    parameters: ClassVar[tuple[SpectralParameter, ...]] = (
        SpectralParameter("nu_peak_ame", "GHz", 25.0, (5.0, 60.0), r"$\nu_{p,\mathrm{AME}}$ [GHz]"),
    )
    nu_ref: float = DEFAULT_NU_AME
    width: float = DEFAULT_WIDTH

    def sed(self, nu: Any, nu_peak_ame: Any) -> Any:
        return ame_sed(nu, nu_peak_ame, self.nu_ref, self.width)
