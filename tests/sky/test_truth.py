"""The synthetic skies' true foreground model (sky/truth.py, sky/ame.py, the sky section's truth keys):
the default stays bit-identical to the code before it, curved synchrotron and polarized AME follow
their SEDs, region-dependent truth and its model map, and one-line ConfigErrors."""

from __future__ import annotations

import hashlib
from pathlib import Path

import healpy as hp
import numpy as np
import pytest

from compsep_hpc.config import load_config, parse_config
from compsep_hpc.errors import ConfigError
from compsep_hpc.grid.experiment import run_sky
from compsep_hpc.partition.regions import region_pixels
from compsep_hpc.sky.ame import ame_per_dust_353

REPO = Path(__file__).resolve().parents[2]
NSIDE = 16
NPIX = 12 * NSIDE**2
BANDS = {"frequencies": [11.0, 20.0, 23.0, 40.0, 150.0, 353.0], "depth_p": [1.0] * 6}
H, K, TCMB, C_LIGHT = 6.62607015e-34, 1.380649e-23, 2.7255, 2.99792458e8
PARAMS = ("beta_dust", "temp_dust", "beta_synch")


def config(sky: dict, instrument="litebird", regions=("GAL060_U", "GAL020_L")):
    return parse_config({"name": "ref", "nside": NSIDE, "instrument": instrument, "sky": sky, "regions": list(regions),
                         "grid": {"beta_dust": [2], "temp_dust": [1], "beta_synch": [1]}})


def sha(a) -> str:
    return hashlib.sha256(np.ascontiguousarray(a, dtype=np.float64).tobytes()).hexdigest()


def g(nu):
    x = H * nu * 1e9 / (K * TCMB)
    return np.expm1(x) ** 2 / (np.exp(x) * x**2)


# ------------------------------------------------------------------ the default stays what it was

# Computed with main's code (869e39b, before the component model; the same bits as this code's,
# checked under the suite's XLA flags), float64, nside 16, LiteBIRD, regions
# GAL060_U + GAL020_L: sha256 of the float64 bytes, and the foregrounds' sum.
MAIN_SKIES = {
    "synthetic": ({"model": "synthetic", "seed": 3, "r": 0.01}, 931209.98042761, {
        "foregrounds": "72af8baf110ee0ff1867d610321ae8ec1a1b308726951bcab5603f799c78a4b1",
        "intensity": "763cc916bd8203619a2618208a370bb4625992364011e0a0d65f8c54f3f592bb",
        "beta_dust": "6690b98d414586eb92fbe23c530b88cddde525ded435d443366420b3485b7791",
        "temp_dust": "7bb703965df02cac24807ae7cc3a373ca42655368ef72b3a98edeeec4807bbb2",
        "beta_synch": "23d4f2a4d48717c8517d9ba5ea2061503f8774b6e23ab3b94fa53028e4153bd7"}),
    "foreground_seed": ({"model": "synthetic", "seed": 3, "foreground_seed": 5}, -1919606.4035544987, {
        "foregrounds": "903f319740b2f8f4149548affedd2b76ddf4dfe6d1755da4fe639f3aca46cf1e",
        "intensity": "763cc916bd8203619a2618208a370bb4625992364011e0a0d65f8c54f3f592bb",
        "beta_dust": "b4d3b206dd6b179e975b7793599e10b6e319e8c8c14126dbbdfcd7035067b419",
        "temp_dust": "4571b8c681e00f7a83d004ab235f84b0473f2b378ca10cab20f62710201e1695",
        "beta_synch": "4a407d8557d79f04104cf2b15a8a22fba31f24a1c26e3bf86a2f6df3fd2f62dc"}),
    "clustered": ({"model": "synthetic_clustered", "seed": 7,
                   "true_patches": {"beta_dust": 4, "temp_dust": 2, "beta_synch": 1}}, 2420051.8087835535, {
        "foregrounds": "47e551b02ffbea51eb6631825bf8d561c8700004cc3634f3d234aaf30e1f219a",
        "intensity": "8abc557f54c98fa993ea16f114e41d31b0dea292eb4cb7bb1450e669c0ad4772",
        "beta_dust": "549f653a539295ad18cadd7ed0f7ca6dd92a57f7a8457ecfba87cfe594f1024c",
        "temp_dust": "d631afb36cc0da5761bba3e07629a4738d9ce0a87df3eac3039d64cc25da89d1",
        "beta_synch": "417ab6c4eeb7e5b7387800f8fdb4a4051d2a575d94581f2843b9183f1477a70f"}),
}
MAIN_CONFIG_SHA256 = {
    "demo.yaml": "0c6ebc7181b2a4cef61c8a38fab457c978d4ed95682d6fc6260126b39a657d74",
    "paper_nside64.yaml": "db6f4100f92ebcad93d021da46089e08f9ff74642b0faeec989e373edf7b872b",
    "compare_multires.yaml": "2d8fb99517100fcc020c7b90cf964f9bd073e6aac6f39b496e3f56afec3b1759",
    "litebird_c1d1s1.yaml": "3a9bc4c2e27ecdd736684e1e7fce919427a40ae60ca4496e6e11223feb73f513",
    "validation.yaml": "a637cc241de92ea968f160797bd9d6e3a120c59c6f265ba06b4412baac2b4b8a",
}


