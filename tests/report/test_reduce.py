"""Tests of the offline reducer, the status report and the plots, on hand-made run folders.

Records are synthetic but built by ``store.records.item_record`` itself from fake fit results, so they
have exactly the fields (and per-patch array lengths) a real run writes. No MPI, no real fits.
"""

from __future__ import annotations

import csv
import json
import re
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest

from compsep_hpc import __version__
from compsep_hpc.store.checkpoint import CheckpointWriter
from compsep_hpc.config import parse_config
from compsep_hpc.errors import CompsepError
from compsep_hpc.separation.evaluate import ConfigurationResult
from compsep_hpc.separation.fit import FitResult
from compsep_hpc.grid.experiment import Experiment
from compsep_hpc.grid.work import work_list
from compsep_hpc.store.records import item_record, record_units
from compsep_hpc.store.item_rows import items_columns
from compsep_hpc.report.reduce import reduce_run
from compsep_hpc.science.selection import select
from compsep_hpc.report.summary import format_selection
from compsep_hpc.store.run_folder import config_yaml, create_run_folder
from compsep_hpc.model.sky_model import DEFAULT_MODEL
from compsep_hpc.report.status import run_status

RAW = {"name": "t", "nside": 8, "sky": {"model": "synthetic", "seed": 1},
       "regions": ["GAL020_U", "GAL020_L"],
       "grid": {"beta_dust": [1, 2, 4], "temp_dust": [1, 2], "beta_synch": [1]},
       "noise": {"realizations": 3}}
N_REAL = 3
# Work list: GAL020_U ids 0-5, GAL020_L ids 6-11, (K_beta_dust, K_temp_dust) = (1,1), (1,2), (2,1),
# (2,2), (4,1), (4,2). GAL020_U: id 4 has the lowest variance but one unconverged realization (so
# excluded), winner id 3. GAL020_L: ids 7 and 9 tie (winner 7, lowest id), id 10 has a NaN
# variance (excluded), id 6 is missing (not done).
VARIANCE = {0: 5.0, 1: 4.0, 2: 3.0, 3: 2.0, 4: 0.5, 5: 6.0,
            7: 1.5, 8: 3.0, 9: 1.5, 10: float("nan"), 11: 2.5}
UNCONVERGED = {4: 1}
PARAMETERS = DEFAULT_MODEL.fitted


@pytest.fixture(scope="module")
def config():
    return parse_config(RAW)


@pytest.fixture(scope="module")
def k_eff(config):
    """Effective patch counts per item id (K-means may leave clusters empty)."""
    exp = Experiment(config)
    return {it.item_id: tuple(int(l.max()) + 1 for l in exp.labels(it.region, it.grid_values))
            for it in work_list(config)}


def fake_record(item, k_eff: tuple[int, int, int], variance: float, n_unconverged: int = 0,
                mse: float | None = None) -> dict:
    rng = np.random.default_rng(item.item_id)
    converged = np.ones(N_REAL, bool)
    converged[:n_unconverged] = False
    start = {"beta_dust": 1.54, "temp_dust": 20.0, "beta_synch": -3.0}
    params = {p: start[p] + 0.01 * rng.standard_normal((N_REAL, k)) for p, k in zip(PARAMETERS, k_eff)}
    fit = FitResult(params=params, nll=-1e6 - rng.random(N_REAL) - item.item_id,
                    iterations=np.array([10, 20, 30 + item.item_id]), converged=converged,
                    n_at_bound=np.tile([item.item_id % 2, 0, 1], (N_REAL, 1)))
    sys_fit = FitResult(params={p: v[0] for p, v in params.items()}, nll=np.array(-2e6),
                        iterations=np.array(15), converged=np.array(True), n_at_bound=np.array([0, 0, 1]))
    result = ConfigurationResult(
        n_patches=k_eff, likelihood="compressed", n_cells=int(np.prod(k_eff)), fit=fit,
        systematic=sys_fit, systematic_cmb_power=1e-3, cmb_maps=None, systematic_cmb_map=None)
    figures = {"cmb_variance": variance, "cmb_mse": variance if mse is None else mse,
               "spatial_variance": rng.random(N_REAL)}
    return item_record(item, result, figures, seconds=2.0, package_version=__version__, model=DEFAULT_MODEL)


