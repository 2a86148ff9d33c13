r"""Validate the residual BB bandpowers (science/spectra.py) on Gaussian simulations.

For every GAL region half at each nside: N seeded Gaussian Q/U realizations (``healpy.synfast``,
band-limited at 3 nside - 1, no pixel window) of

- ``dust``: :math:`C^{BB}_\ell \propto \ell^{-2.4}`, :math:`C^{EE} = 2 C^{BB}` (a systematic residual);
- ``white``: :math:`C^{EE}_\ell = C^{BB}_\ell` flat (a noise residual);

masked by the region's apodized weights (the package's defaults unless given), measured by
``bb_bandpowers`` and compared with the input put through the bandpower windows,
:math:`\mathcal W^{BB\leftarrow BB} C^{BB} + \mathcal W^{BB\leftarrow EE} C^{EE}`. A bandpower
passes when its mean lies within 5 % of that, or within 2 sigma of the Monte-Carlo error of the
mean where that is larger. Columns also give the f_sky-corrected pseudo-C_ell (the former
estimator) and ``var/var(EE=0)``: the variance of the dust BB bandpowers over that of the same
BB with no E modes, the share of the variance the E-to-B leakage adds (what purification could
at most remove), as its mean over the bins.

    python scripts/validate_spectra.py --n-real 100 --nside 32 64 --out validate_spectra.md
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import healpy as hp
import numpy as np

from compsep_hpc.config_fields import default
from compsep_hpc.partition.config import SPLIT_REGION_NAMES
from compsep_hpc.partition.regions import region_mask
from compsep_hpc.science.bandpowers import binning_operators
from compsep_hpc.science.config import SpectraConfig, parse_spectra
from compsep_hpc.science.coupling import binned_model
from compsep_hpc.science.geometry import RegionGeometry, region_geometry
from compsep_hpc.science.spectra import bb_bandpowers, pseudo_spectra
from compsep_hpc.sky.config import SkyConfig
from compsep_hpc.sky.synthetic import foreground_amplitudes, foreground_intensity

GAL_HALVES = tuple(n for n in SPLIT_REGION_NAMES if n.startswith("GAL"))


def input_spectra(kind: str, lmax: int) -> tuple[np.ndarray, np.ndarray]:
    """``(C_EE, C_BB)`` uK^2 from ell = 0 of ``kind`` (dust, white, dust_pure_b: dust BB, no EE)."""
    ell = np.arange(lmax + 1)
    if kind == "white":
        bb = np.where(ell >= 2, 1e-4, 0.0)
        return bb.copy(), bb
    bb = np.where(ell >= 2, 1e-2 * np.maximum(ell, 1) ** -2.4, 0.0)
    return (np.zeros_like(bb) if kind == "dust_pure_b" else 2.0 * bb), bb


def simulate(kind: str, geometry: RegionGeometry, nside: int, n_real: int, seed: int) -> np.ndarray:
    """Q/U on the region's pixels of ``n_real`` realizations of ``kind``, ``(n_real, 2, n_pix)``."""
    ee, bb = input_spectra(kind, 3 * nside - 1)
    zero = np.zeros_like(bb)
    np.random.seed(seed)  # healpy's synfast draws from numpy's global generator
    return np.array([hp.synfast([zero, ee, bb, zero], nside, new=True)[1:, geometry.pixels] for _ in range(n_real)])


def check_region(name: str, geometry: RegionGeometry, nside: int, n_real: int, seed: int) -> list[dict]:
    """One row per (spectrum, bandpower): input, mean, errors, pass flag, former estimator's ratio."""
    c = geometry.coupling
    lo, hi = c.edges[c.first: c.first + c.n_reported], c.edges[c.first + 1: c.first + c.n_reported + 1]
    p, _ = binning_operators(c.binning)
    rows = []
    bb_pure = bb_bandpowers(simulate("dust_pure_b", geometry, nside, n_real, seed + 1), geometry.pixels,
                            geometry.weights, c)
    for kind in ("dust", "white"):
        ee, bb = input_spectra(kind, 3 * nside - 1)
        qu = simulate(kind, geometry, nside, n_real, seed)
        bp = bb_bandpowers(qu, geometry.pixels, geometry.weights, c)
        naive = (pseudo_spectra(qu, geometry.pixels, geometry.weights, 3 * nside - 1)[:, 1].mean(0) / c.w2
                 @ p.T)[c.first: c.first + c.n_reported]
        expected = binned_model(c, bb, ee)
        mean, err = bp.mean(0), bp.std(0, ddof=1) / np.sqrt(n_real)
        tol = np.maximum(0.05 * np.abs(expected), 2.0 * err)
        var_ratio = np.var(bp, 0) / np.var(bb_pure, 0) if kind == "dust" else np.full(len(lo), np.nan)
        for b in range(len(lo)):
            rows.append(dict(nside=nside, region=name, fsky=c.fsky_eff, kind=kind, lo=int(lo[b]), hi=int(hi[b]) - 1,
                             expected=expected[b], ratio=mean[b] / expected[b], err=err[b] / expected[b],
                             ok=bool(abs(mean[b] - expected[b]) <= tol[b]), naive=naive[b] / (p @ bb)[c.first + b],
                             var_ratio=var_ratio[b], warning=geometry.apod_warning))
    return rows