@pytest.mark.parametrize("name", sorted(MAIN_SKIES))
def test_default_skies_are_bit_identical_to_main(name):
    import jax

    raw, fg_sum, hashes = MAIN_SKIES[name]
    sky = run_sky(config(raw))
    np.testing.assert_allclose(sky.foregrounds.sum(), fg_sum, rtol=1e-12)
    if jax.default_backend() == "cpu":  # the reference bits are CPU JAX's (the SEDs)
        got = {"foregrounds": sha(sky.foregrounds), "intensity": sha(sky.foreground_intensity),
               **{p: sha(sky.true_params[p]) for p in PARAMS}}
        assert got == hashes
    assert set(sky.true_params) == set(PARAMS)
    assert sky.model_map.dtype == np.int16 and not sky.model_map.any() and sky.model_names == ("dust+synch",)
    explicit = run_sky(config({**raw, "foregrounds": ["dust", "synch"], "true_values": {"curv_synch": -0.052}}))
    np.testing.assert_array_equal(explicit.foregrounds, sky.foregrounds)


@pytest.mark.parametrize("name", sorted(MAIN_CONFIG_SHA256))
def test_config_hashes_are_main_s(name):
    assert load_config(REPO / "configs" / name).sha256() == MAIN_CONFIG_SHA256[name]


def test_truth_keys_round_trip_and_enter_the_hash_only_off_their_defaults():
    base = config({"model": "synthetic", "seed": 3})
    same = config({"model": "synthetic", "seed": 3, "foregrounds": ["dust", "synch"], "region_foregrounds": {},
                   "true_values": {"nu_peak_ame": 25}, "ame_polarization_fraction": 0.02})
    assert same == base and same.sha256() == base.sha256()
    assert base.to_dict()["sky"]["foregrounds"] == ["dust", "synch"]  # the resolved config shows them
    for change in ({"foregrounds": ["dust", "curved_synch"]}, {"region_foregrounds": {"GAL020": ["dust", "ame"]}},
                   {"true_values": {"curv_synch": -0.1}}, {"ame_polarization_fraction": 0.01},
                   {"foregrounds": ["dust", {"name": "curved_synch", "pivot": 30}]}):
        other = config({"model": "synthetic", "seed": 3, **change})
        assert other.sha256() != base.sha256(), change
        again = parse_config(other.to_dict())
        assert again == other and again.sha256() == other.sha256()


# ------------------------------------------------------------------ curved synchrotron and AME

@pytest.fixture(scope="module")
def plain():
    return run_sky(config({"model": "synthetic", "seed": 3}, instrument=BANDS))


def curved_kcmb(nu, beta, curv, nu_ref, pivot=23.0):
    t = lambda f: (f / pivot) ** (beta + curv * np.log(f / pivot))  # noqa: E731
    return t(nu) / t(nu_ref) * g(nu) / g(nu_ref)


def pl_kcmb(nu, beta, nu_ref):
    return (nu / nu_ref) ** beta * g(nu) / g(nu_ref)


