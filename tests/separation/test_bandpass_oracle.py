"""Oracle test of bandpasses and per-pixel inverse noise (issue 25): an independent numpy
evaluation, written here from the formulas (physics.md: the SEDs in K_CMB; fgbuster's
``bandpass_integration``: ``trapezoid(f(nu) * w, nu)`` with w the transmission times dB/dT at
T_CMB, normalised so that the CMB's band value is 1), against the package's band-integrated mixing
matrix, NLL and fitted parameters (fgbuster itself cannot be installed offline here: its
dependency cmbdb is fetched from GitHub).

Same data for both: 40 pixels of a CMB + dust + synchrotron sky integrated over 30 % tophat bands,
with noise whose inverse variance differs per pixel and band. The NLL (= 2 x fgbuster's -logL)
and the parameters agree to 1e-8 relative."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scipy.integrate import trapezoid

from compsep_hpc.model.instrument import LITEBIRD, Bandpass
from compsep_hpc.separation.config import FitConfig
from compsep_hpc.separation.evaluate import evaluate_configuration
from compsep_hpc.separation.observations import RegionData, spectral_model

H, K, C, TCMB = 6.62607015e-34, 1.380649e-23, 299792458.0, 2.7255
TRUTH = (1.6, 18.0, -3.1)  # beta_dust, temp_dust K, beta_synch
INSTRUMENT = dataclasses.replace(LITEBIRD, bandpass=Bandpass(shape="tophat", width=0.3, samples=9))
N_PIX = 40


def planck(nu_hz, t):
    return 2 * H * nu_hz**3 / C**2 / np.expm1(H * nu_hz / (K * t))


def dbdt_cmb(nu_hz):
    x = H * nu_hz / (K * TCMB)
    return 2 * H**2 * nu_hz**4 / (C**2 * K * TCMB**2) * np.exp(x) / np.expm1(x) ** 2


def oracle_columns(beta_d, temp_d, beta_s, nu_d=150.0, nu_s=20.0):
    """Band-integrated (CMB, dust, synchrotron) columns, (n_freq, 3), by numpy: intensities divided
    by dB/dT at T_CMB (K_CMB), normalised at the reference frequencies, averaged over each band."""
    def kcmb(intensity, nu_hz):  # an intensity SED in K_CMB
        return intensity / dbdt_cmb(nu_hz)

    rows = []
    for nu_c in LITEBIRD.frequencies:
        nu = np.linspace(0.85 * nu_c, 1.15 * nu_c, 9) * 1e9
        w = dbdt_cmb(nu) / trapezoid(dbdt_cmb(nu), nu)  # fgbuster-style weights in K_CMB
        dust = kcmb(nu**beta_d * planck(nu, temp_d), nu) / kcmb(
            (nu_d * 1e9)**beta_d * planck(nu_d * 1e9, temp_d), nu_d * 1e9)
        synch = kcmb(nu**(beta_s + 2), nu) / kcmb((nu_s * 1e9)**(beta_s + 2), nu_s * 1e9)  # T_RJ ~ nu^beta_s
        rows.append([trapezoid(w, nu), trapezoid(dust * w, nu), trapezoid(synch * w, nu)])
    return np.asarray(rows)


def oracle_nll(theta, data, n_inv):
    """-sum_p sum_{Q,U} b^T M^-1 b, data (f, 2, n), n_inv (f, n)."""
    a = oracle_columns(*theta)
    total = 0.0
    for p in range(data.shape[-1]):
        m = a.T @ (n_inv[:, p, None] * a)
        b = a.T @ (n_inv[:, p, None] * data[:, :, p])
        total -= np.sum(b * np.linalg.solve(m, b))
    return total


def oracle_gradient(theta, data, n_inv):
    """d NLL / d theta = sum_p sum_{Q,U} (-2 b_i^T x + x^T M_i x), x = M^-1 b, with the columns'
    derivatives A_i by complex step (exact to rounding: the likelihood itself is too flat along
    the beta_d - T_d degeneracy for finite differences of the NLL to place the optimum to 1e-8)."""
    a = oracle_columns(*theta)
    step = 1e-30
    da = [oracle_columns(*(np.asarray(theta, dtype=complex) + 1j * step * np.eye(3)[i])).imag / step
          for i in range(3)]
    grad = np.zeros(3)
    for p in range(data.shape[-1]):
        weighted = n_inv[:, p, None] * a
        x = np.linalg.solve(a.T @ weighted, weighted.T @ data[:, :, p])
        for i in range(3):
            m_i = da[i].T @ weighted
            grad[i] += -2 * np.sum((da[i].T @ (n_inv[:, p, None] * data[:, :, p])) * x) + np.sum(x * ((m_i + m_i.T) @ x))
    return grad


def oracle_fit(data, n_inv, start, steps=10):
    """The numpy optimum: Newton iterations on :func:`oracle_gradient`, its Jacobian by central
    differences."""
    x = np.asarray(start, dtype=float)
    h = 1e-5 * np.array([1.0, 10.0, 1.0])
    g = lambda v: oracle_gradient(v, data, n_inv)  # noqa: E731
    for _ in range(steps):
        e = np.diag(h)
        jac = np.stack([(g(x + e[i]) - g(x - e[i])) / (2 * h[i]) for i in range(3)], axis=1)
        x = x - np.linalg.solve(0.5 * (jac + jac.T), g(x))
    return x


@pytest.fixture(scope="module")
def problem():
    rng = np.random.default_rng(25)
    model = spectral_model(INSTRUMENT, 8)
    amplitudes = rng.normal(0, 1, (3, 2, N_PIX)) * np.array([1.0, 10.0, 30.0])[:, None, None]
    clean = np.einsum("fc,csp->fsp", oracle_columns(*TRUTH), amplitudes)
    hits = rng.uniform(0.5, 2.0, (len(LITEBIRD.frequencies), N_PIX))
    n_inv = np.asarray(model.inv_noise_var)[:, None] * hits
    noisy = clean + rng.normal(0, 1, clean.shape) / np.sqrt(n_inv)[:, None, :]
    return model, clean, noisy, amplitudes, hits, n_inv


def test_band_integrated_mixing_matrix_matches_the_oracle(problem):
    from compsep_hpc.separation.model_terms import term_columns

    model = problem[0]
    ours = np.stack([np.asarray(c)[0] for c in term_columns(np.asarray([TRUTH]), model)], -1)
    np.testing.assert_allclose(ours, oracle_columns(*TRUTH), rtol=1e-12)
    delta = np.stack([np.asarray(c)[0] for c in term_columns(np.asarray([TRUTH]), spectral_model(LITEBIRD, 8))], -1)
    assert np.abs(ours[:, 1] / delta[:, 1] - 1).max() > 0.01  # the bands' width matters


def test_fit_with_bandpasses_and_per_pixel_noise_agrees_with_the_oracle(problem):
    model, clean, noisy, amplitudes, hits, n_inv = problem
    region = RegionData("r", np.arange(N_PIX), noisy[None], amplitudes[0], clean - amplitudes[0][None],
                        np.arange(1), hit_weights=hits)
    start = dict(beta_dust=1.5, temp_dust=21.0, beta_synch=-2.9)
    result = evaluate_configuration(region, np.zeros((3, N_PIX), dtype=np.int64), model, FitConfig(start=start))
    assert result.likelihood == "pixel" and result.fit.converged.all()
    ours = np.array([float(result.fit.params[k][0, 0]) for k in ("beta_dust", "temp_dust", "beta_synch")])
    assert abs(float(result.fit.nll[0]) / oracle_nll(ours, noisy, n_inv) - 1) < 1e-8
    oracle = oracle_fit(noisy, n_inv, list(start.values()))
    np.testing.assert_allclose(ours, oracle, rtol=1e-8)
    np.testing.assert_allclose([float(result.systematic.params[k][0]) for k in ("beta_dust", "temp_dust",
                                                                                    "beta_synch")], TRUTH, rtol=1e-6)
