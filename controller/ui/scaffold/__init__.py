"""The skeleton of a material-system plugin package, written by ``sdl new system NAME``.

The templates (``*.tmpl`` beside this module, shipped as package data) are plain files in
which ``{{name}}`` stands for the package name. The skeleton runs as written: the package's
own tests pass and its dry-run campaign runs.
"""

from __future__ import annotations

import importlib.util
import keyword
import os
import re
import shutil
import uuid
from importlib.resources import files
from pathlib import Path

from core import InputDataError
from core.system import SYSTEMS_GROUP, installed

#: A package name: lowercase letters, digits and underscores, starting with a letter.
NAME_RULE = "use lowercase letters, digits and underscores, starting with a letter (e.g. mylab_film)"
_NAME = re.compile(r"[a-z][a-z0-9_]*")

#: Template -> the file it becomes, relative to the package's folder.
SYSTEM_FILES = {
    "pyproject.toml.tmpl": "pyproject.toml",
    "README.md.tmpl": "README.md",
    "package_init.py.tmpl": "{{name}}/__init__.py",
    "simulators.py.tmpl": "{{name}}/simulators.py",
    "line.py.tmpl": "{{name}}/line.py",
    "plans.py.tmpl": "{{name}}/plans.py",
    "dryrun.toml.tmpl": "configs/{{name}}_dryrun.toml",
    "test_system.py.tmpl": "tests/test_{{name}}.py",
}


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a new package, or None when it can."""
    if not _NAME.fullmatch(name or ""):
        return f"NAME {name!r}: {NAME_RULE}"
    if keyword.iskeyword(name):
        return f"NAME {name!r} is a Python keyword; pick another name"
    if name in installed(SYSTEMS_GROUP):
        return f"NAME {name!r} is already an installed material system; pick another name"
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        spec = None
    if spec is not None and spec.origin is not None:  # a namespace package (a bare folder) is no clash
        return f"NAME {name!r} would shadow the importable module {name} ({spec.origin}); pick another name"
    return None


def render(text: str, name: str) -> str:
    """A template's text with the package name filled in."""
    return text.replace("{{name}}", name)


def system_files(name: str) -> dict[str, str]:
    """The skeleton of package ``name``: relative path -> text."""
    here = files(__name__)
    return {render(target, name): render(here.joinpath(template).read_text(encoding="utf-8"), name)
            for template, target in SYSTEM_FILES.items()}


def write_system(name: str, parent: Path) -> Path:
    """Write the skeleton of package ``name`` into ``parent/name`` and return that folder.

    Every file is written into a temporary folder beside the target first and moved into
    place at once, so a failure leaves nothing behind.

    Raises:
        InputDataError: the name breaks :data:`NAME_RULE`, ``parent`` is not a folder, or the
            target exists and is not an empty folder (nothing is written).
    """
    problem = name_problem(name)
    if problem:
        raise InputDataError(problem)
    parent = Path(parent)
    target = parent / name
    if parent.exists() and not parent.is_dir():
        raise InputDataError(f"--dir {str(parent)!r} is not a folder")
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise InputDataError(f"{str(target)!r} already exists and is not empty; pick another NAME or --dir "
                             "(nothing was written)")
    content = system_files(name)
    parent.mkdir(parents=True, exist_ok=True)
    staging = parent / f".{name}-{uuid.uuid4().hex[:8]}.partial"
    staging.mkdir()
    try:
        for relative, text in content.items():
            path = staging / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        if target.exists():
            target.rmdir()  # empty, checked above
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


__all__ = ["NAME_RULE", "SYSTEM_FILES", "name_problem", "render", "system_files", "write_system"]