def test_curved_synchrotron_sky(plain):
    from compsep_hpc.sky.synthetic import foreground_amplitudes

    sky = run_sky(config({"model": "synthetic", "seed": 3, "foregrounds": ["dust", "curved_synch"]}, instrument=BANDS))
    assert sky.model_names == ("dust+curved_synch",) and not sky.model_map.any()
    np.testing.assert_array_equal(sky.true_params["curv_synch"], -0.052)
    for p in PARAMS:
        np.testing.assert_array_equal(sky.true_params[p], plain.true_params[p])
    _, synch = foreground_amplitudes(NSIDE, 3)
    bs = plain.true_params["beta_synch"]
    for i, nu in enumerate(BANDS["frequencies"]):
        dust_part = plain.foregrounds[i] - synch * pl_kcmb(nu, bs, 20.0)
        np.testing.assert_allclose(sky.foregrounds[i], dust_part + synch * curved_kcmb(nu, bs, -0.052, 20.0),
                                   rtol=1e-10, atol=1e-10 * np.abs(sky.foregrounds[i]).max())
    flat = run_sky(config({"model": "synthetic", "seed": 3, "foregrounds": ["dust", "curved_synch"],
                           "true_values": {"curv_synch": 0.0}}, instrument=BANDS))
    np.testing.assert_allclose(flat.foregrounds, plain.foregrounds, rtol=1e-12, atol=1e-12)


def test_ame_emissivity_ratio_is_the_docstring_s():
    """R = eps (2 k nu^2 / c^2 at 353 GHz in MJy/sr per K) I(100 um) / I(353 GHz), MBB 1.54, 20 K."""
    nu353, nu100 = 353e9, C_LIGHT / 100e-6
    planck = lambda nu: nu**3 / np.expm1(H * nu / (K * 20.0))  # noqa: E731
    ratio = (nu100 / nu353) ** 1.54 * planck(nu100) / planck(nu353)
    expected = 10e-6 * 2 * K * nu353**2 / C_LIGHT**2 / 1e-20 * ratio
    np.testing.assert_allclose(ame_per_dust_353(), expected, rtol=1e-12)
    assert 0.63 < expected < 0.64


def test_polarized_ame_sky(plain):
    from compsep_hpc.sky.synthetic import foreground_amplitudes

    raw = {"model": "synthetic", "seed": 3, "foregrounds": ["dust", "synch", "ame"], "true_values": {"nu_peak_ame": 30.0}}
    sky = run_sky(config(raw, instrument=BANDS))
    assert sky.model_names == ("dust+synch+ame",)
    np.testing.assert_array_equal(sky.true_params["nu_peak_ame"], 30.0)
    ame = sky.foregrounds - plain.foregrounds  # (n_freq, 2, npix)
    at_23 = ame[BANDS["frequencies"].index(23.0)]  # the AME SED is 1 at 23 GHz
    dust, _ = foreground_amplitudes(NSIDE, 3)
    # along the dust angles, at 2 % of R A_d m_d(b) / p_d (uK_RJ at 353 -> uK_CMB at 23 GHz)
    np.testing.assert_allclose(at_23[0] * dust[1] - at_23[1] * dust[0], 0.0, atol=1e-12 * np.abs(dust).max())
    assert np.all(at_23[0] * dust[0] + at_23[1] * dust[1] >= 0)
    theta, _ = hp.pix2ang(NSIDE, np.arange(NPIX))
    envelope = 18.0 * (np.abs(np.cos(theta)) + 0.05) ** -2.25
    intensity = ame_per_dust_353() * envelope / 0.05 / g(353.0) * g(23.0)
    np.testing.assert_allclose(np.hypot(*at_23), 0.02 * intensity, rtol=1e-9)
    assert 10 < intensity.min() / g(23.0) < 20  # ~16 uK_RJ of AME intensity at the poles
    # the SED: a log-parabola in flux, T_RJ ~ S / nu^2, width 0.6, peak 30 GHz, K_CMB at 23 GHz
    t = lambda f: np.exp(-np.log(f / 30.0) ** 2 / (2 * 0.6**2)) / f**2  # noqa: E731
    for i, nu in enumerate(BANDS["frequencies"]):
        np.testing.assert_allclose(ame[i], at_23 * t(nu) / t(23.0) * g(nu) / g(23.0), rtol=1e-8,
                                   atol=1e-9 * np.abs(ame[i]).max())
    doubled = run_sky(config({**raw, "ame_polarization_fraction": 0.04}, instrument=BANDS))
    np.testing.assert_allclose(doubled.foregrounds - plain.foregrounds, 2 * ame, rtol=1e-8, atol=1e-9 * np.abs(ame).max())


# ------------------------------------------------------------------ region-dependent truth

