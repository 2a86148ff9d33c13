"""The source revision stored with every result: the git commit of the package's checkout,
``+dirty`` when its tracked files changed, empty outside git."""

from __future__ import annotations

import json
import subprocess

import h5py

from compsep_hpc import provenance
from compsep_hpc.config import parse_config
from compsep_hpc.store.checkpoint import CheckpointWriter
from compsep_hpc.store.run_folder import config_yaml, create_run_folder


def _git(repo, *args):
    return subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", *args],
                          check=True, capture_output=True, text=True).stdout.strip()


def test_source_revision_is_the_commit_and_says_when_the_tree_differs(tmp_path, monkeypatch):
    repo = tmp_path / "checkout"
    (repo / "pkg").mkdir(parents=True)
    (repo / "pkg" / "module.py").write_text("x = 1\n")
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "first")
    commit = _git(repo, "rev-parse", "HEAD")
    monkeypatch.setattr(provenance, "_SOURCE", repo / "pkg")
    provenance.source_revision.cache_clear()
    assert provenance.source_revision() == commit and len(commit) == 40
    (repo / "pkg" / "module.py").write_text("x = 2\n")
    provenance.source_revision.cache_clear()
    assert provenance.source_revision() == commit + "+dirty"
    monkeypatch.setattr(provenance, "_SOURCE", tmp_path / "not_a_checkout")
    (tmp_path / "not_a_checkout").mkdir()
    provenance.source_revision.cache_clear()
    assert provenance.source_revision() == ""
    provenance.source_revision.cache_clear()


def test_run_json_and_checkpoint_files_store_it(tmp_path, tiny_raw_config):
    revision = provenance.source_revision()
    config = parse_config(tiny_raw_config)
    folder = tmp_path / "run"
    create_run_folder(config, folder)
    assert json.loads((folder / "run.json").read_text())["source_revision"] == revision
    with CheckpointWriter(folder, rank=0, n_ranks=1, launch_id="L1", config_sha256=config.sha256(),
                          config_yaml=config_yaml(config), package_version="0") as writer:
        writer.append(0, {"value": 1.0})
        path = writer.path
    with h5py.File(path, "r") as f:
        assert f.attrs["source_revision"] == revision
