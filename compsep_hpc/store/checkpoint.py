"""Crash-safe per-rank checkpoint files of completed work items.

Each rank appends records to its own HDF5 files ``<run_dir>/checkpoints/records_<launch_id>_
rank<rank:05d>_part<k:04d>.h5``; a part rolls over after ``max_records_per_file`` records.
Every append is a copy-on-write transaction: the part is copied to ``<name>.tmp-<host>-<pid>``,
the record (its group ``items/<id:07d>`` and the ``item_id`` entry) is added to the copy, the copy
is fsynced and atomically renamed over the part, and the folder is fsynced. Whenever the process
dies, each part is its previous or its new version, so a record is complete or absent.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import warnings
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from compsep_hpc.errors import CompsepError, RunFolderError
from compsep_hpc.provenance import source_revision

FORMAT = "compsep-hpc-records/1"
CHECKPOINT_DIR = "checkpoints"
_LAUNCH_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_TMP = re.compile(r"\.tmp-(?P<host>.+)-(?P<pid>\d+)$")
_HOST = socket.gethostname().replace("/", "_") or "host"

Value = np.ndarray | np.generic | float | int | bool | str


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _open_read(path: Path) -> h5py.File:
    # Published files are never modified in place, so no HDF5 file lock is needed (nor wanted on
    # parallel filesystems).
    return h5py.File(path, "r", locking=False)


def record_files(run_dir: str | os.PathLike) -> list[Path]:
    """The published record files of a run folder, sorted by file name (temporaries excluded)."""
    folder = Path(run_dir) / CHECKPOINT_DIR
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("records_*.h5") if p.is_file())


def file_attributes(path: str | os.PathLike) -> dict[str, Any]:
    """The root attributes of a record file as Python values (``str``, ``int``, ...)."""
    with _open_read(Path(path)) as f:
        return {k: _py(v) for k, v in f.attrs.items()}


def _py(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, np.generic):
        return value.item()
    return value


class CheckpointWriter:
    """Appends records of one rank durably; see the module docstring for the protocol."""

    def __init__(self, run_dir: str | os.PathLike, *, rank: int, n_ranks: int, launch_id: str,
                 config_sha256: str, config_yaml: str, package_version: str,
                 max_records_per_file: int = 64, units: dict[str, str] | None = None) -> None:
        if not 0 <= rank < n_ranks:
            raise CompsepError(f"rank {rank} is not in [0, {n_ranks})")
        if not _LAUNCH_ID.match(launch_id):
            raise CompsepError(f"launch id {launch_id!r} must match {_LAUNCH_ID.pattern}")
        if max_records_per_file < 1:
            raise CompsepError("max_records_per_file must be at least 1")
        self.folder = Path(run_dir) / CHECKPOINT_DIR
        self.folder.mkdir(parents=True, exist_ok=True)
        self._prefix = f"records_{launch_id}_rank{rank:05d}_part"
        self._attrs: dict[str, Any] = {
            "rank": int(rank), "n_ranks": int(n_ranks), "config_sha256": str(config_sha256),
            "launch_id": launch_id, "package_version": str(package_version),
            "source_revision": source_revision(), "config_yaml": str(config_yaml), "format": FORMAT}
        self.max_records_per_file = int(max_records_per_file)
        self.units = dict(units or {})
        self._closed = False
        self._remove_stale_tmp()
        # Same launch id again (a restarted writer): continue after its last part.
        self._done: set[int] = set()
        self._part, self._count = 0, 0
        for path in sorted(self.folder.glob(self._prefix + "*.h5")):
            with _open_read(path) as f:
                ids = f["item_id"][:]
            self._done.update(int(i) for i in ids)
            self._part, self._count = int(path.stem[len(self._prefix):]), len(ids)

    def _remove_stale_tmp(self) -> None:
        """Remove temporaries of this writer's names, or of dead processes of this host."""
        for tmp in self.folder.glob("records_*.h5.tmp-*"):
            m = _TMP.search(tmp.name)
            own = tmp.name.startswith(self._prefix)
            dead = m is not None and m["host"] == _HOST and not _pid_alive(int(m["pid"]))
            if own or dead:
                tmp.unlink(missing_ok=True)

    @property
    def path(self) -> Path:
        """The part file the next record goes to."""
        return self.folder / f"{self._prefix}{self._part:04d}.h5"

    def append(self, item_id: int, record: Mapping[str, Value]) -> None:
        """Add the record of ``item_id``; it is durable on disk when this returns."""
        if self._closed:
            raise CompsepError("append on a closed CheckpointWriter")
        item_id = int(item_id)
        if item_id < 0 or item_id in self._done:
            raise CompsepError(f"item id {item_id} is negative or already recorded by this writer")
        if self._count >= self.max_records_per_file:
            self._part, self._count = self._part + 1, 0
        final = self.path
        tmp = final.with_name(f"{final.name}.tmp-{_HOST}-{os.getpid()}")
        try:
            if self._count > 0:
                shutil.copyfile(final, tmp)
            with h5py.File(tmp, "a" if self._count > 0 else "w", locking=False) as f:
                if self._count == 0:
                    f.attrs.update(self._attrs)
                    f.attrs["created_utc"] = datetime.now(timezone.utc).isoformat()
                    f.create_dataset("item_id", shape=(0,), maxshape=(None,), chunks=(256,),
                                     dtype=np.int64)
                    f.create_group("items")
                self._write_group(f["items"].create_group(f"{item_id:07d}"), record)
                ids = f["item_id"]
                ids.resize((ids.shape[0] + 1,))
                ids[-1] = item_id
            _fsync_path(tmp)
            os.replace(tmp, final)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        self._count += 1
        self._done.add(item_id)
        _fsync_path(self.folder)

    def _write_group(self, group: h5py.Group, record: Mapping[str, Value]) -> None:
        for name, value in record.items():
            if not name or "/" in name or name == "item_id":
                raise CompsepError(f"invalid record field name {name!r}")
            if isinstance(value, str):
                group.attrs[name] = value
                continue
            arr = np.asarray(value)
            if arr.dtype.kind not in "biufc":
                raise CompsepError(f"field {name!r}: unsupported type {type(value).__name__}"
                                   f" (dtype {arr.dtype})")
            dset = group.create_dataset(name, data=arr)
            if name in self.units:
                dset.attrs["units"] = self.units[name]

    def close(self) -> None:
        """Stop accepting records (every appended record is already on disk)."""
        self._closed = True

    def __enter__(self) -> CheckpointWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _read_file(path: Path, config_sha256: str | None, ids_only: bool, wanted: set[int] | None = None
               ) -> tuple[list[int], list[dict[str, Any]]]:
    """Item ids and (unless ``ids_only``) records of one file (those of ``wanted`` ids only when
    given); OSError & co. if unreadable."""
    with _open_read(path) as f:
        if _py(f.attrs.get("format")) != FORMAT:
            raise ValueError(f"format attribute is not {FORMAT!r}")
        found = _py(f.attrs.get("config_sha256"))
        if config_sha256 is not None and found != config_sha256:
            raise RunFolderError(f"{path} belongs to config {found}, not {config_sha256}")
        ids = [int(i) for i in f["item_id"][:]]
        if ids_only:
            return ids, []
        items = f["items"]
        records = []
        for item in ids if wanted is None else [i for i in ids if i in wanted]:
            group = items[f"{item:07d}"]
            rec: dict[str, Any] = {"item_id": item}
            rec.update((k, _py(v)) for k, v in group.attrs.items())
            for name in group.id:  # low-level reads: about twice as fast as group[name][()]
                dsid = h5py.h5d.open(group.id, name)
                if dsid.dtype.kind not in "biufc":
                    raise ValueError(f"item {item}: field {name!r} is not numeric")
                value = np.empty(dsid.shape, dsid.dtype)
                dsid.read(h5py.h5s.ALL, h5py.h5s.ALL, value)
                rec[name.decode()] = value.item() if value.ndim == 0 else value
            records.append(rec)
        return ids, records