def make_run(config, k_eff, folder: Path, ids: list[int], n_writers: int = 2) -> Path:
    create_run_folder(config, folder)
    items = work_list(config)
    writers = [CheckpointWriter(folder, rank=r, n_ranks=n_writers, launch_id="L1",
                                config_sha256=config.sha256(), config_yaml=config_yaml(config),
                                package_version=__version__, units=record_units(config.model))
               for r in range(n_writers)]
    for n, i in enumerate(ids):
        writers[n % n_writers].append(i, fake_record(items[i], k_eff[i], VARIANCE[i], UNCONVERGED.get(i, 0)))
    return folder


@pytest.fixture(scope="module")
def full_run(config, k_eff, tmp_path_factory):
    folder = make_run(config, k_eff, tmp_path_factory.mktemp("full") / "run", sorted(VARIANCE))
    return folder, reduce_run(folder)


def test_selection_json(full_run, k_eff):
    folder, sel = full_run
    on_disk = json.loads((folder / "selection.json").read_text())
    assert on_disk == sel
    assert sel["criterion"] == "min_cmb_mse" and sel["n_items_done"] == 11 and sel["n_items_total"] == 12
    u, low = sel["regions"]["GAL020_U"], sel["regions"]["GAL020_L"]
    nll, k = u["min_cmb_mse"]["mean_nll"], sum(k_eff[3])
    assert u["n_data_values"] == u["n_pix"] * 15 * 2  # LiteBIRD bands x Q/U
    assert u["min_cmb_mse"] == {"K_beta_dust": 2, "K_temp_dust": 2, "K_beta_synch": 1,
                                 "cmb_variance": 2.0, "cmb_mse": 2.0, "mean_nll": pytest.approx(nll),
                                 "n_parameters": k, "aic": pytest.approx(nll + 2 * k),
                                 "bic": pytest.approx(nll + k * np.log(u["n_data_values"])),
                                 "at_bound_beta_dust": 1.0, "at_bound_temp_dust": 0.0, "at_bound_beta_synch": 1.0,
                                 "item_id": 3}
    assert nll < -1e6
    assert (u["n_items_done"], u["n_items_total"], u["n_excluded_unconverged"]) == (6, 6, 1)
    assert low["min_cmb_mse"]["item_id"] == 7  # tie with 9: lowest id
    assert (low["min_cmb_mse"]["K_beta_dust"], low["min_cmb_mse"]["K_temp_dust"]) == (1, 2)
    assert (low["n_items_done"], low["n_items_total"], low["n_excluded_unconverged"]) == (5, 6, 1)
    assert u["min_r_upper"] is None and low["min_r_upper"] is None
    n_u, n_l = u["n_pix"], low["n_pix"]
    assert sel["combined"]["min_cmb_mse"]["cmb_variance"] == pytest.approx((2.0 * n_u + 1.5 * n_l) / (n_u + n_l))


def test_items_csv(full_run, k_eff):
    folder, _ = full_run
    with open(folder / "items.csv", newline="") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
    assert tuple(reader.fieldnames) == items_columns(PARAMETERS)
    assert [int(r["item_id"]) for r in rows] == sorted(VARIANCE)
    r4 = next(r for r in rows if r["item_id"] == "4")
    assert r4["region"] == "GAL020_U" and (r4["K_beta_dust"], r4["K_temp_dust"], r4["K_beta_synch"]) == ("4", "1", "1")
    assert int(r4["n_unconverged"]) == 1 and float(r4["cmb_variance"]) == 0.5
    assert tuple(int(r4[f"n_patches_{p}"]) for p in PARAMETERS) == k_eff[4]
    assert (int(r4["max_iterations"]), float(r4["mean_iterations"])) == (34, 20 + 4 / 3)
    assert r4["systematic_converged"] == "True" and float(r4["seconds"]) == 2.0
    assert [float(r4[f"at_bound_{p}"]) for p in PARAMETERS] == [0.0, 0.0, 1.0] and r4["systematic_at_bound"] == "1"
    assert np.isnan(float(next(r for r in rows if r["item_id"] == "10")["cmb_variance"]))


