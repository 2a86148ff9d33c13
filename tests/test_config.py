"""Run configs: defaults, validation, shipped configs, the run-folder round trip, simulate."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from compsep_hpc.cli import default_config_path, main
from compsep_hpc.config import load_config, parse_config
from compsep_hpc.errors import ConfigError, RunFolderError
from compsep_hpc.grid.work import work_list
from compsep_hpc.store.run_folder import check_run_folder, create_run_folder, load_run_folder
from conftest import REPO

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
    for path in (REPO / "configs").glob("*.yaml"):
        assert work_list(load_config(path))
    assert default_config_path().read_text() == (REPO / "configs" / "demo.yaml").read_text()
    assert len(work_list(load_config(REPO / "configs" / "litebird_c1d1s1.yaml"))) == 6 * 50 * 8 * 8


def test_hash_ignores_output_but_not_physics():
    a = parse_config({**MINIMAL, "output": "x"})
    assert a.sha256() == parse_config({**MINIMAL, "output": "y"}).sha256()
    assert a.sha256() != parse_config({**MINIMAL, "noise": {"seed": 2}}).sha256()


def test_run_folder_round_trip_and_refusal(tmp_path, tiny_raw_config):
    config = parse_config(tiny_raw_config)
    folder = tmp_path / "run"
    assert not check_run_folder(config, folder)
    create_run_folder(config, folder)
    loaded, meta = load_run_folder(folder)
    assert loaded == config and meta["config_sha256"] == config.sha256()
    other = parse_config({**tiny_raw_config, "noise": {"realizations": 4}})
    with pytest.raises(RunFolderError, match="another config"):
        check_run_folder(other, folder)
    skeleton = tmp_path / "killed_while_creating"  # config.yaml written, run.json not yet
    (skeleton / "checkpoints").mkdir(parents=True)
    (skeleton / "logs").mkdir()
    (skeleton / "config.yaml").write_text("partial")
    (skeleton / ".run.json.abc").write_text("{")
    assert not check_run_folder(config, skeleton)
    create_run_folder(config, skeleton)
    assert check_run_folder(config, skeleton) and load_run_folder(skeleton)[0] == config
    (tmp_path / "unrelated").mkdir()
    (tmp_path / "unrelated" / "notes.txt").write_text("keep me")
    with pytest.raises(RunFolderError, match="not empty"):
        check_run_folder(config, tmp_path / "unrelated")


def test_simulate_writes_sky_and_refuses_overwrite(tmp_path, tiny_raw_config, capsys):
    import yaml

    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump(tiny_raw_config))
    out = tmp_path / "sky.h5"
    assert main(["simulate", str(cfg), "--output", str(out)]) == 0
    with h5py.File(out) as f:
        maps = f["frequency_maps"][...]
        np.testing.assert_allclose(maps, f["cmb"][...][None] + f["foregrounds"][...])
        assert maps.shape == (15, 2, 12 * 8**2) and set(f["true_params"]) == {"beta_dust", "temp_dust", "beta_synch"}
        assert f.attrs["config_sha256"] == load_config(cfg).sha256()
    before = out.read_bytes()
    assert main(["simulate", str(cfg), "--output", str(out)]) == 2
    assert out.read_bytes() == before
    assert "exists" in capsys.readouterr().err
