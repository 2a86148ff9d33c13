"""The recognize config: a good one loads (and its stored form reloads to the same hash), bad ones
are refused with one line, the CLI exits 2 and writes nothing, and the per-region verdict's run
configs load with the run config loader. No JAX."""

from __future__ import annotations

import copy

import pytest
import yaml

from compsep_hpc.config import load_config
from compsep_hpc.errors import ConfigError, RunFolderError
from compsep_hpc.recognition.config import parse_recognize
from compsep_hpc.recognition.folder import check_folder, create_folder

GOOD = {
    "name": "tiny_recognize",
    "nside": 8,
    "instrument": "litebird_quijote",
    "candidates": {"power_law": {"components": ["cmb", "dust", "synch"]},
                   "curved": {"components": ["cmb", "dust", "curved_synch"]},
                   "power_law_ame": {"components": ["cmb", "dust", "synch", "ame"]}},
    "training": {"sky": {"model": "synthetic", "seed": 11}, "realizations": 2},
    "test": {"sky": {"model": "synthetic", "seed": 3, "region_foregrounds": {"GAL020_U": ["dust", "curved_synch"]}},
             "regions": ["GAL020_U", "GAL060_L"]},
    "network": {"optimizers": ["adam"], "epochs": 1, "noiseless_training": False},
}


def test_good_config_resolves_and_its_stored_form_reloads_to_the_same_hash():
    config = parse_recognize(GOOD)
    assert config.labels == ("power_law", "curved", "power_law_ame")
    assert config.likelihood.region_patches == ("curv_synch", "nu_peak_ame")
    assert parse_recognize(yaml.safe_load(yaml.safe_dump(config.to_dict()))).sha256() == config.sha256()


def _broken(path: tuple, value) -> dict:
    raw = copy.deepcopy(GOOD)
    node = raw
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return raw


@pytest.mark.parametrize("path, value, message", [
    (("color",), 1, "unknown top-level key"),
    (("candidates",), {"one": {"components": ["cmb", "dust", "synch"]}}, "at least two"),
    (("candidates", "curved"), {"components": ["cmb", "dust", "bent_synch"]}, "unknown component"),
    (("candidates", "curved"), {"components": ["cmb", "dust", "synch"]}, "same components"),
    (("network", "optimizers"), ["sgd"], "network.optimizers"),
    (("network", "dropout"), 1.5, "network.dropout"),
    (("training", "validation_fraction"), 0.0, "validation_fraction"),
    (("test", "regions"), ["GAL999"], "unknown region"),
    (("likelihood",), {"region_patches": ["beta_cmb"]}, "no candidate's parameter"),
    (("likelihood",), {"enabled": False}, "needs likelihood.enabled"),
    (("nside",), 12, "power of two"),
])
def test_bad_configs_are_refused_with_one_line(path, value, message):
    raw = _broken(path, value)
    if path == ("likelihood",) and value == {"enabled": False}:
        raw["verdict"] = {"route": "bic"}
    with pytest.raises(ConfigError, match=message) as err:
        parse_recognize(raw)
    assert "\n" not in str(err.value)


def test_cli_refuses_a_bad_config_in_one_line_and_writes_nothing(tmp_path, capsys):
    from compsep_hpc import cli

    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({**GOOD, "network": {"optimizers": ["sgd"]}, "output": str(tmp_path / "out")}))
    before = sorted(p.name for p in tmp_path.iterdir())
    assert cli.main(["recognize", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("compsep-hpc: error: network.optimizers")
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert cli.main(["recognize", "--apply", str(tmp_path)]) == 2  # --apply needs --sky
    assert cli.main(["recognize", "--apply", str(tmp_path), "--sky", str(path)]) == 2  # no run there
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_a_folder_of_another_config_is_refused_and_left_alone(tmp_path):
    config = parse_recognize(GOOD)
    create_folder(config, tmp_path / "run")
    assert check_folder(config, tmp_path / "run")
    other = parse_recognize({**GOOD, "nside": 16})
    stored = (tmp_path / "run" / "recognize.json").read_text()
    with pytest.raises(RunFolderError, match="another config"):
        check_folder(other, tmp_path / "run")
    assert (tmp_path / "run" / "recognize.json").read_text() == stored
    (tmp_path / "stranger").mkdir()
    (tmp_path / "stranger" / "notes.txt").write_text("x")
    with pytest.raises(RunFolderError, match="holds no recognize run"):
        check_folder(config, tmp_path / "stranger")


def test_the_verdict_is_one_loadable_run_config_per_region_with_its_model(tmp_path):
    from compsep_hpc.recognition.verdict import write_verdict

    config = parse_recognize(GOOD)
    verdict = write_verdict(tmp_path, config, {"GAL020_U": 1, "GAL060_L": 2}, "bic")
    loaded = yaml.safe_load((tmp_path / "verdict.yaml").read_text())
    assert loaded["regions"]["GAL020_U"]["candidate"] == "curved" == verdict["regions"]["GAL020_U"]["candidate"]
    for region, candidate in (("GAL020_U", "curved"), ("GAL060_L", "power_law_ame")):
        run = load_config(tmp_path / "run_configs" / f"{region}.yaml")
        assert run.regions.names == (region,)
        assert run.model == config.candidates[candidate]
        assert set(run.grid.to_dict()) >= set(run.model.fitted)
        assert run.sky == config.test.sky
