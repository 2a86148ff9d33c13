"""Command line: ``compsep-hpc run | check | status | reduce | evaluate | simulate | recognize``.

Errors of the package (bad config, wrong run folder, ...) print one line on stderr and exit 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from importlib import resources
from pathlib import Path

from compsep_hpc.errors import BroadcastError, CompsepError, ConfigError
from compsep_hpc.precision import enable_float64
from compsep_hpc.science.selection import CRITERIA, DEFAULT_CRITERION, DEFAULT_MAX_R_BIAS

DEFAULT_CONFIG = "demo.yaml"
COMMANDS_WITHOUT_JAX = ("check", "status")
"""Commands that read configs and records only: they never import JAX (tests/test_layers.py)."""


def default_config_path() -> Path:
    """The embedded default run config (the same file as ``configs/demo.yaml``)."""
    return Path(str(resources.files("compsep_hpc") / "configs" / DEFAULT_CONFIG))


def _run(args) -> int:
    from compsep_hpc.config import load_config
    from compsep_hpc.grid.launcher import launch

    config = load_config(args.config or default_config_path(), args.set)
    output = args.output or config.output
    done = launch(config, output, dry_run=args.dry_run)
    if not args.dry_run:
        print(f"rank finished {len(done)} item(s); results in {output}", file=sys.stderr)
    return 0


def _check(args) -> int:
    from compsep_hpc.config import load_config
    from compsep_hpc.grid.check import check_text

    config = load_config(args.config or default_config_path(), args.set)
    print(check_text(config, args.output or config.output))
    return 0


def _status(args) -> int:
    from compsep_hpc.report.status import format_status, status_summary

    summary = status_summary(args.run_dir)
    print(json.dumps(summary, indent=2) if args.json else format_status(summary))
    return 0


def _reduce(args) -> int:
    from compsep_hpc.report.reduce import reduce_run
    from compsep_hpc.report.summary import format_selection

    selection = reduce_run(args.run_dir, criterion=args.criterion, max_r_bias=args.max_r_bias,
                           regions_only=args.regions_only)
    print(format_selection(selection))
    return 0


def _evaluate(args) -> int:
    from compsep_hpc.report.evaluation import evaluate_run, evaluation_folder, format_evaluation

    summary = evaluate_run(args.run_dir, args.foreground_seed)
    print(format_evaluation(summary))
    print(f"results in {evaluation_folder(args.run_dir, args.foreground_seed)}")
    return 0


def _simulate(args) -> int:
    from compsep_hpc.config import load_config
    from compsep_hpc.grid.simulation import write_simulation

    write_simulation(load_config(args.config, args.set), args.output)
    print(f"wrote {args.output}")
    return 0


def _recognize(args) -> int:
    from compsep_hpc.recognition.config import load_recognize
    from compsep_hpc.recognition.run import apply, recognize

    if args.apply:
        if not args.sky:
            raise ConfigError("recognize --apply RUN_DIR needs --sky CONFIG")
        result = apply(args.apply, args.sky, args.output, args.set)
    else:
        if not args.config:
            raise ConfigError("recognize needs CONFIG (or --apply RUN_DIR --sky CONFIG)")
        result = recognize(load_recognize(args.config, args.set), args.output)
    for route, s in result["routes"].items():
        print(f"{route:24s} pixels {s['pixel_accuracy']:.3f}  regions {s['region_accuracy']:.3f}")
    return 0


def _add_set(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="set a config key (YAML value; repeatable), e.g. --set sky.foreground_seed=1 "
                             "--set name=other_sky; the run folder stores the resulting config")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="compsep-hpc", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run or resume a grid search (alone or under mpiexec/srun)")
    run.add_argument("config", nargs="?", help="YAML run config (default: the embedded demo config)")
    run.add_argument("--output", help="run folder (default: the config's output, results/<name>)")
    run.add_argument("--dry-run", action="store_true", help="print the work split and write nothing")
    _add_set(run)
    run.set_defaults(func=_run)
    check = sub.add_parser("check", help="check a config and its run folder without building the sky (no JAX): "
                                         "what slurm/submit.sh runs before queueing")
    check.add_argument("config", nargs="?", help="YAML run config (default: the embedded demo config)")
    check.add_argument("--output", help="run folder (default: the config's output, results/<name>)")
    _add_set(check)
    check.set_defaults(func=_check)
    status = sub.add_parser("status", help="progress of a run folder")
    status.add_argument("run_dir")
    status.add_argument("--json", action="store_true", help="print the status as JSON (for scripts)")
    status.set_defaults(func=_status)
    reduce = sub.add_parser("reduce", help="select configurations, write tables and plots")
    reduce.add_argument("run_dir")
    reduce.add_argument("--criterion", default=None,
                        help=f"the pick the summary and plots follow: {', '.join(CRITERIA)} (default: the run's "
                             f"search.criterion, {DEFAULT_CRITERION} unless set)")
    reduce.add_argument("--max-r-bias", type=float, default=DEFAULT_MAX_R_BIAS,
                        help="min_r_upper_low_bias: largest r_hat - sky.r (systematic bias on r) of a pick "
                             "(default %(default)g)")
    reduce.add_argument("--regions-only", action="store_true",
                        help="per-region picks and items.csv only: no stitched combined figures and no plots, "
                             "which refit picks (a quick look at a large run)")
    reduce.set_defaults(func=_reduce)
    evaluate = sub.add_parser("evaluate", help="refit a reduced run's picks on the sky of another foreground seed")
    evaluate.add_argument("run_dir")
    evaluate.add_argument("--foreground-seed", type=int, required=True,
                          help="sky.foreground_seed of the new sky (same CMB, noise and regions); "
                               "results in RUN_DIR/evaluations/foreground_seed_<S>/")
    evaluate.set_defaults(func=_evaluate)
    simulate = sub.add_parser("simulate", help="write the sky and noiseless band maps of a config")
    simulate.add_argument("config")
    simulate.add_argument("--output", required=True)
    _add_set(simulate)
    simulate.set_defaults(func=_simulate)
    recognize = sub.add_parser("recognize", help="which foreground model each pixel and region needs: "
                                                 "likelihood ratio, AIC, BIC, reduced chi2 and a neural classifier")
    recognize.add_argument("config", nargs="?", help="YAML recognize config (configs/recognize_nside16.yaml)")
    recognize.add_argument("--output", help="run folder (default: the config's output, results/<name>)")
    recognize.add_argument("--apply", metavar="RUN_DIR", help="classify another sky with RUN_DIR's trained networks")
    recognize.add_argument("--sky", metavar="CONFIG", help="with --apply: a recognize config (its test sky) or a run config")
    _add_set(recognize)
    recognize.set_defaults(func=_recognize)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command not in COMMANDS_WITHOUT_JAX:
        enable_float64()
    try:
        return args.func(args)
    except CompsepError as exc:
        if not (isinstance(exc, BroadcastError) and exc.rank != 0):  # one line, not one per rank
            print(f"compsep-hpc: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
