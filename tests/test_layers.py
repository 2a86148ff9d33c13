"""The package reads bottom-up: no import runs back up the pipeline, no import cycle, and the
light entry points (status, check, config) never import JAX."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "compsep_hpc"
# Bottom to top. The run config's modules (compsep_hpc.config and every <subpackage>.config)
# form their own layer: anyone may read the config, and the config reads only what is below it.
LAYERS = ("errors", "config_fields", "precision", "provenance", "stage_clock", "model", "CONFIG", "partition", "sky",
          "separation", "science", "store", "grid", "report", "recognition", "cli")
CONFIG_MODULES_MAY_IMPORT = {"errors", "config_fields", "model.parameters", "model.instrument", "model.registry",
                             "model.sky_model", "model.component"}


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def _layer(module: str) -> int:
    if module == "config" or module.endswith(".config"):
        return LAYERS.index("CONFIG")
    if module == "":
        return LAYERS.index("errors")  # the package's __init__: version and error types only
    return LAYERS.index(module.split(".")[0])


def _imports() -> dict[str, set[str]]:
    """Every compsep_hpc module and the compsep_hpc modules it imports (at any depth of its code)."""
    graph: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        targets = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("compsep_hpc"):
                base = node.module[len("compsep_hpc"):].lstrip(".")
                for alias in node.names:  # "from compsep_hpc.report import plots" imports a module
                    sub = f"{base}.{alias.name}".lstrip(".")
                    targets.add(sub if (PACKAGE / (sub.replace(".", "/") + ".py")).exists() else base)
            elif isinstance(node, ast.Import):
                targets |= {a.name[len("compsep_hpc."):] for a in node.names if a.name.startswith("compsep_hpc.")}
        graph[_module_name(path)] = targets
    return graph


def test_no_import_runs_back_up_the_pipeline():
    upward = []
    for module, targets in _imports().items():
        for target in targets:
            if _layer(target) > _layer(module):
                upward.append(f"{module} -> {target}")
            if _layer(module) == LAYERS.index("CONFIG") and _layer(target) != LAYERS.index("CONFIG") \
                    and target not in CONFIG_MODULES_MAY_IMPORT:
                upward.append(f"{module} (config) -> {target}")
    assert not upward, "imports against the layer order:\n" + "\n".join(sorted(upward))


def test_no_import_cycle():
    graph = _imports()
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if nxt == node or nxt not in graph:
                continue
            if state.get(nxt) == 1:
                pytest.fail("import cycle: " + " -> ".join(path[path.index(nxt):] + [nxt]) if nxt in path
                            else f"import cycle through {nxt}")
            if nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])


def test_only_the_synthetic_skies_read_the_default_models_parameter_list():
    """Everything but sky/ (whose synthetic skies draw these three parameters' true values) takes
    its parameters from the run's model, ``config.model``."""
    readers = {module for module, targets in _imports().items() if "model.parameters" in targets}
    assert {m for m in readers if not m.startswith("sky.")} == set(), readers


def _heavy_modules_after(code: str) -> list[str]:
    probe = code + "\nimport sys\nprint(sorted({m.split('.')[0] for m in sys.modules} & {'jax', 'jaxlib', 'optax', 'healpy', 'jax_healpy', 'matplotlib', 'mpi4py'}))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return ast.literal_eval(out.stdout.strip().splitlines()[-1])


def test_status_check_and_config_never_import_jax(tmp_path):
    run_dir = tmp_path / "run"
    code = f"""
import yaml
from compsep_hpc.config import load_config
from compsep_hpc.store.run_folder import create_run_folder
from compsep_hpc import cli
raw = {{"nside": 8, "sky": {{"model": "synthetic"}}, "regions": ["GAL060_U"],
        "model": {{"components": ["cmb", "dust", "curved_synch"]}},
        "grid": {{"beta_dust": [1], "temp_dust": [1], "beta_synch": [1], "curv_synch": [1]}}, "output": {str(run_dir)!r}}}
open({str(tmp_path / "config.yaml")!r}, "w").write(yaml.safe_dump(raw))
assert cli.main(["check", {str(tmp_path / "config.yaml")!r}]) == 0  # a new run folder
create_run_folder(load_config({str(tmp_path / "config.yaml")!r}), {str(run_dir)!r})
assert cli.main(["check", {str(tmp_path / "config.yaml")!r}]) == 0  # this config's run folder
assert cli.main(["status", {str(run_dir)!r}, "--json"]) == 0
assert cli.main(["status", {str(run_dir)!r}]) == 0
"""
    assert _heavy_modules_after(code) == []


def test_importing_the_package_leaves_jax_in_float32():
    code = ("import compsep_hpc.separation.evaluate, compsep_hpc.grid.launcher, jax\n"
            "print(jax.config.jax_enable_x64)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "False"
