"""Atomic writes (compsep_hpc.store.atomic): complete or absent, and readable like a plain file."""

from __future__ import annotations

import os
import stat

import pytest

from compsep_hpc.store.atomic import atomic_path, write_atomic


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def test_a_written_file_has_the_mode_of_a_plain_open(tmp_path):
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    write_atomic(tmp_path / "result.json", "{}\n")
    mode = stat.S_IMODE((tmp_path / "result.json").stat().st_mode)
    assert mode == stat.S_IMODE(plain.stat().st_mode) == 0o666 & ~_umask()
    assert (tmp_path / "result.json").read_text() == "{}\n"


def test_an_error_leaves_the_target_as_it_was_and_no_temporary(tmp_path):
    target = tmp_path / "selection.json"
    write_atomic(target, "old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("partial")
            raise RuntimeError("killed mid-write")
    assert target.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["selection.json"]
