"""The record schema (store/records.py) covers every field the pipeline writes, with units."""

from __future__ import annotations

import numpy as np
import pytest

from compsep_hpc.model.sky_model import DEFAULT_MODEL
from compsep_hpc.science.config import SpectraConfig
from compsep_hpc.science.figures import CmbTemplates, item_figures
from compsep_hpc.science.geometry import region_geometry
from compsep_hpc.store.checkpoint import CheckpointWriter, read_records
from compsep_hpc.store.records import (
    HOLDOUT,
    R_FIELDS,
    SPECTRA_FIELDS,
    check_record,
    record_fields,
    record_units,
)

NSIDE, LMAX = 8, 16


def _figures(holdout: int) -> tuple[dict, int]:
    """The item figures of noise maps on the northern hemisphere, and the number of bandpowers."""
    rng = np.random.default_rng(0)
    geometry = region_geometry(np.arange(12 * NSIDE**2) < 6 * NSIDE**2, SpectraConfig(lmin=2, lmax=LMAX))
    ell = np.arange(3 * NSIDE)
    templates = CmbTemplates(tensor=1e-4 / (1 + ell) ** 2, lensing=1e-6 * np.ones(3 * NSIDE))
    maps = rng.normal(size=(5, 2, geometry.pixels.size))
    return item_figures(maps, np.zeros((2, geometry.pixels.size)), 0.1 * maps[0], geometry, templates,
                        SpectraConfig(lmin=2, lmax=LMAX), 0.0, holdout), geometry.coupling.n_reported


@pytest.mark.parametrize("holdout", [0, 2])
def test_every_item_figure_is_a_schema_field(holdout):
    figures, n_bins = _figures(holdout)
    assert set(figures) <= set(record_fields(DEFAULT_MODEL))
    assert check_record(figures, DEFAULT_MODEL) is figures
    assert {f"{k}{HOLDOUT}" in figures for k in R_FIELDS} == {bool(holdout)}
    for name in SPECTRA_FIELDS:
        assert record_fields(DEFAULT_MODEL)[name].shape == "(n_bins,)" and np.shape(figures[name]) == (n_bins,)
    assert np.shape(figures["r_hat_realizations"]) == (5 - holdout,) and figures["apod_warning"] == ""
    assert figures["sigma_r_sim"] == pytest.approx(np.std(figures["r_hat_realizations"], ddof=1))


def test_unknown_fields_are_refused():
    with pytest.raises(ValueError, match="cmb_varience"):
        check_record({"cmb_varience": 1.0}, DEFAULT_MODEL)


def test_units_and_descriptions_of_the_schema():
    units = record_units(DEFAULT_MODEL)
    assert units["cmb_variance"] == units["cmb_mse"] == units["systematic_cmb_power"] == "uK_CMB^2"
    assert units["cmb_mse_holdout"] == "uK_CMB^2" and units["seconds"] == "s"
    assert units["temp_dust_mean"] == units["systematic_temp_dust"] == "K" and "beta_dust_mean" not in units
    fields = record_fields(DEFAULT_MODEL)
    assert all(f.description and f.shape.startswith("(") for f in fields.values())
    assert {f"{p}_{s}" for p in DEFAULT_MODEL.fitted for s in ("mean", "std")} <= set(fields)


def test_writer_stores_the_schema_units(tmp_path):
    writer = CheckpointWriter(tmp_path, rank=0, n_ranks=1, launch_id="L", config_sha256="x", config_yaml="",
                              package_version="0", units=record_units(DEFAULT_MODEL))
    writer.append(0, check_record({"cmb_mse": 2.5, "temp_dust_mean": np.array([20.0, 21.0]), "region": "GAL020_U"}, DEFAULT_MODEL))
    import h5py

    (path,) = (tmp_path / "checkpoints").glob("records_*.h5")
    with h5py.File(path, "r") as f:
        assert f["items/0000000/cmb_mse"].attrs["units"] == "uK_CMB^2"
        assert f["items/0000000/temp_dust_mean"].attrs["units"] == "K"
    (rec,) = read_records(tmp_path)
    assert rec["cmb_mse"] == 2.5 and rec["region"] == "GAL020_U"


def test_the_schema_follows_the_models_fitted_parameters(four_parameter_raw_config, synthetic_record):
    """cmb + dust + curved_synch: K_, _mean, _std and systematic_ fields of curv_synch, n_patches and
    n_at_bound over the four parameters; the default model has none of curv_synch's fields."""
    from compsep_hpc.config import parse_config
    from compsep_hpc.grid.work import work_list

    config = parse_config(four_parameter_raw_config)
    fields = record_fields(config.model)
    curv = {"K_curv_synch", "curv_synch_mean", "curv_synch_std", "systematic_curv_synch"}
    assert curv <= set(fields) and not curv & set(record_fields(DEFAULT_MODEL))
    assert fields["n_patches"].shape == "(n_parameters,)" and fields["n_at_bound"].shape == "(n_real, n_parameters)"
    units = record_units(config.model)
    assert units["systematic_temp_dust"] == "K" and "curv_synch_mean" not in units
    item = work_list(config)[3]  # (2, 1, 1, 3)
    record = synthetic_record(item, config.model, (2, 1, 1, 3))
    assert (record["K_beta_dust"], record["K_curv_synch"]) == (2, 3)
    assert np.shape(record["curv_synch_mean"]) == (3,) and np.shape(record["systematic_curv_synch"]) == (3,)
    assert np.shape(record["n_at_bound"]) == (3, 4) and list(record["n_patches"]) == [2, 1, 1, 3]
    with pytest.raises(ValueError, match="curv_synch_mean"):
        check_record(record, DEFAULT_MODEL)
