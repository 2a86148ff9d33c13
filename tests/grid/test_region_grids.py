"""``grid.above_pixels``: each region's own grid (refuse, drop, cap), stored in the run folder at
the start so that item ids stay fixed across resumes, ``status`` and ``reduce``; the dry run's
per-region report; the shipped paper-scale configs validate without running."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from compsep_hpc.config import load_config, parse_config
from compsep_hpc.errors import CompsepError, ConfigError, RunFolderError
from compsep_hpc.grid.experiment import Experiment
from compsep_hpc.grid.launcher import launch
from compsep_hpc.grid.region_grids import (RegionGrid, check_same_grids, region_grids_from_json, region_grids_json,
                                          resolve_region_grid)
from compsep_hpc.grid.runtime import SerialComm
from compsep_hpc.grid.work import run_work_list, work_list
from compsep_hpc.report.status import status_summary
from compsep_hpc.store.run_folder import REGION_GRIDS_FILE, create_run_folder

REPO = Path(__file__).resolve().parents[2]
RAW = {"name": "rg", "nside": 8, "sky": {"model": "synthetic", "seed": 1}, "regions": ["GAL020_U", "GAL060_L"],
       "grid": {"beta_dust": [2, 40, 79, 100], "temp_dust": [1, 300], "beta_synch": [1]},
       "noise": {"realizations": 2}}


def _config(rule: str, **grid) -> object:
    return parse_config({**RAW, "grid": {**RAW["grid"], "above_pixels": rule, **grid}})


def tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")) if root.exists() else []


# ---------------------------------------------------------------------------------------------
# the rule itself (no sky)
# ---------------------------------------------------------------------------------------------

def test_refuse_names_the_value_the_region_and_the_other_rules():
    with pytest.raises(ConfigError) as err:
        resolve_region_grid(_config("refuse").grid, "GAL020_U", 50, 8)
    assert str(err.value) == ("K_beta_dust = 100 exceeds the 50 pixels of region GAL020_U at nside 8; set "
                              "grid.above_pixels to drop or cap to search each region up to its pixel count")


def test_drop_and_cap_per_parameter():
    grid = _config("drop").grid
    assert resolve_region_grid(grid, "R", 50, 8) == RegionGrid(50, ((2, 40), (1,), (1,)), ((79, 100), (300,), ()))
    cap = resolve_region_grid(_config("cap").grid, "R", 50, 8)
    assert cap == RegionGrid(50, ((2, 40, 50), (1, 50), (1,)), ((79, 100), (300,), ()))
    assert cap.n_configurations() == 6
    # a value equal to the pixel count is kept as it is, under every rule
    for rule in ("refuse", "drop", "cap"):
        assert resolve_region_grid(_config(rule, temp_dust=[1]).grid, "R", 100, 8).values[0] == (2, 40, 79, 100)
    with pytest.raises(ConfigError, match="every K_temp_dust value exceeds the 50 pixels of region R at nside 8"):
        resolve_region_grid(_config("drop", temp_dust=[300, 400]).grid, "R", 50, 8)


def test_multires_grids_hold_nsides_the_rule_does_not_touch_them():
    grid = _config("drop", strategy="multires", beta_dust=[8], temp_dust=[0], beta_synch=[2]).grid
    assert resolve_region_grid(grid, "R", 3, 8) == RegionGrid(3, ((8,), (0,), (2,)), ((), (), ()))


def test_the_config_refuses_an_unknown_rule_and_a_repeated_preset():
    with pytest.raises(ConfigError, match="grid.above_pixels must be one of refuse, drop, cap, got 'clip'"):
        _config("clip")
    with pytest.raises(ConfigError, match="names a preset twice"):
        _config("cap", multires_baseline=["default", "default"])
    with pytest.raises(ConfigError, match="grid.multires_baseline must be one of default, alternative"):
        _config("cap", multires_baseline=["paper"])
    assert _config("cap", multires_baseline="alternative").grid.multires_baseline == ("alternative",)


# ---------------------------------------------------------------------------------------------
# per-region work lists, stored and read back
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def pixel_counts():
    """The two regions' pixel counts at nside 8 on RAW's sky: 78 and 80, so that K_beta_dust 79 is
    above GAL020_U only, 100 above both, and K_temp_dust 300 above both."""
    exp = Experiment(_config("refuse"))
    counts = {r: int(exp.pixels(r).size) for r in RAW["regions"]}
    assert counts == {"GAL020_U": 78, "GAL060_L": 80}
    return counts


@pytest.mark.parametrize("rule", ["drop", "cap"])
def test_each_region_gets_its_own_items(rule, pixel_counts):
    config = _config(rule, multires_baseline=["default", "alternative"])
    grids = Experiment(config).region_grids()
    expected = {"drop": {"GAL020_U": (2, 40), "GAL060_L": (2, 40, 79)},
                "cap": {"GAL020_U": (2, 40, 78), "GAL060_L": (2, 40, 79, 80)}}[rule]
    t_d = {"drop": {"GAL020_U": (1,), "GAL060_L": (1,)}, "cap": {"GAL020_U": (1, 78), "GAL060_L": (1, 80)}}[rule]
    items = work_list(config, grids)
    for region in RAW["regions"]:
        assert grids[region].n_pixels == pixel_counts[region]
        assert grids[region].values == (expected[region], t_d[region], (1,))
        got = [it.grid_values for it in items if it.region == region and not it.preset]
        assert got == [(a, b, 1) for a in expected[region] for b in t_d[region]]
    assert len(items) == {"drop": 2 + 3 + 4, "cap": 6 + 8 + 4}[rule]
    assert [it.item_id for it in items] == list(range(len(items)))
    assert [(it.region, it.preset, it.grid_values) for it in items if it.preset] == [
        ("GAL020_U", "default", (8, 0, 2)), ("GAL060_L", "default", (8, 8, 4)),
        ("GAL020_U", "alternative", (8, 0, 4)), ("GAL060_L", "alternative", (8, 8, 8))]


def test_refuse_stops_a_run_before_anything_is_written(tmp_path, pixel_counts):
    out = tmp_path / "out"
    # the launcher raises rank 0's error on every rank (BroadcastError, a CompsepError: one line, exit 2)
    # above its band's pixels: refused before the sky is built; above the region's only: once it is
    with pytest.raises(CompsepError, match=r"K_temp_dust = 300 exceeds the 154 pixels of band GAL020 \(region GAL020_U "):
        launch(_config("refuse"), out, comm=SerialComm())
    with pytest.raises(CompsepError, match="K_beta_dust = (79|100) exceeds the 78 pixels of region GAL020_U at nside 8"):
        launch(_config("refuse", temp_dust=[1]), out, comm=SerialComm())
    with pytest.raises(CompsepError, match="every K_beta_dust value exceeds the 78 pixels of region GAL020_U"):
        launch(_config("drop", beta_dust=[100, 200]), out, comm=SerialComm())
    assert not out.exists()


def test_the_stored_grids_define_the_items_of_status_and_resumes(tmp_path, pixel_counts):
    config = _config("cap", multires_baseline="default")
    grids = Experiment(config).region_grids()
    folder = tmp_path / "run"
    create_run_folder(config, folder, region_grids_json(config.grid, grids))
    stored = json.loads((folder / REGION_GRIDS_FILE).read_text())
    assert stored["above_pixels"] == "cap"
    assert stored["regions"]["GAL020_U"]["above_pixels_values"] == {"beta_dust": [79, 100], "temp_dust": [300],
                                                                     "beta_synch": []}
    items = run_work_list(folder, config)
    assert items == work_list(config, grids) == work_list(config, region_grids_from_json(stored, config.model.fitted))
    assert len(items) == 6 + 8 + 2
    assert status_summary(folder)["regions"] == {"GAL020_U": {"done": 0, "total": 7},
                                                 "GAL060_L": {"done": 0, "total": 9}}
    check_same_grids(region_grids_from_json(stored, config.model.fitted), Experiment(config).region_grids(), str(folder))  # a resume: same
    moved = {**grids, "GAL020_U": resolve_region_grid(config.grid, "GAL020_U", pixel_counts["GAL020_U"] + 1, 8)}
    with pytest.raises(RunFolderError, match="region GAL020_U now has .* the item ids would change"):
        check_same_grids(region_grids_from_json(stored, config.model.fitted), moved, str(folder))
    (folder / REGION_GRIDS_FILE).unlink()
    with pytest.raises(RunFolderError, match=f"lacks {REGION_GRIDS_FILE}"):
        run_work_list(folder, config)


def test_a_resume_whose_regions_changed_is_refused_untouched(tmp_path, pixel_counts):
    """A run folder whose stored grids differ from this launch's (here: hand-edited) is refused by
    the launcher, dry run or not, before anything is written."""
    config = _config("cap")
    grids = Experiment(config).region_grids()
    folder = tmp_path / "run"
    content = region_grids_json(config.grid, grids)
    content["regions"]["GAL060_L"]["n_pixels"] += 1
    create_run_folder(config, folder, content)
    before = {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    for dry_run in (True, False):
        with pytest.raises(CompsepError, match="region GAL060_L now has 80 pixels .* run's start: 81 pixels"):
            launch(config, folder, dry_run=dry_run, comm=SerialComm())
    assert {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()} == before


# ---------------------------------------------------------------------------------------------
# the dry run, and the shipped configs
# ---------------------------------------------------------------------------------------------

def test_dry_run_prints_each_regions_grid_and_writes_nothing(tmp_path, capsys, pixel_counts):
    config = _config("cap", multires_baseline=["default", "alternative"])
    out = tmp_path / "out"
    assert launch(config, out, dry_run=True, comm=SerialComm()) == []
    assert not out.exists() and tree(tmp_path) == []
    text = capsys.readouterr().out
    assert "grid.above_pixels: cap" in text
    assert "  GAL020_U  78 pixels, 6 grid items: K_beta_dust 79, 100 -> 78; K_temp_dust 300 -> 78\n" in text
    assert "  GAL060_L  80 pixels, 8 grid items: K_beta_dust 100 -> 80; K_temp_dust 300 -> 80\n" in text
    assert "multires baselines default, alternative: 4 items (one per region and preset)" in text
    assert "18 items in the work list, 0 done, 18 to do on 1 rank(s)" in text


def test_the_litebird_config_validates_without_its_pysm_templates(tmp_path, capsys, monkeypatch):
    """The dry run needs no PySM template: the regions' pixel counts (derived from the pysm sky's
    foreground intensity) are then bounded by their bands' and resolved at launch."""
    monkeypatch.setenv("PYSM_LOCAL_DATA", str(tmp_path / "no_templates"))
    config = load_config(REPO / "configs" / "litebird_c1d1s1.yaml")
    assert (config.grid.above_pixels, config.grid.multires_baseline) == ("cap", ("default", "alternative"))
    if Experiment(config).pixels_need_missing_templates() is None:
        pytest.skip("PySM templates are installed here: the dry run would build the sky")
    assert launch(config, tmp_path / "out", dry_run=True, comm=SerialComm()) == []
    text = capsys.readouterr().out
    assert not (tmp_path / "out").exists()
    assert "region pixel counts unknown before launch: PySM template" in text
    assert "  GAL020_U  <= 9830 pixels, <= 3200 grid items: nothing above 9830" in text
    assert f"at most {6 * 3200 + 12} items in the work list; the ranks' split is known at launch" in text


