"""Successive halving (grid/search.py): the rungs' realizations and sizes, the survivors, the
config's refusals, and the exact merge of a survivor's new realizations with its earlier ones."""

from __future__ import annotations

import math

import numpy as np
import pytest

from compsep_hpc.config import parse_config
from compsep_hpc.errors import ConfigError
from compsep_hpc.grid.experiment import Experiment
from compsep_hpc.grid.region_grids import RegionGrid
from compsep_hpc.grid.search import plan_text, rung_plan, rung_realizations, survivors
from compsep_hpc.grid.work import WorkItem, work_list
from compsep_hpc.science.figures import subset_figures


def _config(tiny_raw_config: dict, **search) -> object:
    return parse_config({**tiny_raw_config, "search": {"strategy": "halving", **search}})


def test_rungs_multiply_the_realizations_by_eta_up_to_the_total(tiny_raw_config):
    halving = _config({**tiny_raw_config, "noise": {"realizations": 100}}, eta=3, min_realizations=5)
    assert rung_realizations(halving.search, 100) == (5, 15, 45, 100)
    assert rung_realizations(halving.search, 5) == (5,)
    exhaustive = parse_config(tiny_raw_config)
    assert rung_realizations(exhaustive.search, 100) == (100,)


def test_the_plan_keeps_a_third_per_region_and_every_baseline(tiny_raw_config):
    raw = {**tiny_raw_config, "regions": ["GAL060_U", "GAL060_L"], "noise": {"realizations": 45},
           "grid": {"beta_dust": [1, 2, 3], "temp_dust": [1, 2, 3], "beta_synch": [1], "multires_baseline": "default"}}
    config = _config(raw, eta=3, min_realizations=5)
    items = work_list(config)
    assert len(items) == 2 * 9 + 2
    plan = rung_plan(config, items)
    assert [(p.items, p.realizations, p.new_fits) for p in plan] == [(20, 5, 100), (8, 15, 80), (4, 45, 120)]
    assert "300 noise fits at most, against 900 exhaustive (3.0x fewer)" in plan_text(config, items)


def _record(item: WorkItem, cmb_mse: float, converged: bool = True) -> dict:
    return {"item_id": item.item_id, "cmb_mse": cmb_mse, "n_unconverged": 0 if converged else 1,
            "systematic_converged": True, "nll": np.array([1.0, 2.0]), "n_patches": np.array(item.grid_values)}


def test_survivors_are_the_best_third_of_each_region_that_the_criterion_may_pick(tiny_raw_config):
    raw = {**tiny_raw_config, "regions": ["GAL060_U", "GAL060_L"], "noise": {"realizations": 15},
           "grid": {"beta_dust": [1, 2, 3, 4, 5], "temp_dust": [1], "beta_synch": [1], "multires_baseline": "default"}}
    config = _config(raw, eta=3, min_realizations=5)
    items = work_list(config)  # 0-4 GAL060_U, 5-9 GAL060_L, 10-11 the baselines
    mse = [5.0, 1.0, 3.0, 2.0, 4.0, 0.5, 0.5, 9.0, 8.0, 7.0, 100.0, 100.0]
    records = [_record(it, m, converged=it.item_id != 1) for it, m in zip(items, mse)]  # item 1 best but unconverged
    grids = {r: RegionGrid(100, ((1,),), ((),)) for r in config.regions.names}
    kept = survivors(items, records, config, grids)
    assert [it.item_id for it in kept] == [2, 3, 5, 6, 10, 11]  # ceil(5 / 3) = 2 per region; ties by item id


def test_halving_is_refused_with_held_out_realizations_or_too_few_realizations(tiny_raw_config):
    with pytest.raises(ConfigError, match="noise.holdout 0"):
        _config({**tiny_raw_config, "noise": {"realizations": 6, "holdout": 2}}, min_realizations=2)
    with pytest.raises(ConfigError, match="min_realizations .* above noise.realizations"):
        _config(tiny_raw_config, min_realizations=5)  # 3 realizations
    with pytest.raises(ConfigError, match="search.eta"):
        _config(tiny_raw_config, eta=1)
    with pytest.raises(ConfigError, match="search.criterion"):
        _config(tiny_raw_config, criterion="max_cmb_mse")
    explicit = parse_config({**tiny_raw_config, "search": {"strategy": "exhaustive", "eta": 4}})
    assert explicit.sha256() == parse_config(tiny_raw_config).sha256()  # an exhaustive search keeps the run id
    assert _config(tiny_raw_config, min_realizations=2).sha256() != explicit.sha256()


def test_a_survivors_new_realizations_merge_exactly_with_its_earlier_ones(tiny_raw_config):
    """Rung 1's record of an item (realizations 2-3 fitted, 0-1 from rung 0's record) equals the
    figures of all four realizations' CMB maps stacked, and its per-realization fields and
    per-patch statistics those of the four fits."""
    config = _config({**tiny_raw_config, "noise": {"realizations": 4, "seed": 5}}, eta=2, min_realizations=2)
    experiment = Experiment(config)
    item = WorkItem(0, "GAL060_U", (2, 1, 1))
    first = experiment.rung_record(item, 0, range(0, 2), None)
    merged = experiment.rung_record(item, 1, range(2, 4), first)
    assert (first["rung"], first["realizations"], merged["rung"], merged["realizations"]) == (0, 2, 1, 4)

    parts = [experiment.evaluate(item, realizations=r) for r in (range(0, 2), range(2, 4))]
    maps = np.concatenate([p.cmb_maps for p in parts])
    expected = subset_figures(maps, experiment.true_cmb(item.region), parts[0].systematic_cmb_map,
                              experiment.geometry(item.region), experiment.templates, config.spectra, config.sky.r)
    for name, value in expected.items():
        np.testing.assert_allclose(merged[name], value, rtol=1e-12, atol=1e-30, err_msg=name)
    np.testing.assert_array_equal(merged["nll"], np.concatenate([p.fit.nll for p in parts]))
    np.testing.assert_array_equal(merged["converged"], np.concatenate([p.fit.converged for p in parts]))
    for p in config.model.fitted:
        values = np.concatenate([part.fit.params[p] for part in parts])
        np.testing.assert_allclose(merged[f"{p}_mean"], values.mean(axis=0), rtol=1e-13)
        np.testing.assert_allclose(merged[f"{p}_std"], values.std(axis=0), rtol=1e-9, atol=1e-15)
        np.testing.assert_array_equal(merged[f"systematic_{p}"], first[f"systematic_{p}"])
    np.testing.assert_allclose(merged["cmb_mean"], maps.mean(axis=0), rtol=1e-13, atol=1e-15)
    assert math.isclose(merged["systematic_cmb_power"], first["systematic_cmb_power"], rel_tol=1e-14)
