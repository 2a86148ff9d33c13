"""Galactic regions: disjoint bands, north/south split, mask files and their nside conversion.

The mask-file tests run on a mask file written here (on every checkout) and again on the real
Planck GAL masks where the checkout has them (../shared/data or $COMPSEP_SHARED_DATA)."""

from __future__ import annotations

import itertools
from pathlib import Path

import healpy as hp
import numpy as np
import pytest

import compsep_hpc  # noqa: F401  (float64 JAX)
from compsep_hpc.errors import ConfigError
from compsep_hpc.partition.regions import (
    MASK_KEYS,
    REGION_NAMES,
    SPLIT_REGION_NAMES,
    check_region_name,
    galactic_masks,
    mask_to_nside,
    north_mask,
    region_mask,
    region_pixels,
)


@pytest.fixture(scope="module", params=["generated", "planck"])
def mask_file(request, tmp_path_factory) -> str:
    """A mask file at nside 64 in the Planck file's format: an .npz of the GAL020, GAL040 and
    GAL060 masks (RING, uint8 0/1, nested). ``generated``: written here on every checkout;
    ``planck``: the real Planck file, where the checkout has it (skipped otherwise)."""
    if request.param == "planck":
        return str(request.getfixturevalue("planck_masks"))
    return str(write_mask_npz(tmp_path_factory.mktemp("masks") / "GAL_TestMasks_64.npz", 64))


def write_mask_npz(path: Path, nside: int) -> Path:
    """Nested GAL020/GAL040/GAL060 masks (uint8, RING) keeping the lowest 20/40/60 % of a smooth
    intensity, brightest on the Galactic plane and modulated in longitude (no band is a plain
    latitude cut, and the north and south halves of a band differ)."""
    lon, lat = hp.pix2ang(nside, np.arange(12 * nside**2), lonlat=True)
    intensity = (1.0 + 0.3 * np.cos(np.radians(lon + 0.5 * lat))) / (np.abs(np.sin(np.radians(lat - 3.0))) + 0.05)
    masks = {k: (intensity <= np.quantile(intensity, f)).astype(np.uint8)
             for k, f in zip(MASK_KEYS, (0.2, 0.4, 0.6))}
    assert np.all(masks["GAL020"] <= masks["GAL040"]) and np.all(masks["GAL040"] <= masks["GAL060"])
    np.savez(path, **masks)
    return path


def synthetic_intensity(nside: int) -> np.ndarray:
    """Bright Galactic plane: 1/(|sin b| + 0.05) plus small deterministic noise."""
    lat = hp.pix2ang(nside, np.arange(12 * nside**2), lonlat=True)[1]
    noise = np.random.default_rng(7).uniform(0.0, 0.05, lat.size)
    return 1.0 / (np.abs(np.sin(np.radians(lat))) + 0.05) + noise


