"""The per-region verdict as configs ``compsep-hpc run`` accepts.

A run config has one ``model:`` section for all its regions (config.py ``RunConfig.model``);
there is no per-region model. So the verdict is written twice:

- ``verdict.yaml``: per region, the chosen candidate and its resolved ``model:`` section;
- ``run_configs/<region>.yaml``: one complete run config per region (the test sky, that region,
  the chosen ``model:``, a ``grid`` axis per fitted parameter from ``verdict.grid``), each loading
  with :func:`compsep_hpc.config.load_config`: running them all fits every region with its own
  recognised model.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path

import yaml

from compsep_hpc.recognition.config import RecognizeConfig, _plain
from compsep_hpc.store.atomic import write_atomic


def run_config(config: RecognizeConfig, region: str, candidate: str) -> dict:
    """The run config (plain mapping) fitting ``region`` of the test sky with ``candidate``."""
    model = config.candidates[candidate]
    grid = {p: list(config.verdict.grid.get(p, (1,))) for p in model.fitted}
    name = f"{config.name}_{region}"
    return {
        "name": name,
        "nside": config.nside,
        "instrument": _plain(dataclasses.asdict(config.instrument)),
        "sky": _plain(dataclasses.asdict(config.test.sky)),
        "regions": {"names": [region], "mask_file": config.test.regions.mask_file},
        "model": _plain(model.to_dict()),
        "grid": grid,
        "noise": {"realizations": config.verdict.realizations},
        "output": f"results/{name}",
    }


def write_verdict(folder: Path, config: RecognizeConfig, decided: Mapping[str, int], route: str) -> dict:
    """Write ``verdict.yaml`` and ``run_configs/<region>.yaml``; return the verdict mapping."""
    labels = config.labels
    verdict = {"route": route, "note": "compsep-hpc run takes one model per config: run run_configs/<region>.yaml",
               "regions": {r: {"candidate": labels[i], "model": _plain(config.candidates[labels[i]].to_dict())}
                           for r, i in decided.items()}}
    (folder / "run_configs").mkdir(exist_ok=True)
    for region, i in decided.items():
        text = yaml.safe_dump(run_config(config, region, labels[i]), sort_keys=False)
        write_atomic(folder / "run_configs" / f"{region}.yaml", text)
    write_atomic(folder / "verdict.yaml", yaml.safe_dump(verdict, sort_keys=False))
    return verdict
