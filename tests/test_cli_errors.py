"""Bad input on the command line: exit status 2, exactly one line on stderr
(``compsep-hpc: error: ...``), no traceback, and nothing created or changed on disk.

Each case runs ``python -m compsep_hpc.cli`` in a subprocess whose working folder is a fresh
temporary folder; the folder's whole tree is hashed before and after. No fit ever starts.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

TIMEOUT = 180  # s


def good_config(output: Path) -> dict:
    """A valid tiny config (nside 8); each case breaks one thing."""
    return {
        "name": "bad",
        "nside": 8,
        "sky": {"model": "synthetic_clustered", "seed": 3,
                "true_patches": {"beta_dust": 2, "temp_dust": 1, "beta_synch": 1}},
        "regions": ["GAL060_U"],
        "grid": {"beta_dust": [1, 2], "temp_dust": [1], "beta_synch": [1]},
        "noise": {"realizations": 2, "seed": 5},
        "output": str(output),
    }


def tree_digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "<dir>"
            for p in sorted(root.rglob("*"))}


def assert_one_line_error(res: subprocess.CompletedProcess, *needles: str) -> str:
    assert res.returncode == 2, (res.returncode, res.stderr)
    assert "Traceback" not in res.stderr, res.stderr
    lines = res.stderr.splitlines()
    assert len(lines) == 1, res.stderr
    line = lines[0]
    assert line.startswith("compsep-hpc: error:"), line
    for needle in needles:
        assert needle.lower() in line.lower(), (needle, line)
    return line


def run_cli(args: list[str], env: dict, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "compsep_hpc.cli", *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=TIMEOUT)


# (case id, how to break the config, words the error line must contain)
def _malformed(out):
    return "name: bad\nnside: 8\ngrid: {beta_dust: [1, 2\n"


def _top_key(out):
    return {**good_config(out), "colour": "blue"}


def _section_key(out):
    c = good_config(out)
    c["noise"] = {"realisations": 2}
    return c


def _region(out):
    return {**good_config(out), "regions": ["GAL070_U"]}


def _instrument(out):
    return {**good_config(out), "instrument": "planck_hfi"}


def _k_too_big(out):
    c = good_config(out)
    c["grid"] = {**c["grid"], "beta_dust": [1, 12 * 8**2 + 1]}  # more patches than the whole sky has pixels
    return c


def _nside(out):
    return {**good_config(out), "nside": 12}


def _missing_section(out):
    c = good_config(out)
    del c["grid"]
    return c


CONFIG_CASES = [
    ("malformed-yaml", _malformed, ("malformed YAML",)),
    ("unknown-top-level-key", _top_key, ("unknown", "colour")),
    ("unknown-section-key", _section_key, ("unknown", "realisations")),
    ("unknown-region", _region, ("unknown region", "GAL070_U")),
    ("unknown-instrument", _instrument, ("unknown instrument", "planck_hfi")),
    ("K-above-region-pixels", _k_too_big, ("769", "exceeds")),
    ("nside-not-power-of-two", _nside, ("power of two", "12")),
    ("missing-grid", _missing_section, ("grid",)),
]


@pytest.mark.parametrize("make, needles", [c[1:] for c in CONFIG_CASES], ids=[c[0] for c in CONFIG_CASES])
def test_bad_config_is_one_line_error_and_writes_nothing(make, needles, env, tmp_path):
    check_bad_config(make, needles, [], env, tmp_path)


def test_dry_run_reports_an_error_found_after_building_the_sky(env, tmp_path):
    check_bad_config(_k_too_big, ("exceeds",), ["--dry-run"], env, tmp_path)


def check_bad_config(make, needles, extra: list[str], env: dict, tmp_path: Path) -> None:
    out = tmp_path / "out"
    content = make(out)
    config = tmp_path / "config.yaml"
    config.write_text(content if isinstance(content, str) else yaml.safe_dump(content, sort_keys=False))
    before = tree_digest(tmp_path)
    res = run_cli(["run", str(config), *extra], env, tmp_path)
    assert_one_line_error(res, *needles)
    assert not out.exists()
    assert tree_digest(tmp_path) == before  # nothing created in the working folder either


def test_nonexistent_config_path(env, tmp_path):
    before = tree_digest(tmp_path)
    res = run_cli(["run", str(tmp_path / "no_such.yaml")], env, tmp_path)
    assert_one_line_error(res, "cannot read config", "no_such.yaml")
    assert tree_digest(tmp_path) == before


def test_run_into_a_non_empty_folder_that_is_no_run_folder(env, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "thesis.tex").write_text("precious\n")
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(good_config(out), sort_keys=False))
    before = tree_digest(tmp_path)
    res = run_cli(["run", str(config)], env, tmp_path)
    assert_one_line_error(res, "not empty")
    assert tree_digest(tmp_path) == before


def _empty(folder: Path) -> None:
    folder.mkdir()


def _unrelated(folder: Path) -> None:
    folder.mkdir()
    (folder / "notes.txt").write_text("not a run\n")
    (folder / "checkpoints").mkdir()


def _half_run(folder: Path) -> None:
    """Looks like a run folder, but run.json is not JSON."""
    folder.mkdir()
    (folder / "config.yaml").write_text("name: x\n")
    (folder / "run.json").write_text("{not json")


@pytest.mark.parametrize("command", ["reduce", "status"])
@pytest.mark.parametrize("make", [None, _empty, _unrelated, _half_run],
                         ids=["missing", "empty", "unrelated-files", "unreadable-run-json"])
def test_reduce_and_status_on_a_folder_that_is_no_run_folder(command, make, env, tmp_path):
    folder = tmp_path / "folder"
    if make is not None:
        make(folder)
    before = tree_digest(tmp_path)
    res = run_cli([command, str(folder)], env, tmp_path)
    assert_one_line_error(res, "folder")
    assert tree_digest(tmp_path) == before
    assert folder.exists() == (make is not None)
