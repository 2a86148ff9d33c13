"""``compsep-hpc simulate``: the sky of a config written to HDF5 for inspection."""

from __future__ import annotations

from pathlib import Path

import h5py

from compsep_hpc import __version__
from compsep_hpc.config import RunConfig
from compsep_hpc.errors import CompsepError
from compsep_hpc.store.run_folder import config_yaml
from compsep_hpc.grid.experiment import run_sky
from compsep_hpc.store.atomic import atomic_path


def write_simulation(config: RunConfig, output: str | Path) -> None:
    """Band maps, true CMB and foregrounds (uK_CMB, RING), true parameter maps (NaN where their
    component does not hold) and the true model map (``model_map``: int16 index of each pixel's
    model in its ``model_names`` attribute); refuses to overwrite."""
    output = Path(output)
    if output.exists():
        raise CompsepError(f"{output} exists; choose another --output")
    sky = run_sky(config)
    with atomic_path(output) as tmp, h5py.File(tmp, "w") as f:
        f.attrs.update(config_yaml=config_yaml(config), config_sha256=config.sha256(),
                       package_version=__version__, nside=sky.nside, ordering="RING",
                       description=sky.description)
        f["frequencies"] = sky.frequencies
        f["frequencies"].attrs["units"] = "GHz"
        for name, data in (("frequency_maps", sky.frequency_maps), ("cmb", sky.cmb),
                           ("foregrounds", sky.foregrounds)):
            f[name] = data
            f[name].attrs["units"] = "uK_CMB"
        f["frequency_maps"].attrs["shape"] = "(n_freq, Q/U, npix)"
        for name, values in sky.true_params.items():
            f[f"true_params/{name}"] = values
        if sky.model_map is not None:
            f["model_map"] = sky.model_map
            f["model_map"].attrs["model_names"] = list(sky.model_names)