def test_plots_written(full_run):
    folder, sel = full_run
    expected = {f"plots/{kind}_{r}.png" for kind in ("grid", "patches") for r in ("GAL020_U", "GAL020_L")}
    assert set(sel["plots"]) == expected
    for rel in expected:
        data = (folder / rel).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000


@pytest.mark.parametrize("criterion", ["min_aic", "min_bic"])
def test_information_criteria_drive_the_plots_and_summary(full_run, tmp_path, criterion):
    folder = tmp_path / "copy"
    shutil.copytree(full_run[0], folder)
    sel = reduce_run(folder, criterion=criterion)
    assert sel["selection_metric"] == criterion[4:] and "plots/grid_GAL020_U.png" in sel["plots"]
    assert (folder / "plots" / "grid_GAL020_U.png").stat().st_size > 5000
    assert f"criterion {criterion}" in format_selection(sel)


def test_format_selection(full_run):
    _, sel = full_run
    text = format_selection(sel)
    u_line = next(line for line in text.splitlines() if line.startswith("GAL020_U"))
    l_line = next(line for line in text.splitlines() if line.startswith("GAL020_L"))
    assert u_line.split()[1:6] == ["6/6", "1", "2", "2", "1"]
    assert l_line.split()[1:6] == ["5/6", "1", "1", "2", "1"]
    assert u_line.split()[-1] == "1/0/1" and l_line.split()[-1] == "1/0/1"  # ids 3 and 7: mean on a bound per family
    assert "1 item(s) not done" in text
    comb = sel["combined"]["min_cmb_mse"]
    assert (f"combined min_cmb_mse picks (pixel-weighted over all regions): cmb_mse {comb['cmb_mse']:.6g} uK^2, "
            f"cmb_variance {comb['cmb_variance']:.6g} uK^2") in text
    thin = {**sel, "regions": {**sel["regions"], "GAL020_U": {**sel["regions"]["GAL020_U"], "apod_warning": "too thin"}}}
    assert "warning GAL020_U: too thin" in format_selection(thin).splitlines()


def test_format_selection_flags_an_unconverged_baseline(full_run):
    _, sel = full_run
    sel = json.loads(json.dumps(sel))
    pick = sel["regions"]["GAL020_U"]["min_cmb_mse"]
    for n, note in ((0, "(multires alternative patch nsides)"),
                    (7, "(multires alternative patch nsides; 7 fit(s) unconverged)")):
        sel["regions"]["GAL020_U"]["multires_baselines"] = {"default": None,
                                                            "alternative": {**pick, "item_id": 12, "n_unconverged": n}}
        baseline_lines = [line for line in format_selection(sel).splitlines() if "baseline" in line]
        assert len(baseline_lines) == 1 and baseline_lines[0].endswith(note)  # the preset not done yet: no line


def test_status(full_run):
    folder, _ = full_run
    text = run_status(folder)
    assert "items done: 11 / 12" in text
    assert re.search(r"GAL020_U\s+6 / 6\n", text) and re.search(r"GAL020_L\s+5 / 6\n", text)
    assert "unconverged realizations: 1 (ids 4)" in text
    # fake records: odd ids have 1 beta_dust and every fit 1 beta_synch parameter on a bound
    odd = sum(1 for i in VARIANCE if i % 2)
    assert (f"parameters on a bound over {len(VARIANCE) * N_REAL} noise fits: beta_dust {odd * N_REAL}, "
            f"temp_dust 0, beta_synch {len(VARIANCE) * N_REAL}") in text
    assert "record files: 2, written by 2 rank(s)" in text
    assert "2 s (one rank)" in text
    assert "ETA (remaining 1 items x 2 s / 2 rank(s)" in text and "00h00m01s" in text


def test_partial_run(config, k_eff, tmp_path):
    folder = make_run(config, k_eff, tmp_path / "run", [0, 1, 2], n_writers=1)
    sel = reduce_run(folder, plots=False)
    assert sel["n_items_done"] == 3 and sel["plots"] == []
    assert sel["regions"]["GAL020_U"]["min_cmb_mse"]["item_id"] == 2
    assert sel["regions"]["GAL020_L"]["min_cmb_mse"] is None
    assert sel["regions"]["GAL020_L"]["n_items_done"] == 0
    assert sel["combined"]["min_cmb_mse"] is None
    assert "no usable item" in format_selection(sel)
    assert "items done: 3 / 12" in run_status(folder)


