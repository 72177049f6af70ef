"""The import graph of the project's modules: no cycles (imports inside functions count too),
and the rooms of ``controller/`` only import downwards (see ``controller/__init__.py``)::

    records <- config <- execution <- loop <- analysis <- ui

``records`` imports no other room; ``ui`` is imported by nobody.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("core", "controller", "devices", "optimizers", "simulators", "systems")

#: room -> rooms it must never import
ROOM_RULES = {
    "records": {"config", "execution", "loop", "analysis", "ui"},
    "config": {"execution", "loop", "analysis", "ui"},
    "execution": {"loop", "analysis", "ui"},
    "loop": {"analysis", "ui"},
    "analysis": {"ui"},
}


def project_modules(root: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every module of the project's packages under ``root``."""
    modules = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The project modules ``name`` imports anywhere in its file (top level, functions, classes).

    ``from a.b import c`` counts as importing ``a.b.c`` when that is a module, else ``a.b``;
    ``import a.b.c`` as importing ``a.b.c``. Relative imports are resolved.
    """
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                target = alias.name
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target:
                    found.add(target)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            for alias in node.names:
                if f"{module}.{alias.name}" in modules:
                    found.add(f"{module}.{alias.name}")
                elif module in modules:
                    found.add(module)
    found.discard(name)
    return found


def import_graph(root: Path) -> dict[str, set[str]]:
    modules = project_modules(root)
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def room_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "controller" and len(parts) > 1 else None


def room_violations(graph: dict[str, set[str]]) -> list[str]:
    out = []
    for module, targets in sorted(graph.items()):
        room = room_of(module)
        for target in sorted(targets):
            target_room = room_of(target)
            if target_room is None or target_room == room:
                continue
            if target_room == "ui" or target_room in ROOM_RULES.get(room, ()):
                out.append(f"{module} ({room}) imports {target} ({target_room})")
    return out


def test_no_import_cycles():
    assert cycles(import_graph(ROOT)) == []


def test_controller_rooms_import_only_downwards():
    assert room_violations(import_graph(ROOT)) == []


def test_every_controller_module_lives_in_a_room():
    loose = [m for m in project_modules(ROOT) if m.startswith("controller.") and room_of(m) not in
             {*ROOM_RULES, "ui"}]
    assert loose == []


@pytest.mark.parametrize("inside", [False, True], ids=["top-level", "inside-a-function"])
def test_the_checker_finds_a_cycle_and_a_room_breach(tmp_path, inside):
    (tmp_path / "controller" / "records").mkdir(parents=True)
    (tmp_path / "controller" / "ui").mkdir()
    for init in ("controller", "controller/records", "controller/ui"):
        (tmp_path / init / "__init__.py").write_text("")
    back = "def f():\n    from controller.ui import view\n" if inside else "from controller.ui import view\n"
    (tmp_path / "controller" / "records" / "store.py").write_text(back)
    (tmp_path / "controller" / "ui" / "view.py").write_text("from ..records.store import f\n")
    graph = import_graph(tmp_path)
    assert cycles(graph) == [["controller.records.store", "controller.ui.view"]]
    assert room_violations(graph) == ["controller.records.store (records) imports controller.ui.view (ui)"]
