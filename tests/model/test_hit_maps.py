"""Hit maps and the noise model (compsep_hpc.model.hit_maps, compsep_hpc.model.noise_model): the
generated maps' shapes, a file's conversion keeping the total hits, bad maps refused in one line,
the mean depth kept, and the noise draws scaled by 1/sqrt(w)."""

from __future__ import annotations

import healpy as hp
import numpy as np
import pytest

from compsep_hpc.config import NoiseConfig
from compsep_hpc.errors import ConfigError
from compsep_hpc.model.hit_maps import ground_patch, litebird_scan, read_hit_map
from compsep_hpc.model.instrument import LITEBIRD
from compsep_hpc.model.noise import noise_realizations
from compsep_hpc.model.noise_model import noise_model

NSIDE = 8


def _ecliptic_latitude(nside: int) -> np.ndarray:
    vec = np.asarray(hp.pix2vec(nside, np.arange(hp.nside2npix(nside))))
    return np.degrees(np.arcsin(hp.Rotator(coord=["G", "E"])(vec)[2]))


def test_litebird_scan_covers_the_sky_with_most_hits_towards_the_ecliptic_poles():
    """A precessing spin scan (alpha + beta = 95 deg > 90 deg) sees every pixel in a year; the
    boresight's farthest reach from the anti-Sun direction (95 deg) lies within 5 deg of the
    ecliptic poles all year, so the polar caps get about twice the hits of mid latitudes."""
    hits = litebird_scan(NSIDE, step_s=60.0)
    assert hits.sum() == int(365.25 * 24 * 60) and hits.min() > 0
    lat = np.abs(_ecliptic_latitude(NSIDE))
    assert hits[lat > 80].mean() > 2 * hits[(lat > 30) & (lat < 60)].mean()


def test_ground_patch_is_a_smooth_footprint_about_its_centre():
    hits = ground_patch(NSIDE, (30.0, -50.0), 20.0)
    centre = hp.ang2pix(NSIDE, 30.0, -50.0, lonlat=True)
    vec = np.asarray(hp.pix2vec(NSIDE, np.arange(hits.size)))
    theta = np.degrees(np.arccos(np.clip(hp.ang2vec(30.0, -50.0, lonlat=True) @ vec, -1, 1)))
    assert hits[centre] == hits.max() > 0.9
    assert np.all(hits[theta >= 20.0] == 0) and np.all(hits[theta < 15.0] > 0)
    assert np.all(np.diff(hits[np.argsort(theta)]) <= 1e-12)  # falls off towards the edge


def test_a_hit_map_file_at_another_nside_keeps_its_total(tmp_path):
    rng = np.random.default_rng(0)
    fine = rng.integers(1, 100, hp.nside2npix(16)).astype(float)
    np.save(tmp_path / "hits.npy", fine)
    coarse = read_hit_map(tmp_path / "hits.npy", NSIDE)
    assert coarse.size == hp.nside2npix(NSIDE) and coarse.sum() == pytest.approx(fine.sum(), rel=1e-12)
    np.savez(tmp_path / "hits.npz", hits=coarse)
    finer = read_hit_map(tmp_path / "hits.npz", 16)
    assert finer.sum() == pytest.approx(fine.sum(), rel=1e-12)


@pytest.mark.parametrize("values, message", [
    (np.full(100, 1.0), "not a HEALPix map"),
    (np.where(np.arange(768) == 5, np.nan, 1.0), "NaN"),
    (np.where(np.arange(768) == 5, -1.0, 1.0), "negative"),
    (np.zeros(768), "no pixel is observed"),
])
def test_bad_hit_maps_are_refused_in_one_line(tmp_path, values, message):
    np.save(tmp_path / "bad.npy", values)
    with pytest.raises(ConfigError, match=message) as err:
        read_hit_map(tmp_path / "bad.npy", NSIDE)
    assert "\n" not in str(err.value)


def test_hits_keep_the_mean_depth_and_scale_the_white_draw(tmp_path):
    """N^-1 averaged over the observed pixels is the instrument table's; the noise is the white
    draw times 1/sqrt(w); a region with an unobserved pixel is refused."""
    hits = np.arange(768, dtype=float) % 7  # zeros in some pixels
    np.save(tmp_path / "hits.npy", hits)
    noise = noise_model(LITEBIRD, NSIDE, NoiseConfig(model="hits", hits=str(tmp_path / "hits.npy")))
    observed = np.flatnonzero(hits > 0)
    assert noise.common and not noise.white
    np.testing.assert_allclose(noise.inverse_variance(observed).mean(axis=1), 1 / LITEBIRD.noise_sigma(NSIDE)**2,
                               rtol=1e-12)
    pixels = observed[:40]
    white = noise_realizations(LITEBIRD, NSIDE, 3, [1], pixels)
    scaled = noise_realizations(LITEBIRD, NSIDE, 3, [1], pixels, noise.noise_scale(pixels))
    np.testing.assert_allclose(scaled, white * np.sqrt(hits[observed].mean() / hits[pixels]), rtol=1e-12)
    noise.check_region("inside", observed)
    with pytest.raises(ConfigError, match="110 of the 768 pixels of region all have no hit"):
        noise.check_region("all", np.arange(768))
    per_band = noise_model(LITEBIRD, NSIDE, NoiseConfig(model="hits", hits=(str(tmp_path / "hits.npy"),) * 15))
    assert not per_band.common and per_band.weights.shape == (15, 768)
