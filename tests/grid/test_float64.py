"""float64 is switched on by the entry points, and the fit refuses to run without it."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import jax
from compsep_hpc import cli
from compsep_hpc.errors import CompsepError
from compsep_hpc.precision import require_float64
try:
    require_float64()
except CompsepError as exc:
    print("refused:", exc)
from compsep_hpc.separation.evaluate import evaluate_configuration
try:
    evaluate_configuration(None, None, None, None)
except CompsepError as exc:
    print("fit refused:", exc)
cli.main(["status", "/nonexistent"])  # status leaves JAX alone
print("after status:", jax.config.jax_enable_x64)
cli.main(["reduce", "/nonexistent"])  # every other command enables float64 first
print("after reduce:", jax.config.jax_enable_x64)
require_float64()
print("accepted")
"""


def test_the_cli_enables_float64_and_the_fit_refuses_float32():
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True).stdout
    assert "refused: JAX runs in float32; call compsep_hpc.precision.enable_float64() first" in out
    assert "fit refused: JAX runs in float32" in out
    assert "after status: False" in out and "after reduce: True" in out and out.strip().endswith("accepted")
