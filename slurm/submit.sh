#!/usr/bin/env bash
# Queue the grid search of CONFIG and its reduce job, which starts once the grid job has
# completed successfully (every item done; requeues in between are fine) and is cancelled by
# Slurm when the grid job fails or is cancelled (--kill-on-invalid-dep=yes).
#
#   slurm/submit.sh CONFIG [grid job options] [sbatch options...]
#   e.g. slurm/submit.sh configs/demo.yaml --account=abc123
#        slurm/submit.sh configs/demo.yaml --ranks 16 --gpus-per-rank 0 --cpus-per-rank 2 --account=abc123
#
# Grid job options (the grid job's resources, one node; the scripts request none themselves):
#   --ranks N             MPI ranks (srun tasks) on the node                          (default 4)
#   --gpus-per-rank 0|1   1: one GPU per rank; 0: no GPU, for CPU-only partitions    (default 1)
#   --cpus-per-rank C     CPU cores per rank                                          (default 8)
#   --time LIMIT          the grid job's time limit, in sbatch's formats              (default 12:00:00)
#   --stop-before S       SIGUSR1 S seconds before the time limit: the ranks stop after
#                         their current item and the job requeues itself              (default 300)
# A --stop-before that reaches the time limit is refused (the ranks would stop before any item).
#
# The sbatch options go to both jobs (account, partition, qos, mail...). Options for one job only:
# GRID_SBATCH_ARGS="--exclusive" REDUCE_SBATCH_ARGS="--partition=cpu --time=02:00:00" slurm/submit.sh ...
# The grid job's --time and --signal are this script's --time and --stop-before: refused among them.
# Run from the folder the config's relative `output` is relative to: both jobs run there.
# The config is checked first with `compsep-hpc check CONFIG` (no sky, no JAX; writes nothing).
set -euo pipefail