def test_all_excluded_region(config, k_eff, tmp_path):
    folder = make_run(config, k_eff, tmp_path / "run", [4, 10], n_writers=1)
    sel = reduce_run(folder, plots=False)
    for region in ("GAL020_U", "GAL020_L"):
        assert sel["regions"][region]["min_cmb_mse"] is None
        assert sel["regions"][region]["n_excluded_unconverged"] == 1


def test_zero_records_and_criteria(config, k_eff, tmp_path, full_run):
    create_run_folder(config, tmp_path / "empty")
    with pytest.raises(CompsepError, match="no completed item"):
        reduce_run(tmp_path / "empty")
    assert "items done: 0 / 12" in run_status(tmp_path / "empty")
    with pytest.raises(CompsepError, match="criterion min_r_upper needs"):
        reduce_run(full_run[0], criterion="min_r_upper", plots=False)
    with pytest.raises(CompsepError, match="unknown criterion"):
        reduce_run(full_run[0], criterion="nope")


def test_truncated_file_is_skipped(full_run, tmp_path):
    folder = tmp_path / "copy"
    shutil.copytree(full_run[0], folder)
    victim = sorted((folder / "checkpoints").glob("records_*.h5"))[-1]
    victim.write_bytes(victim.read_bytes()[:100])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sel = reduce_run(folder, plots=False)
    assert 0 < sel["n_items_done"] < 11


def write_r_records(config, k_eff, folder, r_figures: dict[int, dict]):
    """A run folder of fake records of the items ``r_figures`` names, each with those r figures."""
    create_run_folder(config, folder)
    items = work_list(config)
    with CheckpointWriter(folder, rank=0, n_ranks=1, launch_id="L1", config_sha256=config.sha256(),
                          config_yaml=config_yaml(config), package_version=__version__) as w:
        for i, figures in r_figures.items():
            w.append(i, {**fake_record(items[i], k_eff[i], VARIANCE.get(i, 9.0)), **figures})
    return folder


def test_r_upper_criterion(config, k_eff, tmp_path):
    """Records carrying r figures: r_upper selects its own minimum; variance still filled."""
    r_upper = {0: 0.03, 1: 0.01, 2: 0.02, 3: 0.05, 6: 0.04, 7: 0.06}
    folder = write_r_records(config, k_eff, tmp_path / "run", {
        i: {"r_hat": r / 2, "sigma_r": r / 2, "sigma_r_sim": r / 3, "r_upper": r} for i, r in r_upper.items()})
    sel = reduce_run(folder, criterion="min_r_upper", regions_only=True)  # the stitched refit: test_combine
    u = sel["regions"]["GAL020_U"]
    assert u["min_r_upper"]["item_id"] == 1 and u["min_r_upper"]["r_upper"] == pytest.approx(0.01)
    # both sigma(r): the likelihood width and the spread of the per-realization r_hat
    assert u["min_r_upper"]["sigma_r"] == pytest.approx(0.005) and u["min_r_upper"]["sigma_r_sim"] == pytest.approx(0.01 / 3)
    assert u["apod_warning"] == ""
    assert (folder / "region_spectra" / "GAL020_U.npz").exists()  # the coupling joins the run folder
    assert u["min_cmb_mse"]["item_id"] == 3
    assert sel["regions"]["GAL020_L"]["min_r_upper"]["item_id"] == 6
    assert "r_upper" in (folder / "items.csv").read_text().splitlines()[0]


def test_cli(full_run, capsys):
    from compsep_hpc.cli import main

    assert main(["status", str(full_run[0])]) == 0
    assert main(["reduce", str(full_run[0])]) == 0
    out = capsys.readouterr().out
    assert "items done: 11 / 12" in out and "GAL020_L" in out
    assert main(["reduce", str(full_run[0]), "--criterion", "variance"]) == 2  # renamed: one line, exit 2
    err = capsys.readouterr().err
    assert err.splitlines() == [err.strip()] and "is now called 'min_cmb_mse'" in err


