"""K-means against both multi-resolution baselines, selected on r_upper in one reduce
(compsep_hpc.report.reduce), the stitched combination of regions (compsep_hpc.report.combine), and
``compsep-hpc evaluate``: the reduced run's picks refitted on the sky of another foreground seed
(compsep_hpc.report.evaluation); all on the real records of one small run, fitted once."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import healpy as hp
import numpy as np
import pytest

from compsep_hpc import __version__
from compsep_hpc.cli import main
from compsep_hpc.config import parse_config
from compsep_hpc.errors import CompsepError
from compsep_hpc.grid.experiment import Experiment
from compsep_hpc.grid.work import work_list
from compsep_hpc.report.combine import combined_figures
from compsep_hpc.report.evaluation import evaluate_run, evaluation_config, evaluation_folder, selection_baselines, selection_picks
from compsep_hpc.report.reduce import reduce_run
from compsep_hpc.store.checkpoint import CheckpointWriter, read_records
from compsep_hpc.store.records import record_units
from compsep_hpc.store.run_folder import config_yaml, create_run_folder, load_run_folder, write_templates

COMPARE = {
    "name": "compare", "nside": 8, "sky": {"model": "synthetic", "seed": 5},
    "regions": ["GAL060_U", "GAL060_L"],  # from a north-south symmetric mask file: see compare_run
    "grid": {"beta_dust": [1, 3], "temp_dust": [1], "beta_synch": [1], "multires_baseline": ["default", "alternative"]},
    "noise": {"realizations": 4, "seed": 9, "holdout": 2},
}


def write_symmetric_masks(path: Path, nside: int) -> Path:
    """GAL020/GAL040/GAL060 masks (.npz, RING) of an intensity that is bright on the Galactic
    plane, varies with longitude, and is exactly the same at b and -b."""
    theta, phi = hp.pix2ang(nside, np.arange(12 * nside**2))
    intensity = (1.0 + 0.3 * np.cos(phi)) / (np.abs(np.cos(theta)) + 0.05)
    intensity = 0.5 * (intensity + intensity[hp.ang2pix(nside, np.pi - theta, phi)])  # mirror pixels: equal
    np.savez(path, **{k: (intensity <= np.quantile(intensity, f)).astype(np.uint8)
                      for k, f in (("GAL020", 0.2), ("GAL040", 0.4), ("GAL060", 0.6))})
    return path


@pytest.fixture(scope="module")
def compare_run(tmp_path_factory):
    """Real records of every item of COMPARE in a run folder, reduced on r_upper.

    The regions come from a mask file symmetric between the Galactic north and south, so that
    GAL060_U and GAL060_L hold as many pixels and their items share compiled fits (half the
    compilations of two regions of different sizes; the fits themselves see different skies)."""
    root = tmp_path_factory.mktemp("compare")
    masks = write_symmetric_masks(root / "masks.npz", COMPARE["nside"])
    config = parse_config({**COMPARE, "regions": {"names": COMPARE["regions"], "mask_file": str(masks)}})
    folder = root / "run"
    exp = Experiment(config)
    assert exp.pixels("GAL060_U").size == exp.pixels("GAL060_L").size > 0
    create_run_folder(config, folder)
    write_templates(folder, *exp.templates)
    records = {}
    with CheckpointWriter(folder, rank=0, n_ranks=1, launch_id="L1", config_sha256=config.sha256(),
                          config_yaml=config_yaml(config), package_version=__version__, units=record_units(config.model)) as w:
        for item in work_list(config):
            records[item.item_id] = exp.record(item)
            w.append(item.item_id, records[item.item_id])
    return config, exp, folder, records, reduce_run(folder, criterion="min_r_upper")


def test_one_reduce_reports_kmeans_and_both_multires_presets_per_region_and_combined(compare_run):
    config, _, folder, records, sel = compare_run
    items = work_list(config)
    assert [(it.strategy, it.preset) for it in items] == [("kmeans", "")] * 4 + [("multires", "default")] * 2 + [
        ("multires", "alternative")] * 2
    assert [it.grid_values for it in items[4:]] == [(8, 8, 4)] * 2 + [(8, 8, 8)] * 2  # GAL060, capped at nside 8
    for region in config.regions.names:
        info = sel["regions"][region]
        kmeans = [i for i, it in enumerate(items) if it.region == region and it.strategy == "kmeans"
                  and records[i]["n_unconverged"] == 0]
        best = min(kmeans, key=lambda i: records[i]["r_upper"])
        assert info["min_r_upper"]["item_id"] == best
        assert info["min_r_upper"]["r_upper"] == pytest.approx(records[best]["r_upper"])
        assert set(info["multires_baselines"]) == {"default", "alternative"}
        for preset, base in info["multires_baselines"].items():
            baseline = next(i for i, it in enumerate(items) if it.region == region and it.preset == preset)
            assert records[baseline]["baseline_preset"] == preset
            assert base["item_id"] == baseline
            assert base["r_upper"] == pytest.approx(records[baseline]["r_upper"])
            assert base["r_upper_holdout"] == pytest.approx(records[baseline]["r_upper_holdout"])
            assert base["n_unconverged"] == records[baseline]["n_unconverged"]
    combined = [sel["combined"]["min_r_upper"], *sel["combined"]["multires_baselines"].values()]
    assert list(sel["combined"]["multires_baselines"]) == ["default", "alternative"]
    for comb in combined:
        assert comb["n_pix"] == sum(sel["regions"][r]["n_pix"] for r in config.regions.names)
        assert comb["r_upper"] == pytest.approx(comb["r_hat"] + comb["sigma_r"])
        assert comb["r_95"] >= comb["r_upper"] > 0 and "r_upper_holdout" in comb
    assert len({c["r_upper"] for c in combined}) == 3  # three different stitchings
    summary = (folder / "summary.txt").read_text()
    for preset in ("default", "alternative"):
        assert f"combined multires baselines {preset} (stitched, f_sky" in summary
        assert summary.count(f"  (multires {preset} patch nsides") == 2
    for plot in ("residual_spectra.png", "r_likelihood.png", "r_upper_GAL060_U.png", "r_upper_GAL060_L.png"):
        assert (folder / "plots" / plot).stat().st_size > 0
    with open(folder / "items.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["baseline_preset"] for r in rows] == ["", "", "", "", "default", "default", "alternative", "alternative"]


def test_r_plots_have_a_panel_per_region_and_combined_with_the_legend_outside(compare_run, monkeypatch):
    """Fig. 10/12 and the r_hat histogram: one panel per region plus the combined one, three methods
    (the K-means pick and both presets) in each, error bars on the statistical bandpowers, one figure legend and no legend over the data."""
    from compsep_hpc.report import r_plots

    config, exp, folder, records, sel = compare_run
    figures = {}

    def keep(fig, path, dpi=100, tight=False):
        figures[Path(path).name] = fig

    monkeypatch.setattr(r_plots, "save_figure", keep)
    items = work_list(config)
    comb = combined_figures(exp, {r: items[sel["regions"][r]["min_r_upper"]["item_id"]] for r in config.regions.names})
    rows = [{**rec, "item_id": i, "region": items[i].region, "strategy": items[i].strategy} for i, rec in records.items()]
    written = r_plots.r_plots(folder, exp, sel, rows, comb, {"default": comb, "alternative": comb})
    assert {"plots/residual_spectra.png", "plots/r_likelihood.png", "plots/r_hat_realizations.png"} <= set(written)
    methods = [r_plots.KMEANS_LABEL, "multires default", "multires alternative"]
    for name in ("residual_spectra.png", "r_likelihood.png", "r_hat_realizations.png"):
        fig = figures[name]
        axes = [ax for ax in fig.axes if ax.get_visible()]
        assert [ax.get_title() for ax in axes] == [*config.regions.names, "combined"], name
        assert all(ax.get_legend() is None for ax in axes) and len(fig.legends) == 1, name
        labels = [t.get_text() for t in fig.legends[0].get_texts()]
        assert all(any(m in t for t in labels) for m in methods), (name, labels)
    spectra = figures["residual_spectra.png"]
    for ax in spectra.axes[:3]:
        assert len(ax.containers) == 3  # an error bar series per method
        assert len(ax.get_xticks()) <= 8 and all(float(t).is_integer() for t in ax.get_xticks())
    n_in = config.noise.realizations - config.noise.holdout
    for ax in figures["r_hat_realizations.png"].axes[:3]:
        assert len(ax.patches) == 3  # a step histogram per method
        assert sum(len(line.get_xdata()) for line in ax.lines) == 3 * 2  # each method's forecast r_hat line
    assert all(len(rec["r_hat_realizations"]) == n_in and len(rec["cl_total_std"]) == len(rec["cl_total"])
               for rec in records.values())


def test_combining_a_single_region_reproduces_its_item_figures(compare_run):
    config, exp, _, records, _ = compare_run
    item = work_list(config)[1]
    combined = combined_figures(exp, {item.region: item})
    record = records[item.item_id]
    for key in ("cmb_variance", "cmb_mse", "r_hat", "sigma_r", "r_upper", "r_upper_holdout"):
        assert combined[key] == pytest.approx(record[key], rel=1e-12), key
    np.testing.assert_allclose(combined["cl_total"], record["cl_total"], rtol=1e-12)


# ---------------------------------------------------------------------------------------------
# evaluate: the picks on the sky of another foreground seed
# ---------------------------------------------------------------------------------------------

SEED = 11
FITTED: list[tuple] = []
"""The label shapes of every fit the fixture's evaluation made (one entry per fit)."""


@pytest.fixture(scope="module")
def reduced_run(compare_run):
    """compare_run's folder (reduced) and its evaluation at SEED, every fit of which FITTED counts."""
    config, _, folder, _, selection = compare_run
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
