"""A launch whose launcher started several tasks that MPI sees as singletons is refused."""

from __future__ import annotations

import subprocess
import sys

import pytest

from compsep_hpc.errors import CompsepError
from compsep_hpc.grid.runtime import check_launch


@pytest.mark.parametrize("environ", [
    {"SLURM_STEP_NUM_TASKS": "2", "SLURM_NTASKS": "2"},  # srun without a PMI the MPI understands
    {"SLURM_NTASKS": "4"},  # a bare command in a 4-task batch script
    {"OMPI_COMM_WORLD_SIZE": "2"}, {"PMI_SIZE": "3"}, {"PMIX_SIZE": "2"},
])
def test_several_tasks_seen_as_one_rank_are_refused(environ):
    with pytest.raises(CompsepError, match=r"MPI sees 1 rank.*srun --mpi=pmi2.*COMPSEP_SRUN_MPI=pmi2.*mpiexec -n N"):
        check_launch(1, environ)


@pytest.mark.parametrize("n_ranks, environ", [
    (1, {}), (2, {"SLURM_STEP_NUM_TASKS": "2", "PMI_SIZE": "2"}), (4, {"SLURM_NTASKS": "4"}),
    (1, {"SLURM_STEP_NUM_TASKS": "1", "SLURM_NTASKS": "8"}),  # a one-task step inside a bigger job
    (1, {"PMI_SIZE": "1", "SLURM_NTASKS": "2"}),  # mpiexec -n 1 inside a 2-task allocation
])
def test_consistent_launches_pass(n_ranks, environ):
    check_launch(n_ranks, environ)


def test_misconfigured_srun_gets_one_line_and_writes_nothing(tmp_path, env):
    config = tmp_path / "c.yaml"
    config.write_text("nside: 8\nsky: {model: synthetic}\nregions: [GAL060_U]\n"
                      "grid: {beta_dust: [1], temp_dust: [1], beta_synch: [1]}\n")
    out = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-m", "compsep_hpc.cli", "run", str(config), "--output", str(out)],
                          env={**env, "SLURM_STEP_NUM_TASKS": "2", "SLURM_NTASKS": "2"}, capture_output=True, text=True)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("compsep-hpc: error: SLURM_STEP_NUM_TASKS=2 tasks were launched")
    assert not out.exists()


def test_a_truth_seed_equal_to_the_fit_seed_is_allowed_and_noted():
    """The clustered sky's true patches have their own K-means seed; equal to grid.seed, the launch
    goes on and the launcher logs (and prints on rank 0) this note."""
    from compsep_hpc.config import parse_config
    from compsep_hpc.grid.launcher import shared_truth_seed_note

    def config(**sky):
        return parse_config({"sky": {"model": "synthetic_clustered", **sky,
                                     "true_patches": {"beta_dust": 2, "temp_dust": 1, "beta_synch": 1}},
                             "regions": ["GAL020_U"], "grid": {"beta_dust": [2], "temp_dust": [1], "beta_synch": [1]}})

    assert shared_truth_seed_note(config()) is None  # defaults: 1 against grid.seed 0
    note = shared_truth_seed_note(config(truth_kmeans_seed=0))
    assert note.startswith("sky.truth_kmeans_seed = grid.seed = 0") and "inside the fitted model family" in note
