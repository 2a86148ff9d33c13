"""r per item through the pipeline: injected r recovered, held-out figures from held-out maps,
K-means against the multi-resolution baseline in one reduce, and the stitched combination."""

from __future__ import annotations

import numpy as np
import pytest

from compsep_hpc import __version__
from compsep_hpc.store.checkpoint import CheckpointWriter
from compsep_hpc.report.combine import combined_figures
from compsep_hpc.config import parse_config
from compsep_hpc.grid.experiment import Experiment
from compsep_hpc.grid.work import work_list
from compsep_hpc.store.records import record_units
from compsep_hpc.report.reduce import reduce_run
from compsep_hpc.store.run_folder import config_yaml, create_run_folder, write_templates
from compsep_hpc.science.figures import subset_figures


def _config(r_in: float, holdout: int = 0):
    return parse_config({
        "name": "r", "nside": 16,
        "sky": {"model": "synthetic_clustered", "seed": 11, "r": r_in,
                "true_patches": {"beta_dust": 1, "temp_dust": 1, "beta_synch": 1}},
        "regions": ["GAL060"], "grid": {"beta_dust": [1], "temp_dust": [1], "beta_synch": [1]},
        "noise": {"realizations": 6, "seed": 3, "holdout": holdout},
    })


@pytest.mark.parametrize("r_in", [0.0, 0.003])
def test_constant_sed_sky_recovers_injected_r(r_in):
    exp = Experiment(_config(r_in))
    record = exp.record(work_list(exp.config)[0])
    assert record["n_unconverged"] == 0
    assert abs(record["r_hat"] - r_in) <= record["sigma_r"], record
    assert record["r_upper"] == pytest.approx(record["r_hat"] + record["sigma_r"])
    assert record["r_95"] >= record["r_upper"] > 0
    # one patch per parameter on a constant-SED sky: the foreground-only fit leaks no CMB
    assert np.max(np.abs(record["cl_systematic"])) < 1e-3 * np.max(record["cl_total"])
    np.testing.assert_allclose(record["cl_statistical"], record["cl_total"] - record["cl_systematic"])


def test_holdout_figures_come_from_the_held_out_realizations():
    config = _config(0.0, holdout=2)
    exp = Experiment(config)
    item = work_list(config)[0]
    result = exp.evaluate(item, keep_maps=True)
    figures = exp.figures(item, result)
    region = exp.region_data(item.region)
    held = subset_figures(result.cmb_maps[4:], region.cmb, result.systematic_cmb_map, exp.geometry(item.region),
                          config.nside, exp.templates, config.spectra, config.sky.r)
    inside = subset_figures(result.cmb_maps[:4], region.cmb, result.systematic_cmb_map, exp.geometry(item.region),
                            config.nside, exp.templates, config.spectra, config.sky.r)
    for key in ("cmb_variance", "cmb_mse", "r_hat", "sigma_r", "r_upper"):
        assert figures[f"{key}_holdout"] == held[key] and figures[key] == inside[key]
    assert figures["cmb_mse"] != figures["cmb_mse_holdout"]
    np.testing.assert_array_equal(figures["cl_systematic"], held["cl_systematic"])


# ---------------------------------------------------------------------------------------------
# K-means against the multi-resolution baseline, selected on r_upper in one reduce
# ---------------------------------------------------------------------------------------------

COMPARE = {
    "name": "compare", "nside": 8, "sky": {"model": "synthetic", "seed": 5},
    "regions": ["GAL060_U", "GAL060_L"],
    "grid": {"beta_dust": [1, 3], "temp_dust": [1], "beta_synch": [1], "multires_baseline": "default"},
    "noise": {"realizations": 4, "seed": 9, "holdout": 2},
}


@pytest.fixture(scope="module")
def compare_run(tmp_path_factory):
    """Real records of every item of COMPARE in a run folder, reduced on r_upper."""
    config = parse_config(COMPARE)
    folder = tmp_path_factory.mktemp("compare") / "run"
    exp = Experiment(config)
    create_run_folder(config, folder)
    write_templates(folder, *exp.templates)
    records = {}
    with CheckpointWriter(folder, rank=0, n_ranks=1, launch_id="L1", config_sha256=config.sha256(),
                          config_yaml=config_yaml(config), package_version=__version__, units=record_units()) as w:
        for item in work_list(config):
            records[item.item_id] = exp.record(item)
            w.append(item.item_id, records[item.item_id])
    return config, exp, folder, records, reduce_run(folder, criterion="r_upper")


def test_one_reduce_reports_kmeans_and_multires_per_region_and_combined(compare_run):
    config, _, folder, records, sel = compare_run
    items = work_list(config)
    assert [it.strategy for it in items] == ["kmeans"] * 4 + ["multires"] * 2
    for region in config.regions.names:
        info = sel["regions"][region]
        kmeans = [i for i, it in enumerate(items) if it.region == region and it.strategy == "kmeans"
                  and records[i]["n_unconverged"] == 0]
        best = min(kmeans, key=lambda i: records[i]["r_upper"])
        assert info["min_r_upper"]["item_id"] == best
        assert info["min_r_upper"]["r_upper"] == pytest.approx(records[best]["r_upper"])
        baseline = next(i for i, it in enumerate(items) if it.region == region and it.strategy == "multires")
        assert info["multires_baseline"]["item_id"] == baseline
        assert info["multires_baseline"]["r_upper"] == pytest.approx(records[baseline]["r_upper"])
        assert info["multires_baseline"]["r_upper_holdout"] == pytest.approx(records[baseline]["r_upper_holdout"])
        assert info["multires_baseline"]["n_unconverged"] == records[baseline]["n_unconverged"]
    for key in ("min_r_upper", "multires_baseline"):
        comb = sel["combined"][key]
        assert comb["n_pix"] == sum(sel["regions"][r]["n_pix"] for r in config.regions.names)
        assert comb["r_upper"] == pytest.approx(comb["r_hat"] + comb["sigma_r"])
        assert comb["r_95"] >= comb["r_upper"] > 0 and "r_upper_holdout" in comb
    assert sel["combined"]["min_r_upper"] != sel["combined"]["multires_baseline"]
    summary = (folder / "summary.txt").read_text()
    assert "combined multires baselines (stitched, f_sky" in summary and summary.count("  (multires patch nsides") == 2
    for plot in ("residual_spectra.png", "r_likelihood.png", "r_upper_GAL060_U.png", "r_upper_GAL060_L.png"):
        assert (folder / "plots" / plot).stat().st_size > 0


def test_combining_a_single_region_reproduces_its_item_figures(compare_run):
    config, exp, _, records, _ = compare_run
    item = work_list(config)[1]
    combined = combined_figures(exp, {item.region: item})
    record = records[item.item_id]
    for key in ("cmb_variance", "cmb_mse", "r_hat", "sigma_r", "r_upper", "r_upper_holdout"):
        assert combined[key] == pytest.approx(record[key], rel=1e-12), key
    np.testing.assert_allclose(combined["cl_total"], record["cl_total"], rtol=1e-12)
