"""Which code made a result: the package version and the source revision, stored together.

``package_version`` names a release; between releases only the git commit tells two codes apart,
so run folders, checkpoint files, ``selection.json`` and ``evaluation.json`` also store
:func:`source_revision` (:func:`code_version` gives both).
"""

from __future__ import annotations

import functools
import subprocess
from pathlib import Path

from compsep_hpc import __version__

_SOURCE = Path(__file__).resolve().parent


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(_SOURCE), *args], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


@functools.lru_cache(maxsize=1)
def source_revision() -> str:
    """The git commit (40 hex digits) of the checkout the package is imported from, with
    ``+dirty`` when tracked files differ from it; ``""`` outside a git checkout (an installed
    wheel, where ``package_version`` alone says which code ran)."""
    commit = _git("rev-parse", "HEAD")
    if not commit:
        return ""
    changed = _git("status", "--porcelain", "--untracked-files=no", "--", str(_SOURCE))
    return commit + ("+dirty" if changed else "")


def code_version() -> dict[str, str]:
    """``{"package_version": ..., "source_revision": ...}``, the fields every result file stores."""
    return {"package_version": __version__, "source_revision": source_revision()}
