"""Each config section has one parser whose defaults are its dataclass fields."""

from __future__ import annotations

from pathlib import Path

import pytest

from compsep_hpc.config import NoiseConfig, load_config, parse_config
from compsep_hpc.config_fields import check_nside
from compsep_hpc.errors import ConfigError
from compsep_hpc.grid.config import GridConfig
from compsep_hpc.partition.config import RegionsConfig
from compsep_hpc.science.config import SpectraConfig
from compsep_hpc.separation.config import FitConfig
from compsep_hpc.sky.config import SkyConfig

REPO = Path(__file__).resolve().parents[1]
MINIMAL = {"sky": {"model": "synthetic"}, "regions": ["GAL020_U"],
           "grid": {"beta_dust": [1], "temp_dust": [1], "beta_synch": [1]}}


def test_omitted_sections_take_the_dataclass_defaults():
    c = parse_config(MINIMAL)
    assert c.fit == FitConfig() and c.noise == NoiseConfig() and c.sky == SkyConfig(model="synthetic")
    assert c.regions == RegionsConfig(names=("GAL020_U",))
    assert c.grid == GridConfig({"beta_dust": (1,), "temp_dust": (1,), "beta_synch": (1,)})
    assert SpectraConfig().lmax is None  # resolved per run: 2 nside
    assert c.spectra == SpectraConfig(lmin=None, lmax=2 * c.nside, delta_ell=10, apod_type="C2", apod_deg=2.0, A_lens=1.0)
    assert parse_config({**MINIMAL, "nside": 16}).spectra.lmax == 32


@pytest.mark.parametrize("section", ["sky", "grid", "noise", "fit", "spectra"])
def test_every_section_refuses_unknown_keys_by_name(section):
    raw = {**MINIMAL, section: {**MINIMAL.get(section, {}), "bogus": 1}}
    with pytest.raises(ConfigError, match=rf"unknown key\(s\) in '{section}': bogus"):
        parse_config(raw)


def test_the_stored_form_parses_to_the_same_config():
    c = parse_config({**MINIMAL, "sky": {"model": "synthetic_clustered",
                                          "true_patches": {"beta_dust": 2, "temp_dust": 1, "beta_synch": 1}}})
    again = parse_config(c.to_dict())
    assert again == c and again.sha256() == c.sha256()


def test_the_demo_config_resolves_as_pinned():
    """The run id of configs/demo.yaml: a change of any default would change every stored run's id.
    Pin moved deliberately (was ecdf0fb14c20) by issue 11: the spectra section gained delta_ell,
    apod_type, A_lens, a fixed apod_deg default and a per-region lmin (the bandpower estimator).
    Moved again (was 7d32d841e904) by issue 13: the grid section gained above_pixels,
    multires_baseline became a list of presets, and the sky section gained foreground_seed,
    truth_kmeans_seed (1, no longer grid.seed) and patch_spread."""
    assert load_config(REPO / "configs" / "demo.yaml").sha256().startswith("0c6ebc7181b2")


@pytest.mark.parametrize("bad", [0, 3, 12, -4, True, 2.0, "8"])
def test_one_nside_check_for_every_nside(bad):
    with pytest.raises(ConfigError, match="power of two"):
        check_nside(bad)
    with pytest.raises(ConfigError, match="power of two"):
        parse_config({**MINIMAL, "nside": bad})
    if isinstance(bad, int) and bad > 0 and not isinstance(bad, bool):
        with pytest.raises(ConfigError, match="grid.beta_dust patch nside must be a power of two"):
            parse_config({**MINIMAL, "grid": {"beta_dust": [bad], "temp_dust": [0], "beta_synch": [0],
                                              "strategy": "multires"}})


def test_the_spectra_estimator_enters_the_run_id_only_when_not_master():
    """``spectra.estimator: master`` (the only estimator before the key) keeps the runs' ids;
    ``pure_b`` is another run."""
    from dataclasses import replace

    config = load_config(REPO / "configs" / "demo.yaml")
    assert config.spectra.estimator == "master"
    pure_b = replace(config, spectra=replace(config.spectra, estimator="pure_b"))
    assert pure_b.sha256() != config.sha256()


def test_fit_realizations_enters_the_run_id_only_when_linearized():
    """``fit.realizations: full`` (what every run did before the key) keeps the runs' ids."""
    from dataclasses import replace

    config = load_config(REPO / "configs" / "demo.yaml")
    assert config.fit.realizations == "full"
    assert replace(config, fit=replace(config.fit, realizations="linearized")).sha256() != config.sha256()