def test_with_a_mask_file_the_regions_need_no_sky(tmp_path, monkeypatch):
    """Regions from a mask file: the grids resolve without building the sky (a pysm sky here,
    whose templates are absent)."""
    import numpy as np

    monkeypatch.setenv("PYSM_LOCAL_DATA", str(tmp_path / "no_templates"))
    npix = 12 * 8**2
    masks = {k: (np.arange(npix) % 10 < n).astype(np.uint8) for k, n in (("GAL020", 2), ("GAL040", 4), ("GAL060", 6))}
    np.savez(tmp_path / "masks.npz", **masks)
    config = parse_config({**RAW, "sky": {"model": "pysm", "preset": "d1s1"},
                           "regions": {"names": ["GAL040_L"], "mask_file": str(tmp_path / "masks.npz")},
                           "grid": {**RAW["grid"], "above_pixels": "cap"}})
    exp = Experiment(config)
    assert exp.pixels_need_missing_templates() is None
    n = int(np.sum((np.arange(npix) % 10 >= 2) & (np.arange(npix) % 10 < 4) & (np.arange(npix) >= 6 * 64 + 16)))
    assert exp.region_grids()["GAL040_L"] == RegionGrid(n, ((2, 40, n), (1, n), (1,)), ((79, 100), (300,), ()))
    assert "sky" not in vars(exp)  # the cached sky was never built


def test_the_paper_config_validates(tmp_path, capsys):
    """configs/paper_nside64.yaml: each region searches K_beta_dust from 100 to its pixel count."""
    config = load_config(REPO / "configs" / "paper_nside64.yaml")
    g = config.grid
    assert (config.nside, config.sky.model, len(config.regions.names)) == (64, "synthetic", 6)
    assert g.above_pixels == "cap" and g.multires_baseline == ("default", "alternative")
    assert min(g.values["beta_dust"]) == 100
    assert set(g.values["temp_dust"]) | set(g.values["beta_synch"]) <= {1, 5, 20, 30, 50, 60, 70, 80}
    assert config.noise.holdout > 0
    assert launch(config, tmp_path / "out", dry_run=True, comm=SerialComm()) == []
    text = capsys.readouterr().out
    assert not (tmp_path / "out").exists()
    grids = Experiment(config).region_grids()
    for region, grid in grids.items():
        assert grid.values[0][0] == 100 and grid.values[0][-1] == grid.n_pixels  # up to the region's pixel count
        assert f"  {region:<9} {grid.n_pixels} pixels, {grid.n_configurations()} grid items" in text
    assert f"{len(work_list(config, grids))} items in the work list" in text