def test_an_item_whose_systematic_fit_did_not_converge_is_not_selected():
    rows = [{"item_id": 0, "n_unconverged": 0, "systematic_converged": False, "cmb_mse": 1.0},
            {"item_id": 1, "n_unconverged": 0, "systematic_converged": True, "cmb_mse": 2.0}]
    best, n_excluded = select(rows)
    assert best["item_id"] == 1 and n_excluded == 1


def test_each_criterion_picks_the_minimum_of_its_own_figure(config, k_eff, tmp_path):
    """cmb_variance (Eq. 9) grows with K while the bias falls: min_variance, min_cmb_mse and
    min_r_upper pick three different items; --criterion chooses which one the summary follows."""
    folder = tmp_path / "run"
    create_run_folder(config, folder)
    items = work_list(config)
    variance = {0: 1.0, 1: 1.5, 2: 2.0, 3: 2.5, 4: 3.0, 5: 3.5}  # GAL020_U: minimum at item 0
    mse = {0: 9.0, 1: 4.0, 2: 3.0, 3: 3.2, 4: 3.4, 5: 3.6}  # variance + bias^2: minimum at item 2
    r_upper = {0: 0.05, 1: 0.04, 2: 0.03, 3: 0.03, 4: 0.01, 5: 0.02}  # minimum at item 4
    with CheckpointWriter(folder, rank=0, n_ranks=1, launch_id="L1", config_sha256=config.sha256(),
                          config_yaml=config_yaml(config), package_version=__version__) as w:
        for i in variance:
            rec = fake_record(items[i], k_eff[i], variance[i], mse=mse[i])
            w.append(i, {**rec, "r_hat": r_upper[i] / 2, "sigma_r": r_upper[i] / 2, "r_upper": r_upper[i]})
    for criterion, expected in (("min_variance", 0), ("min_cmb_mse", 2), ("min_r_upper", 4)):
        sel = reduce_run(folder, criterion=criterion, plots=False)
        u = sel["regions"]["GAL020_U"]
        assert (u["min_variance"]["item_id"], u["min_cmb_mse"]["item_id"], u["min_r_upper"]["item_id"]) == (0, 2, 4)
        assert sel["criterion"] == criterion and u[criterion]["item_id"] == expected
        assert sel["selection_metric"] == {"min_variance": "cmb_variance", "min_cmb_mse": "cmb_mse",
                                           "min_r_upper": "r_upper"}[criterion]
        table_row = next(line for line in format_selection(sel).splitlines() if line.startswith("GAL020_U"))
        assert table_row.split()[-2] == str(expected), table_row  # the summary shows this criterion's pick
    assert sel["combined"]["min_variance"] is None  # GAL020_L has no record: no combined pick


@pytest.mark.parametrize("old, new", [("variance", "min_cmb_mse"), ("r_upper", "min_r_upper")])
def test_renamed_criteria_are_refused_with_their_new_name(full_run, old, new):
    with pytest.raises(CompsepError, match=f"criterion '{old}' is now called '{new}'"):
        reduce_run(full_run[0], criterion=old, plots=False)


def _hand_row(item_id: int, nll: list[float], k: tuple[int, int, int], r_hat: float = 0.0, r_upper: float = 0.0,
              holdout: int = 0, n_data: int = 1000, r_in: float = 0.0) -> dict:
    """An items.csv row of a minimal hand-made record (converged fits)."""
    from compsep_hpc.store.item_rows import item_row

    rec = {"item_id": item_id, "nll": np.array(nll), "n_patches": np.array(k), "n_unconverged": 0,
           "systematic_converged": True, "r_hat": r_hat, "r_upper": r_upper}
    return item_row(rec, PARAMETERS, k, "GAL020_U", holdout=holdout, n_data=n_data, r_in=r_in)


