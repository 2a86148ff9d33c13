r"""Items of a reference run refitted on a twin config (issue 25's measurements), side by side.

The items of a reference run (``--reference``, e.g. results/real_instrument_white: delta bands,
white noise; ``--items`` ids, default all, the multires baselines first) are refitted on the sky and
noise of ``--config``, a twin of the reference's config, with the same CMB spectra, noise seeds,
regions and patches:

- configs/real_instrument_scan.yaml: LiteBIRD scan hits of the same mean depth (how r moves);
- configs/real_instrument_bandpass.yaml with ``--delta-fit``: the sky through 30 % tophat bands,
  fitted with the *delta-band* spectral model (the r bias of ignoring the bandpasses).

Prints, per item, r_hat and sigma(r) of the reference and of the refit and their difference as a
markdown table (one process, no MPI; writes nothing but ``--out`` and the refits' JSON lines under
``--work``, from which a rerun resumes; ``--table-only``: the table of the items done so far).

    nice -n 10 python scripts/refit_twin.py --config configs/real_instrument_bandpass.yaml --delta-fit \
        --reference results/real_instrument_white --work results/bandpass_twin --out bandpass_bias.md
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from compsep_hpc.config import load_config
from compsep_hpc.grid.experiment import Experiment
from compsep_hpc.grid.work import run_work_list
from compsep_hpc.precision import enable_float64
from compsep_hpc.separation.observations import spectral_model
from compsep_hpc.store.checkpoint import read_records


def refit(config, reference: Path, items, delta_fit: bool, log: Path) -> dict[int, dict]:
    """item id -> (r_hat, sigma_r) of each item on ``config``'s sky and noise, fitted with delta
    bands or the config's bands; each item appended to ``log`` (JSON lines) as it is done, and the items already
    there are not refitted (a rerun resumes)."""
    done = {}
    if log.exists():
        done = {d["item_id"]: d for d in map(json.loads, log.read_text().splitlines())}
    exp = Experiment.from_run_folder(reference, config)
    if delta_fit:
        c = config
        exp.__dict__["model"] = spectral_model(dataclasses.replace(c.instrument, bandpass=None), c.nside, c.model)
    for item in items:
        if item.item_id not in done:
            record = exp.record(item)
            done[item.item_id] = {"item_id": item.item_id, "r_hat": float(record["r_hat"]),
                                  "sigma_r": float(record["sigma_r"])}
            with log.open("a") as f:
                f.write(json.dumps(done[item.item_id]) + "\n")
            print(item, done[item.item_id], flush=True)
    return done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="the twin of the reference run's config")
    parser.add_argument("--reference", required=True, type=Path, help="the finished delta-band run folder")
    parser.add_argument("--delta-fit", action="store_true", help="fit with delta bands (the reference's model)")
    parser.add_argument("--matched", action="store_true", help="with --delta-fit: also fit with the config's bands")
    parser.add_argument("--items", type=int, nargs="*", default=None, help="item ids (default: all)")
    parser.add_argument("--work", type=Path, default=Path("twin_refit"), help="folder of the refits' JSON lines")
    parser.add_argument("--table-only", action="store_true", help="no refit: the table of the items done so far")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    enable_float64()
    config = load_config(args.config)
    items = run_work_list(args.reference, config)
    items = sorted(items, key=lambda it: it.preset == "")  # the multires baselines first
    if args.items is not None:
        items = sorted((it for it in items if it.item_id in args.items), key=lambda it: args.items.index(it.item_id))
    args.work.mkdir(parents=True, exist_ok=True)
    if args.table_only:
        done = {json.loads(line)["item_id"] for line in (args.work / "refit.jsonl").read_text().splitlines()}
        items = [it for it in items if it.item_id in done]
    delta = refit(config, args.reference, items, args.delta_fit, args.work / "refit.jsonl")
    matched = refit(config, args.reference, items, False, args.work / "matched_fit.jsonl") if args.matched else {}
    ref = {r["item_id"]: r for r in read_records(args.reference)}
    items = [it for it in items if it.item_id in ref and it.item_id in delta]
    lines = ["| region | item | r_hat reference | sigma(r) | r_hat twin | sigma(r) | difference |"
             + (" r_hat bandpass fit | bias |" if matched else ""),
             "|---|---|---|---|---|---|---|" + ("---|---|" if matched else "")]
    for item in sorted(items, key=lambda it: it.item_id):
        a, b = ref[item.item_id], delta[item.item_id]
        label = item.preset or "K=" + "/".join(map(str, item.grid_values))
        row = (f"| {item.region} | {label} | {a['r_hat']:.3e} | {a['sigma_r']:.3e} | {b['r_hat']:.3e} | "
               f"{b['sigma_r']:.3e} | {b['r_hat'] - a['r_hat']:+.3e} |")
        if matched:
            m = matched[item.item_id]
            row += f" {m['r_hat']:.3e} | {m['r_hat'] - a['r_hat']:+.3e} |"
        lines.append(row)
    print("\n".join(lines))
    if args.out is not None:
        args.out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