def test_region_dependent_truth_and_model_map(plain):
    raw = {"model": "synthetic", "seed": 3,
           "region_foregrounds": {"GAL020": ["dust", "curved_synch"], "GAL060_U": ["dust", "synch", "ame"],
                                  "GAL040_L": ["dust", "synch"]}}
    sky = run_sky(config(raw, instrument=BANDS))
    assert sky.model_names == ("dust+synch", "dust+curved_synch", "dust+synch+ame")
    pixels = {r: region_pixels(r, NSIDE, foreground_intensity=sky.foreground_intensity) for r in ("GAL020", "GAL060_U")}
    expected = np.zeros(NPIX, dtype=np.int16)
    expected[pixels["GAL020"]], expected[pixels["GAL060_U"]] = 1, 2
    np.testing.assert_array_equal(sky.model_map, expected)
    curved = run_sky(config({"model": "synthetic", "seed": 3, "foregrounds": ["dust", "curved_synch"]}, instrument=BANDS))
    with_ame = run_sky(config({"model": "synthetic", "seed": 3, "foregrounds": ["dust", "synch", "ame"]}, instrument=BANDS))
    for index, reference in enumerate((plain, curved, with_ame)):
        where = sky.model_map == index
        np.testing.assert_allclose(sky.foregrounds[..., where], reference.foregrounds[..., where], rtol=1e-13)
    np.testing.assert_array_equal(sky.true_params["curv_synch"], np.where(expected == 1, -0.052, np.nan))
    np.testing.assert_array_equal(sky.true_params["nu_peak_ame"], np.where(expected == 2, 25.0, np.nan))
    assert "GAL020: dust+curved_synch" in sky.description


def test_clustered_sky_takes_region_truth_from_the_run_regions():
    raw = {"model": "synthetic_clustered", "seed": 7, "true_patches": {"beta_dust": 4, "temp_dust": 2, "beta_synch": 1}}
    base = run_sky(config(raw))
    sky = run_sky(config({**raw, "region_foregrounds": {"GAL060_U": ["dust", "curved_synch"]}}))
    where = region_pixels("GAL060_U", NSIDE, foreground_intensity=sky.foreground_intensity)
    assert sky.model_names == ("dust+synch", "dust+curved_synch") and set(np.flatnonzero(sky.model_map)) == set(where)
    for p in PARAMS:
        np.testing.assert_array_equal(sky.true_params[p], base.true_params[p])
    outside = sky.model_map == 0
    np.testing.assert_array_equal(sky.foregrounds[..., outside], base.foregrounds[..., outside])
    assert not np.allclose(sky.foregrounds[..., where], base.foregrounds[..., where])


# ------------------------------------------------------------------ one-line ConfigErrors

@pytest.mark.parametrize("bad, message", [
    ({"foregrounds": ["dust", "free_free"]}, r"sky.foregrounds\[1\]: unknown component 'free_free'; known: dust, synch"),
    ({"foregrounds": ["cmb", "dust"]}, r"sky.foregrounds\[0\]: cmb is implicit"),
    ({"foregrounds": ["synch", "curved_synch"]}, "beta_synch declared twice"),
    ({"foregrounds": ["dust", "dust"]}, "beta_dust, temp_dust declared twice"),
    ({"foregrounds": []}, "non-empty list"),
    ({"foregrounds": [{"name": "synch", "nu_ref": 30}]}, r"unknown option\(s\) nu_ref"),
    ({"foregrounds": [{"name": "curved_synch", "pivot": -2}]}, "positive and finite"),
    ({"region_foregrounds": {"GAL030": ["dust"]}}, "unknown band or region 'GAL030'"),
    ({"region_foregrounds": {"GAL020": ["dust"], "GAL020_L": ["synch"]}}, "band GAL020 and one of its halves"),
    ({"region_foregrounds": {"GAL020": "dust"}}, "sky.region_foregrounds.GAL020 must be a non-empty list"),
    ({"region_foregrounds": ["GAL020"]}, "must map bands or regions"),
    ({"ame_polarization_fraction": 1.2}, r"must lie in \[0, 1\], got 1.2"),
    ({"ame_polarization_fraction": -0.01}, r"must lie in \[0, 1\]"),
    ({"true_values": {"beta_synch": -3}}, "sky.true_values.beta_synch: not a parameter without a map"),
    ({"true_values": {"nu_peak_ame": 0}}, "nu_peak_ame must be finite and positive"),
    ({"model": "pysm", "foregrounds": ["dust"]}, "sky.foregrounds needs a synthetic sky model"),
    ({"model": "pysm", "ame_polarization_fraction": 0.01}, "sky.ame_polarization_fraction needs a synthetic"),
])
def test_bad_truth_options_are_one_line_config_errors(bad, message):
    with pytest.raises(ConfigError, match=message) as err:
        config({"model": "synthetic", **bad})
    assert "\n" not in str(err.value)
