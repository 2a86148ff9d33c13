"""The run folder contract: the resolved config and its hash live in the folder, and a folder of
another config is refused before anything is written.

Layout of ``DIR``: ``config.yaml`` (the resolved config), ``region_grids.json`` (each region's
pixel count and own grid under ``grid.above_pixels``, resolved at the run's start: the work list's
definition, grid/region_grids.py), ``run.json`` (hash, package version, creation time),
``cmb_templates.npz`` (CAMB BB templates of the r likelihood, computed once per run, and the CAMB spectra the CMB sky is drawn from: later launches and ``reduce`` use them, see
:func:`read_cmb_spectra`),
``region_spectra/NAME.npz`` (each region's apodized weights, thin-region warning and MASTER or pure-B
coupling: bins, estimator, windows; computed once per run, and by ``reduce`` for the union of the
regions, see :func:`write_geometry`),
``checkpoints/`` (records, see checkpoint.py), ``logs/`` (one log per rank and
launch), and, after ``reduce``, ``selection.json``, ``items.csv`` and ``plots/``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import yaml

from compsep_hpc import __version__
from compsep_hpc.config import RunConfig, parse_config
from compsep_hpc.errors import ConfigError, RunFolderError
from compsep_hpc.provenance import code_version
from compsep_hpc.store.atomic import atomic_path, write_atomic

CONFIG_FILE = "config.yaml"
META_FILE = "run.json"
REGION_GRIDS_FILE = "region_grids.json"
TEMPLATES_FILE = "cmb_templates.npz"
GEOMETRY_DIR = "region_spectra"


def config_yaml(config: RunConfig) -> str:
    """The resolved config as YAML text."""
    return yaml.safe_dump(config.to_dict(), sort_keys=False)


def _is_skeleton(run_dir: Path) -> bool:
    """True for an empty folder, or one left by a create_run_folder killed before run.json: only
    config.yaml, region_grids.json, empty checkpoints/ and logs/, and temporary files of the atomic writes."""
    written = (CONFIG_FILE, REGION_GRIDS_FILE)
    for entry in run_dir.iterdir():
        if entry.name in ("checkpoints", "logs") and entry.is_dir() and not any(entry.iterdir()):
            continue
        if entry.name in written or entry.name.startswith(tuple(f".{n}." for n in (*written, META_FILE))):
            continue
        return False
    return True


def check_run_folder(config: RunConfig, run_dir: str | Path) -> bool:
    """True when ``run_dir`` already holds this config's run, False when it is absent or empty.

    Raises RunFolderError for a folder of another config, or a non-empty folder that is no run
    folder. Reads only.
    """
    return check_results_folder(run_dir, META_FILE, config.sha256(), _is_skeleton, "compsep-hpc run", "results")


def check_results_folder(folder: str | Path, meta_name: str, sha256: str, is_skeleton: Callable[[Path], bool],
                         kind: str, what: str) -> bool:
    """True when ``folder`` holds the results of the config of hash ``sha256`` (its JSON file
    ``meta_name`` says so), False when it is absent or ``is_skeleton`` (empty, or left by an
    interrupted creation). RunFolderError (one line, reads only) for a file, a non-empty folder
    that holds no ``kind``, or ``what`` of another config (check_stored_config)."""
    folder = Path(folder)
    if not folder.exists():
        return False
    if not folder.is_dir():
        raise RunFolderError(f"{folder} exists and is not a folder")
    meta = folder / meta_name
    if not meta.exists():
        if not is_skeleton(folder):
            raise RunFolderError(f"{folder} is not empty and holds no {kind}; choose another --output")
        return False
    check_stored_config(meta, sha256, what)
    return True


def check_stored_config(meta: Path, sha256: str, what: str) -> None:
    """RunFolderError (one line, nothing touched) unless the folder's JSON file ``meta`` stores
    ``config_sha256`` = ``sha256``; ``what`` names the folder's content in the message."""
    try:
        stored = json.loads(meta.read_text())["config_sha256"]
    except (OSError, ValueError, KeyError) as exc:
        raise RunFolderError(f"{meta} is unreadable; the folder is left untouched") from exc
    if stored != sha256:
        raise RunFolderError(f"{meta.parent} holds {what} of another config (sha256 {stored[:12]}, this one "
                             f"{sha256[:12]}); use another --output or the original config")