def test_aic_and_bic_penalise_the_patch_count_on_the_in_sample_mean_nll():
    """NLL = -2 ln L: AIC = mean NLL + 2k, BIC = mean NLL + k ln n (n = 1000, ln n = 6.91). The last
    realization is held out: its very low NLL must not count."""
    from compsep_hpc.science.selection import pick

    rows = [_hand_row(0, [1.0, -1.0, -1e4], (1, 1, 1), holdout=1),     # k 3,  NLL 0:   AIC 6,  BIC 20.7
            _hand_row(1, [-4.0, -6.0, -1e4], (3, 1, 1), holdout=1),    # k 5,  NLL -5:  AIC 5,  BIC 29.5
            _hand_row(2, [-11.0, -13.0, -1e4], (8, 1, 1), holdout=1),  # k 10, NLL -12: AIC 8,  BIC 57.1
            _hand_row(3, [8.0, 8.0, -1e5], (1, 1, 1), holdout=1)]      # k 3,  NLL 8:   AIC 14, BIC 28.7
    assert [r["n_parameters"] for r in rows] == [3, 5, 10, 3]
    assert [r["aic"] for r in rows] == pytest.approx([6.0, 5.0, 8.0, 14.0])
    assert rows[1]["bic"] == pytest.approx(-5.0 + 5 * np.log(1000))
    assert pick(rows, "min_aic")["item_id"] == 1
    assert pick(rows, "min_bic")["item_id"] == 0
    assert min(rows, key=lambda r: r["mean_nll"])["item_id"] == 3  # the mean over every realization would pick 3


def test_the_low_bias_rule_takes_the_lowest_r_upper_under_the_bias_cap():
    """r_bias = r_hat - sky.r (0.01 injected): item 1 has the lowest r_upper but a bias of 3e-3."""
    from compsep_hpc.science.selection import DEFAULT_MAX_R_BIAS, candidates, pick

    rows = [_hand_row(0, [0.0], (1, 1, 1), r_hat=0.0105, r_upper=0.020, r_in=0.01),
            _hand_row(1, [0.0], (2, 1, 1), r_hat=0.0130, r_upper=0.015, r_in=0.01),
            _hand_row(2, [0.0], (3, 1, 1), r_hat=0.0109, r_upper=0.025, r_in=0.01)]
    assert [r["r_bias"] for r in rows] == pytest.approx([5e-4, 3e-3, 9e-4])
    assert DEFAULT_MAX_R_BIAS == 1e-3
    assert pick(rows, "min_r_upper")["item_id"] == 1
    assert pick(rows, "min_r_upper_low_bias")["item_id"] == 0
    assert pick(rows, "min_r_upper_low_bias", max_r_bias=5e-3)["item_id"] == 1
    assert pick(rows, "min_r_upper_low_bias", max_r_bias=1e-4) is None
    # the candidates a pick (and a truth rank) is taken from: the bias cap applies to the capped rule only
    assert [r["item_id"] for r in candidates(rows, "min_r_upper_low_bias")] == [0, 2]
    assert [r["item_id"] for r in candidates(rows, "min_r_upper")] == [0, 1, 2]


def test_reduce_stores_the_bias_cap_and_every_new_pick(config, k_eff, tmp_path):
    from compsep_hpc.cli import build_parser

    r_hat = {0: 0.002, 1: 0.008, 2: 0.005, 3: 0.004, 6: 0.02, 7: 0.03}
    folder = write_r_records(config, k_eff, tmp_path / "run", {
        i: {"r_hat": r, "sigma_r": 0.01 - r / 2, "r_upper": r + 0.01 - r / 2} for i, r in r_hat.items()})
    args = build_parser().parse_args(["reduce", str(folder), "--criterion", "min_r_upper_low_bias",
                                      "--max-r-bias", "0.0045"])
    reduce_run(folder, criterion=args.criterion, max_r_bias=args.max_r_bias, plots=False)  # fake records: no spectra
    sel = json.loads((folder / "selection.json").read_text())
    assert sel["max_r_bias"] == 0.0045 and sel["criterion"] == "min_r_upper_low_bias"
    u, low = sel["regions"]["GAL020_U"], sel["regions"]["GAL020_L"]
    assert u["min_r_upper"]["item_id"] == 0 and u["min_r_upper_low_bias"]["item_id"] == 0
    assert u["n_above_max_r_bias"] == 2 and low["min_r_upper_low_bias"] is None  # GAL020_L: r_hat 0.02, 0.03
    for key in ("min_aic", "min_bic"):
        rows = [r for r in csv.DictReader((folder / "items.csv").open()) if r["region"] == "GAL020_U"]
        best = min(rows, key=lambda r: (float(r[key[4:]]), int(r["item_id"])))
        assert u[key]["item_id"] == int(best["item_id"])
    assert "min_r_upper_low_bias" in format_selection(sel)
    with pytest.raises(CompsepError, match="max_r_bias must be a finite number"):
        reduce_run(folder, max_r_bias=float("nan"), plots=False)


