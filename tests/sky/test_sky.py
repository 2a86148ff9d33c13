"""Sky models: synthetic d1s1-like, clustered validation sky, PySM presets from local templates."""

from __future__ import annotations

import shutil

import healpy as hp
import numpy as np
import pytest

from compsep_hpc.config import parse_config
from compsep_hpc.model.sky_model import DEFAULT_MODEL
from compsep_hpc.separation.config import model_bounds

DEFAULT_BOUNDS = model_bounds(DEFAULT_MODEL)
from compsep_hpc.errors import ConfigError
from compsep_hpc.grid.experiment import run_sky as make_sky
from compsep_hpc.sky import SkyMaps
from compsep_hpc.sky.cmb import gaussian_cmb_qu
from compsep_hpc.sky.synthetic import foreground_amplitudes, synthetic_sky

NSIDE = 16
NPIX = 12 * NSIDE**2
BANDS = {"frequencies": [20.0, 40.0, 150.0, 353.0], "depth_p": [1.0, 1.0, 1.0, 1.0]}
H, K, TCMB = 6.62607015e-34, 1.380649e-23, 2.7255
PARAMS = ("beta_dust", "temp_dust", "beta_synch")


def make_config(sky: dict, nside: int = NSIDE, regions=("GAL020_U",), grid_seed: int = 0):
    return parse_config({
        "name": "t", "nside": nside, "instrument": BANDS, "sky": sky, "regions": list(regions),
        "grid": {"beta_dust": [2], "temp_dust": [1], "beta_synch": [1], "seed": grid_seed},
    })


# Independent numpy versions of the physics.md formulas (K_CMB SEDs).
def g(nu):
    x = H * nu * 1e9 / (K * TCMB)
    return np.expm1(x) ** 2 / (np.exp(x) * x**2)


def mbb_kcmb(nu, beta, temp, nu0):
    y, y0 = H * nu * 1e9 / (K * temp), H * nu0 * 1e9 / (K * temp)
    return (nu / nu0) ** (beta + 1) * np.expm1(y0) / np.expm1(y) * g(nu) / g(nu0)


def pl_kcmb(nu, beta, nu0):
    return (nu / nu0) ** beta * g(nu) / g(nu0)


def abs_latitude(nside):
    theta, _ = hp.pix2ang(nside, np.arange(12 * nside**2))
    return np.abs(90.0 - np.degrees(theta))


def rng_state_equal(a, b):
    return a[0] == b[0] and np.array_equal(a[1], b[1]) and a[2:] == b[2:]


# ----------------------------------------------------------------------------- synthetic sky

@pytest.fixture(scope="module")
def synth() -> SkyMaps:
    return make_sky(make_config({"model": "synthetic", "seed": 1, "r": 0.01}))


def test_synthetic_shapes_and_finiteness(synth):
    assert isinstance(synth, SkyMaps) and synth.nside == NSIDE
    np.testing.assert_array_equal(synth.frequencies, BANDS["frequencies"])
    assert synth.cmb.shape == (2, NPIX)
    assert synth.foregrounds.shape == (4, 2, NPIX)
    assert synth.foreground_intensity.shape == (NPIX,)
    assert synth.frequency_maps.shape == (4, 2, NPIX)
    assert set(synth.true_params) == set(PARAMS)
    maps = (synth.cmb, synth.foregrounds, synth.foreground_intensity, *synth.true_params.values())
    for arr in maps:
        assert arr.dtype == np.float64 and np.all(np.isfinite(arr))
    np.testing.assert_array_equal(synth.cmb, gaussian_cmb_qu(NSIDE, 0.01, 1))


