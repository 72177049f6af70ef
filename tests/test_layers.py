"""The layer rule: optimizers/ and simulators/ never import bluesky, ophyd or controller;
devices/ never imports botorch (nor torch/gpytorch) or controller, nor does a system's own
devices/ folder; core imports no project package; no package imports systems/ (the controller
loads material systems by the names campaign files give it), and systems/ never import the controller."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

FORBIDDEN = {
    "optimizers": {"bluesky", "ophyd", "controller", "devices", "event_model", "systems"},
    "simulators": {"bluesky", "ophyd", "controller", "devices", "optimizers", "event_model", "systems"},
    "devices": {"botorch", "torch", "gpytorch", "controller", "optimizers", "systems"},
    "core": {"controller", "devices", "optimizers", "simulators", "systems", "bluesky", "ophyd", "botorch", "torch"},
    "controller": {"systems"},
    "systems": {"controller"},
}


def imported_top_levels(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN), ids=sorted(FORBIDDEN))
def test_package_respects_layers(package):
    files = sorted((ROOT / package).rglob("*.py"))
    assert files, f"{package}/ has no Python files"
    violations = [
        f"{f.relative_to(ROOT)} imports {name}"
        for f in files
        for name in sorted(imported_top_levels(f) & FORBIDDEN[package])
    ]
    assert violations == []


#: A material system's devices obey the devices' rule (``systems/<name>/devices/``).
SYSTEM_DEVICES_FORBIDDEN = FORBIDDEN["devices"] - {"systems"}


def test_systems_devices_respect_the_devices_rule():
    files = sorted((ROOT / "systems").glob("*/devices/**/*.py"))
    assert files, "no system keeps its devices in systems/<name>/devices/"
    violations = [
        f"{f.relative_to(ROOT)} imports {name}"
        for f in files
        for name in sorted(imported_top_levels(f) & SYSTEM_DEVICES_FORBIDDEN)
    ]
    assert violations == []


def test_the_checker_sees_imports(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("import bluesky.plans\nfrom ophyd import Device\nfrom . import local\n")
    assert imported_top_levels(probe) == {"bluesky", "ophyd"}
