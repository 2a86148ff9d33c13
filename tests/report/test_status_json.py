"""``compsep-hpc status DIR --json``: the same figures as the text, machine-readable, no JAX."""

from __future__ import annotations

import json

import numpy as np
import pytest

from compsep_hpc import __version__, cli
from compsep_hpc.config import parse_config
from compsep_hpc.grid.work import work_list
from compsep_hpc.model.sky_model import DEFAULT_MODEL
from compsep_hpc.report.status import format_status, status_summary
from compsep_hpc.store.checkpoint import CheckpointWriter
from compsep_hpc.store.records import check_record
from compsep_hpc.store.run_folder import config_yaml, create_run_folder

RAW = {"name": "st", "nside": 8, "sky": {"model": "synthetic"}, "regions": ["GAL060_U", "GAL060_L"],
       "grid": {"beta_dust": [1, 2, 3], "temp_dust": [1], "beta_synch": [1]}, "noise": {"realizations": 2}}


def _record(n_unconverged: int, sys_ok: bool, seconds: float) -> dict:
    return check_record({"n_unconverged": n_unconverged, "systematic_converged": sys_ok, "seconds": seconds,
                         "n_at_bound": np.array([[1, 0, 0], [0, 0, 2]]), "region": "x"}, DEFAULT_MODEL)


@pytest.fixture
def run(tmp_path):
    config = parse_config(RAW)
    folder = tmp_path / "run"
    create_run_folder(config, folder)
    writers = [CheckpointWriter(folder, rank=r, n_ranks=2, launch_id="L1", config_sha256=config.sha256(),
                                config_yaml=config_yaml(config), package_version=__version__) for r in range(2)]
    writers[0].append(0, _record(0, True, 2.0))
    writers[0].append(1, _record(1, True, 4.0))
    writers[1].append(4, _record(0, False, 6.0))
    return config, folder


def test_json_status_counts_and_eta(run, capsys):
    config, folder = run
    assert cli.main(["status", str(folder), "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert s == json.loads(json.dumps(status_summary(folder)))
    assert (s["items_done"], s["items_total"], s["complete"]) == (3, len(work_list(config)), False)
    assert s["regions"] == {"GAL060_U": {"done": 2, "total": 3}, "GAL060_L": {"done": 1, "total": 3}}
    assert s["unconverged_items"] == [1] and s["systematic_unconverged_items"] == [4]
    assert s["at_bound"] == {"noise_fits": 6, "beta_dust": 3, "temp_dust": 0, "beta_synch": 6, "fits_with_any": 6}
    assert (s["record_files"], s["ranks_seen"], s["launches"], s["latest_n_ranks"]) == (2, 2, 1, 2)
    assert s["mean_seconds_per_item"] == pytest.approx(4.0)
    assert s["eta_seconds"] == pytest.approx(3 * 4.0 / 2)  # 3 items left x 4 s / 2 ranks
    assert s["stage_seconds"] is None  # records without the per-stage breakdown (written before it)
    assert s["config_sha256"] == config.sha256() and s["package_version"] == __version__


def test_text_status_prints_the_json_figures(run, capsys):
    _, folder = run
    assert cli.main(["status", str(folder)]) == 0
    text = capsys.readouterr().out
    assert text.strip() == format_status(status_summary(folder))
    assert "items done: 3 / 6" in text
    assert "items with unconverged realizations: 1 (ids 1)" in text
    assert "items with unconverged systematic fit: 1 (ids 4)" in text
    assert "ETA (remaining 3 items x 4 s / 2 rank(s) of the latest launch L1): 00h00m06s" in text