def _scan(run_dir: str | os.PathLike, config_sha256: str | None, ids_only: bool, wanted: set[int] | None = None
          ) -> tuple[set[int], list[dict[str, Any]]]:
    seen: dict[int, Path] = {}
    records: list[dict[str, Any]] = []
    for path in record_files(run_dir):
        try:
            ids, recs = _read_file(path, config_sha256, ids_only, wanted)
        except RunFolderError:
            raise
        except (OSError, KeyError, ValueError, TypeError, RuntimeError) as err:
            warnings.warn(f"skipping unreadable record file {path}: {err}", stacklevel=3)
            continue
        dup = sorted(i for i in ids if i in seen)
        if dup:
            warnings.warn(f"{path}: {len(dup)} item(s) already read from another file, kept "
                          f"once (first: {dup[0]} in {seen[dup[0]].name})", stacklevel=3)
        records.extend(r for r in recs if r["item_id"] not in seen)
        seen.update((i, path) for i in ids if i not in seen)
    return set(seen), sorted(records, key=lambda r: r["item_id"])


def completed_item_ids(run_dir: str | os.PathLike) -> set[int]:
    """Ids of every item recorded in a readable record file of the run folder."""
    return _scan(run_dir, None, ids_only=True)[0]


def read_records(run_dir: str | os.PathLike, *, config_sha256: str | None = None, item_ids: set[int] | None = None
                 ) -> list[dict[str, Any]]:
    """All records (those of ``item_ids`` only, when given), sorted by item id, as
    ``{'item_id': int, **fields}``.

    0-d fields come back as Python scalars, arrays as numpy arrays, strings as ``str``. An item
    found in several files is kept once (the first file by name) with a warning; unreadable files
    are skipped with a warning. With ``config_sha256``, a file of another config raises
    :class:`RunFolderError`.
    """
    return _scan(run_dir, config_sha256, ids_only=False, wanted=item_ids)[1]
