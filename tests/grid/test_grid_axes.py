"""The grid has one axis per fitted parameter of the run's model: parsing, the resolved (hashed)
form, the work list, the multires baselines and the stored region grids, for the default model
and for a 4-parameter one (cmb, dust, curved_synch). No sky, no fit."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from compsep_hpc.config import load_config, parse_config
from compsep_hpc.errors import ConfigError
from compsep_hpc.grid.dry_run import region_line
from compsep_hpc.grid.region_grids import region_grids_from_json, region_grids_json, resolve_region_grid
from compsep_hpc.grid.work import multires_baseline_nsides, work_list

REPO = Path(__file__).resolve().parents[2]
FOUR = ("beta_dust", "temp_dust", "beta_synch", "curv_synch")


def test_the_config_hashes_are_those_of_the_three_named_fields():
    """The resolved grid keeps its axes at the top level of the section: every stored run keeps its
    id (values printed by main before the grid was keyed by the model's parameters)."""
    assert load_config(REPO / "configs" / "demo.yaml").sha256() == \
        "0c6ebc7181b2a4cef61c8a38fab457c978d4ed95682d6fc6260126b39a657d74"
    assert load_config(REPO / "configs" / "paper_nside64.yaml").sha256() == \
        "db6f4100f92ebcad93d021da46089e08f9ff74642b0faeec989e373edf7b872b"


def test_the_resolved_grid_section_has_the_axes_at_its_top_level(four_parameter_raw_config):
    config = parse_config(four_parameter_raw_config)
    assert config.model.fitted == FOUR and config.grid.parameters == FOUR
    assert config.grid.values == {"beta_dust": (1, 2), "temp_dust": (1,), "beta_synch": (1,), "curv_synch": (1, 3)}
    grid = config.to_dict()["grid"]
    assert list(grid) == [*FOUR, "strategy", "seed", "above_pixels", "multires_baseline"]
    assert grid["curv_synch"] == [1, 3]
    again = parse_config(config.to_dict())
    assert again == config and again.sha256() == config.sha256()


def test_a_fitted_parameter_without_its_axis_is_refused(four_parameter_raw_config):
    raw = four_parameter_raw_config
    del raw["grid"]["curv_synch"]
    with pytest.raises(ConfigError, match=r"^grid.curv_synch is required \(a fitted parameter of the model\)$"):
        parse_config(raw)


@pytest.mark.parametrize("model", [None, {"components": ["cmb", "dust", "curved_synch"], "fixed": {"curv_synch": 0.0}}])
def test_an_axis_of_a_parameter_that_is_not_fitted_is_refused(four_parameter_raw_config, model):
    """curv_synch is no parameter of the default model, and a fixed parameter is not fitted."""
    raw = {**four_parameter_raw_config, "model": model}
    with pytest.raises(ConfigError) as err:
        parse_config(raw)
    message = str(err.value)
    assert "\n" not in message and "curv_synch: not a fitted parameter of the model" in message
    assert "(beta_dust, temp_dust, beta_synch)" in message


def test_the_work_list_is_region_major_then_the_parameters_in_model_order(four_parameter_raw_config):
    raw = {**four_parameter_raw_config, "regions": ["GAL060_U", "GAL020_L"]}
    config = parse_config(raw)
    items = work_list(config)
    points = list(itertools.product((1, 2), (1,), (1,), (1, 3)))
    assert [(it.region, it.grid_values) for it in items] == [(r, p) for r in ("GAL060_U", "GAL020_L") for p in points]
    assert [it.item_id for it in items] == list(range(8)) and all(len(it.grid_values) == 4 for it in items)


def test_the_default_models_item_ids_are_unchanged():
    """The item order of the three named fields: region, then K_beta_dust, K_temp_dust, K_beta_synch."""
    config = load_config(REPO / "configs" / "paper_nside64.yaml")
    g = config.grid.values
    expected = [(r, (a, b, c)) for r in config.regions.names
                for a in g["beta_dust"] for b in g["temp_dust"] for c in g["beta_synch"]]
    expected += [(r, multires_baseline_nsides(r, preset, 64, config.model.fitted))
                 for preset in ("default", "alternative") for r in config.regions.names]
    assert [(it.region, it.grid_values) for it in work_list(config)] == expected
    assert multires_baseline_nsides("GAL040_U", "default", 64, config.model.fitted) == (64, 4, 2)
    assert multires_baseline_nsides("GAL060_L", "alternative", 4, config.model.fitted) == (4, 4, 4)


def test_a_parameter_a_multires_preset_does_not_name_gets_one_patch(four_parameter_raw_config):
    config = parse_config({**four_parameter_raw_config, "grid": {**four_parameter_raw_config["grid"],
                                                                 "multires_baseline": ["default"]}})
    assert multires_baseline_nsides("GAL060_U", "default", 8, FOUR) == (8, 8, 4, 0)
    baseline = work_list(config)[-1]
    assert (baseline.preset, baseline.strategy, baseline.grid_values) == ("default", "multires", (8, 8, 4, 0))


def test_region_grids_round_trip_with_every_parameter(four_parameter_raw_config):
    raw = four_parameter_raw_config
    config = parse_config({**raw, "grid": {**raw["grid"], "curv_synch": [1, 3, 9], "above_pixels": "cap"}})
    grid = resolve_region_grid(config.grid, "R", 5, 8)
    assert grid.values == ((1, 2), (1,), (1,), (1, 3, 5)) and grid.above == ((), (), (), (9,))
    assert grid.n_configurations() == 6
    stored = region_grids_json(config.grid, {"R": grid})
    assert stored["regions"]["R"]["curv_synch"] == [1, 3, 5]
    assert stored["regions"]["R"]["above_pixels_values"]["curv_synch"] == [9]
    assert region_grids_from_json(stored, FOUR) == {"R": grid}
    assert region_line("R", grid, config.model.patch_keys, "cap", False) == \
        "  R         5 pixels, 6 grid items: K_curv_synch 9 -> 5"
    multires = parse_config({**raw, "grid": {**raw["grid"], "strategy": "multires", "curv_synch": [0, 2]}})
    assert resolve_region_grid(multires.grid, "R", 5, 8).above == ((), (), (), ())
