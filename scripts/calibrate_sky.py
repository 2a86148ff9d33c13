r"""Compare the synthetic sky's foreground BB power at ell ~ 80 with the Planck references.

For each sky fraction (default: Planck 2018 XI's LR24-LR71) and each seed, the dust D_80^BB at
353 GHz and the synchrotron one at 30 GHz (uK_CMB^2) on the lowest-intensity mask of that fraction,
C2 2° taper, MASTER bandpower [70, 90) (compsep_hpc/science/sky_calibration.py). Prints a markdown
table: f_sky, the taper's f_sky,eff, measured (mean over the seeds, and their range), reference,
ratio; exits 1 when a mean ratio lies outside [1/factor, factor].

    python scripts/calibrate_sky.py --nside 64 --seeds 0 1 2 3 4
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from compsep_hpc.precision import enable_float64

enable_float64()  # as a run does, before any JAX array (the SED factors) is created

from compsep_hpc.science.sky_calibration import (  # noqa: E402
    DUST_BB_353, LR_FSKY, SYNCH_BB_30, measure_d80, reference_d80,
)


def table(fsky: np.ndarray, fsky_eff: np.ndarray, dust: np.ndarray, synch: np.ndarray) -> tuple[str, float]:
    """Markdown rows of measured ``(n_seed, n_fsky)`` D_80 against the references; and the worst
    mean ratio as max(r, 1/r)."""
    lines = ["| f_sky | f_sky,eff | dust 353 GHz | reference | ratio | synch 30 GHz | reference | ratio |",
             "|---|---|---|---|---|---|---|---|"]
    worst = 1.0
    cells = []
    for measured, ref_table in ((dust, DUST_BB_353), (synch, SYNCH_BB_30)):
        ref = reference_d80(ref_table, fsky)
        ratio = measured.mean(axis=0) / ref
        worst = max(worst, float(np.max(np.maximum(ratio, 1 / ratio))))
        cells.append([f"{m.mean():.3g} ({m.min():.3g}-{m.max():.3g}) | {r:.3g} | {q:.2f}"
                      for m, r, q in zip(measured.T, ref, ratio)])
    for i, f in enumerate(fsky):
        lines.append(f"| {f:.2f} | {fsky_eff[i]:.3f} | {cells[0][i]} | {cells[1][i]} |")
    return "\n".join(lines), worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nside", type=int, default=64, help="HEALPix nside (>= 64 for ell = 80)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--fsky", type=float, nargs="+", default=list(LR_FSKY), help="mask sky fractions")
    parser.add_argument("--factor", type=float, default=1.5, help="tolerated ratio (exit 1 beyond)")
    args = parser.parse_args()
    start = time.perf_counter()
    runs = [measure_d80(args.nside, seed, args.fsky) for seed in args.seeds]
    dust = np.array([r.dust for r in runs])
    synch = np.array([r.synch for r in runs])
    fsky_eff = np.mean([r.fsky_eff for r in runs], axis=0)
    text, worst = table(np.asarray(args.fsky), fsky_eff, dust, synch)
    print(f"nside {args.nside}, seeds {' '.join(map(str, args.seeds))}: D_80^BB in uK_CMB^2, "
          "mean over seeds (range)\n")
    print(text)
    print(f"\nworst mean ratio {worst:.2f} (tolerance {args.factor:g}); {time.perf_counter() - start:.0f} s")
    sys.exit(0 if worst <= args.factor else 1)


if __name__ == "__main__":
    main()
