"""Bad input on the command line: exit status 2, exactly one line on stderr
(``compsep-hpc: error: ...``), no traceback, and nothing created or changed on disk.

Each case runs ``python -m compsep_hpc.cli`` in a subprocess whose working folder is a fresh
temporary folder; the folder's whole tree is hashed before and after. No fit ever starts.

The cases do not depend on each other: a module fixture prepares every case in its own folder
and runs them side by side, a few at a time (a CLI start is mostly imports, on one core); each
test then checks its own case.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.e2e

TIMEOUT = 180  # s
SIDE_BY_SIDE = 3  # CLI processes at once


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


def _k_above_region_only(out):
    c = good_config(out)
    c["grid"] = {**c["grid"], "beta_dust": [1, 100]}  # within GAL060's band (154 pixels), above GAL060_U's 80
    return c


def _nside(out):
    return {**good_config(out), "nside": 12}


def _missing_section(out):
    c = good_config(out)
    del c["grid"]
    return c


def _hits_nan(out):
    import numpy as np

    hits = np.ones(12 * 8**2)
    hits[3] = np.nan
    np.save(out.parent / "hits.npy", hits)
    return {**good_config(out), "noise": {"realizations": 2, "model": "hits", "hits": str(out.parent / "hits.npy")}}


def _hits_outside(out):  # a ground footprint in the south, the region in the north
    return {**good_config(out), "noise": {"realizations": 2, "model": "hits", "hits": "ground_patch",
                                          "patch_centre": [0, -60], "patch_radius": 25}}


CONFIG_CASES = [
    ("malformed-yaml", _malformed, ("malformed YAML",)),
    ("unknown-top-level-key", _top_key, ("unknown", "colour")),
    ("unknown-section-key", _section_key, ("unknown", "realisations")),
    ("unknown-region", _region, ("unknown region", "GAL070_U")),
    ("unknown-instrument", _instrument, ("unknown instrument", "planck_hfi")),
    ("K-above-region-pixels", _k_too_big, ("769", "exceeds the 154 pixels of band GAL060", "grid.above_pixels to drop or cap")),
    ("nside-not-power-of-two", _nside, ("power of two", "12")),
    ("missing-grid", _missing_section, ("grid",)),
    ("hit-map-with-nan", _hits_nan, ("hit map", "NaN")),
    ("region-without-hits", _hits_outside, ("pixels of region GAL060_U have no hit",)),
]


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


FOLDER_CASES = {"missing": None, "empty": _empty, "unrelated-files": _unrelated, "unreadable-run-json": _half_run}


def _write_config(root: Path, content) -> Path:
    config = root / "config.yaml"
    config.write_text(content if isinstance(content, str) else yaml.safe_dump(content, sort_keys=False))
    return config


def _prepare_cases(root) -> dict[str, tuple[Path, list[str]]]:
    """Every case of this module, set up in a folder of its own: key -> (working folder, CLI args)."""
    cases: dict[str, tuple[Path, list[str]]] = {}
    for name, make, _ in CONFIG_CASES:
        folder = root(name)
        cases[f"config:{name}"] = folder, ["run", str(_write_config(folder, make(folder / "out")))]
    folder = root("dry-run")
    cases["dry-run"] = folder, ["run", str(_write_config(folder, _k_above_region_only(folder / "out"))), "--dry-run"]
    folder = root("check")
    cases["check"] = folder, ["check", str(_write_config(folder, _k_too_big(folder / "out")))]
    for name, override in (("override-without-value", "sky.foreground_seed"),
                           ("override-into-a-list", "regions.names=[GAL020_U]"),
                           ("override-k-too-big", "grid.beta_dust=[1, 769]")):
        folder = root(name)
        cases[name] = folder, ["run", str(_write_config(folder, good_config(folder / "out"))), "--set", override]
    folder = root("nonexistent")
    cases["nonexistent"] = folder, ["run", str(folder / "no_such.yaml")]
    folder = root("non-empty")
    out = folder / "out"
    out.mkdir()
    (out / "thesis.tex").write_text("precious\n")
    cases["non-empty"] = folder, ["run", str(_write_config(folder, good_config(out)))]
    for name, make in FOLDER_CASES.items():
        for command in ("reduce", "status"):
            folder = root(f"{name}-{command}")
            if make is not None:
                make(folder / "folder")
            cases[f"{name}-{command}"] = folder, [command, str(folder / "folder")]
    return cases


@pytest.fixture(scope="module")
def cli_runs(env, tmp_path_factory):
    """Every case started, side by side: key -> future of (its working folder, the folder's
    digest taken just before the run, the run's result)."""
    cases = _prepare_cases(lambda name: tmp_path_factory.mktemp(name))

    def run(folder: Path, args: list[str]):
        before = tree_digest(folder)
        return folder, before, run_cli(args, env, folder)

    with ThreadPoolExecutor(SIDE_BY_SIDE) as pool:
        yield {key: pool.submit(run, *case) for key, case in cases.items()}


def check_bad_config(result, needles) -> None:
    folder, before, res = result
    assert_one_line_error(res, *needles)
    assert not (folder / "out").exists()
    assert tree_digest(folder) == before  # nothing created in the working folder either


@pytest.mark.parametrize("case", [c[0] for c in CONFIG_CASES])
def test_bad_config_is_one_line_error_and_writes_nothing(case, cli_runs):
    needles = next(c[2] for c in CONFIG_CASES if c[0] == case)
    check_bad_config(cli_runs[f"config:{case}"].result(), needles)


def test_dry_run_reports_an_error_found_after_building_the_sky(cli_runs):
    check_bad_config(cli_runs["dry-run"].result(), ("K_beta_dust = 100 exceeds the 80 pixels of region GAL060_U",))


def test_check_reports_a_count_above_the_band_without_the_sky(cli_runs):
    check_bad_config(cli_runs["check"].result(), ("769", "exceeds the 154 pixels of band GAL060"))


@pytest.mark.parametrize("case, needles", [
    ("override-without-value", ("sky.foreground_seed", "KEY=VALUE")),
    ("override-into-a-list", ("regions", "not a section")),
    ("override-k-too-big", ("769", "exceeds")),
])
def test_bad_override_is_one_line_error_and_writes_nothing(case, needles, cli_runs):
    check_bad_config(cli_runs[case].result(), needles)


def test_nonexistent_config_path(cli_runs):
    folder, before, res = cli_runs["nonexistent"].result()
    assert_one_line_error(res, "cannot read config", "no_such.yaml")
    assert tree_digest(folder) == before


def test_run_into_a_non_empty_folder_that_is_no_run_folder(cli_runs):
    folder, before, res = cli_runs["non-empty"].result()
    assert_one_line_error(res, "not empty")
    assert tree_digest(folder) == before


@pytest.mark.parametrize("command", ["reduce", "status"])
@pytest.mark.parametrize("make", list(FOLDER_CASES))
def test_reduce_and_status_on_a_folder_that_is_no_run_folder(command, make, cli_runs):
    folder, before, res = cli_runs[f"{make}-{command}"].result()
    assert_one_line_error(res, "folder")
    assert tree_digest(folder) == before
    assert (folder / "folder").exists() == (FOLDER_CASES[make] is not None)
