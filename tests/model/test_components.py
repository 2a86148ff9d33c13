"""Every registered component's SED (model/components/) against an independent numpy evaluation of
the formula its docstring states, written here without the package's functions."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from compsep_hpc.model.registry import COMPONENT_TYPES

H, K, TCMB = 6.62607015e-34, 1.380649e-23, 2.7255
NU = np.array([11.0, 23.0, 40.0, 89.0, 150.0, 353.0, 402.1])  # GHz
RTOL = 1e-12


def g(nu):
    """K_RJ -> K_CMB: (e^x - 1)^2 / (e^x x^2), x = h nu / (k T_CMB)."""
    x = H * nu * 1e9 / (K * TCMB)
    return np.expm1(x) ** 2 / (np.exp(x) * x**2)


def mbb(nu, beta, temp, nu_ref):
    """I ~ nu^beta B_nu(T) -> K_RJ ~ nu^(beta - 2) B_nu(T) ~ nu^(beta + 1) / (e^y - 1); then K_CMB."""
    t = lambda f: f ** (beta + 1) / np.expm1(H * f * 1e9 / (K * temp))  # noqa: E731
    return t(nu) / t(nu_ref) * g(nu) / g(nu_ref)


def power_law(nu, beta, nu_ref):
    return (nu / nu_ref) ** beta * g(nu) / g(nu_ref)


def curved(nu, beta, curv, nu_ref, pivot):
    """T_RJ ~ (nu/nu0)^(beta + C ln(nu/nu0)), normalised at nu_ref, in K_CMB."""
    t = lambda f: (f / pivot) ** (beta + curv * np.log(f / pivot))  # noqa: E731
    return t(nu) / t(nu_ref) * g(nu) / g(nu_ref)


def log_parabola(nu, nu_peak, nu_ref, width):
    """ln S = -ln^2(nu/nu_p) / (2 w^2) + const, T_RJ = S / nu^2 (up to constants), in K_CMB."""
    t = lambda f: np.exp(-np.log(f / nu_peak) ** 2 / (2 * width**2)) / f**2  # noqa: E731
    return t(nu) / t(nu_ref) * g(nu) / g(nu_ref)


CASES = {
    "cmb": (lambda nu, c: np.ones_like(nu), [{}]),
    "dust": (lambda nu, c, beta_dust, temp_dust: mbb(nu, beta_dust, temp_dust, c.nu_ref),
             [dict(beta_dust=b, temp_dust=t) for b, t in itertools.product((0.8, 1.54, 2.3), (12.0, 20.0, 35.0))]),
    "synch": (lambda nu, c, beta_synch: power_law(nu, beta_synch, c.nu_ref),
              [dict(beta_synch=b) for b in (-4.5, -3.0, -1.2)]),
    "curved_synch": (lambda nu, c, beta_synch, curv_synch: curved(nu, beta_synch, curv_synch, c.nu_ref, c.pivot),
                     [dict(beta_synch=b, curv_synch=k) for b, k in itertools.product((-3.3, -2.8), (-0.3, -0.052, 0.1))]),
    "ame": (lambda nu, c, nu_peak_ame: log_parabola(nu, nu_peak_ame, c.nu_ref, c.width),
            [dict(nu_peak_ame=p) for p in (12.0, 25.0, 41.5)]),
}
OPTIONS = {"cmb": [{}], "dust": [{}, {"nu_ref": 353.0}], "synch": [{}, {"nu_ref": 23.0}],
           "curved_synch": [{}, {"nu_ref": 30.0, "pivot": 40.0}], "ame": [{}, {"nu_ref": 30.0, "width": 0.45}]}


def test_every_registered_component_is_tested():
    assert set(CASES) == set(COMPONENT_TYPES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_sed_matches_the_docstring_formula(name):
    expected, values = CASES[name]
    for options, v in itertools.product(OPTIONS[name], values):
        comp = COMPONENT_TYPES[name](**options)
        got = np.asarray(comp.sed(NU, **v))
        np.testing.assert_allclose(got, expected(NU, comp, **v), rtol=RTOL, err_msg=f"{name} {options} {v}")
        np.testing.assert_allclose(np.asarray(comp.sed(comp.nu_ref, **v)), 1.0, rtol=RTOL)
        assert set(v) == {p.name for p in comp.parameters}


def test_curved_synchrotron_without_curvature_is_the_power_law():
    curved_synch, synch = COMPONENT_TYPES["curved_synch"](pivot=31.0), COMPONENT_TYPES["synch"]()
    for beta in (-3.5, -3.0, -2.2):
        np.testing.assert_allclose(np.asarray(curved_synch.sed(NU, beta, 0.0)), np.asarray(synch.sed(NU, beta)),
                                   rtol=RTOL)


@pytest.mark.parametrize("nu_peak", [15.0, 25.0, 33.3])
def test_ame_peaks_in_flux_density_at_nu_peak(nu_peak):
    """S ~ T_RJ nu^2 with T_RJ = a(nu) / g(nu) (a in K_CMB): maximal at nu_peak_ame."""
    ame = COMPONENT_TYPES["ame"]()
    nu = nu_peak * np.exp(np.linspace(-0.5, 0.5, 2001))  # nu_peak at index 1000
    flux = np.asarray(ame.sed(nu, nu_peak)) / g(nu) * nu**2
    assert int(np.argmax(flux)) == 1000
    np.testing.assert_allclose(flux[999], flux[1001], rtol=1e-12)  # symmetric in ln(nu) about the peak
