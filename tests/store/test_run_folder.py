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


def test_stored_camb_spectra_are_what_later_processes_draw_the_cmb_from(tmp_path, monkeypatch, tiny_raw_config):
    """A run folder keeps the CAMB output its CMB is drawn from; an Experiment given that copy draws
    exactly that CMB (here the stored spectra are scaled by 4: the maps double) without CAMB."""
    import numpy as np

    from compsep_hpc.grid.experiment import Experiment
    from compsep_hpc.sky import cmb
    from compsep_hpc.store.run_folder import read_cmb_spectra, read_templates, write_templates

    config = parse_config(tiny_raw_config)  # nside 8
    lensed, tensor = cmb.camb_spectra(3 * 8 - 1)
    reference = Experiment(config).sky.cmb
    assert read_cmb_spectra(tmp_path) is None  # no stored file: CAMB as before
    write_templates(tmp_path, tensor[:17, 2], lensed[:17, 2], camb=(4 * lensed, 4 * tensor))
    assert [t.shape for t in read_templates(tmp_path)] == [(17,), (17,)]

    def no_camb(bucket):
        raise AssertionError("CAMB ran although the run folder has its spectra")

    monkeypatch.setattr(cmb, "_camb_run", no_camb)
    cmb._power_spectra_cached.cache_clear()  # no spectrum cut from CAMB's earlier run either
    stored = read_cmb_spectra(tmp_path)
    experiment = Experiment(config, cmb_spectra=stored)
    np.testing.assert_allclose(experiment.sky.cmb, 2 * reference, rtol=1e-12)
    np.testing.assert_allclose(experiment.templates.tensor, 4 * tensor[:24, 2], rtol=1e-12)
    experiment.use_cmb_spectra(stored)  # the same copy again: accepted
    with pytest.raises(ValueError, match="already drawn"):
        experiment.use_cmb_spectra((lensed, tensor))


def test_a_folder_written_before_camb_spectra_were_stored_falls_back_to_camb(tmp_path):
    from compsep_hpc.store.run_folder import read_cmb_spectra, write_templates

    write_templates(tmp_path, [0.0, 1.0], [0.0, 2.0])
    assert read_cmb_spectra(tmp_path) is None


def test_region_geometry_round_trips_through_the_run_folder(tmp_path):
    """A region's weights, warning and MASTER coupling are stored once and read back identical."""
    import numpy as np

    from compsep_hpc.science.config import SpectraConfig
    from compsep_hpc.science.geometry import region_geometry
    from compsep_hpc.store.run_folder import GEOMETRY_DIR, read_geometry, write_geometry

    geometry = region_geometry(np.arange(12 * 8**2) < 2 * 8**2, SpectraConfig(lmax=16, apod_deg=60.0))
    assert "too thin" in geometry.apod_warning
    assert read_geometry(tmp_path, "GAL020_U") is None
    write_geometry(tmp_path, "GAL020_U", geometry)
    back = read_geometry(tmp_path, "GAL020_U")
    assert back.apod_warning == geometry.apod_warning
    for a, b in zip((*back[:2], *back.coupling), (*geometry[:2], *geometry.coupling)):
        np.testing.assert_array_equal(a, b)
    stamp = (tmp_path / GEOMETRY_DIR / "GAL020_U.npz").stat().st_mtime_ns
    write_geometry(tmp_path, "GAL020_U", geometry._replace(apod_warning="other"))  # written once
    assert (tmp_path / GEOMETRY_DIR / "GAL020_U.npz").stat().st_mtime_ns == stamp
    assert read_geometry(tmp_path, "GAL020_U").apod_warning == geometry.apod_warning
