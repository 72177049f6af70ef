"""devices/ never imports botorch, torch, gpytorch, controller, optimizers or simulators."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

FORBIDDEN = {"botorch", "torch", "gpytorch", "controller", "optimizers", "simulators"}
DEVICES = Path(__file__).resolve().parents[2] / "devices"


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("path", sorted(DEVICES.rglob("*.py")), ids=lambda p: str(p.relative_to(DEVICES)))
def test_no_forbidden_imports(path):
    assert not (_imports(path) & FORBIDDEN)


def test_runtime_package_loads_no_material_system():
    import subprocess
    import sys

    code = ("import sys, devices, devices.epics, devices.qserver_profile; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('systems', 'simulators')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=DEVICES.parent, env={"PYTHONPATH": str(DEVICES.parent)})
    assert out.stdout.strip() == "[]"
