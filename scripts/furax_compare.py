"""Comparison and report of ``bench_vs_furax.py`` (numpy only): NLL gaps and speed-ups from the raw
numbers both sides measured, then the table and the last lines it prints.

A side's measurement is a dict per realization count ``n``: ``compile_s``, ``run_s`` (seconds for
its ``n`` fits), ``iterations``, ``nll`` (compsep-hpc's per-pixel NLL of each final point),
``peak_rss_gib``; compsep-hpc's adds ``converged``, ``likelihood`` and ``n_cells``, furax-cs's
adds its own NLL (``furax_nll``, ``furax_nll_at_start``, maybe ``furax_nll_at_ours``).
"""

from __future__ import annotations

import numpy as np


def problem_line(args, problem: dict) -> str:
    """The first line printed: the shared problem."""
    names = [str(p) for p in problem["parameters"]]
    bounds = {p: (float(lo), float(hi)) for p, lo, hi in zip(names, problem["lower"], problem["upper"])}
    return (f"problem: nside {args.nside}, {args.region}, {problem['labels'].shape[1]} pixels, "
            f"{len(problem['nu'])} bands, patches {tuple(args.patches)}, "
            f"start {tuple(float(x) for x in problem['start'])}, bounds {bounds}, SED references "
            f"{float(problem['nu_dust']):g} / {float(problem['nu_synch']):g} GHz on both sides")


def nll_gaps(ours: dict, theirs: dict) -> np.ndarray:
    """``(ours - theirs) / |theirs|`` per realization: <= 0 when compsep-hpc reached at least as low."""
    a, b = np.asarray(ours["nll"]), np.asarray(theirs["nll"])
    return (a - b) / np.abs(b)


def compare(ours: dict, theirs: dict, furax_counts: list[int]) -> dict:
    """Per realization count run on both sides: time, compile and memory ratios furax-cs /
    compsep-hpc, NLL differences and gaps; ``last`` the largest such count, ``speedup`` and ``gap``
    (mean nll_gap) there."""
    rows = {}
    for n in (n for n in furax_counts if n in ours):
        o, t = ours[n], theirs[n]
        gap = nll_gaps(o, t)
        rows[n] = {"ratio": (t["run_s"] / n) / (o["run_s"] / n),
                   "diff": np.round(np.asarray(o["nll"]) - np.asarray(t["nll"]), 4).tolist(),
                   "gap_mean": gap.mean(), "gap_max": gap.max(),
                   "compile_ratio": t["compile_s"] / o["compile_s"],
                   "rss_ratio": t["peak_rss_gib"] / o["peak_rss_gib"]}
    last = max(rows)
    return {"rows": rows, "last": last, "speedup": rows[last]["ratio"],
            "gap": float(np.mean(nll_gaps(ours[last], theirs[last])))}


def row(side: str, r: dict, n: int) -> str:
    """One line of the table."""
    iters = np.asarray(r["iterations"])
    conv = f", {sum(r['converged'])}/{n} converged" if "converged" in r else ""
    return (f"| {side} | {n} | {r['compile_s']:.2f} | {r['run_s'] / n:.3f} | {iters.mean():.0f} "
            f"({iters.min()}-{iters.max()}){conv} | {np.mean(r['nll']):.6f} | {r['peak_rss_gib']:.2f} |")


def print_table(args, ours: dict, theirs: dict, furax_counts: list[int]) -> None:
    """The settings of both sides, then one table row per side and realization count."""
    first = ours[min(ours)]
    print()
    print(f"compsep-hpc likelihood: {first['likelihood']} ({first['n_cells']} joint cells); "
          f"furax-cs: optax_lbfgs + backtracking, {'vmap' if args.furax_vmap else 'for-loop'} over realizations, "
          f"max_iter {args.furax_max_iter}, atol = rtol = 1e-18")
    if not args.furax_vmap and len(furax_counts) > 1:
        print(f"furax-cs rows: one process fitting {max(furax_counts)} realizations one after the other; the row for "
              f"n realizations times its first n fits (compile and peak RSS are that one process's)")
    print("| side | realizations | compile [s] | s / fit | iterations mean (min-max) "
          "| final NLL (mean, compsep-hpc's function) | peak RSS [GiB] |")
    print("|---|---|---|---|---|---|---|")
    for n in sorted(ours):
        print(row("compsep-hpc", ours[n], n))
    for n in furax_counts:
        print(row("furax-cs", theirs[n], n))
    print()


def print_ratios(comparison: dict) -> None:
    """One line per realization count run on both sides."""
    for n, c in comparison["rows"].items():
        print(f"{n} realizations: s/fit ratio furax-cs / compsep-hpc = {c['ratio']:.1f}; NLL compsep-hpc - furax-cs "
              f"per realization: {c['diff']}; nll_gap mean {c['gap_mean']:.3e} (max {c['gap_max']:.3e}); "
              f"compile ratio {c['compile_ratio']:.1f}; peak RSS ratio {c['rss_ratio']:.2f}")


def print_checks(args, ours: dict, theirs: dict, last: int, gtol: float, ftol: float) -> None:
    """furax-cs's own NLL against compsep-hpc's, and both sides' iterations, at ``last`` realizations."""
    t = theirs[last]
    at_ours = ""
    if "furax_nll_at_ours" in t:
        at_ours = (f"; at compsep-hpc's final point furax {np.mean(t['furax_nll_at_ours'][:last]):.6f} vs ours "
                   f"{np.mean(ours[last]['nll']):.6f}")
    print(f"NLL check (furax-cs's own function vs compsep-hpc's, {last} realizations): at the start point "
          f"furax {np.mean(t['furax_nll_at_start']):.6f}; at furax's final point furax {np.mean(t['furax_nll']):.6f} "
          f"vs ours {np.mean(t['nll']):.6f}" + at_ours + " (conversion factor 1: both are -sum_p b^T M^-1 b, no 1/2)")
    print(f"convergence: furax-cs ran {np.mean(t['iterations']):.0f} iterations on average (its tolerances 1e-18 are "
          f"not met, it stops at max_iter {args.furax_max_iter}); compsep-hpc stopped on its own rule "
          f"(gtol {gtol:g}, ftol {ftol:g}) after {np.mean(ours[last]['iterations']):.0f}")


def print_speedup(ours: dict, theirs: dict, comparison: dict) -> None:
    """The last line, ``speedup X at nll_gap Y``, preceded by a note when it is not taken at 10."""
    last = comparison["last"]
    t = theirs[last]
    if last != 10:
        extra = ""
        if 10 in ours:
            extra = (f"; against compsep-hpc at 10 realizations ({ours[10]['run_s'] / 10:.4f} s/fit) it would read "
                     f"{(t['run_s'] / last) / (ours[10]['run_s'] / 10):.1f}")
        print(f"note: the speedup below compares both sides at {last} realization(s), the largest count run for "
              f"furax-cs (furax-cs: {t['run_s'] / last:.1f} s/fit, mean of {last} fits run one after the other; "
              f"compsep-hpc: {ours[last]['run_s'] / last:.4f} s/fit){extra}")
    print(f"speedup {comparison['speedup']:.1f} at nll_gap {comparison['gap']:.2e}")


def report(args, ours: dict, theirs: dict, furax_counts: list[int], comparison: dict, gtol: float,
           ftol: float) -> None:
    """Print the table, the per-count ratios, the NLL and convergence checks and the last line."""
    print_table(args, ours, theirs, furax_counts)
    print_ratios(comparison)
    print_checks(args, ours, theirs, comparison["last"], gtol, ftol)
    print_speedup(ours, theirs, comparison)
