"""The projected Newton fit (compsep_hpc.separation.newton): optimality against L-BFGS run to a
tight tolerance, exact bounds, and both linear solves."""

from __future__ import annotations

import numpy as np
import pytest

from compsep_hpc.config import parse_config
from compsep_hpc.grid.experiment import Experiment
from compsep_hpc.model.parameters import PARAMETERS
from compsep_hpc.separation.config import FitConfig
from compsep_hpc.separation.evaluate import evaluate_configuration

NSIDE = 8


@pytest.fixture(scope="module")
def experiment():
    """A small region (80 pixels at nside 8) with 4/2/2 patches and one noise realization: each
    evaluation fits two data sets, the noisy sky and the foreground-only sky (the systematic
    fit), of one shape, so each fit setting compiles once."""
    raw = {"name": "n", "nside": NSIDE, "sky": {"model": "synthetic", "seed": 1}, "regions": ["GAL060_U"],
           "grid": {"beta_dust": [4], "temp_dust": [2], "beta_synch": [2]}, "noise": {"realizations": 1, "seed": 3}}
    exp = Experiment(parse_config(raw))
    return exp, exp.region_data("GAL060_U"), exp.labels("GAL060_U", (4, 2, 2))


@pytest.mark.parametrize("form", ["compressed", "pixel"])
def test_newton_reaches_the_optimum_of_a_tight_lbfgs(form, experiment):
    exp, region, labels = experiment
    newton = evaluate_configuration(region, labels, exp.model, FitConfig(likelihood=form))
    lbfgs = evaluate_configuration(region, labels, exp.model, FitConfig(method="lbfgs", likelihood=form,
                                                                        max_iter=3000, gtol=1e-14, ftol=0.0))
    assert newton.fit.converged.all() and newton.systematic.converged
    assert (newton.fit.iterations < 50).all()
    slack = 1e-14 * np.abs(lbfgs.fit.nll)
    assert (newton.fit.nll <= lbfgs.fit.nll + slack).all(), newton.fit.nll - lbfgs.fit.nll
    assert newton.systematic.nll <= lbfgs.systematic.nll + 1e-14 * abs(lbfgs.systematic.nll)
    assert not newton.fit.n_at_bound.any()
    for p in PARAMETERS:
        np.testing.assert_allclose(newton.fit.params[p], lbfgs.fit.params[p], rtol=1e-6)


@pytest.mark.parametrize("form", ["compressed", "pixel"])
@pytest.mark.parametrize("solver", ["cg", "schur"])
def test_an_optimum_beyond_a_bound_ends_exactly_on_it(form, solver, experiment):
    exp, region, labels = experiment
    bounds = dict(FitConfig().bounds, beta_synch=(-2.0, -0.5))  # the sky's beta_synch is about -3
    fit = FitConfig(likelihood=form, linear_solver=solver, bounds=bounds, start=dict(FitConfig().start, beta_synch=-1.0))
    result = evaluate_configuration(region, labels, exp.model, fit)
    assert result.fit.converged.all() and result.systematic.converged
    np.testing.assert_array_equal(result.fit.params["beta_synch"], -2.0)
    np.testing.assert_array_equal(result.fit.n_at_bound[:, 2], 2)
    np.testing.assert_array_equal(result.systematic.n_at_bound, [0, 0, 2])
    assert (result.fit.params["temp_dust"] > bounds["temp_dust"][0]).all()


def test_both_linear_solves_give_the_same_fit(experiment):
    exp, region, labels = experiment
    fits = [evaluate_configuration(region, labels, exp.model, FitConfig(linear_solver=s)) for s in ("cg", "schur")]
    np.testing.assert_allclose(fits[0].fit.nll, fits[1].fit.nll, rtol=1e-14)
    for p in PARAMETERS:
        np.testing.assert_allclose(fits[0].fit.params[p], fits[1].fit.params[p], rtol=1e-7)
