"""status, reduce (items.csv, selection.json, summary, plots) and the grid plot of a run whose model
fits four parameters (cmb, dust, curved_synch: beta_dust, temp_dust, beta_synch, curv_synch), on a
hand-made run folder of synthetic records (conftest ``synthetic_record``): no fit."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from compsep_hpc import __version__, cli
from compsep_hpc.config import parse_config
from compsep_hpc.grid.work import work_list
from compsep_hpc.store.item_rows import items_columns
from compsep_hpc.report.plots import grid_curves, plot_grid
from compsep_hpc.report.reduce import reduce_run
from compsep_hpc.report.summary import format_selection
from compsep_hpc.store.checkpoint import CheckpointWriter
from compsep_hpc.store.records import record_units
from compsep_hpc.store.run_folder import config_yaml, create_run_folder

FOUR = ("beta_dust", "temp_dust", "beta_synch", "curv_synch")
MSE = {0: 3.0, 1: 2.0, 2: 1.0, 3: 4.0}  # items (K_beta_dust, K_curv_synch) = (1, 1), (1, 3), (2, 1), (2, 3)


@pytest.fixture(scope="module")
def four_run(tmp_path_factory, synthetic_record):
    raw = {"name": "four", "nside": 8, "sky": {"model": "synthetic", "seed": 1}, "regions": ["GAL060_U"],
           "model": {"components": ["cmb", "dust", "curved_synch"]},
           "grid": {"beta_dust": [1, 2], "temp_dust": [1], "beta_synch": [1], "curv_synch": [1, 3]},
           "noise": {"realizations": 3}}
    config = parse_config(raw)
    folder = tmp_path_factory.mktemp("four") / "run"
    create_run_folder(config, folder)
    with CheckpointWriter(folder, rank=0, n_ranks=1, launch_id="L1", config_sha256=config.sha256(),
                          config_yaml=config_yaml(config), package_version=__version__,
                          units=record_units(config.model)) as writer:
        for item in work_list(config)[:3]:  # item 3 not done
            writer.append(item.item_id, synthetic_record(item, config.model, item.grid_values, seed=item.item_id,
                                                         cmb_mse=MSE[item.item_id]))
    return config, folder


def test_status_json_counts_every_parameter_on_a_bound(four_run, capsys):
    _, folder = four_run
    assert cli.main(["status", str(folder), "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert (s["items_done"], s["items_total"]) == (3, 4) and s["fitted_parameters"] == list(FOUR)
    # each record: realization r has (r + i) % 2 patches of parameter i on a bound, r = 0, 1, 2
    assert s["at_bound"] == {"noise_fits": 9, "beta_dust": 3, "temp_dust": 6, "beta_synch": 3, "curv_synch": 6,
                             "fits_with_any": 9}
    assert s["stage_seconds"] == {"items": 3, "prepare": 0.75, "systematic_fit": 0.75, "noisy_fits": 3.0,
                                  "cmb_maps": 0.375, "spectra": 0.375, "r": 0.375, "write": 0.375, "compile": 0.0}
    assert cli.main(["status", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "beta_dust 3, temp_dust 6, beta_synch 3, curv_synch 6 (fits with any: 9)" in out
    assert ("time per stage, summed over 3 item(s): prepare 0.75 s (12 %), systematic_fit 0.75 s (12 %), "
            "noisy_fits 3 s (50 %), cmb_maps 0.375 s (6 %)") in out


def test_reduce_writes_every_parameters_columns_picks_and_plots(four_run):
    config, folder = four_run
    selection = reduce_run(folder)
    with open(folder / "items.csv", newline="") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
    assert tuple(reader.fieldnames) == items_columns(FOUR)
    assert {"K_curv_synch", "n_patches_curv_synch", "at_bound_curv_synch"} <= set(reader.fieldnames)
    r1 = rows[1]
    assert (r1["K_beta_dust"], r1["K_curv_synch"], r1["n_patches_curv_synch"]) == ("1", "3", "3")
    assert int(r1["n_parameters"]) == 1 + 1 + 1 + 3 and float(r1["at_bound_temp_dust"]) == pytest.approx(2 / 3)
    pick = selection["regions"]["GAL060_U"]["min_cmb_mse"]
    assert list(pick)[:4] == [f"K_{p}" for p in FOUR] and pick["item_id"] == 2
    assert (pick["K_beta_dust"], pick["K_curv_synch"], pick["n_parameters"]) == (2, 1, 5)
    assert {f"at_bound_{p}" for p in FOUR} <= set(pick)
    text = format_selection(selection)
    assert "(beta_dust/temp_dust/beta_synch/curv_synch)" in text
    assert "K_beta_dust K_temp_dust K_beta_synch K_curv_synch" in text
    line = next(x for x in text.splitlines() if x.startswith("GAL060_U"))
    assert line.split()[3:7] == ["2", "1", "1", "1"] and line.split()[-1] == "0.333/0.667/0.333/0.667"
    assert (folder / "summary.txt").read_text() == text + "\n"
    assert set(selection["plots"]) == {"plots/grid_GAL060_U.png", "plots/patches_GAL060_U.png"}
    assert all((folder / rel).stat().st_size > 5000 for rel in selection["plots"])


def test_the_grid_plot_has_one_curve_per_combination_of_the_other_parameters(tmp_path):
    counts = {"K_beta_dust": np.array([1, 2, 1, 2, 1, 2]), "K_temp_dust": np.array([1, 1, 1, 1, 5, 5]),
              "K_beta_synch": np.ones(6, int), "K_curv_synch": np.array([1, 1, 3, 3, 1, 1])}
    curves = grid_curves(counts)
    assert [label for label, _ in curves] == ["K_temp_dust=1, K_beta_synch=1, K_curv_synch=1",
                                              "K_temp_dust=1, K_beta_synch=1, K_curv_synch=3",
                                              "K_temp_dust=5, K_beta_synch=1, K_curv_synch=1"]
    assert [list(np.flatnonzero(mask)) for _, mask in curves] == [[0, 1], [2, 3], [4, 5]]
    assert [label for label, _ in grid_curves({"K_beta_dust": np.array([3, 1, 2])})] == ["all items"]
    y = np.arange(6.0) + 1
    for name, subset in (("four.png", counts), ("one.png", {"K_beta_dust": counts["K_beta_dust"]})):
        path = plot_grid(tmp_path / name, subset, y, -y, np.zeros(6, bool), 2, title="t")
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_fitted_model_table_reports_each_fitted_parameter_per_region(four_run, capsys):
    """scripts/fitted_model_table.py (the README's curved-synchrotron table): one row per region
    of the chosen item, the sky's true foregrounds, the fitted model and curv_synch's mean +- std."""
    import importlib.util
    from pathlib import Path

    from compsep_hpc.store.checkpoint import read_records

    path = Path(__file__).resolve().parents[2] / "scripts" / "fitted_model_table.py"
    spec = importlib.util.spec_from_file_location("fitted_model_table", path)
    table = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(table)
    _, folder = four_run
    assert table.main([str(folder), "--item", "K_beta_dust=2,K_curv_synch=1", "--parameters", "curv_synch"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| GAL060_U")]
    record = next(r for r in read_records(folder) if (r["K_beta_dust"], r["K_curv_synch"]) == (2, 1))
    mean, std = record["curv_synch_mean"][0], record["curv_synch_std"][0]
    assert len(rows) == 1 and "| dust + synch | cmb + dust + curved_synch |" in rows[0]
    assert f"{mean:+.4f} ± {std:.4f}; noiseless {record['systematic_curv_synch'][0]:+.4f}" in rows[0]
    assert table.main([str(folder), "--parameters", "curv_synch"]) == 2  # three items in GAL060_U: ambiguous
    assert "several items in GAL060_U" in capsys.readouterr().err


def test_item_cost_table_lists_every_timed_item_and_the_stage_shares(four_run, capsys):
    """scripts/item_cost_table.py (the README's cost table): a row per record with its seconds per
    stage (conftest SYNTHETIC_STAGE_SECONDS: 2 s, half in noisy_fits) and the shares over them."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "scripts" / "item_cost_table.py"
    spec = importlib.util.spec_from_file_location("item_cost_table", path)
    table = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(table)
    _, folder = four_run
    assert table.main([str(folder)]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| ") and "GAL060_U" in line]
    assert len(rows) == 3 and all(row.endswith("| 2.00 |") for row in rows)
    assert "share over 3 items: prepare 12.5 %, systematic_fit 12.5 %, noisy_fits 50.0 %" in out
