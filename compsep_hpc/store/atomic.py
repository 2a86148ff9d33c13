"""Atomic file writes: a file is its previous version or its complete new one, never partial.

The content goes to a temporary file of the same folder (``.NAME.XXXX``), which is fsynced and
renamed over the target with ``os.replace``; the folder is fsynced after the rename. On any
error the temporary file is removed and the target is left as it was. The published file gets the
mode a plain ``open`` would give it (0o666 less the process umask), not the temporary file's 0o600,
so that a group sharing a run folder can read its results.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _process_umask() -> int:
    """The umask, read once at import (setting it back at once; no thread has started yet)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


FILE_MODE = 0o666 & ~_process_umask()

def fsync_path(path: str | os.PathLike) -> None:
    """fsync a file or a folder by path."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary path to write ``path``'s new content to; published when the block succeeds.

    The temporary name keeps ``path``'s suffix, so writers that infer the format from it
    (matplotlib, numpy's ``savez``) behave as for the final name.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=path.suffix)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, FILE_MODE)
        fsync_path(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_path(path.parent)


def write_atomic(path: str | os.PathLike, content: str | bytes) -> None:
    """Write text (UTF-8, newlines as given) or bytes to ``path`` atomically."""
    with atomic_path(path) as tmp:
        if isinstance(content, bytes):
            tmp.write_bytes(content)
        else:
            with open(tmp, "w", encoding="utf-8", newline="") as f:
                f.write(content)
