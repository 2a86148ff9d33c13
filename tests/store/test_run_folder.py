"""The run folder (compsep_hpc.store.run_folder): created for one config, reloaded, and refused
to another config or when it holds unrelated files."""

from __future__ import annotations

import pytest

from compsep_hpc.config import parse_config
from compsep_hpc.errors import RunFolderError
from compsep_hpc.store.run_folder import check_run_folder, create_run_folder, load_run_folder


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
