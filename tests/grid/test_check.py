"""``compsep-hpc check``: the launch's refusals that need no sky (what slurm/submit.sh runs before
queueing). Exact pixel counts from a run folder's stored grids or a mask file, band bounds for
regions derived from the sky; nothing written. That it never imports JAX: tests/test_layers.py."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from compsep_hpc.config import parse_config
from compsep_hpc.errors import ConfigError, RunFolderError
from compsep_hpc.grid.check import check_text
from compsep_hpc.grid.region_grids import region_grids_json, resolve_region_grid
from compsep_hpc.store.run_folder import create_run_folder

RAW = {"name": "chk", "nside": 8, "sky": {"model": "synthetic", "seed": 1}, "regions": ["GAL020_U", "GAL060_L"],
       "grid": {"beta_dust": [2, 40, 100], "temp_dust": [1], "beta_synch": [1]}, "noise": {"realizations": 2}}
BAND_PIXELS = 154  # GAL020 and GAL060 of the derived masks at nside 8: 154 of 768 pixels each


def _config(**grid):
    return parse_config({**RAW, "grid": {**RAW["grid"], **grid}})


def tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def test_regions_derived_from_the_sky_are_bounded_by_their_bands(tmp_path):
    text = check_text(_config(), tmp_path / "run")
    assert text.startswith(f"config valid; run folder {tmp_path / 'run'}: new\n")
    assert "region pixel counts unknown before launch: the regions are derived from the sky" in text
    assert f"  GAL020_U  <= {BAND_PIXELS} pixels, <= 3 grid items: nothing above {BAND_PIXELS}\n" in text
    assert "at most 6 items in the work list; the ranks' split is known at launch" in text
    assert tree(tmp_path) == []
    with pytest.raises(ConfigError, match=f"K_beta_dust = 200 exceeds the {BAND_PIXELS} pixels of band GAL020 \\(region GAL020_U"):
        check_text(_config(beta_dust=[2, 200]), tmp_path / "run")
    with pytest.raises(ConfigError, match="a multires patch nside exceeds the run nside 8"):
        check_text(_config(strategy="multires", beta_dust=[16]), tmp_path / "run")
    assert tree(tmp_path) == []


def test_a_run_folder_gives_its_stored_grids_and_items_done(tmp_path):
    config = _config(above_pixels="cap")
    grids = {"GAL020_U": resolve_region_grid(config.grid, "GAL020_U", 78, 8),
             "GAL060_L": resolve_region_grid(config.grid, "GAL060_L", 80, 8)}
    folder = tmp_path / "run"
    create_run_folder(config, folder, region_grids_json(config.grid, grids))
    before = tree(tmp_path)
    text = check_text(config, folder)
    assert "this config's run, its regions' grids as stored at its start" in text
    assert "  GAL020_U  78 pixels, 3 grid items: K_beta_dust 100 -> 78\n" in text
    assert "6 items in the work list, 0 done, 6 to do" in text and "unknown" not in text
    with pytest.raises(RunFolderError, match="holds results of another config"):
        check_text(_config(above_pixels="cap", temp_dust=[1, 2]), folder)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("not a run\n")
    with pytest.raises(RunFolderError, match="is not empty and holds no compsep-hpc run"):
        check_text(config, tmp_path / "other")
    assert tree(tmp_path) == sorted(before + ["other", "other/notes.txt"])


def test_a_mask_file_gives_exact_counts(tmp_path):
    npix = 12 * 8**2
    masks = {k: (np.arange(npix) % 10 < n).astype(np.uint8) for k, n in (("GAL020", 2), ("GAL040", 4), ("GAL060", 6))}
    np.savez(tmp_path / "masks.npz", **masks)
    regions = {"names": ["GAL040_L"], "mask_file": str(tmp_path / "masks.npz")}
    config = parse_config({**RAW, "regions": regions, "grid": {**RAW["grid"], "beta_dust": [2, 40]}})
    n = int(np.sum((np.arange(npix) % 10 >= 2) & (np.arange(npix) % 10 < 4) & (np.arange(npix) >= 6 * 64 + 16)))
    text = check_text(config, tmp_path / "run")
    assert f"  GAL040_L  {n} pixels, 2 grid items: nothing above {n}\n" in text and "unknown" not in text
    with pytest.raises(ConfigError, match=f"K_beta_dust = {n + 1} exceeds the {n} pixels of region GAL040_L"):
        check_text(parse_config({**RAW, "regions": regions, "grid": {**RAW["grid"], "beta_dust": [2, n + 1]}}),
                   tmp_path / "run")


def test_a_pysm_sky_needs_its_templates(tmp_path, monkeypatch):
    monkeypatch.setenv("PYSM_LOCAL_DATA", str(tmp_path / "no_templates"))
    config = parse_config({**RAW, "sky": {"model": "pysm", "preset": "d1s1"}})
    with pytest.raises(ConfigError, match="PySM template pysm_2/.* not found: set PYSM_LOCAL_DATA"):
        check_text(config, tmp_path / "run")
    with pytest.raises(ConfigError, match="unknown PySM component"):
        check_text(parse_config({**RAW, "sky": {"model": "pysm", "preset": "d1z9"}}), tmp_path / "run")
