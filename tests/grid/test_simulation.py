"""``compsep-hpc simulate``: the sky of a run config written to HDF5 (compsep_hpc.grid.simulation)."""

from __future__ import annotations

import h5py
import numpy as np

from compsep_hpc.cli import main
from compsep_hpc.config import load_config


def test_simulate_writes_sky_and_refuses_overwrite(tmp_path, tiny_raw_config, capsys):
    import yaml

    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump(tiny_raw_config))
    out = tmp_path / "sky.h5"
    assert main(["simulate", str(cfg), "--output", str(out)]) == 0
    with h5py.File(out) as f:
        maps = f["frequency_maps"][...]
        np.testing.assert_allclose(maps, f["cmb"][...][None] + f["foregrounds"][...])
        assert maps.shape == (15, 2, 12 * 8**2) and set(f["true_params"]) == {"beta_dust", "temp_dust", "beta_synch"}
        assert f.attrs["config_sha256"] == load_config(cfg).sha256()
        np.testing.assert_array_equal(f["model_map"][...], 0)  # the default truth everywhere
        assert list(f["model_map"].attrs["model_names"]) == ["dust+synch"]
    before = out.read_bytes()
    assert main(["simulate", str(cfg), "--output", str(out)]) == 2
    assert out.read_bytes() == before
    assert "exists" in capsys.readouterr().err
