"""optimizers/ must stay pure: no bluesky, ophyd, controller or devices."""

from __future__ import annotations

import ast
import pathlib
import subprocess
import sys

FORBIDDEN = ("bluesky", "ophyd", "controller", "devices")
PACKAGE = pathlib.Path(__file__).resolve().parents[2] / "optimizers"


def test_importing_optimizers_loads_no_forbidden_package():
    code = (
        "import sys, optimizers, optimizers.bench\n"
        f"bad = [m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r}]\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=PACKAGE.parent, env={"PYTHONPATH": str(PACKAGE.parent), "PATH": ""}, check=True)
    assert out.stdout.strip() == ""


def test_no_module_names_a_forbidden_import():
    files = sorted(PACKAGE.rglob("*.py"))
    assert files
    for path in files:
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] not in FORBIDDEN, f"{path.name} imports {name}"