prog=${0##*/}
usage() {
    echo "usage: $prog CONFIG [--ranks N] [--gpus-per-rank 0|1] [--cpus-per-rank C] [--time LIMIT]" \
        "[--stop-before SECONDS] [sbatch options...]" >&2
    exit 2
}
die() { # one line, exit 2, nothing queued
    echo "$prog: error: $*" >&2
    exit 2
}

# Seconds of a Slurm time limit: M, M:S, H:M:S, D-H, D-H:M, D-H:M:S; nothing for an unlimited one.
limit_seconds() {
    local t=$1 days=0 h=0 m=0 s=0
    case $t in UNLIMITED | unlimited | INFINITE | infinite) return 0 ;; esac
    if [[ $t =~ ^([0-9]+)-([0-9]+)(:([0-9]+)(:([0-9]+))?)?$ ]]; then
        days=${BASH_REMATCH[1]} h=${BASH_REMATCH[2]} m=${BASH_REMATCH[4]:-0} s=${BASH_REMATCH[6]:-0}
    elif [[ $t =~ ^([0-9]+):([0-9]+):([0-9]+)$ ]]; then
        h=${BASH_REMATCH[1]} m=${BASH_REMATCH[2]} s=${BASH_REMATCH[3]}
    elif [[ $t =~ ^([0-9]+)(:([0-9]+))?$ ]]; then
        m=${BASH_REMATCH[1]} s=${BASH_REMATCH[3]:-0}
    else
        return 1
    fi
    echo $(((10#$days * 24 + 10#$h) * 3600 + 10#$m * 60 + 10#$s))
}

# Refuse the grid job's time options among sbatch options ($1 names where they came from).
refuse_time_options() {
    local where=$1 arg
    shift
    for arg in "$@"; do
        case $arg in
        --time | --time=* | -t | -t?*) die "$where: give the grid job's time limit as $prog --time LIMIT (checked against --stop-before), not $arg" ;;
        --signal | --signal=*) die "$where: give the stop signal's lead as $prog --stop-before SECONDS, not $arg" ;;
        esac
    done
}

positive_integer() { # positive_integer OPTION VALUE
    [[ $2 =~ ^[0-9]+$ ]] && ((10#$2 > 0)) || die "$1 $2: not a positive integer"
}

[[ $# -ge 1 ]] || usage
case $1 in -h | --help) usage ;; esac

here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
config=$1
shift
if [[ ! -f $config ]]; then
    die "no config file $config"
fi
config="$(cd -- "$(dirname -- "$config")" && pwd)/$(basename -- "$config")"
python=${PYTHON:-python}
compsep=${COMPSEP:-compsep-hpc}

ranks=4 gpus_per_rank=1 cpus_per_rank=8 time_limit=12:00:00 stop_before=300
sbatch_args=()
while [[ $# -gt 0 ]]; do
    case $1 in
    --ranks | --gpus-per-rank | --cpus-per-rank | --time | --stop-before)
        [[ $# -ge 2 ]] || die "$1 needs a value"
        option=$1 value=$2
        shift 2
        ;;
    --ranks=* | --gpus-per-rank=* | --cpus-per-rank=* | --time=* | --stop-before=*)
        option=${1%%=*} value=${1#*=}
        shift
        ;;
    *)
        sbatch_args+=("$1")
        shift
        continue
        ;;
    esac
    case $option in
    --ranks) ranks=$value ;;
    --gpus-per-rank) gpus_per_rank=$value ;;
    --cpus-per-rank) cpus_per_rank=$value ;;
    --time) time_limit=$value ;;
    --stop-before) stop_before=$value ;;
    esac
done
read -r -a grid_extra <<<"${GRID_SBATCH_ARGS:-}"
read -r -a reduce_extra <<<"${REDUCE_SBATCH_ARGS:-}"

positive_integer --ranks "$ranks"
positive_integer --cpus-per-rank "$cpus_per_rank"
positive_integer --stop-before "$stop_before"
ranks=$((10#$ranks)) cpus_per_rank=$((10#$cpus_per_rank)) stop_before=$((10#$stop_before))
[[ $gpus_per_rank == 0 || $gpus_per_rank == 1 ]] ||
    die "--gpus-per-rank $gpus_per_rank: 0 (CPU-only partitions) or 1 (one GPU per rank; a rank uses one device)"
refuse_time_options "sbatch options" "${sbatch_args[@]+"${sbatch_args[@]}"}"
refuse_time_options "GRID_SBATCH_ARGS" "${grid_extra[@]+"${grid_extra[@]}"}"
time_s=$(limit_seconds "$time_limit") || die "--time $time_limit: not a Slurm time limit (minutes, M:S, H:M:S, D-H, D-H:M or D-H:M:S)"
if [[ -n $time_s ]] && ((stop_before >= time_s)); then
    die "--stop-before ${stop_before} s reaches the grid job's time limit --time $time_limit (${time_s} s):" \
        "the stop signal would come before the ranks start an item; give a longer --time or a shorter --stop-before"
fi
# Seconds the ranks get after SIGUSR1 before the job requeues regardless (run_grid.sbatch):
# it must end before the time limit does.
stop_grace=${COMPSEP_STOP_GRACE:-$((stop_before * 4 / 5))}
[[ $stop_grace =~ ^[0-9]+$ ]] && ((stop_grace < stop_before)) ||
    die "COMPSEP_STOP_GRACE=$stop_grace: must be a number of seconds below --stop-before ($stop_before s)"
export COMPSEP_STOP_GRACE=$stop_grace # the jobs inherit this environment

run_dir=$("$python" -c '
import sys
from compsep_hpc.config import load_config
from compsep_hpc.errors import CompsepError
try:
    print(load_config(sys.argv[1]).output)
except CompsepError as exc:
    sys.exit(f"compsep-hpc: error: {exc}")
' "$config")

"$compsep" check "$config"

grid_resources=(--nodes=1 --ntasks-per-node="$ranks" --cpus-per-task="$cpus_per_rank"
    --time="$time_limit" --signal=B:USR1@"$stop_before")
if ((gpus_per_rank > 0)); then
    grid_resources+=(--gpus-per-node=$((ranks * gpus_per_rank)))
fi
mkdir -p logs # the jobs' --output=logs/... is relative to this folder

if ! grid_id=$(sbatch --parsable "${grid_resources[@]}" "${sbatch_args[@]+"${sbatch_args[@]}"}" \
    "${grid_extra[@]+"${grid_extra[@]}"}" "$here/run_grid.sbatch" "$config"); then
    if ((gpus_per_rank > 0)); then
        echo "$prog: error: sbatch refused the grid job (above), which asks for $((ranks * gpus_per_rank)) GPU(s);" \
            "on a partition without GPUs, give --gpus-per-rank 0" >&2
    fi
    exit 1
fi
grid_id=${grid_id%%;*} # "jobid;cluster" on multi-cluster sites
reduce_id=$(sbatch --parsable --dependency="afterok:$grid_id" --kill-on-invalid-dep=yes \
    "${sbatch_args[@]+"${sbatch_args[@]}"}" "${reduce_extra[@]+"${reduce_extra[@]}"}" \
    "$here/reduce.sbatch" "$run_dir")
reduce_id=${reduce_id%%;*}

echo "grid job   $grid_id: $config ($ranks ranks, $((ranks * gpus_per_rank)) GPU(s), time limit $time_limit, stop signal ${stop_before} s before it)"
echo "reduce job $reduce_id (after $grid_id succeeds; cancelled if it fails): $run_dir"
echo "progress:  $compsep status $run_dir   logs: logs/ and $run_dir/logs/"
