#!/usr/bin/env bash
# Queue the grid search of CONFIG and its reduce job, which starts once the grid job has
# completed successfully (every item done; requeues in between are fine).
#
#   slurm/submit.sh CONFIG [sbatch options...]      e.g. slurm/submit.sh configs/demo.yaml --account=abc123
#
# The sbatch options go to both jobs (account, partition, qos, mail...). Options for one job only:
# GRID_SBATCH_ARGS="--nodes=1 --time=24:00:00" REDUCE_SBATCH_ARGS="--partition=cpu" slurm/submit.sh ...
# Run from the folder the config's relative `output` is relative to: both jobs run there.
# The config is checked first with `compsep-hpc run CONFIG --dry-run` (writes nothing);
# SKIP_DRY_RUN=1 skips that.
set -euo pipefail

usage() {
    echo "usage: ${0##*/} CONFIG [sbatch options...]" >&2
    exit 2
}
[[ $# -ge 1 ]] || usage
case $1 in -h | --help) usage ;; esac

here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
config=$1
shift
if [[ ! -f $config ]]; then
    echo "${0##*/}: no config file $config" >&2
    exit 2
fi
config="$(cd -- "$(dirname -- "$config")" && pwd)/$(basename -- "$config")"
python=${PYTHON:-python}
compsep=${COMPSEP:-compsep-hpc}

run_dir=$("$python" -c '
import sys
from compsep_hpc.config import load_config
from compsep_hpc.errors import CompsepError
try:
    print(load_config(sys.argv[1]).output)
except CompsepError as exc:
    sys.exit(f"compsep-hpc: error: {exc}")
' "$config")

if [[ -z ${SKIP_DRY_RUN:-} ]]; then
    JAX_PLATFORMS=cpu "$compsep" run "$config" --dry-run
fi

read -r -a grid_extra <<<"${GRID_SBATCH_ARGS:-}"
read -r -a reduce_extra <<<"${REDUCE_SBATCH_ARGS:-}"
mkdir -p logs # the jobs' --output=logs/... is relative to this folder

grid_id=$(sbatch --parsable "$@" "${grid_extra[@]+"${grid_extra[@]}"}" "$here/run_grid.sbatch" "$config")
grid_id=${grid_id%%;*} # "jobid;cluster" on multi-cluster sites
reduce_id=$(sbatch --parsable --dependency="afterok:$grid_id" "$@" \
    "${reduce_extra[@]+"${reduce_extra[@]}"}" "$here/reduce.sbatch" "$run_dir")
reduce_id=${reduce_id%%;*}

echo "grid job   $grid_id: $config"
echo "reduce job $reduce_id (after $grid_id succeeds): $run_dir"
echo "progress:  $compsep status $run_dir   logs: logs/ and $run_dir/logs/"
