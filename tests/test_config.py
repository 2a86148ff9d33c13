"""Run configs: defaults, validation, shipped configs, the config hash."""

from __future__ import annotations

from pathlib import Path

import pytest

from compsep_hpc.cli import default_config_path
from compsep_hpc.config import load_config, parse_config
from compsep_hpc.errors import ConfigError
from compsep_hpc.grid.work import work_list

REPO = Path(__file__).resolve().parents[1]

MINIMAL = {"sky": {"model": "synthetic"}, "regions": ["GAL020_U"],
           "grid": {"beta_dust": [1], "temp_dust": [1], "beta_synch": [1]}}


def test_short_file_gets_defaults():
    c = parse_config(MINIMAL, "configs/short.yaml")
    assert (c.name, c.nside, c.output, c.instrument.name) == ("short", 64, "results/short", "litebird")
    assert c.noise.realizations == 10 and c.fit.likelihood == "auto"
    assert (c.fit.method, c.fit.linear_solver, c.fit.gradient_tolerance) == ("newton", "cg", 1e-12)
    lbfgs = parse_config({**MINIMAL, "fit": {"method": "lbfgs"}}).fit
    assert lbfgs.gradient_tolerance == 1e-9
    assert parse_config({**MINIMAL, "fit": {"gtol": 1e-10}}).fit.gradient_tolerance == 1e-10


@pytest.mark.parametrize("change, message", [
    ({"nside": 12}, "power of two"),
    ({"instrument": "planck"}, "unknown instrument"),
    ({"regions": ["GAL030_U"]}, "unknown region"),
    ({"colour": 1}, "unknown top-level"),
    ({"grid": {"beta_dust": [0], "temp_dust": [1], "beta_synch": [1]}}, ">= 1"),
    ({"fit": {"start": {"beta_dust": 9.0}}}, "outside its bounds"),
    ({"fit": {"method": "bfgs"}}, "fit.method must be one of newton, lbfgs"),
    ({"fit": {"linear_solver": "lu"}}, "fit.linear_solver must be one of schur, cg"),
    ({"sky": {"model": "synthetic_clustered"}}, "true_patches"),
])
def test_bad_configs_raise_config_error(change, message):
    with pytest.raises(ConfigError, match=message):
        parse_config({**MINIMAL, **change})


def test_shipped_configs_parse_and_demo_is_embedded():
    from compsep_hpc.recognition.config import load_recognize

    for path in (REPO / "configs").glob("*.yaml"):
        if path.name.startswith("recognize_"):  # compsep-hpc recognize's own configs
            assert len(load_recognize(path).candidates) >= 2
            continue
        assert work_list(load_config(path))
    assert default_config_path().read_text() == (REPO / "configs" / "demo.yaml").read_text()
    # the config's grid in every region (before each region's cap at its pixel count), and the two baselines
    assert len(work_list(load_config(REPO / "configs" / "litebird_c1d1s1.yaml"))) == 6 * 50 * 8 * 8 + 6 * 2


def test_hash_ignores_output_but_not_physics():
    a = parse_config({**MINIMAL, "output": "x"})
    assert a.sha256() == parse_config({**MINIMAL, "output": "y"}).sha256()
    assert a.sha256() != parse_config({**MINIMAL, "noise": {"seed": 2}}).sha256()


def test_overrides_set_keys_as_yaml_and_leave_the_file_alone(tmp_path):
    """``compsep-hpc run CONFIG --set KEY=VALUE``: the run's config is the file's with those keys set."""
    path = tmp_path / "c.yaml"
    text = "name: base\nnside: 8\nsky: {model: synthetic, seed: 0}\nregions: [GAL060_U]\n" \
           "grid: {beta_dust: [1, 2], temp_dust: [1], beta_synch: [1]}\nnoise: {realizations: 2, seed: 5}\n"
    path.write_text(text)
    base = load_config(path)
    other = load_config(path, ["sky.foreground_seed=1", "name=other_sky", "grid.temp_dust=[1, 2]", "fit.method=newton"])
    assert path.read_text() == text
    assert other.sky.foreground_seed == 1 and base.sky.foreground_seed is None
    assert other.name == "other_sky" and other.output == "results/other_sky"
    assert other.grid.values["temp_dust"] == (1, 2) and other.sky.seed == base.sky.seed
    assert other.sha256() != base.sha256()  # a folder of the base config refuses it (and the reverse)
    assert load_config(path, ["name=other_sky", "sky.foreground_seed=1", "grid.temp_dust=[1, 2]"]).sha256() \
        == load_config(path, ["grid.temp_dust=[1, 2]", "sky.foreground_seed=1", "name=other_sky"]).sha256()
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        load_config(path, ["=3"])
    with pytest.raises(ConfigError, match="not a section"):
        load_config(path, ["regions.names=[GAL020_U]"])
