"""The noise section's hit-map keys (issue 25): white by default and then out of the run id,
the hit-map options validated in one line, per-band maps counted and kept off the compressed form."""

from __future__ import annotations

import numpy as np
import pytest

from compsep_hpc.config import parse_config
from compsep_hpc.errors import ConfigError

MINIMAL = {"sky": {"model": "synthetic"}, "regions": ["GAL020_U"],
           "grid": {"beta_dust": [1], "temp_dust": [1], "beta_synch": [1]}}


def test_white_noise_keeps_the_run_id_and_hits_change_it():
    base = parse_config(MINIMAL)
    assert base.noise.model == "white" and base.noise.hits is None
    white = parse_config({**MINIMAL, "noise": {"model": "white", "patch_radius": 10.0}})
    assert white.sha256() == base.sha256()  # the hit-map options mean nothing under white noise
    scan = parse_config({**MINIMAL, "noise": {"model": "hits", "hits": "litebird_scan"}})
    patch = parse_config({**MINIMAL, "noise": {"model": "hits", "hits": "ground_patch", "patch_radius": 30}})
    assert len({base.sha256(), scan.sha256(), patch.sha256()}) == 3
    again = parse_config(patch.to_dict())
    assert again == patch and again.sha256() == patch.sha256()


def test_per_band_hit_maps(tmp_path):
    files = []
    for i in range(15):
        np.save(tmp_path / f"h{i}.npy", np.ones(48))
        files.append(str(tmp_path / f"h{i}.npy"))
    c = parse_config({**MINIMAL, "noise": {"model": "hits", "hits": files}})
    assert c.noise.hits == tuple(files) and parse_config(c.to_dict()) == c
    with pytest.raises(ConfigError, match="14 hit maps for 15 bands"):
        parse_config({**MINIMAL, "noise": {"model": "hits", "hits": files[:14]}})
    with pytest.raises(ConfigError, match="compressed is exact only with one hit map"):
        parse_config({**MINIMAL, "noise": {"model": "hits", "hits": files}, "fit": {"likelihood": "compressed"}})


@pytest.mark.parametrize("noise, message", [
    ({"model": "hits"}, "noise.hits is needed by noise.model hits"),
    ({"hits": "litebird_scan"}, "noise.hits is needed by noise.model hits, and only by it"),
    ({"model": "pink"}, "noise.model must be one of white, hits"),
    ({"model": "hits", "hits": "no_such_file.fits"}, "cannot read hit map no_such_file.fits"),
    ({"model": "hits", "hits": 3}, "noise.hits must be litebird_scan, ground_patch"),
    ({"model": "hits", "hits": "ground_patch", "patch_radius": 0}, "patch_radius must lie in"),
    ({"model": "hits", "hits": "ground_patch", "patch_centre": [1]}, "patch_centre must be"),
])
def test_bad_noise_sections_are_refused(noise, message):
    with pytest.raises(ConfigError, match=message):
        parse_config({**MINIMAL, "noise": noise})
