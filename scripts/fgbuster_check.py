r"""A one-off cross-check against fgbuster itself (not part of the test suite, which uses the numpy
oracle of tests/separation/test_bandpass_oracle.py): same data, per-pixel inverse noise, 30 %
tophat bandpasses.

Step 1, in this package's environment: fit the oracle test's data and write it, with our NLL and
parameters, to an .npz. Step 2, in an environment with fgbuster (and without this package): read
it, build fgbuster's Dust(150)/Synchrotron(20)/CMB mixing matrix on the same bands (fgbuster's
``bandpass_integration``: ``trapezoid(f(nu) w, nu[Hz])`` with w = dB/dT(T_CMB) normalised so that
``trapezoid(w, nu[Hz]) = 1``), evaluate ``-2 logL`` at our parameters and run fgbuster's own
``comp_sep`` from the same start; print the relative differences.

    python scripts/fgbuster_check.py dump check.npz              # this package's venv
    python scripts/fgbuster_check.py compare check.npz           # a venv with fgbuster
"""

from __future__ import annotations

import sys

import numpy as np


def dump(path: str) -> None:
    sys.path.insert(0, "tests/separation")
    from compsep_hpc.precision import enable_float64

    enable_float64()
    import test_bandpass_oracle as t
    from compsep_hpc.separation.config import FitConfig
    from compsep_hpc.separation.evaluate import evaluate_configuration
    from compsep_hpc.separation.observations import RegionData

    model, clean, noisy, amplitudes, hits, n_inv = t.problem.__wrapped__()
    region = RegionData("r", np.arange(t.N_PIX), noisy[None], amplitudes[0], clean - amplitudes[0][None],
                        np.arange(1), hit_weights=hits)
    start = dict(beta_dust=1.5, temp_dust=21.0, beta_synch=-2.9)
    result = evaluate_configuration(region, np.zeros((3, t.N_PIX), dtype=np.int64), model, FitConfig(start=start))
    params = [float(result.fit.params[k][0, 0]) for k in ("beta_dust", "temp_dust", "beta_synch")]
    np.savez(path, data=noisy, n_inv=n_inv, frequencies=np.asarray(t.LITEBIRD.frequencies), params=params,
             nll=float(result.fit.nll[0]), start=list(start.values()))


def compare(path: str) -> None:
    from fgbuster.algebra import comp_sep, logL
    from fgbuster.component_model import CMB, Dust, Synchrotron
    from fgbuster.mixingmatrix import MixingMatrix
    from scipy.integrate import trapezoid

    z = np.load(path)
    h, k, t_cmb = 6.62607015e-34, 1.380649e-23, 2.7255
    bands = []
    for nu_c in z["frequencies"]:
        nu = np.linspace(0.85 * nu_c, 1.15 * nu_c, 9)
        x = h * nu * 1e9 / (k * t_cmb)
        dbdt = x**4 * np.exp(x) / np.expm1(x) ** 2
        bands.append((nu, dbdt / trapezoid(dbdt, nu * 1e9)))
    mm = MixingMatrix(CMB(), Dust(150.0), Synchrotron(20.0))  # K_CMB; params sorted by name
    order = {"Dust.beta_d": 0, "Dust.temp": 1, "Synchrotron.beta_pl": 2}
    to_fgb = lambda p: [p[order[name]] for name in mm.params]  # noqa: E731
    d = np.moveaxis(z["data"], 0, -1)  # (2, n_pix, n_freq)
    inv_n = np.einsum("fp,fg->pfg", z["n_inv"], np.eye(len(z["frequencies"])))  # (n_pix, f, f)
    a_ev, a_db_ev = mm.evaluator(bands), mm.diff_evaluator(bands)
    value = -2 * logL(a_ev(to_fgb(z["params"])), d, inv_n)
    print("NLL ours", float(z["nll"]), "fgbuster -2 logL at our parameters", value,
          "relative difference", value / float(z["nll"]) - 1)
    for method, options in (("TNC", {"maxfun": 100000}), ("BFGS", {"gtol": 1e-12}), ("Newton-CG", {"xtol": 1e-14})):
        res = comp_sep(a_ev, d, inv_n, a_db_ev, mm.comp_of_dB, to_fgb(z["start"]), method=method, tol=1e-18,
                       options=options)
        fgb = np.array([res.x[mm.params.index(name)] for name in order])
        nll = -2 * logL(a_ev(list(res.x)), d, inv_n)
        print(f"fgbuster comp_sep {method}: parameters {fgb}, relative to ours {fgb / z['params'] - 1}, "
              f"its -2 logL minus our NLL {nll - float(z['nll']):.3e}")


if __name__ == "__main__":
    {"dump": dump, "compare": compare}[sys.argv[1]](sys.argv[2])
