"""Sky models: CMB + dust + synchrotron Q/U band maps in uK_CMB, with their true parameters.

``make_sky(sky, nside, instrument, ...)`` dispatches on ``sky.model``:

- ``synthetic``: offline d1s1-like Gaussian sky with smooth parameter maps (no template needed);
- ``synthetic_clustered``: the same amplitudes, parameters constant on the true K-means patches;
- ``pysm``: a PySM 3 preset such as ``c1d1s1``, read from templates under ``$PYSM_LOCAL_DATA``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from compsep_hpc.errors import ConfigError
from compsep_hpc.model.instrument import Instrument
from compsep_hpc.partition.config import RegionsConfig
from compsep_hpc.sky.config import SKY_MODELS, SkyConfig
from compsep_hpc.sky.maps import SkyMaps

if TYPE_CHECKING:  # sky.cmb imports healpy: not for the config readers
    from compsep_hpc.sky.cmb import CambSpectra

__all__ = ["SkyMaps", "make_sky"]


def make_sky(sky: SkyConfig, nside: int, instrument: Instrument, *, regions: RegionsConfig | None = None,
             cmb_spectra: CambSpectra | None = None) -> SkyMaps:
    """The noiseless sky of ``sky`` at ``nside`` in the ``instrument``'s bands (see the module
    docstring). ``synthetic_clustered`` also needs the ``regions`` its true patches partition
    (with its own K-means seed, ``sky.truth_kmeans_seed``). A Gaussian CMB is drawn from
    ``cmb_spectra`` (:func:`compsep_hpc.sky.cmb.camb_spectra`'s form, e.g. a run folder's stored
    copy; None runs CAMB)."""
    if sky.model == "synthetic":
        from compsep_hpc.sky.synthetic import synthetic_sky

        return synthetic_sky(sky, nside, instrument, mask_file=None if regions is None else regions.mask_file,
                             cmb_spectra=cmb_spectra)
    if sky.model == "synthetic_clustered":
        from compsep_hpc.sky.clustered import clustered_sky

        if regions is None:
            raise ConfigError("sky model 'synthetic_clustered' needs the regions of its true patches")
        return clustered_sky(sky, nside, instrument, regions, cmb_spectra=cmb_spectra)
    if sky.model == "pysm":
        from compsep_hpc.sky.pysm_sky import pysm_sky

        return pysm_sky(sky, nside, instrument, cmb_spectra=cmb_spectra)
    raise ConfigError(f"unknown sky model {sky.model!r}; known: {', '.join(SKY_MODELS)}")
