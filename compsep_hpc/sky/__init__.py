"""Sky models: CMB + dust + synchrotron Q/U band maps in uK_CMB, with their true parameters.

``make_sky(config)`` dispatches on ``config.sky.model``:

- ``synthetic``: offline d1s1-like Gaussian sky with smooth parameter maps (no template needed);
- ``synthetic_clustered``: the same amplitudes, parameters constant on the true K-means patches;
- ``pysm``: a PySM 3 preset such as ``c1d1s1``, read from templates under ``$PYSM_LOCAL_DATA``.
"""

from __future__ import annotations

from compsep_hpc.config import RunConfig
from compsep_hpc.errors import ConfigError
from compsep_hpc.sky.maps import SkyMaps

__all__ = ["SkyMaps", "make_sky"]


def make_sky(config: RunConfig) -> SkyMaps:
    """The noiseless sky of ``config`` (see the module docstring for the models)."""
    model = config.sky.model
    if model == "synthetic":
        from compsep_hpc.sky.synthetic import synthetic_sky

        return synthetic_sky(config)
    if model == "synthetic_clustered":
        from compsep_hpc.sky.clustered import clustered_sky

        return clustered_sky(config)
    if model == "pysm":
        from compsep_hpc.sky.pysm_sky import pysm_sky

        return pysm_sky(config)
    raise ConfigError(f"unknown sky model {model!r}; known: synthetic, synthetic_clustered, pysm")