def test_synthetic_deterministic_seeded_and_leaves_global_rng_alone(synth):
    np.random.seed(7)
    state = np.random.get_state()
    again = make_sky(make_config({"model": "synthetic", "seed": 1, "r": 0.01}))
    assert rng_state_equal(np.random.get_state(), state)
    for a, b in ((synth.cmb, again.cmb), (synth.foregrounds, again.foregrounds),
                 (synth.foreground_intensity, again.foreground_intensity)):
        np.testing.assert_array_equal(a, b)
    for p in PARAMS:
        np.testing.assert_array_equal(synth.true_params[p], again.true_params[p])
    cfg = make_config({"model": "synthetic", "seed": 2, "r": 0.01})
    other = synthetic_sky(cfg.sky, cfg.nside, cfg.instrument)
    assert not np.allclose(other.foregrounds, synth.foregrounds)
    assert not np.allclose(other.cmb, synth.cmb)
    for p in PARAMS:
        assert not np.allclose(other.true_params[p], synth.true_params[p])


def test_synthetic_parameters_in_range_and_spatially_varying(synth):
    expected = {"beta_dust": (1.54, 0.03, 0.15), "temp_dust": (20.0, 0.5, 3.0),
                "beta_synch": (-3.0, 0.03, 0.2)}
    for p, (mean, min_std, max_std) in expected.items():
        m = synth.true_params[p]
        lo, hi = DEFAULT_BOUNDS[p]
        assert lo + 0.1 * (hi - lo) < m.min() and m.max() < hi - 0.1 * (hi - lo)
        assert abs(m.mean() - mean) < 0.5 * max_std
        assert min_std < m.std() < max_std
        # smooth: neighbouring pixels differ much less than the field's spread
        neighbours = hp.get_all_neighbours(NSIDE, np.arange(NPIX))[0]
        assert np.std(m - m[neighbours]) < 0.5 * m.std()


