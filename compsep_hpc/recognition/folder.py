"""The recognize run folder: the resolved config, its hash and the code version, checked before
anything is written; a folder of another config (or of anything else) is refused.

Layout of ``DIR``: ``config.yaml`` (resolved), ``recognize.json`` (config hash, package version,
source revision, seeds, creation time), ``likelihood.npz`` (chi^2, k, n per candidate, pixel and
region), ``checkpoints/<network>/`` (per-epoch training state, training.py), ``weights/<network>.eqx``
and ``weights/<network>.json`` (history, training seconds), and, written last: ``maps.npz`` (per
route: predicted candidate, probability, wrong pixels), ``scores.json`` (accuracies, confusion
matrices, per-region decisions), ``verdict.yaml``, ``run_configs/``, ``plots/``.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import yaml

from compsep_hpc.errors import RunFolderError
from compsep_hpc.provenance import code_version
from compsep_hpc.recognition.config import RecognizeConfig
from compsep_hpc.store.atomic import write_atomic
from compsep_hpc.store.run_folder import check_stored_config

META_FILE = "recognize.json"
CONFIG_FILE = "config.yaml"


def seeds(config: RecognizeConfig) -> dict[str, int]:
    """Every seed the run's results depend on."""
    return {"training_sky_seed": config.training.sky.seed, "training_noise_seed": config.training.noise_seed,
            "test_sky_seed": config.test.sky.seed, "test_noise_seed": config.test.noise_seed,
            "network_seed": config.network.seed}


def provenance(config: RecognizeConfig) -> dict:
    """What every result file of the run stores: hash, code version, seeds."""
    return {"config_sha256": config.sha256(), **code_version(), "seeds": seeds(config)}


def check_folder(config: RecognizeConfig, folder: str | Path) -> bool:
    """True when ``folder`` holds this config's run (resume), False when absent or empty.
    RunFolderError for another config's folder or a non-empty folder that is no recognize run."""
    folder = Path(folder)
    if not folder.exists():
        return False
    if not folder.is_dir():
        raise RunFolderError(f"{folder} exists and is not a folder")
    meta = folder / META_FILE
    if not meta.exists():
        if any(p for p in folder.iterdir() if not p.name.startswith(f".{CONFIG_FILE}.")
               and p.name != CONFIG_FILE):
            raise RunFolderError(f"{folder} is not empty and holds no recognize run; choose another --output")
        return False
    check_stored_config(meta, config.sha256(), "a recognize run")
    return True


def create_folder(config: RecognizeConfig, folder: str | Path) -> None:
    """Write ``config.yaml`` then ``recognize.json`` (the latter marks the folder as this run's)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    write_atomic(folder / CONFIG_FILE, yaml.safe_dump(config.to_dict(), sort_keys=False))
    meta = {**provenance(config), "created": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    write_atomic(folder / META_FILE, json.dumps(meta, indent=2))