def create_run_folder(config: RunConfig, run_dir: str | Path, region_grids: dict | None = None) -> None:
    """Write config.yaml, ``region_grids`` (the JSON form of the regions' grids, when given) and
    then run.json, once (no-op when the folder already holds this run): a folder with run.json
    has its regions' grids."""
    run_dir = Path(run_dir)
    if check_run_folder(config, run_dir):
        return
    (run_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
    (run_dir / "logs").mkdir(exist_ok=True)
    write_atomic(run_dir / CONFIG_FILE, config_yaml(config))
    if region_grids is not None:
        write_region_grids(run_dir, region_grids)
    meta = {
        "name": config.name,
        "config_sha256": config.sha256(),
        **code_version(),
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    write_atomic(run_dir / META_FILE, json.dumps(meta, indent=2) + "\n")


def load_run_folder(run_dir: str | Path) -> tuple[RunConfig, dict]:
    """The config and metadata stored in a run folder (for status and reduce)."""
    run_dir = Path(run_dir)
    try:
        raw = yaml.safe_load((run_dir / CONFIG_FILE).read_text())
        meta = json.loads((run_dir / META_FILE).read_text())
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise RunFolderError(f"{run_dir} is not a compsep-hpc run folder (no readable {CONFIG_FILE}/{META_FILE})") from exc
    try:
        config = parse_config(raw, str(run_dir / CONFIG_FILE))
    except ConfigError as exc:  # e.g. a component or parameter this version does not know
        raise ConfigError(f"{run_dir / CONFIG_FILE}: {exc}") from exc
    if config.sha256() != meta.get("config_sha256"):
        raise RunFolderError(f"{run_dir}: config.yaml does not match the hash in {META_FILE}")
    return config, meta


def write_region_grids(run_dir: str | Path, content: dict) -> None:
    """Store the regions' grids (their JSON form, grid/region_grids.py) atomically."""
    write_atomic(Path(run_dir) / REGION_GRIDS_FILE, json.dumps(content, indent=1) + "\n")


def read_region_grids(run_dir: str | Path) -> dict | None:
    """The stored JSON form of the regions' grids, or None when the folder has none."""
    path = Path(run_dir) / REGION_GRIDS_FILE
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise RunFolderError(f"{path} is unreadable; the folder is left untouched") from exc


def write_templates(run_dir: str | Path, tensor, lensing, camb: tuple | None = None) -> None:
    """Store the run's BB templates (uK^2 C_ell, tensor at r = 1 and lensing) once, atomically,
    with ``camb`` = (lensed scalar, tensor) of sky.cmb.camb_spectra when given."""
    import numpy as np

    path = Path(run_dir) / TEMPLATES_FILE
    if path.exists():
        return
    extra = {} if camb is None else {"camb_lensed": np.asarray(camb[0]), "camb_tensor": np.asarray(camb[1])}
    with atomic_path(path) as tmp:
        np.savez(tmp, tensor=np.asarray(tensor), lensing=np.asarray(lensing), **extra,
                 units=np.array("uK_CMB^2, C_ell BB, ell = 0..lmax; camb_*: (ell, TT/EE/BB/TE)"),
                 package_version=np.array(__version__))


def read_templates(run_dir: str | Path):
    """The run's stored (tensor, lensing) templates, or None when the run has none yet."""
    import numpy as np

    path = Path(run_dir) / TEMPLATES_FILE
    if not path.exists():
        return None
    with np.load(path) as f:
        return f["tensor"], f["lensing"]


def read_cmb_spectra(run_dir: str | Path):
    """The CAMB spectra (lensed scalar, tensor; sky.cmb.camb_spectra's form) stored in the run
    folder, or None when it has none (folders written before they were stored: CAMB then). Passed
    as ``cmb_spectra`` to the run's Experiment, every launch, rank and reduce of a run draws the
    same CMB, whatever CAMB is installed, without running it."""
    import numpy as np

    path = Path(run_dir) / TEMPLATES_FILE
    if not path.exists():
        return None
    with np.load(path) as f:
        if "camb_lensed" not in f.files:
            return None
        return f["camb_lensed"], f["camb_tensor"]


def _geometry_path(run_dir: str | Path, name: str) -> Path:
    return Path(run_dir) / GEOMETRY_DIR / f"{name}.npz"


def write_geometry(run_dir: str | Path, name: str, geometry) -> None:
    """Store a region's science.geometry.RegionGeometry as ``region_spectra/NAME.npz`` once,
    atomically (no-op when it is there: every rank computes the same one)."""
    import numpy as np

    path = _geometry_path(run_dir, name)
    if path.exists():
        return
    path.parent.mkdir(exist_ok=True)
    c = geometry.coupling
    with atomic_path(path) as tmp:
        np.savez(tmp, pixels=geometry.pixels, weights=geometry.weights, apod_warning=np.array(geometry.apod_warning),
                 edges=c.edges, first=c.first, n_reported=c.n_reported, binned_coupling=c.binned_coupling,
                 estimator=c.estimator, window_bb_bb=c.window_bb_bb, window_bb_ee=c.window_bb_ee, w2=c.w2, w4=c.w4,
                 purify_b=c.purify_b, units=np.array("weights in [0, 1] RING; bandpowers and windows of C_ell BB in uK_CMB^2"),
                 package_version=np.array(__version__))


def read_geometry(run_dir: str | Path, name: str):
    """The stored science.geometry.RegionGeometry of ``name``, or None when the run has none yet."""
    import numpy as np

    from compsep_hpc.science.coupling import BandpowerCoupling
    from compsep_hpc.science.geometry import RegionGeometry

    path = _geometry_path(run_dir, name)
    if not path.exists():
        return None
    with np.load(path) as f:
        coupling = BandpowerCoupling(f["edges"], int(f["first"]), int(f["n_reported"]), f["binned_coupling"],
                                     f["estimator"], f["window_bb_bb"], f["window_bb_ee"], float(f["w2"]), float(f["w4"]),
                                     bool(f["purify_b"]) if "purify_b" in f.files else False)
        return RegionGeometry(f["pixels"], f["weights"], coupling, str(f["apod_warning"]))
