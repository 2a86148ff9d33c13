"""Bandpasses (compsep_hpc.model.bandpass, instrument.bandpass): the K_CMB quadrature weights, the
tabulated form, the synthetic sky averaged over its bands, and the config's checks."""

from __future__ import annotations

import numpy as np
import pytest

from compsep_hpc.config import parse_config
from compsep_hpc.errors import ConfigError
from compsep_hpc.model.bandpass import band_samples, cmb_derivative
from compsep_hpc.model.instrument import Bandpass, Instrument, instrument_from_config
from compsep_hpc.sky.config import parse_sky
from compsep_hpc.sky.synthetic import synthetic_sky

FOUR = {"name": "four", "frequencies": [40.0, 100.0, 150.0, 300.0], "depth_p": [30.0, 6.0, 5.0, 20.0]}
MINIMAL = {"sky": {"model": "synthetic"}, "regions": ["GAL020_U"],
           "grid": {"beta_dust": [1], "temp_dust": [1], "beta_synch": [1]}}


def test_tophat_weights_are_the_k_cmb_trapezoid_ones():
    inst = instrument_from_config({**FOUR, "bandpass": {"shape": "tophat", "width": 0.2, "samples": 5}})
    samples = band_samples(inst)
    np.testing.assert_allclose(samples.nu[1], [90, 95, 100, 105, 110])
    np.testing.assert_allclose(samples.weights.sum(axis=1), 1.0, rtol=1e-15)
    trapezoid = np.array([0.5, 1, 1, 1, 0.5])
    expected = trapezoid * cmb_derivative(samples.nu[3])
    np.testing.assert_allclose(samples.weights[3], expected / expected.sum(), rtol=1e-14)
    assert band_samples(instrument_from_config(FOUR)) is None  # delta bands by default


def test_tabulated_bands_of_different_lengths_are_padded_with_zero_weight():
    inst = instrument_from_config({**FOUR, "bandpass": {"shape": "tabulated",
                                                        "nu": [[35, 45], [90, 100, 110], [140, 160], [280, 320]],
                                                        "transmission": [[1, 1], [0.5, 1, 0.5], [1, 1], [1, 0]]}})
    samples = band_samples(inst)
    assert samples.nu.shape == (4, 3) and samples.weights[0, 2] == 0 and samples.weights[3, 1] == 0
    np.testing.assert_allclose(samples.weights[3], [1, 0, 0])  # all the transmission at 280 GHz


def test_the_synthetic_sky_is_averaged_over_its_bands():
    """Each band map is the K_CMB-weighted average of the delta-band maps at its samples; the CMB
    is the same in every band."""
    sky = parse_sky({"sky": {"model": "synthetic", "seed": 2}})
    banded = instrument_from_config({**FOUR, "bandpass": {"shape": "tophat", "width": 0.3, "samples": 3}})
    samples = band_samples(banded)
    at_samples = Instrument("samples", tuple(samples.nu.reshape(-1)), (1.0,) * samples.nu.size)
    spectra = (np.full((513, 4), 1e-3), np.full((513, 4), 1e-3))  # any CMB: no CAMB run
    a, b = (synthetic_sky(sky, 4, inst, cmb_spectra=spectra) for inst in (banded, at_samples))
    expected = np.einsum("fk,fksp->fsp", samples.weights, b.foregrounds.reshape(4, 3, *b.foregrounds.shape[1:]))
    np.testing.assert_allclose(a.foregrounds, expected, rtol=1e-12)
    np.testing.assert_array_equal(a.cmb, b.cmb)
    centres = b.foregrounds[1::3]  # the delta bands at the band centres
    assert np.abs(a.foregrounds[0] / centres[0] - 1).max() > 0.01


def test_bandpass_config():
    base = parse_config(MINIMAL)
    banded = parse_config({**MINIMAL, "instrument": {"name": "litebird", "bandpass": {"width": 0.25}}})
    assert banded.instrument.bandpass == Bandpass(width=0.25) and banded.instrument.frequencies == \
        base.instrument.frequencies
    assert banded.sha256() != base.sha256() and parse_config(banded.to_dict()) == banded
    assert "bandpass" not in str(base.sha256())
    for bad, message in [({"shape": "gaussian"}, "shape must be one of"), ({"width": 2.5}, "0 < width < 2"),
                         ({"shape": "tabulated", "nu": [[1, 2]], "transmission": [[1, 1]]}, "one list per band"),
                         ({"colour": 1}, "must be a mapping of")]:
        with pytest.raises(ConfigError, match=message):
            parse_config({**MINIMAL, "instrument": {"name": "litebird", "bandpass": bad}})