def test_regions_only_picks_per_region_without_refitting(config, k_eff, tmp_path, monkeypatch, capsys):
    """--regions-only: the per-region picks and items.csv of a full reduce, no stitched refit, no plots."""
    import compsep_hpc.report.combine as combine
    from compsep_hpc.cli import main

    def no_refit(*args, **kwargs):
        raise AssertionError("regions_only refitted a pick")

    r_upper = {0: 0.03, 1: 0.01, 2: 0.02, 3: 0.05, 6: 0.04, 7: 0.06}
    folder = write_r_records(config, k_eff, tmp_path / "run", {
        i: {"r_hat": r / 2, "sigma_r": r / 2, "sigma_r_sim": r / 3, "r_upper": r} for i, r in r_upper.items()})
    monkeypatch.setattr(combine, "combined_figures", no_refit)
    assert main(["reduce", str(folder), "--criterion", "min_r_upper", "--regions-only"]) == 0
    sel = json.loads((folder / "selection.json").read_text())
    assert sel["regions"]["GAL020_U"]["min_r_upper"]["item_id"] == 1
    assert sel["regions"]["GAL020_L"]["min_r_upper"]["item_id"] == 6
    assert sel["combined"]["min_r_upper"] is None and sel["plots"] == [] and not (folder / "plots").exists()
    assert "r_upper" in (folder / "items.csv").read_text().splitlines()[0]
    assert "GAL020_U" in capsys.readouterr().out


def test_items_csv_reads_back_typed(full_run):
    """read_items_csv inverts items_csv: ints, floats (nan included), booleans and text."""
    from compsep_hpc.report.items_table import read_items_csv

    folder, _ = full_run
    rows = read_items_csv(folder / "items.csv")
    assert [r["item_id"] for r in rows] == sorted(VARIANCE)
    r4 = next(r for r in rows if r["item_id"] == 4)
    assert (r4["region"], r4["K_beta_dust"], r4["n_unconverged"]) == ("GAL020_U", 4, 1)
    assert r4["cmb_variance"] == 0.5 and r4["systematic_converged"] is True
    assert np.isnan(next(r for r in rows if r["item_id"] == 10)["cmb_variance"])


def test_a_folder_written_before_the_model_section_still_reads(full_run, tmp_path):
    """An old run folder: config.yaml without ``model`` (the default model), records of the three
    parameters. Its hash is unchanged, so status and reduce read it as before."""
    import yaml

    folder = tmp_path / "old"
    shutil.copytree(full_run[0], folder)
    raw = yaml.safe_load((folder / "config.yaml").read_text())
    del raw["model"]
    (folder / "config.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    assert "items done: 11 / 12" in run_status(folder)
    sel = reduce_run(folder, plots=False)
    assert sel["regions"] == full_run[1]["regions"]
    assert (folder / "items.csv").read_text() == (full_run[0] / "items.csv").read_text()


def test_a_folder_of_a_component_this_version_does_not_know_is_refused(full_run, tmp_path, capsys):
    import yaml

    from compsep_hpc.cli import main

    folder = tmp_path / "future"
    shutil.copytree(full_run[0], folder)
    raw = yaml.safe_load((folder / "config.yaml").read_text())
    raw["model"]["components"].append({"name": "free_free", "nu_ref": 30.0})
    (folder / "config.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    for command in ("status", "reduce"):
        assert main([command, str(folder)]) == 2
        err = capsys.readouterr().err
        assert err.splitlines() == [err.strip()]
        assert err.startswith(f"compsep-hpc: error: {folder / 'config.yaml'}: ")
        assert "unknown component 'free_free'" in err
