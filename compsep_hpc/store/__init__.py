"""What goes to disk: atomic writes, the run folder, the record schema, checkpoints, simulations."""
