"""Checkpoint appends on a background thread, so the device fits the next item while a rank writes.

:class:`BackgroundWriter` wraps a :class:`~compsep_hpc.store.checkpoint.CheckpointWriter`: ``append``
hands the record to one writer thread and returns at once. At most one record is in flight: the
next ``append`` (and ``close``) first waits for it, and re-raises its error, if any, in the
calling thread. A rank killed outright therefore loses at most the item it was computing plus the
one being written; both are absent from disk (never half-written) and the next launch redoes them.
JAX releases the GIL while it computes and the copy/fsync of the append release it while they
wait on the disk, so the two overlap.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor

from compsep_hpc.store.checkpoint import CheckpointWriter, Value


class BackgroundWriter:
    """Appends records through ``writer`` on one background thread, one record in flight."""

    def __init__(self, writer: CheckpointWriter,
                 on_written: Callable[[int, Mapping[str, Value]], None] | None = None) -> None:
        self.writer = writer
        self._on_written = on_written
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="checkpoint")
        self._pending: Future | None = None

    def _write(self, item_id: int, record: Mapping[str, Value]) -> None:
        self.writer.append(item_id, record)
        if self._on_written is not None:
            self._on_written(item_id, record)

    def wait(self) -> None:
        """Block until the record in flight is on disk; re-raise its error here if it failed."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def append(self, item_id: int, record: Mapping[str, Value]) -> None:
        """Queue the record of ``item_id`` after the previous one has been written."""
        self.wait()
        self._pending = self._pool.submit(self._write, int(item_id), dict(record))

    def close(self) -> None:
        """Write what is in flight, then close the writer (also when that write failed)."""
        try:
            self.wait()
        finally:
            self._pool.shutdown(wait=True)
            self.writer.close()

    def __enter__(self) -> BackgroundWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
