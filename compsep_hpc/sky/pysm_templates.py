"""The PySM presets' components and templates, checked without building a sky (no JAX: the
light ``compsep-hpc check`` uses them; :mod:`compsep_hpc.sky.pysm_sky` builds the sky).

PySM looks a relative template path up in the working directory, then in ``$PYSM_LOCAL_DATA``,
then downloads it; compsep-hpc never downloads: a template that is not on disk is a ConfigError.
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Mapping

from compsep_hpc.errors import ConfigError

_TEMPLATE = re.compile(r"\.(fits|fit|dat|txt|h5|npz)(\.gz)?$|\{nside\}")


def preset_components(preset: str) -> list[str]:
    """PySM component names of a preset string: ``'c1d1s1'`` -> ``['c1', 'd1', 's1']``.

    Raises ConfigError for a malformed string, a repeated or an unknown component.
    """
    from pysm3.sky import PRESET_MODELS

    text = preset.strip().lower()
    if not re.fullmatch(r"(?:[a-z]+\d+)+", text):
        raise ConfigError(f"sky.preset {preset!r} is not a PySM preset string such as 'c1d1s1'")
    names = re.findall(r"[a-z]+\d+", text)
    unknown = [n for n in names if n not in PRESET_MODELS]
    if unknown:
        raise ConfigError(f"sky.preset {preset!r}: unknown PySM component(s) {', '.join(unknown)}")
    if len(set(names)) != len(names):
        raise ConfigError(f"sky.preset {preset!r} names a component twice")
    return names


def _template_names(cfg: Mapping) -> list[str]:
    out: list[str] = []
    for value in cfg.values():
        if isinstance(value, Mapping):
            out += _template_names(value)
        elif isinstance(value, str) and _TEMPLATE.search(value):
            out.append(value)
    return out


def template_files(component: str) -> list[str]:
    """Relative paths of the template files PySM reads for ``component`` (from presets.cfg)."""
    from pysm3.sky import PRESET_MODELS

    return _template_names(PRESET_MODELS[component])


def _find(path: str, folders: list[str]) -> bool:
    for candidate in [path] + [os.path.join(f, path) for f in folders]:
        if "{nside}" in candidate:
            if glob.glob(candidate.replace("{nside}", "*")):
                return True
        elif os.path.exists(candidate):
            return True
    return False


def check_templates(components: list[str]) -> None:
    """Raise ConfigError naming the first template of ``components`` that is not on disk."""
    from pysm3.utils import RemoteData

    folders = RemoteData().data_folders  # $PYSM_LOCAL_DATA first, then PySM's site folders
    for comp in components:
        for path in template_files(comp):
            if not _find(path, folders):
                where = os.environ.get("PYSM_LOCAL_DATA")
                raise ConfigError(
                    f"PySM template {path} (component {comp}) not found: set PYSM_LOCAL_DATA to "
                    f"the folder holding the PySM templates (now {where or 'unset'}); "
                    "compsep-hpc never downloads them"
                )