def summary_table(rows: list[dict]) -> str:
    """One line per (nside, region, spectrum): bins, worst deviation, pass count, former bias range."""
    out = ["| nside | region | f_sky,eff | ℓ range | spectrum | bins passing | mean/input (min–max) "
           "| max \\|dev\\|/σ_mean | former pseudo-C_ℓ/input (min–max) | var/var(EE=0) |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    keys = sorted({(r["nside"], r["region"], r["kind"]) for r in rows}, key=lambda k: (k[0], GAL_HALVES.index(k[1]), k[2]))
    for nside, region, kind in keys:
        sel = [r for r in rows if (r["nside"], r["region"], r["kind"]) == (nside, region, kind)]
        ratio = np.array([r["ratio"] for r in sel])
        dev = np.abs(ratio - 1) / np.array([r["err"] for r in sel])
        naive = np.array([r["naive"] for r in sel])
        var = np.nanmean([r["var_ratio"] for r in sel]) if kind == "dust" else np.nan
        out.append(f"| {nside} | {region} | {sel[0]['fsky']:.3f} | {sel[0]['lo']}–{sel[-1]['hi']} | {kind} | "
                   f"{sum(r['ok'] for r in sel)}/{len(sel)} | {ratio.min():.3f}–{ratio.max():.3f} | {dev.max():.1f} | "
                   f"{naive.min():.2f}–{naive.max():.2f} | {'' if np.isnan(var) else f'{var:.2f}'} |")
    return "\n".join(out)


def chance_statistics(rows: list[dict]) -> str:
    r"""Whether the failures are chance: :math:`\chi^2 = \sum_b z_b^2` with
    :math:`z_b = (\text{mean}_b/\text{input}_b - 1)/(\sigma_b/\text{input}_b)` over all bandpowers
    (expectation n, standard deviation :math:`\sqrt{2n}` for an unbiased estimator), the mean z, and the
    number of bins beyond 2 sigma against the 4.55 % expected by chance."""
    z = np.array([(r["ratio"] - 1.0) / r["err"] for r in rows])
    n = z.size
    return (f"Chance check over all {n} bandpowers: chi2 of (mean - input)/sigma_mean = {np.sum(z**2):.1f} for {n} "
            f"(expected {n} +- {np.sqrt(2 * n):.1f}), mean z = {z.mean():+.3f}; "
            f"{int(np.sum(np.abs(z) > 2))} beyond 2 sigma (expected {0.0455 * n:.1f}), largest |z| = {np.abs(z).max():.2f}.\n")


def full_table(rows: list[dict]) -> str:
    """Every bandpower: its range, mean/input, the MC error of the mean (relative) and pass flag."""
    out = ["| nside | region | spectrum | ℓ | mean/input | σ_mean/input | pass | var/var(EE=0) |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        var = "" if np.isnan(r["var_ratio"]) else f"{r['var_ratio']:.2f}"
        out.append(f"| {r['nside']} | {r['region']} | {r['kind']} | {r['lo']}–{r['hi']} | {r['ratio']:.3f} | "
                   f"{r['err']:.3f} | {'yes' if r['ok'] else '**no**'} | {var} |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nside", type=int, nargs="+", default=[32, 64])
    parser.add_argument("--regions", nargs="+", default=list(GAL_HALVES), choices=GAL_HALVES)
    parser.add_argument("--n-real", type=int, default=100)
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--apod-deg", type=float, default=default(SpectraConfig, "apod_deg"))
    parser.add_argument("--apod-type", default=default(SpectraConfig, "apod_type"))
    parser.add_argument("--delta-ell", type=int, default=default(SpectraConfig, "delta_ell"))
    parser.add_argument("--out", type=Path, default=None, help="markdown file (default: print only)")
    args = parser.parse_args(argv)
    start, rows = time.perf_counter(), []
    for nside in args.nside:
        spectra = parse_spectra({"spectra": {"apod_deg": args.apod_deg, "apod_type": args.apod_type,
                                             "delta_ell": args.delta_ell}}, nside)
        dust, synch = foreground_amplitudes(nside, default(SkyConfig, "seed"))
        intensity = foreground_intensity(dust, synch, nside)
        for i, name in enumerate(args.regions):
            geometry = region_geometry(region_mask(name, nside, foreground_intensity=intensity), spectra)
            rows += check_region(name, geometry, nside, args.n_real, args.seed + 1000 * i + nside)
    warnings = sorted({(r["nside"], r["region"], r["warning"]) for r in rows if r["warning"]})
    text = (f"N = {args.n_real} realizations, taper {args.apod_type} {args.apod_deg:g} deg, Δℓ = {args.delta_ell}, "
            f"{time.perf_counter() - start:.0f} s\n\n" + summary_table(rows) + "\n\n"
            + "".join(f"- warning nside {n} {r}: {w}\n" for n, r, w in warnings)
            + f"\n{sum(r['ok'] for r in rows)}/{len(rows)} bandpowers pass.\n\n"
            + chance_statistics(rows) + "\n<details><summary>every bandpower</summary>\n\n"
            + full_table(rows) + "\n\n</details>\n")
    print(text)
    if args.out is not None:
        args.out.write_text(text)
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
