r"""Validate the residual BB bandpowers (science/spectra.py) on Gaussian simulations.

For every GAL region half at each nside: N seeded Gaussian Q/U realizations (``healpy.synfast``,
band-limited at 3 nside - 1, no pixel window) of

- ``dust``: :math:`C^{BB}_\ell \propto \ell^{-2.4}`, :math:`C^{EE} = 2 C^{BB}` (a systematic residual);
- ``white``: :math:`C^{EE}_\ell = C^{BB}_\ell` flat (a noise residual);
- ``cmb``: the lensed CAMB CMB plus an r = 0.01 tensor (EE/BB 20-300: where purification matters);

masked by the region's apodized weights (the package's defaults unless given), measured by
``bb_bandpowers`` and compared with the input put through the bandpower windows,
:math:`\mathcal W^{BB\leftarrow BB} C^{BB} + \mathcal W^{BB\leftarrow EE} C^{EE}`. A bandpower
passes when its mean lies within 5 % of that, or within 2 sigma of the Monte-Carlo error of the
mean where that is larger. Columns also give the f_sky-corrected pseudo-C_ell (the former
estimator) and ``var/var(EE=0)``: the variance of the dust BB bandpowers over that of the same
BB with no E modes, the share of the variance the E-to-B leakage adds (what purification could
at most remove), as its mean over the bins. Every estimator of ``--estimators`` (``master``,
``pure_b``: science/purification.py) measures the same realizations; ``σ/Knox`` is the median
over the bins of the bandpowers' standard deviation over :math:`\sqrt{2/\nu_b}` times the
input through the windows (:math:`\nu_b` of bandpowers.mode_counts), and ``var M/P`` the median
over the bins of the variance of the MASTER bandpowers over that of the pure-B ones.

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
from compsep_hpc.science.bandpowers import binning_operators, mode_counts
from compsep_hpc.science.config import SpectraConfig, parse_spectra
from compsep_hpc.science.coupling import binned_model
from compsep_hpc.science.geometry import RegionGeometry, region_geometry
from compsep_hpc.science.spectra import bb_bandpowers, pseudo_spectra
from compsep_hpc.sky.cmb import cmb_power_spectra
from compsep_hpc.sky.config import SkyConfig
from compsep_hpc.sky.synthetic import foreground_amplitudes, foreground_intensity

GAL_HALVES = tuple(n for n in SPLIT_REGION_NAMES if n.startswith("GAL"))
CMB_R = 0.01
"""Tensor-to-scalar ratio of the ``cmb`` sky."""
KINDS = ("dust", "white", "cmb")


def input_spectra(kind: str, lmax: int) -> tuple[np.ndarray, np.ndarray]:
    """``(C_EE, C_BB)`` uK^2 from ell = 0 of ``kind`` (dust, white, cmb, dust_pure_b: dust BB, no EE)."""
    ell = np.arange(lmax + 1)
    if kind == "cmb":
        spectra = cmb_power_spectra(lmax, r=CMB_R)
        return spectra[1].copy(), spectra[2].copy()
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


def check_region(name: str, geometries: dict[str, RegionGeometry], nside: int, n_real: int, seed: int,
                 kinds: tuple[str, ...] = KINDS) -> list[dict]:
    """One row per (spectrum, estimator, bandpower): input, mean, errors, pass flag, scatter over
    Knox, the former estimator's ratio (master rows) and the variance ratio master / pure_b."""
    first = next(iter(geometries.values()))
    rows = []
    for kind in kinds:
        ee, bb = input_spectra(kind, 3 * nside - 1)
        qu = simulate(kind, first, nside, n_real, seed)
        bps = {e: bb_bandpowers(qu, g.pixels, g.weights, g.coupling) for e, g in geometries.items()}
        for estimator, g in geometries.items():
            c = g.coupling
            lo, hi = c.edges[c.first: c.first + c.n_reported], c.edges[c.first + 1: c.first + c.n_reported + 1]
            p, _ = binning_operators(c.binning)
            bp = bps[estimator]
            expected = binned_model(c, bb, ee)
            mean, err = bp.mean(0), bp.std(0, ddof=1) / np.sqrt(n_real)
            tol = np.maximum(0.05 * np.abs(expected), 2.0 * err)
            knox = bp.std(0, ddof=1) / (np.abs(expected) * np.sqrt(2.0 / mode_counts(c.binning, c.fsky_eff)))
            naive = np.full(len(lo), np.nan)
            if estimator == "master":
                naive = (pseudo_spectra(qu, g.pixels, g.weights, 3 * nside - 1)[:, 1].mean(0) / c.w2
                         @ p.T)[c.first: c.first + c.n_reported] / (p @ bb)[c.binning.reported]
            var_mp = (np.var(bps["master"], 0) / np.var(bp, 0) if estimator == "pure_b" and "master" in bps
                      and bps["master"].shape == bp.shape else np.full(len(lo), np.nan))
            var_pure = np.full(len(lo), np.nan)
            if kind == "dust":
                pure = simulate("dust_pure_b", first, nside, n_real, seed + 1)
                var_pure = np.var(bp, 0) / np.var(bb_bandpowers(pure, g.pixels, g.weights, c), 0)
            for b in range(len(lo)):
                rows.append(dict(nside=nside, region=name, fsky=c.fsky_eff, kind=kind, estimator=estimator,
                                 lo=int(lo[b]), hi=int(hi[b]) - 1, expected=expected[b], ratio=mean[b] / expected[b],
                                 err=err[b] / expected[b], ok=bool(abs(mean[b] - expected[b]) <= tol[b]),
                                 naive=naive[b], knox=knox[b], var_mp=var_mp[b], var_ratio=var_pure[b],
                                 warning=g.apod_warning))
    return rows


