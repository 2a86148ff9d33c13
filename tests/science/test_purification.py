"""The pure-B estimator (compsep_hpc.science.purification, coupling ``pure_b``): NaMaster's
coupling layout, lower scatter than MASTER at equal mean, the stored geometry and the refusal
without pymaster. pymaster is installed by scripts/install_namaster.sh (CI runs it first)."""

from __future__ import annotations

import sys

import healpy as hp
import numpy as np
import pytest

from compsep_hpc.errors import ConfigError
from compsep_hpc.science.apodization import apodized_mask
from compsep_hpc.science.config import SpectraConfig, parse_spectra
from compsep_hpc.science.coupling import bandpower_coupling, binned_model, joint_coupling, spin2_coupling
from compsep_hpc.science.bandpowers import bandpower_binning
from compsep_hpc.science.geometry import region_geometry
from compsep_hpc.science.purification import pure_b_coupling
from compsep_hpc.science.spectra import bb_bandpowers
from compsep_hpc.store.run_folder import read_geometry, write_geometry


def _cap(nside: int, lat_deg: float) -> np.ndarray:
    return np.pi / 2 - hp.pix2ang(nside, np.arange(12 * nside**2))[0] > np.radians(lat_deg)


def test_namaster_layout_matches_the_ducc0_coupling():
    """Read in the package's layout, NaMaster's unpurified coupling is ducc0's joint M, and the
    purified one has no E-to-B block (its leakage is removed analytically)."""
    import pymaster as nmt

    nside = 16
    lp = 3 * nside - 1
    w = apodized_mask(_cap(nside, 20.0), nside, 10.0).weights
    field = nmt.NmtField(w, None, spin=2, lmax=lp)
    full = nmt.NmtWorkspace.from_fields(field, field, nmt.NmtBin.from_lmax_linear(lp, 10)).get_coupling_matrix()
    idx = np.concatenate([4 * np.arange(lp + 1), 4 * np.arange(lp + 1) + 3])
    ours = joint_coupling(*spin2_coupling(w, lp))
    np.testing.assert_allclose(full[np.ix_(idx, idx)][:2 * nside, :2 * nside], ours[:2 * nside, :2 * nside],
                               atol=1e-3 * np.abs(ours).max())
    pure = pure_b_coupling(w, lp)
    assert pure.shape == ours.shape
    n = lp + 1
    assert np.abs(pure[n + 10: n + 2 * nside, 10: 2 * nside]).max() < 1e-6 * np.abs(pure).max()
    assert np.abs(ours[n + 10: n + 2 * nside, 10: 2 * nside]).max() > 1e-3 * np.abs(ours).max()


def test_pure_b_scatter_is_lower_and_the_means_agree_when_ee_is_100_bb():
    """A Gaussian sky with EE = 100 BB (BB ~ ell^-2.4) on a 10 deg tapered cap: both estimators
    are unbiased against their windows (above ell = 12, where the taper is resolved) and agree,
    and the pure-B bandpowers scatter less than MASTER's in every bin."""
    nside, n = 32, 24
    ell = np.arange(3 * nside)
    bb = np.where(ell >= 2, np.maximum(ell, 1) ** -2.4, 0.0)
    ee = 100.0 * bb
    mask = _cap(nside, 20.0)
    np.random.seed(3)
    zero = np.zeros_like(bb)
    qu = np.array([hp.synfast([zero, ee, bb, zero], nside, new=True)[1:] for _ in range(n)])
    stats = {}
    for estimator in ("master", "pure_b"):
        g = region_geometry(mask, SpectraConfig(lmin=12, lmax=2 * nside, apod_deg=10.0, estimator=estimator))
        assert g.coupling.purify_b == (estimator == "pure_b")
        bp = bb_bandpowers(qu[:, :, g.pixels], g.pixels, g.weights, g.coupling)
        expected = binned_model(g.coupling, bb, ee)
        err = bp.std(0, ddof=1) / np.sqrt(n)
        assert np.all(np.abs(bp.mean(0) - expected) <= np.maximum(0.15 * expected, 3 * err)), (estimator, bp.mean(0) / expected)
        stats[estimator] = bp.mean(0) / expected, err / expected, bp.var(0, ddof=1) / expected**2
    (m_ratio, m_err, m_var), (p_ratio, p_err, p_var) = stats["master"], stats["pure_b"]
    assert np.all(np.abs(m_ratio - p_ratio) <= np.maximum(0.15, 3 * np.hypot(m_err, p_err)))
    assert np.all(m_var > 2.0 * p_var), m_var / p_var


def test_pure_b_geometry_is_stored_and_read_back(tmp_path):
    nside = 16
    g = region_geometry(_cap(nside, 20.0), SpectraConfig(lmax=32, apod_deg=10.0, estimator="pure_b"))
    write_geometry(tmp_path, "CAP", g)
    back = read_geometry(tmp_path, "CAP")
    assert back.coupling.purify_b is True
    np.testing.assert_array_equal(back.coupling.estimator, g.coupling.estimator)
    master = region_geometry(_cap(nside, 20.0), SpectraConfig(lmax=32, apod_deg=10.0))
    assert master.coupling.purify_b is False
    assert not np.allclose(master.coupling.estimator, g.coupling.estimator)


def test_pure_b_is_refused_in_one_line_without_pymaster(monkeypatch):
    monkeypatch.setitem(sys.modules, "pymaster", None)  # import pymaster then raises ImportError
    for call in (lambda: parse_spectra({"spectra": {"estimator": "pure_b"}}, 16),
                 lambda: bandpower_coupling(np.ones(12 * 16**2), bandpower_binning(2, 32, 10, 47), "pure_b")):
        with pytest.raises(ConfigError) as info:
            call()
        message = str(info.value)
        assert "\n" not in message and "pure_b" in message and "scripts/install_namaster.sh" in message
    assert parse_spectra({"spectra": {}}, 16).estimator == "master"  # master needs no pymaster
    with pytest.raises(ConfigError, match="spectra.estimator must be one of master, pure_b"):
        parse_spectra({"spectra": {"estimator": "pure"}}, 16)
