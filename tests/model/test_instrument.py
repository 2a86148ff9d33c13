"""Instruments (compsep_hpc.model.instrument): LiteBIRD and LiteBIRD + QUIJOTE's low bands."""

from __future__ import annotations

import numpy as np
import pytest

from compsep_hpc.errors import ConfigError
from compsep_hpc.model.instrument import LITEBIRD, combined, instrument_from_config


def test_litebird_quijote_is_litebird_plus_11_and_13_ghz_sorted():
    inst = instrument_from_config("litebird_quijote")
    assert inst.name == "litebird_quijote" and inst.n_freq == 17
    assert list(inst.frequencies) == sorted(inst.frequencies)
    assert inst.frequencies[:2] == (11.0, 13.0) and inst.depth_p[:2] == (840.0, 840.0)
    assert inst.frequencies[2:] == LITEBIRD.frequencies and inst.depth_p[2:] == LITEBIRD.depth_p
    np.testing.assert_allclose(inst.noise_sigma(16)[:2] / inst.noise_sigma(16)[2], 840.0 / 37.42)
    assert instrument_from_config("LiteBIRD_QUIJOTE") == inst


def test_combined_sorts_bands_and_refuses_a_frequency_twice():
    inst = combined("x", {100.0: 1.0, 30.0: 2.0}, {50.0: 3.0, 10.0: 4.0})
    assert inst.frequencies == (10.0, 30.0, 50.0, 100.0) and inst.depth_p == (4.0, 2.0, 3.0, 1.0)
    with pytest.raises(ConfigError, match="listed twice"):
        combined("y", {100.0: 1.0, 30.0: 2.0, 20.0: 1.0, 10.0: 1.0}, {30.0: 5.0})
