r"""r from maps: the tensor B-modes enter through the CMB map, not through the observed spectrum.

For each GAL half, CMB seed and estimator: a Gaussian CMB Q/U map of the lensed CAMB spectra plus
:math:`r_{in}` times the tensor ones (``healpy.synfast`` at the run nside, no pixel window),
taken as perfectly separated (no foreground or noise residual), its BB bandpowers on the region
(``bb_bandpowers``), and the r likelihood (r_estimation.py) with these bandpowers as
:math:`C^{obs}` and the model :math:`\mathcal W(r\,T + A_{lens} L)` without residual:
``estimate_r(c_obs - A_lens L_b, 0, ...)`` at ``r_in = 0`` makes ``C_obs`` the measured one.
Reports the mean and scatter of r_hat over seeds, and the mean sigma(r), for each estimator.

    python scripts/r_end_to_end.py --nside 32 --r-in 0 0.01 --seeds 20 --out r_end_to_end.md
"""

from __future__ import annotations

import argparse
from pathlib import Path

import healpy as hp
import numpy as np

from compsep_hpc.config_fields import default
from compsep_hpc.partition.regions import region_mask
from compsep_hpc.science.bandpowers import mode_counts
from compsep_hpc.science.config import parse_spectra
from compsep_hpc.science.coupling import binned_model
from compsep_hpc.science.geometry import region_geometry
from compsep_hpc.science.r_estimation import estimate_r
from compsep_hpc.science.spectra import bb_bandpowers
from compsep_hpc.sky.cmb import bb_templates, cmb_power_spectra
from compsep_hpc.sky.config import SkyConfig
from compsep_hpc.sky.synthetic import foreground_amplitudes, foreground_intensity

from validate_spectra import GAL_HALVES


def cmb_maps(nside: int, r_in: float, seeds: int, seed0: int) -> np.ndarray:
    """Full-sky CMB Q/U ``(seeds, 2, 12 nside^2)`` uK_CMB of lensed + r_in tensor spectra."""
    tt, ee, bb, te = cmb_power_spectra(3 * nside - 1, r=r_in)
    out = []
    for s in range(seeds):
        np.random.seed(seed0 + s)
        out.append(hp.synfast([tt, ee, bb, te], nside, new=True)[1:])
    return np.array(out)


def region_r(maps: np.ndarray, geometry, a_lens: float) -> np.ndarray:
    """``(seeds, 2)``: r_hat and sigma_r of each map on the region's geometry (NaN where the
    windowed templates are not positive, which the likelihood refuses)."""
    c = geometry.coupling
    tensor, lensing = bb_templates(3 * hp.npix2nside(maps.shape[-1]) - 1)
    t_b, l_b = binned_model(c, tensor), binned_model(c, lensing)
    nu = mode_counts(c.binning, c.fsky_eff)
    if np.any(t_b < 0) or np.any(l_b <= 0):
        return np.full((maps.shape[0], 2), np.nan)  # the windows give a negative template: no likelihood
    bp = bb_bandpowers(maps[:, :, geometry.pixels], geometry.pixels, geometry.weights, c)
    out = []
    for obs in bp:
        res = estimate_r(obs - a_lens * l_b, np.zeros_like(obs), t_b, l_b, nu, r_in=0.0, a_lens=a_lens)
        out.append((res.r_hat, res.sigma_r))
    return np.array(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nside", type=int, default=32)
    parser.add_argument("--regions", nargs="+", default=list(GAL_HALVES), choices=GAL_HALVES)
    parser.add_argument("--r-in", type=float, nargs="+", default=[0.0, 0.01])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--estimators", nargs="+", default=["master", "pure_b"], choices=["master", "pure_b"])
    parser.add_argument("--apod-deg", type=float, default=None, help="taper width (default: the package's)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    extra = {} if args.apod_deg is None else {"apod_deg": args.apod_deg}
    spectra = {e: parse_spectra({"spectra": {"estimator": e, **extra}}, args.nside) for e in args.estimators}
    intensity = foreground_intensity(*foreground_amplitudes(args.nside, default(SkyConfig, "seed")), args.nside)
    lines = [f"nside {args.nside}, {args.seeds} CMB seeds, taper {next(iter(spectra.values())).apod_type} "
             f"{next(iter(spectra.values())).apod_deg:g} deg, perfect separation", "",
             "| region | r_in | estimator | mean r̂ | std r̂ over seeds | mean σ(r) | std / mean σ(r) |",
             "|---|---|---|---|---|---|---|"]
    for r_in in args.r_in:
        maps = cmb_maps(args.nside, r_in, args.seeds, 500)
        for name in args.regions:
            mask = region_mask(name, args.nside, foreground_intensity=intensity)
            for e, sp in spectra.items():
                r = region_r(maps, region_geometry(mask, sp), sp.A_lens)
                std = r[:, 0].std(ddof=1)
                lines.append(f"| {name} | {r_in:g} | {e} | {r[:, 0].mean():.4f} | {std:.4f} | {r[:, 1].mean():.4f} "
                             f"| {std / r[:, 1].mean():.1f} |")
                print(lines[-1], flush=True)
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out is not None:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