def test_synthetic_foregrounds_follow_the_seds(synth):
    """Band 150 GHz = nu_dust and 20 GHz = nu_synch: each amplitude appears with SED 1 there."""
    dust, synch = foreground_amplitudes(NSIDE, 1, 150.0, 20.0)
    bd, td, bs = (synth.true_params[p] for p in PARAMS)
    for i, nu in enumerate(BANDS["frequencies"]):
        expected = dust * mbb_kcmb(nu, bd, td, 150.0) + synch * pl_kcmb(nu, bs, 20.0)
        np.testing.assert_allclose(synth.foregrounds[i], expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(synth.foregrounds[2], dust + synch * pl_kcmb(150.0, bs, 20.0),
                               rtol=1e-12)


def test_synthetic_amplitudes_realistic_and_galactic(synth):
    b = abs_latitude(NSIDE)
    dust, synch = foreground_amplitudes(NSIDE, 1, 150.0, 20.0)
    p_dust_353 = np.hypot(*dust) * mbb_kcmb(353.0, 1.54, 20.0, 150.0)  # uK_CMB
    p_synch_23_rj = np.hypot(*synch) * pl_kcmb(23.0, -3.0, 20.0) / g(23.0)  # uK_RJ
    high, plane = b > 50, b < 10
    assert 2 < np.median(p_dust_353[high]) < 30
    assert 1 < np.median(p_synch_23_rj[high]) < 30
    assert np.median(p_dust_353[plane]) > 3 * np.median(p_dust_353[high])
    intensity = synth.foreground_intensity
    assert np.median(intensity[b < 10]) > 3 * np.median(intensity[b > 60])
    # the cleanest 20 % of the sky lies at high latitude
    clean = intensity <= np.quantile(intensity, 0.2)
    assert np.median(b[clean]) > 40 and b[clean].min() > 10


def test_amplitudes_do_not_depend_on_parameters_or_cmb():
    a = foreground_amplitudes(8, 4)
    b = foreground_amplitudes(8, 4)
    c = foreground_amplitudes(8, 5)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.allclose(a[0], c[0])


# ----------------------------------------------------------------------------- clustered sky

TRUE_K = {"beta_dust": 6, "temp_dust": 2, "beta_synch": 1}
TRUTH_SEED = 5


@pytest.fixture(scope="module")
def clustered():
    sky = {"model": "synthetic_clustered", "seed": 1, "r": 0.01, "true_patches": TRUE_K,
           "truth_kmeans_seed": TRUTH_SEED}
    cfg = make_config(sky, regions=("GAL020_U",), grid_seed=3)
    return cfg, make_sky(cfg)


def _pixels(sky):
    from compsep_hpc.partition.regions import region_pixels

    return region_pixels("GAL020_U", NSIDE, foreground_intensity=sky.foreground_intensity)


def test_clustered_sky_constant_on_true_kmeans_patches(clustered, synth):
    from compsep_hpc.partition.patches import count_patches, kmeans_patches

    cfg, sky = clustered
    pixels = _pixels(sky)
    for p in PARAMS:
        labels = kmeans_patches(pixels, NSIDE, TRUE_K[p], TRUTH_SEED)  # the sky's seed, not grid.seed (3)
        values = sky.true_params[p][pixels]
        assert np.unique(values).size == count_patches(labels) == TRUE_K[p]
        for label in np.unique(labels):
            assert np.unique(values[labels == label]).size == 1
        lo, hi = DEFAULT_BOUNDS[p]
        assert lo < values.min() and values.max() < hi
    outside = np.setdiff1d(np.arange(NPIX), pixels)
    for p in PARAMS:
        np.testing.assert_array_equal(sky.true_params[p][outside], synth.true_params[p][outside])


def _constant_on(values: np.ndarray, labels: np.ndarray) -> bool:
    return all(np.unique(values[labels == j]).size == 1 for j in np.unique(labels))


def test_the_truth_has_its_own_kmeans_seed_by_default():
    """Defaults: the true beta_dust patches (K = 6 here) are another K-means solution than the fit's
    partition at the true K, so the truth is not one of the fitted models; with
    truth_kmeans_seed = grid.seed it is exactly the fitted partition."""
    from compsep_hpc.grid.config import GridConfig
    from compsep_hpc.grid.experiment import Experiment
    from compsep_hpc.sky.config import SkyConfig

    assert SkyConfig(model="synthetic_clustered").truth_kmeans_seed != GridConfig({}).seed
    raw = {"model": "synthetic_clustered", "seed": 1, "true_patches": TRUE_K}
    for truth_seed, inside in ((None, False), (0, True)):
        sky_section = raw if truth_seed is None else {**raw, "truth_kmeans_seed": truth_seed}
        cfg = parse_config({"name": "t", "nside": NSIDE, "instrument": BANDS, "sky": sky_section,
                            "regions": ["GAL020_U"], "grid": {"beta_dust": [6], "temp_dust": [2], "beta_synch": [1]}})
        exp = Experiment(cfg)
        fit_labels = exp.labels("GAL020_U", (6, 2, 1))
        truth = exp.sky.true_params["beta_dust"][exp.pixels("GAL020_U")]
        assert _constant_on(truth, fit_labels[0]) is inside, truth_seed


def test_patch_spread_scales_each_parameter_on_its_own(clustered):
    """The patch values are mean + spread * u with the same draws u: a spread 5x the default moves
    beta_dust's deviations 5x, a zero spread makes beta_synch constant, temp_dust keeps its values."""
    cfg, sky = clustered
    raw = {"model": "synthetic_clustered", "seed": 1, "r": 0.01, "true_patches": TRUE_K, "truth_kmeans_seed": TRUTH_SEED,
           "patch_spread": {"beta_dust": 0.5, "beta_synch": 0.0}}
    wide_cfg = make_config(raw, regions=("GAL020_U",), grid_seed=3)
    assert dict(wide_cfg.sky.patch_spread) == {"beta_dust": 0.5, "temp_dust": 2.0, "beta_synch": 0.0}
    assert dict(cfg.sky.patch_spread) == {"beta_dust": 0.1, "temp_dust": 2.0, "beta_synch": 0.1}  # the defaults
    wide = make_sky(wide_cfg)
    pixels = _pixels(sky)
    default_bd, wide_bd = (s.true_params["beta_dust"][pixels] - 1.54 for s in (sky, wide))
    np.testing.assert_allclose(wide_bd, 5.0 * default_bd, rtol=1e-12, atol=1e-15)
    assert np.abs(wide_bd).max() > 0.1  # beyond the default spread
    np.testing.assert_array_equal(wide.true_params["temp_dust"], sky.true_params["temp_dust"])
    np.testing.assert_array_equal(wide.true_params["beta_synch"][pixels], -3.0)
    assert "spread 0.5/2/0" in wide.description and "K-means seed 5" in wide.description


@pytest.mark.parametrize("spread, message", [
    ({"beta_dust": -0.1}, "sky.patch_spread.beta_dust must be a finite number >= 0"),
    ({"temp_dust": float("inf")}, "sky.patch_spread.temp_dust must be a finite number >= 0"),
    ({"dust": 0.1}, "sky.patch_spread.dust: unknown parameter"),
    ({"temp_dust": "2"}, "'sky.patch_spread.temp_dust' must be a number"),
    ([0.1, 2.0, 0.1], "sky.patch_spread must map parameters"),
])
def test_patch_spread_is_validated(spread, message):
    with pytest.raises(ConfigError, match=message):
        make_config({"model": "synthetic_clustered", "true_patches": TRUE_K, "patch_spread": spread})


def test_foreground_seed_changes_the_foregrounds_only(clustered, synth):
    """Another foreground seed: same CMB, same region-defining intensity (so the same regions and
    true patches), other foreground amplitudes, parameter maps and patch values."""
    cfg, sky = clustered
    raw = {"model": "synthetic_clustered", "seed": 1, "r": 0.01, "true_patches": TRUE_K,
           "truth_kmeans_seed": TRUTH_SEED, "foreground_seed": 8}
    other = make_sky(make_config(raw, regions=("GAL020_U",), grid_seed=3))
    np.testing.assert_array_equal(other.cmb, sky.cmb)
    np.testing.assert_array_equal(other.foreground_intensity, sky.foreground_intensity)
    assert not np.allclose(other.foregrounds, sky.foregrounds)
    pixels = _pixels(sky)
    for p in ("beta_dust", "temp_dust"):  # K > 1: constant on the same true patches, other values
        a, b = sky.true_params[p][pixels], other.true_params[p][pixels]
        assert not np.allclose(a, b)
        assert len(set(zip(a.tolist(), b.tolist()))) == TRUE_K[p]
    # the synthetic sky of foreground seed 8 holds the foregrounds of seed 8 behind seed 1's CMB
    plain = make_config({"model": "synthetic", "seed": 1, "r": 0.01, "foreground_seed": 8})
    eight = make_config({"model": "synthetic", "seed": 8, "r": 0.01})
    a, b = (synthetic_sky(c.sky, c.nside, c.instrument) for c in (plain, eight))
    np.testing.assert_array_equal(a.foregrounds, b.foregrounds)
    np.testing.assert_array_equal(a.cmb, synth.cmb)
    np.testing.assert_array_equal(a.foreground_intensity, synth.foreground_intensity)
    with pytest.raises(ConfigError, match="sky.foreground_seed needs a synthetic sky model"):
        make_config({"model": "pysm", "foreground_seed": 2})


def test_clustered_sky_shares_cmb_amplitudes_and_intensity_with_synthetic(clustered, synth):
    _, sky = clustered
    np.testing.assert_array_equal(sky.cmb, synth.cmb)
    np.testing.assert_array_equal(sky.foreground_intensity, synth.foreground_intensity)
    # the 150 GHz band (= nu_dust) holds the dust amplitude exactly, whatever the parameters
    dust, synch = foreground_amplitudes(NSIDE, 1, 150.0, 20.0)
    bs = sky.true_params["beta_synch"]
    expected = dust + synch * pl_kcmb(150.0, bs, 20.0)
    np.testing.assert_allclose(sky.foregrounds[2], expected, rtol=1e-12)


# ----------------------------------------------------------------------------- PySM skies

PYSM_FILES = ("dust_t_new", "dust_q_new", "dust_u_new", "dust_beta", "dust_temp",
              "synch_t_new", "synch_q_new", "synch_u_new", "synch_beta")


@pytest.fixture(scope="module")
def pysm_templates(tmp_path_factory):
    """Small PySM-layout templates (nside 16, single-column FITS) written here, never fetched."""
    root = tmp_path_factory.mktemp("pysm_data")
    (root / "pysm_2").mkdir()
    rng = np.random.default_rng(2024)
    maps = {
        "dust_t_new": 100 + 10 * rng.random(NPIX), "dust_q_new": 20 * rng.standard_normal(NPIX),
        "dust_u_new": 20 * rng.standard_normal(NPIX),
        "dust_beta": 1.5 + 0.05 * rng.standard_normal(NPIX),
        "dust_temp": 19 + rng.standard_normal(NPIX), "synch_t_new": 50 + rng.random(NPIX),
        "synch_q_new": 5 * rng.standard_normal(NPIX), "synch_u_new": 5 * rng.standard_normal(NPIX),
        "synch_beta": -3 + 0.05 * rng.standard_normal(NPIX),
    }
    units = {"dust_beta": "", "synch_beta": "", "dust_temp": "K"}
    for name, m in maps.items():
        hp.write_map(str(root / "pysm_2" / f"{name}.fits"), m, dtype=np.float64,
                     column_units=units.get(name, "uK_RJ"), overwrite=True)
    # CAMB lenspotential layout: L, then D_ell of TT, EE, BB, TE, then PP, TP, EP, from L = 2
    ell = np.arange(2, 201)
    cols = [ell, 1000.0 + 0 * ell, 10.0 + 0 * ell, 0.01 + 0 * ell, 0 * ell, 1e-7 + 0 * ell,
            0 * ell, 0 * ell]
    np.savetxt(root / "pysm_2" / "camb_lenspotentialCls.dat", np.column_stack(cols))
    np.savetxt(root / "pysm_2" / "delens_ells.txt", np.column_stack([ell, np.ones(ell.size)]))
    # AME (a1/a2): intensity at 22.8 and 41 GHz (uK_RJ), the peak map (GHz), and an emissivity table
    # (GHz, flux emissivity) peaking at 30 GHz: a log-parabola, as spdust2's for this test
    ame_rng = np.random.default_rng(7)
    ame = {"ame_t_new": 30 + 5 * ame_rng.random(NPIX), "ame2_t_new": 10 + 2 * ame_rng.random(NPIX),
           "ame_nu_peak_0": 25 + 5 * ame_rng.random(NPIX)}
    for name, m in ame.items():
        hp.write_map(str(root / "pysm_2" / f"{name}.fits"), m, dtype=np.float64,
                     column_units="GHz" if name == "ame_nu_peak_0" else "uK_RJ", overwrite=True)
    table = np.geomspace(0.5, 2000.0, 4000)
    np.savetxt(root / "pysm_2" / "emissivity.txt", np.column_stack([table, np.exp(-np.log(table / 30.0) ** 2 / 0.72)]))
    return root, {**maps, **ame}


@pytest.fixture
def pysm_env(pysm_templates, monkeypatch, tmp_path):
    monkeypatch.setenv("PYSM_LOCAL_DATA", str(pysm_templates[0]))
    monkeypatch.chdir(tmp_path)  # PySM also looks templates up relative to the working directory
    return pysm_templates


def pysm_config(preset, r=0.0, seed=0):
    return make_config({"model": "pysm", "preset": preset, "r": r, "seed": seed})


def _pysm_totals_kcmb(preset):
    """Total Q/U per band straight from pysm3.Sky in uK_CMB, shape (n_freq, 2, npix)."""
    import pysm3
    import pysm3.units as u

    sky = pysm3.Sky(nside=NSIDE, preset_strings=[preset[i:i + 2] for i in range(0, len(preset), 2)],
                    output_unit="uK_CMB")
    return np.stack([np.asarray(sky.get_emission(nu * u.GHz).value[1:3], dtype=float)
                     for nu in BANDS["frequencies"]])


@pytest.mark.parametrize("preset", ["c1d0s0", "c1d1s1"])
def test_pysm_sky_from_local_templates(pysm_env, preset):
    _, maps = pysm_env
    np.random.seed(3)
    state = np.random.get_state()
    sky = make_sky(pysm_config(preset))
    assert rng_state_equal(np.random.get_state(), state)  # PySM's c1 reseeds; restored
    assert sky.cmb.shape == (2, NPIX) and sky.foregrounds.shape == (4, 2, NPIX)
    assert sky.foreground_intensity.shape == (NPIX,)
    for arr in (sky.cmb, sky.foregrounds, sky.foreground_intensity):
        assert np.all(np.isfinite(arr))
    assert 0 < np.std(sky.cmb) < 100
    # the CMB is PySM's CMB in every band: total emission (uK_CMB) - foregrounds
    total = _pysm_totals_kcmb(preset)
    np.testing.assert_allclose(sky.foregrounds + sky.cmb, total, rtol=1e-5,
                               atol=1e-5 * np.abs(total).max())
    # foregrounds = templates (uK_RJ at 353 / 23 GHz) scaled by the K_CMB SEDs
    if preset == "c1d0s0":
        bd, td, bs = 1.54, 20.0, -3.0
    else:
        bd, td, bs = maps["dust_beta"], maps["dust_temp"], maps["synch_beta"]
    dust = np.stack([maps["dust_q_new"], maps["dust_u_new"]]) * g(353.0)
    synch = np.stack([maps["synch_q_new"], maps["synch_u_new"]]) * g(23.0)
    for i, nu in enumerate(BANDS["frequencies"]):
        expected = dust * mbb_kcmb(nu, bd, td, 353.0) + synch * pl_kcmb(nu, bs, 23.0)
        np.testing.assert_allclose(sky.foregrounds[i], expected, rtol=1e-6)
    if preset == "c1d0s0":  # constant SEDs: a fixed ratio between two bands
        ratio = mbb_kcmb(353.0, bd, td, 353.0) / mbb_kcmb(150.0, bd, td, 353.0)
        d353 = sky.foregrounds[3] - synch * pl_kcmb(353.0, bs, 23.0)
        d150 = sky.foregrounds[2] - synch * pl_kcmb(150.0, bs, 23.0)
        np.testing.assert_allclose(d353, ratio * d150, rtol=1e-6)
    assert set(sky.true_params) == set(PARAMS)
    assert sky.model_names == ("dust+synch",) and not sky.model_map.any()
    for p, m in zip(PARAMS, (bd, td, bs)):
        np.testing.assert_allclose(sky.true_params[p], np.broadcast_to(m, (NPIX,)), rtol=1e-12)
        assert sky.true_params[p].shape == (NPIX,)
    assert np.mean(sky.foreground_intensity) > 0


def _curved_kcmb(nu, beta, curv, nu0):
    return (nu / nu0) ** (beta + curv * np.log(nu / nu0)) * g(nu) / g(nu0)


def test_pysm_curved_synchrotron_s3(pysm_env):
    """s3: the s1 templates with the SED (nu/23)^(beta_s + C ln(nu/23)), C = -0.052: curv_synch."""
    _, maps = pysm_env
    sky = make_sky(pysm_config("d0s3"))
    assert sky.model_names == ("dust+curved_synch",) and not sky.model_map.any()
    np.testing.assert_allclose(sky.true_params["curv_synch"], -0.052, rtol=1e-12)
    np.testing.assert_allclose(sky.true_params["beta_synch"], maps["synch_beta"], rtol=1e-12)
    dust = np.stack([maps["dust_q_new"], maps["dust_u_new"]]) * g(353.0)
    synch = np.stack([maps["synch_q_new"], maps["synch_u_new"]]) * g(23.0)
    for i, nu in enumerate(BANDS["frequencies"]):
        expected = dust * mbb_kcmb(nu, 1.54, 20.0, 353.0) + synch * _curved_kcmb(nu, maps["synch_beta"], -0.052, 23.0)
        np.testing.assert_allclose(sky.foregrounds[i], expected, rtol=1e-6)


def test_pysm_polarized_ame_a2(pysm_env):
    """a2 = two spdust components (22.8 GHz with the peak map, 41 GHz with a 33.35 GHz peak), each
    I_ref (nu_ref/nu)^2 j(nu/r)/j(nu_ref/r), r = peak/30 GHz, polarized at 2 % along the dust
    templates' (Q, U)/P. No true nu_peak_ame (not a log-parabola)."""
    _, maps = pysm_env
    sky, without = make_sky(pysm_config("d0s0a2")), make_sky(pysm_config("d0s0"))
    assert sky.model_names == ("dust+synch+ame",) and without.model_names == ("dust+synch",)
    assert set(sky.true_params) == set(PARAMS)
    j = lambda x: np.exp(-np.log(x / 30.0) ** 2 / 0.72)  # noqa: E731
    table = np.geomspace(0.5, 2000.0, 4000)
    interp = lambda x: np.interp(x, table, j(table))  # noqa: E731
    angle = np.arctan2(maps["dust_u_new"], maps["dust_q_new"])
    for i, nu in enumerate(BANDS["frequencies"]):
        intensity = sum(t * (ref / nu) ** 2 * interp(nu / r) / interp(ref / r)
                        for t, ref, r in ((maps["ame_t_new"], 22.8, maps["ame_nu_peak_0"] / 30.0),
                                          (maps["ame2_t_new"], 41.0, 33.35 / 30.0)))
        expected = 0.02 * intensity * g(nu) * np.stack([np.cos(angle), np.sin(angle)])
        np.testing.assert_allclose(sky.foregrounds[i] - without.foregrounds[i], expected, rtol=1e-5,
                                   atol=1e-6 * np.abs(expected).max())


def test_pysm_without_cmb_uses_gaussian_cmb(pysm_env):
    sky = make_sky(pysm_config("d0s0", r=0.02, seed=9))
    np.testing.assert_array_equal(sky.cmb, gaussian_cmb_qu(NSIDE, 0.02, 9))


def test_pysm_errors(pysm_env, tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match="sky.r"):
        make_sky(pysm_config("c1d1s1", r=0.01))
    for bad in ("c1x", "c1d99", "d1d1"):
        with pytest.raises(ConfigError):
            make_sky(pysm_config(bad))
    partial = tmp_path / "partial"
    shutil.copytree(pysm_env[0], partial)
    (partial / "pysm_2" / "dust_q_new.fits").unlink()
    (partial / "pysm_2" / "camb_lenspotentialCls.dat").unlink()
    monkeypatch.setenv("PYSM_LOCAL_DATA", str(partial))
    with pytest.raises(ConfigError, match=r"pysm_2/dust_q_new\.fits.*PYSM_LOCAL_DATA"):
        make_sky(pysm_config("d1s1"))
    with pytest.raises(ConfigError, match=r"camb_lenspotentialCls\.dat.*PYSM_LOCAL_DATA"):
        make_sky(pysm_config("c1s0"))
    make_sky(pysm_config("s1"))  # its own templates are all there
    (partial / "pysm_2" / "emissivity.txt").unlink()
    with pytest.raises(ConfigError, match=r"emissivity\.txt \(component a2\).*PYSM_LOCAL_DATA"):
        make_sky(pysm_config("s1a2"))
