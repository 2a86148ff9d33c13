"""compsep-hpc: how many sky patches should each foreground spectral parameter get?

Importing the package does not import JAX nor change its settings: the entry points (command
line, launcher, scripts, tests) switch JAX to float64 with
:func:`compsep_hpc.precision.enable_float64`, and the fit refuses to run without it.
"""

from compsep_hpc.errors import CompsepError, ConfigError

__version__ = "0.1.0"

__all__ = ["CompsepError", "ConfigError", "__version__"]