def _cell(values: np.ndarray, fmt: str) -> str:
    values = values[np.isfinite(values)]
    return "" if values.size == 0 else format(float(np.median(values)), fmt)


def summary_table(rows: list[dict]) -> str:
    """One line per (nside, region, spectrum, estimator): bins, pass count, worst deviation,
    former bias range, scatter over Knox, var/var(EE=0) (mean) and var master/pure_b (median)."""
    out = ["| nside | region | f_sky,eff | ℓ range | spectrum | estimator | bins passing | mean/input (min–max) "
           "| max \\|dev\\|/σ_mean | former pseudo-C_ℓ/input (min–max) | σ/Knox | var/var(EE=0) | var M/P |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    key = lambda r: (r["nside"], r["region"], r["kind"], r["estimator"])  # noqa: E731
    keys = sorted({key(r) for r in rows}, key=lambda k: (k[0], GAL_HALVES.index(k[1]), k[2], k[3]))
    for k in keys:
        sel = [r for r in rows if key(r) == k]
        col = lambda name: np.array([r[name] for r in sel], dtype=float)  # noqa: E731
        ratio, naive = col("ratio"), col("naive")
        dev = np.abs(ratio - 1) / col("err")
        former = f"{np.nanmin(naive):.2f}–{np.nanmax(naive):.2f}" if np.isfinite(naive).any() else ""
        var = col("var_ratio")
        var_text = f"{np.nanmean(var):.2f}" if np.isfinite(var).any() else ""
        out.append(f"| {k[0]} | {k[1]} | {sel[0]['fsky']:.3f} | {sel[0]['lo']}–{sel[-1]['hi']} | {k[2]} | {k[3]} | "
                   f"{sum(r['ok'] for r in sel)}/{len(sel)} | {ratio.min():.3f}–{ratio.max():.3f} | {dev.max():.1f} | "
                   f"{former} | {_cell(col('knox'), '.2f')} | {var_text} | {_cell(col('var_mp'), '.1f')} |")
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
    """Every bandpower: its range, mean/input, the MC error of the mean (relative), pass flag,
    scatter over Knox and the variance ratio master / pure_b."""
    out = ["| nside | region | spectrum | estimator | ℓ | mean/input | σ_mean/input | pass | σ/Knox | var M/P |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        var = "" if np.isnan(r["var_mp"]) else f"{r['var_mp']:.1f}"
        out.append(f"| {r['nside']} | {r['region']} | {r['kind']} | {r['estimator']} | {r['lo']}–{r['hi']} | "
                   f"{r['ratio']:.3f} | {r['err']:.3f} | {'yes' if r['ok'] else '**no**'} | {r['knox']:.2f} | {var} |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nside", type=int, nargs="+", default=[32, 64])
    parser.add_argument("--regions", nargs="+", default=list(GAL_HALVES), choices=GAL_HALVES)
    parser.add_argument("--n-real", type=int, default=100)
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--apod-deg", type=float, default=default(SpectraConfig, "apod_deg"))
    parser.add_argument("--apod-type", default=default(SpectraConfig, "apod_type"))
    parser.add_argument("--estimators", nargs="+", default=["master", "pure_b"], choices=["master", "pure_b"])
    parser.add_argument("--kinds", nargs="+", default=list(KINDS), choices=KINDS)
    parser.add_argument("--delta-ell", type=int, default=default(SpectraConfig, "delta_ell"))
    parser.add_argument("--out", type=Path, default=None, help="markdown file (default: print only)")
    args = parser.parse_args(argv)
    start, rows = time.perf_counter(), []
    for nside in args.nside:
        spectra = {e: parse_spectra({"spectra": {"apod_deg": args.apod_deg, "apod_type": args.apod_type,
                                                 "delta_ell": args.delta_ell, "estimator": e}}, nside)
                   for e in args.estimators}
        dust, synch = foreground_amplitudes(nside, default(SkyConfig, "seed"))
        intensity = foreground_intensity(dust, synch, nside)
        for i, name in enumerate(args.regions):
            mask = region_mask(name, nside, foreground_intensity=intensity)
            geometries = {e: region_geometry(mask, sp) for e, sp in spectra.items()}
            rows += check_region(name, geometries, nside, args.n_real, args.seed + 1000 * i + nside, tuple(args.kinds))
    warnings = sorted({(r["nside"], r["region"], r["warning"]) for r in rows if r["warning"]})
    text = (f"N = {args.n_real} realizations, estimators {', '.join(args.estimators)}, taper {args.apod_type} {args.apod_deg:g} deg, Δℓ = {args.delta_ell}, "
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
