"""compsep-hpc: how many sky patches should each foreground spectral parameter get?

Importing the package switches JAX to float64: every likelihood value (~1e8 at nside 64) and
every fitted spectral parameter depends on it.
"""

import jax

jax.config.update("jax_enable_x64", True)

from compsep_hpc.errors import CompsepError, ConfigError  # noqa: E402

__version__ = "0.1.0"

__all__ = ["CompsepError", "ConfigError", "__version__"]
