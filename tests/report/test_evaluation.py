"""``compsep-hpc evaluate``: a reduced run's picks refitted on the sky of another foreground seed
(compsep_hpc.report.evaluation), on real records of a small run (the config of test_combine.py,
whose compiled fits the session's cache already holds when that module ran first)."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from compsep_hpc import __version__
from compsep_hpc.cli import main
from compsep_hpc.config import parse_config
from compsep_hpc.errors import CompsepError
from compsep_hpc.grid.experiment import Experiment
from compsep_hpc.grid.work import work_list
from compsep_hpc.report.evaluation import evaluate_run, evaluation_config, evaluation_folder, selection_baselines, selection_picks
from compsep_hpc.report.reduce import reduce_run
from compsep_hpc.store.checkpoint import CheckpointWriter, read_records
from compsep_hpc.store.records import record_units
from compsep_hpc.store.run_folder import config_yaml, create_run_folder, load_run_folder, write_templates
from test_combine import COMPARE, write_symmetric_masks  # tests/report/test_combine.py

SEED = 11
FITTED: list[tuple] = []
"""The label shapes of every fit the fixture's evaluation made (one entry per fit)."""


@pytest.fixture(scope="module")
def reduced_run(tmp_path_factory):
    """Real records of every item of COMPARE, reduced (selection.json), and its evaluation at SEED."""
    root = tmp_path_factory.mktemp("evaluate")
    masks = write_symmetric_masks(root / "masks.npz", COMPARE["nside"])
    config = parse_config({**COMPARE, "regions": {"names": COMPARE["regions"], "mask_file": str(masks)}})
    folder = root / "run"
    exp = Experiment(config)
    create_run_folder(config, folder)
    write_templates(folder, *exp.templates)
    with CheckpointWriter(folder, rank=0, n_ranks=1, launch_id="L1", config_sha256=config.sha256(),
                          config_yaml=config_yaml(config), package_version=__version__, units=record_units(config.model)) as w:
        for item in work_list(config):
            w.append(item.item_id, exp.record(item))
    selection = reduce_run(folder, plots=False)
    import compsep_hpc.grid.experiment as experiment_module

    fit = experiment_module.evaluate_configuration

    def counted(data, labels, *args, **kwargs):
        FITTED.append(labels.shape)
        return fit(data, labels, *args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(experiment_module, "evaluate_configuration", counted)
        summary = evaluate_run(folder, SEED)
    return config, folder, selection, summary


def _picked_ids(selection: dict) -> set[int]:
    """Every item selection.json names: each criterion's pick and each preset's baseline."""
    return {p["item_id"] for info in selection["regions"].values()
            for p in [*info.values(), *selection_baselines(info).values()] if isinstance(p, dict) and "item_id" in p}


def test_evaluate_writes_its_folder_with_the_new_seed_stored(reduced_run):
    config, folder, selection, summary = reduced_run
    out = evaluation_folder(folder, SEED)
    assert out == folder / "evaluations" / f"foreground_seed_{SEED}"
    on_disk = json.loads((out / "evaluation.json").read_text())
    assert on_disk == summary
    eval_config, _ = load_run_folder(out)  # a run folder of the evaluation's config
    assert eval_config.sky.foreground_seed == SEED and on_disk["config"]["sky"]["foreground_seed"] == SEED
    assert eval_config == evaluation_config(config, SEED)
    assert (summary["foreground_seed"], summary["sky_seed"], summary["noise_seed"]) == (SEED, 5, 9)
    assert summary["config_sha256"] == eval_config.sha256() != summary["run_config_sha256"] == config.sha256()
    assert summary["package_version"] == __version__ and summary["n_resumed"] == 0
    # every pick of selection.json, once each, with the run's record schema
    records = read_records(out, config_sha256=eval_config.sha256())
    picked = _picked_ids(selection)
    assert sorted(r["item_id"] for r in records) == sorted(picked) and summary["n_refits"] == len(picked)
    run_records = {r["item_id"]: r for r in read_records(folder)}
    assert all(set(r) == set(run_records[r["item_id"]]) for r in records)
    for region, info in selection["regions"].items():
        assert set(summary["regions"][region]) == set(selection_picks(selection)[region])
        for preset, base in info["multires_baselines"].items():
            assert summary["regions"][region][f"multires_baseline_{preset}"]["item_id"] == base["item_id"]
    rows = list(csv.DictReader((out / "evaluation.csv").open()))
    assert len(rows) == sum(len(by_key) for by_key in summary["regions"].values())
    row = next(r for r in rows if r["region"] == "GAL060_U" and r["pick"] == "min_r_upper")
    pick = summary["regions"]["GAL060_U"]["min_r_upper"]
    assert float(row["r_upper"]) == pytest.approx(pick["r_upper"])
    assert float(row["run_sky_r_upper"]) == pytest.approx(selection["regions"]["GAL060_U"]["min_r_upper"]["r_upper"])
    assert (out / "items.csv").read_text().count("\n") == len(picked) + 1
    comb = summary["combined"]["min_r_upper"]
    assert comb["r_upper"] == pytest.approx(comb["r_hat"] + comb["sigma_r"]) and {"multires_baseline_default", "multires_baseline_alternative"} <= set(summary["combined"])


def test_each_picked_item_is_fitted_once(reduced_run):
    """The combined (stitched) figures reuse the fits made for the items' records (keep_results)."""
    _, _, selection, summary = reduced_run
    assert summary["n_refits"] == len(_picked_ids(selection)) > len(selection["regions"])
    assert len(FITTED) == summary["n_refits"]


def test_the_new_sky_changes_the_foregrounds_only(reduced_run):
    """Same CMB and noise: the figures move because the foregrounds do."""
    config, folder, selection, summary = reduced_run
    run_sky, new_sky = Experiment(config).sky, Experiment(evaluation_config(config, SEED)).sky
    np.testing.assert_array_equal(new_sky.cmb, run_sky.cmb)
    np.testing.assert_array_equal(new_sky.foreground_intensity, run_sky.foreground_intensity)
    assert not np.allclose(new_sky.foregrounds, run_sky.foregrounds)
    moved = [p["r_upper"] != pytest.approx(p["run_sky"]["r_upper"], rel=1e-6)
             for by_key in summary["regions"].values() for p in by_key.values()]
    assert any(moved)


def test_a_complete_evaluation_is_never_overwritten_and_an_interrupted_one_resumes(reduced_run, capsys):
    config, folder, selection, summary = reduced_run
    out = evaluation_folder(folder, SEED)
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    with pytest.raises(CompsepError, match="already holds a complete evaluation"):
        evaluate_run(folder, SEED)
    assert main(["evaluate", str(folder), "--foreground-seed", str(SEED)]) == 2
    err = capsys.readouterr().err
    assert err.splitlines() == [err.strip()] and "already holds a complete evaluation" in err
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
    (out / "evaluation.json").unlink()  # as if killed before the end: the records are kept, not refitted
    again = evaluate_run(folder, SEED)
    assert again["n_resumed"] == again["n_refits"] == summary["n_refits"]
    assert again["regions"] == summary["regions"] and again["combined"] == summary["combined"]


def test_the_run_s_own_foreground_seed_reproduces_its_figures(reduced_run):
    """Evaluating at the seed the run was drawn with refits exactly what reduce scored."""
    config, folder, selection, _ = reduced_run
    own = evaluate_run(folder, config.sky.foreground_rng_seed)
    for region, by_key in own["regions"].items():
        for key, p in by_key.items():
            for figure in ("cmb_mse", "r_upper", "r_upper_holdout"):
                assert p[figure] == pytest.approx(selection_picks(selection)[region][key][figure], rel=1e-10), (region, key)


def test_missing_selection_and_multires_baselines_per_preset(tmp_path, reduced_run):
    config, *_ = reduced_run
    create_run_folder(config, tmp_path / "bare")
    with pytest.raises(CompsepError, match="no readable selection.json: run `compsep-hpc reduce"):
        evaluate_run(tmp_path / "bare", SEED)
    assert not (tmp_path / "bare" / "evaluations").exists()
    a, b = {"item_id": 1}, {"item_id": 2}
    assert selection_baselines({"multires_baseline": a}) == {"multires_baseline": a}
    assert selection_baselines({"multires_baselines": {"default": a, "alternative": b}}) == {
        "multires_baseline_default": a, "multires_baseline_alternative": b}
    assert selection_baselines({}) == {}


def test_evaluate_refuses_several_tasks(tmp_path, monkeypatch):
    monkeypatch.setenv("PMI_SIZE", "2")
    with pytest.raises(CompsepError, match="evaluate runs in one process"):
        evaluate_run(tmp_path, SEED)
