"""An item's figures (compsep_hpc.science.figures) through Experiment.record: injected r
recovered on a constant-SED sky, and the held-out figures from the held-out realizations."""

from __future__ import annotations

import numpy as np
import pytest

from compsep_hpc.config import parse_config
from compsep_hpc.grid.experiment import Experiment
from compsep_hpc.grid.work import work_list
from compsep_hpc.science.figures import subset_figures
from compsep_hpc.stage_clock import STAGES


def _config(r_in: float, holdout: int = 0):
    return parse_config({
        "name": "r", "nside": 16,
        "sky": {"model": "synthetic_clustered", "seed": 11, "r": r_in,
                "true_patches": {"beta_dust": 1, "temp_dust": 1, "beta_synch": 1}},
        "regions": ["GAL060"], "grid": {"beta_dust": [1], "temp_dust": [1], "beta_synch": [1]},
        "noise": {"realizations": 6, "seed": 3, "holdout": holdout},
    })


@pytest.mark.parametrize("r_in", [0.0, 0.003])
def test_constant_sed_sky_recovers_injected_r(r_in):
    exp = Experiment(_config(r_in))
    record = exp.record(work_list(exp.config)[0])
    assert record["n_unconverged"] == 0
    assert abs(record["r_hat"] - r_in) <= record["sigma_r"], record
    assert record["r_upper"] == pytest.approx(record["r_hat"] + record["sigma_r"])
    assert record["r_95"] >= record["r_upper"] > 0
    # one patch per parameter on a constant-SED sky: the foreground-only fit leaks no CMB
    assert np.max(np.abs(record["cl_systematic"])) < 1e-3 * np.max(record["cl_total"])
    np.testing.assert_allclose(record["cl_statistical"], record["cl_total"] - record["cl_systematic"])
    # the cost breakdown (stage_clock.py): every stage timed, their sum the item's seconds, no writer here
    stages = {s: record[f"seconds_{s}"] for s in STAGES}
    assert min(stages.values()) >= 0.0 and record["seconds"] == pytest.approx(sum(stages.values()))
    assert min(stages[s] for s in ("prepare", "systematic_fit", "noisy_fits", "cmb_maps", "spectra", "r")) > 0.0
    assert stages["write"] == 0.0


def test_holdout_figures_come_from_the_held_out_realizations():
    config = _config(0.0, holdout=2)
    exp = Experiment(config)
    item = work_list(config)[0]
    result = exp.evaluate(item, keep_maps=True)
    figures = exp.figures(item, result)
    region = exp.region_data(item.region)
    held = subset_figures(result.cmb_maps[4:], region.cmb, result.systematic_cmb_map, exp.geometry(item.region),
                          exp.templates, config.spectra, config.sky.r)
    inside = subset_figures(result.cmb_maps[:4], region.cmb, result.systematic_cmb_map, exp.geometry(item.region),
                            exp.templates, config.spectra, config.sky.r)
    for key in ("cmb_variance", "cmb_mse", "r_hat", "sigma_r", "r_upper"):
        assert figures[f"{key}_holdout"] == held[key] and figures[key] == inside[key]
    assert figures["cmb_mse"] != figures["cmb_mse_holdout"]
    np.testing.assert_array_equal(figures["cl_systematic"], held["cl_systematic"])
