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

from compsep_hpc.provenance import code_version
from compsep_hpc.recognition.config import RecognizeConfig
from compsep_hpc.store.atomic import write_atomic
from compsep_hpc.store.run_folder import check_results_folder

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
    return check_results_folder(folder, META_FILE, config.sha256(), _is_skeleton, "recognize run", "a recognize run")


def _is_skeleton(folder: Path) -> bool:
    """True for an empty folder or one holding only config.yaml (or its temporary file): a
    create_folder killed before its META_FILE."""
    return not any(p for p in folder.iterdir() if not p.name.startswith(f".{CONFIG_FILE}.") and p.name != CONFIG_FILE)


def create_folder(config: RecognizeConfig, folder: str | Path) -> None:
    """Write ``config.yaml`` then ``recognize.json`` (the latter marks the folder as this run's)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    write_atomic(folder / CONFIG_FILE, yaml.safe_dump(config.to_dict(), sort_keys=False))
    meta = {**provenance(config), "created": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    write_atomic(folder / META_FILE, json.dumps(meta, indent=2))