def _bands(masks: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    m20, m40, m60 = (np.asarray(masks[k], dtype=bool) for k in MASK_KEYS)
    return {"GAL020": m20, "GAL040": m40 & ~m20, "GAL060": m60 & ~m40}


def test_region_names_and_errors() -> None:
    for name in REGION_NAMES:
        check_region_name(name)
    assert len(SPLIT_REGION_NAMES) == 6 and len(REGION_NAMES) == 9
    with pytest.raises(ConfigError, match="unknown region 'GAL080_U'; known: GAL020_U"):
        check_region_name("GAL080_U")
    with pytest.raises(ConfigError, match="unknown region"):
        region_pixels("gal020_u", 8, foreground_intensity=synthetic_intensity(8))


def test_intensity_map_errors() -> None:
    with pytest.raises(ConfigError, match="expected \\(3072,\\) at nside 16"):
        region_pixels("GAL020_U", 16, foreground_intensity=synthetic_intensity(8))
    with pytest.raises(ConfigError, match="mask_file or a foreground intensity"):
        region_pixels("GAL020_U", 16)
    bad = synthetic_intensity(8)
    bad[3] = np.nan
    with pytest.raises(ConfigError, match="non-finite"):
        region_pixels("GAL020", 8, foreground_intensity=bad)
    with pytest.raises(ConfigError, match="power of two"):
        region_pixels("GAL020", 12, foreground_intensity=synthetic_intensity(8))


@pytest.mark.parametrize("nside", [16, 32])
def test_derived_regions_disjoint_cover_and_fractions(nside: int) -> None:
    npix = 12 * nside**2
    fg = synthetic_intensity(nside)
    masks = {n: region_mask(n, nside, foreground_intensity=fg) for n in REGION_NAMES}
    for a, b in itertools.combinations(SPLIT_REGION_NAMES, 2):
        assert not np.any(masks[a] & masks[b]), (a, b)
    for band in MASK_KEYS:
        assert np.array_equal(masks[f"{band}_U"] | masks[f"{band}_L"], masks[band])
        # each band holds 20% of the sky, exactly (round half up) by construction
        assert masks[band].sum() == pytest.approx(0.2 * npix, abs=1)
        # the symmetric map splits each band roughly in half
        assert abs(masks[f"{band}_U"].sum() - masks[f"{band}_L"].sum()) < 0.1 * masks[band].sum()
    union = masks["GAL020"] | masks["GAL040"] | masks["GAL060"]
    assert union.sum() == int(np.floor(0.6 * npix + 0.5))
    # GAL020 is the faintest part of the sky: high latitudes
    lat = hp.pix2ang(nside, np.arange(npix), lonlat=True)[1]
    assert np.abs(lat[masks["GAL020"]]).min() > np.abs(lat[masks["GAL060"]]).max() - 5


def test_north_south_split_and_equator() -> None:
    nside = 16
    lat = hp.pix2ang(nside, np.arange(12 * nside**2), lonlat=True)[1]
    north = north_mask(nside)
    assert np.array_equal(north, lat >= 0)  # b == 0 pixels go to _U
    assert (lat == 0).sum() == 4 * nside
    fg = np.random.default_rng(1).uniform(size=lat.size)  # bands then reach the equator
    u = region_pixels("GAL060_U", nside, foreground_intensity=fg)
    lo = region_pixels("GAL060_L", nside, foreground_intensity=fg)
    assert np.all(lat[u] >= 0) and np.all(lat[lo] < 0)
    band = region_mask("GAL060", nside, foreground_intensity=fg)
    on_equator = band & (lat == 0)
    assert on_equator.any() and np.all(north[on_equator])


def test_region_pixels_sorted_int64_deterministic() -> None:
    fg = synthetic_intensity(16)
    a = region_pixels("GAL040_L", 16, foreground_intensity=fg)
    b = region_pixels("GAL040_L", 16, foreground_intensity=fg.copy())
    assert a.dtype == np.int64 and np.all(np.diff(a) > 0)
    assert np.array_equal(a, b)
    a[:] = -1  # callers may scribble on their copy without touching the cache
    assert np.array_equal(region_pixels("GAL040_L", 16, foreground_intensity=fg), b)


def test_ties_broken_deterministically() -> None:
    fg = np.ones(12 * 4**2)
    m = galactic_masks(4, foreground_intensity=fg)
    assert np.array_equal(np.flatnonzero(m["GAL020"]), np.arange(int(0.2 * fg.size + 0.5)))
    # many ties: equal intensities are taken in pixel-index order
    fg = np.random.default_rng(2).integers(0, 4, 12 * 16**2).astype(float)
    order = np.lexsort((np.arange(fg.size), fg))
    m = galactic_masks(16, foreground_intensity=fg)
    for key, frac in (("GAL020", 0.2), ("GAL060", 0.6)):
        expected = np.sort(order[: int(np.floor(frac * fg.size + 0.5))])
        assert np.array_equal(np.flatnonzero(m[key]), expected)


def test_mask_file_nside64(mask_file: str) -> None:
    raw = np.load(mask_file)
    bands = _bands({k: raw[k] for k in MASK_KEYS})
    for band, expected in bands.items():
        u = region_pixels(f"{band}_U", 64, mask_file=mask_file)
        lo = region_pixels(f"{band}_L", 64, mask_file=mask_file)
        assert u.size + lo.size == expected.sum()
        assert np.array_equal(np.union1d(u, lo), np.flatnonzero(expected))
    assert region_pixels("GAL020", 64, mask_file=mask_file).size == raw["GAL020"].sum()
    assert region_pixels("GAL060", 64, mask_file=mask_file).size == \
        (raw["GAL060"].astype(bool) & ~raw["GAL040"].astype(bool)).sum()


def test_mask_file_downgrade_to_32(mask_file: str) -> None:
    raw = np.load(mask_file)
    # independent reference: healpy's averaging downgrade, kept where fraction >= 0.5
    ref = _bands({k: hp.ud_grade(raw[k].astype(np.float64), 32) >= 0.5 for k in MASK_KEYS})
    north = hp.pix2ang(32, np.arange(12 * 32**2), lonlat=True)[1] >= 0
    for band in MASK_KEYS:
        assert np.array_equal(region_mask(band, 32, mask_file=mask_file), ref[band])
        assert np.array_equal(region_mask(f"{band}_U", 32, mask_file=mask_file),
                              ref[band] & north)
        n64 = region_pixels(band, 64, mask_file=mask_file).size
        n32 = region_pixels(band, 32, mask_file=mask_file).size
        assert n32 == pytest.approx(n64 / 4, rel=0.05)  # scales with npix: not the nside-64 mask


def test_mask_file_upgrade_to_128(mask_file: str) -> None:
    for band in MASK_KEYS:
        m64 = region_mask(band, 64, mask_file=mask_file)
        m128 = region_mask(band, 128, mask_file=mask_file)
        assert m128.sum() == 4 * m64.sum()
        assert np.array_equal(m128, hp.ud_grade(m64.astype(float), 128) > 0.5)
        for half in "UL":
            n64 = region_pixels(f"{band}_{half}", 64, mask_file=mask_file).size
            n128 = region_pixels(f"{band}_{half}", 128, mask_file=mask_file).size
            assert abs(n128 - 4 * n64) <= 4 * 64  # only equator-ring children move


def test_mask_to_nside_fraction_rule() -> None:
    nest = np.zeros(12 * 4**2)
    nest[:4] = [1, 1, 0, 0]  # parent 0: half kept -> kept
    nest[4:8] = [1, 0, 0, 0]  # parent 1: a quarter -> dropped
    nest[8:12] = [1, 1, 1, 0]  # parent 2
    out = hp.reorder(mask_to_nside(hp.reorder(nest, n2r=True), 2), r2n=True)
    assert out[:3].tolist() == [True, False, True] and out.sum() == 2


def _write_npz(path: Path, nside: int, keys=MASK_KEYS, size=None) -> dict[str, np.ndarray]:
    fg = synthetic_intensity(nside)
    derived = galactic_masks(nside, foreground_intensity=fg)
    masks = {k: v.astype(np.uint8) for k, v in derived.items()}
    arrays = {k: (masks[k][:size] if size else masks[k]) for k in keys}
    np.savez(path, **arrays)
    return masks


def test_mask_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        region_pixels("GAL020_U", 16, mask_file=str(tmp_path / "nope.npz"))
    _write_npz(tmp_path / "partial.npz", 16, keys=("GAL020", "GAL060"))
    with pytest.raises(ConfigError, match="lacks array\\(s\\) GAL040"):
        region_pixels("GAL020_U", 16, mask_file=str(tmp_path / "partial.npz"))
    _write_npz(tmp_path / "short.npz", 16, size=1000)
    with pytest.raises(ConfigError, match="not a HEALPix map"):
        region_pixels("GAL020_U", 16, mask_file=str(tmp_path / "short.npz"))
    np.save(tmp_path / "plain.npy", np.zeros(12 * 16**2))
    (tmp_path / "plain.npy").rename(tmp_path / "plain.npz")
    with pytest.raises(ConfigError, match="cannot read mask file .*plain.npz"):
        region_pixels("GAL020_U", 16, mask_file=str(tmp_path / "plain.npz"))
    (tmp_path / "masks.txt").write_text("x")
    with pytest.raises(ConfigError, match="unsupported type"):
        region_pixels("GAL020_U", 16, mask_file=str(tmp_path / "masks.txt"))


def test_mask_file_fits_nested_matches_npz(tmp_path: Path) -> None:
    masks = _write_npz(tmp_path / "m.npz", 16)
    fits_path = tmp_path / "m.fits"
    nested = [hp.reorder(masks[k].astype(np.float32), r2n=True) for k in MASK_KEYS]
    hp.write_map(str(fits_path), nested,
                 nest=True, column_names=list(MASK_KEYS), dtype=np.float32)
    for name in REGION_NAMES:
        for nside in (8, 16):
            assert np.array_equal(region_pixels(name, nside, mask_file=str(fits_path)),
                                  region_pixels(name, nside, mask_file=str(tmp_path / "m.npz")))
    # the file's own nside reproduces the masks it holds
    assert np.array_equal(region_mask("GAL040", 16, mask_file=str(fits_path)),
                          masks["GAL040"].astype(bool) & ~masks["GAL020"].astype(bool))
