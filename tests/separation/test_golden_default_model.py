"""The default model's fits are unchanged by the component model: the demo sky's fits (4 noise
realizations of configs/demo.yaml, GAL060_U) against those stored in tests/data by the engine
before it took any model (commit 869e39b), for each linear solve, likelihood form and method: equal to
rounding (the golden values were written by that commit with the same computation, under the suite's
XLA flags, tests/conftest.py)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from compsep_hpc.config import load_config
from compsep_hpc.grid.experiment import Experiment
from compsep_hpc.separation.evaluate import evaluate_configuration

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = np.load(ROOT / "tests" / "data" / "golden_default_model.npz")
CASES = {"cg": {}, "schur": {"linear_solver": "schur"}, "pixel": {"likelihood": "pixel"}, "lbfgs": {"method": "lbfgs"}}
RTOL = 1e-12


@pytest.fixture(scope="module")
def demo():
    config = load_config(ROOT / "configs" / "demo.yaml", ["noise.realizations=4"])
    return config, Experiment(config)


@pytest.mark.parametrize("case, values", [("cg", (4, 1, 1)), ("cg", (6, 2, 1)), ("schur", (6, 2, 1)),
                                          ("pixel", (4, 1, 1)), ("lbfgs", (4, 1, 1))])
def test_default_model_fits_equal_the_golden_ones(case, values, demo):
    config, exp = demo
    fit = dataclasses.replace(config.fit, **CASES[case])
    result = evaluate_configuration(exp.region_data("GAL060_U"), exp.labels("GAL060_U", values), exp.model, fit)
    key = f"{case}_{'_'.join(map(str, values))}"
    np.testing.assert_array_equal(result.fit.iterations, GOLDEN[f"{key}/iterations"])
    np.testing.assert_array_equal(result.fit.n_at_bound, GOLDEN[f"{key}/n_at_bound"])
    np.testing.assert_allclose(result.fit.nll, GOLDEN[f"{key}/nll"], rtol=RTOL)
    np.testing.assert_allclose(result.cmb_maps, GOLDEN[f"{key}/cmb"], rtol=RTOL, atol=RTOL * np.abs(result.cmb_maps).max())
    np.testing.assert_allclose(result.systematic_cmb_map, GOLDEN[f"{key}/systematic_cmb"], rtol=RTOL,
                               atol=RTOL * np.abs(result.systematic_cmb_map).max())
    for name in config.model.fitted:
        np.testing.assert_allclose(result.fit.params[name], GOLDEN[f"{key}/{name}"], rtol=RTOL)
        np.testing.assert_allclose(result.systematic.params[name], GOLDEN[f"{key}/systematic_{name}"], rtol=RTOL)
