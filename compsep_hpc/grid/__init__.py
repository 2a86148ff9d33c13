"""The grid search: work items, the cached inputs of a run (Experiment), the MPI launcher."""
