"""`sdl new system NAME` writes a plugin package that runs as written: it installs with
`pip install -e` (into a throwaway venv, never the shared one), passes its own tests, and its
dry-run campaign records samples with the declared property; bad input is one line, exit 2,
and nothing written."""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import site
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from controller.ui.scaffold import SYSTEM_FILES
from core.system import SYSTEMS_GROUP, installed

ROOT = Path(__file__).resolve().parents[2]


def sdl(args: list[str], cwd: Path, python: str = sys.executable, env: dict | None = None,
        timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([python, "-m", "controller.ui.cli", *args], cwd=cwd, env=env or dict(os.environ),
                          check=False, capture_output=True, text=True, timeout=timeout)


def files_under(folder: Path) -> list[str]:
    """Every path under ``folder`` (dot-files included), relative, sorted."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


BAD_NAMES = [
    pytest.param("Demo", "lowercase letters, digits and underscores", id="uppercase"),
    pytest.param("2lab", "starting with a letter", id="leading-digit"),
    pytest.param("my-lab", "lowercase letters, digits and underscores", id="hyphen"),
    pytest.param("class", "Python keyword", id="keyword"),
    pytest.param("devices", "would shadow the importable module devices", id="shadows-a-module"),
]


@pytest.mark.parametrize("name, words", BAD_NAMES)
def test_a_bad_name_is_one_line_and_writes_nothing(tmp_path, name, words):
    run = sdl(["new", "system", name, "--dir", "out"], tmp_path)
    assert run.returncode == 2, run.stdout + run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "NAME" in lines[0] and f"{name!r}" in lines[0] and words in lines[0], run.stderr
    assert files_under(tmp_path) == []


def test_the_name_of_an_installed_system_is_refused(tmp_path):
    taken = installed(SYSTEMS_GROUP)[0]
    run = sdl(["new", "system", taken, "--dir", "out"], tmp_path)
    assert run.returncode == 2 and "already an installed material system" in run.stderr, run.stderr
    assert files_under(tmp_path) == []


def test_an_existing_folder_with_files_is_refused_and_left_as_it_was(tmp_path):
    (tmp_path / "demo").mkdir()
    (tmp_path / "demo" / "notes.txt").write_text("ours\n")
    run = sdl(["new", "system", "demo"], tmp_path)
    assert run.returncode == 2, run.stdout + run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "already exists and is not empty" in lines[0], run.stderr
    assert files_under(tmp_path) == ["demo", "demo/notes.txt"]
    assert (tmp_path / "demo" / "notes.txt").read_text() == "ours\n"


def test_the_skeleton_is_complete_plain_python_and_keeps_the_layers(tmp_path):
    """Into an existing empty folder: every file of the skeleton, no placeholder left, every
    module parses, the line and the plan never import botorch or the controller, and ruff
    (where installed) finds nothing with the package's own settings."""
    (tmp_path / "work" / "labpkg").mkdir(parents=True)
    run = sdl(["new", "system", "labpkg", "--dir", "work"], tmp_path)
    assert run.returncode == 0, run.stderr
    assert "pip install --no-build-isolation -e" in run.stdout and "LabFurnace" in run.stdout
    package = tmp_path / "work" / "labpkg"
    expected = {target.replace("{{name}}", "labpkg") for target in SYSTEM_FILES.values()}
    written = {str(p.relative_to(package)) for p in package.rglob("*") if p.is_file()}
    assert written == expected
    assert [p.name for p in (tmp_path / "work").iterdir()] == ["labpkg"], "no staging folder is left behind"
    for path in package.rglob("*"):
        if path.is_file():
            assert "{{" not in path.read_text(encoding="utf-8"), path
    for path in package.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        if path.name in ("line.py", "plans.py", "simulators.py"):
            imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
            imported |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
            assert not imported & {"botorch", "torch", "gpytorch", "controller", "optimizers", "systems"}, path
    pyproject = (package / "pyproject.toml").read_text()
    assert 'labpkg = "labpkg:system"' in pyproject and "dependencies = []" in pyproject
    if importlib.util.find_spec("ruff") is None:
        pytest.skip("ruff is not installed: the lint part of this test is skipped")
    lint = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "."], cwd=package,
                          check=False, capture_output=True, text=True, timeout=120)
    assert lint.returncode == 0, lint.stdout + lint.stderr


def throwaway_venv(where: Path) -> Path:
    """A venv whose interpreter also sees this one's packages (a .pth file runs
    ``site.addsitedir`` on them, so their own .pth files, the editable sdl among them, work)
    and the repository; what is installed into it stays in it. Returns its python."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(where)], check=True, timeout=120)
    python = where / ("Scripts" if os.name == "nt" else "bin") / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True, timeout=60).stdout.strip()
    shared = [*site.getsitepackages(), str(ROOT)]
    lines = [f"import site; site.addsitedir({path!r})" for path in shared[:-1]] + [shared[-1]]
    (Path(purelib) / "_sdl_shared.pth").write_text("\n".join(lines) + "\n")
    return python


@pytest.mark.slow
def test_new_system_installs_passes_its_own_tests_and_runs_its_dry_run(tmp_path):
    timings = {}
    started = time.monotonic()
    made = sdl(["new", "system", "demo", "--dir", "tmp"], tmp_path)
    assert made.returncode == 0, made.stderr
    work = tmp_path / "tmp"
    timings["new"] = time.monotonic() - started

    started = time.monotonic()
    python = throwaway_venv(tmp_path / "venv")
    env = {**os.environ, "PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PYTHONNOUSERSITE": "1"}
    env.pop("PYTHONPATH", None)
    pip = subprocess.run([str(python), "-m", "pip", "install", "--no-deps", "--no-build-isolation", "-e", "demo"],
                         cwd=work, env=env, check=False, capture_output=True, text=True, timeout=300)
    assert pip.returncode == 0, pip.stdout[-2000:] + pip.stderr[-2000:]
    timings["venv + pip install -e"] = time.monotonic() - started

    started = time.monotonic()
    own = subprocess.run([str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"], cwd=work / "demo",
                         env=env, check=False, capture_output=True, text=True, timeout=600)
    assert own.returncode == 0, own.stdout[-3000:] + own.stderr[-2000:]
    assert " passed" in own.stdout and "skipped" not in own.stdout, own.stdout[-2000:]
    timings["its own tests"] = time.monotonic() - started

    started = time.monotonic()
    store = work / "records.sqlite"
    run = sdl(["run", "demo/configs/demo_dryrun.toml", "--store", str(store), "--quiet"], work, python=str(python),
              env=env, timeout=600)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    timings["sdl run (dry run)"] = time.monotonic() - started

    rows = sqlite3.connect(store).execute("SELECT fidelity, status, record_json FROM samples").fetchall()
    assert {fidelity for fidelity, _, _ in rows} == {"coarse", "robot"}
    assert all(status == "completed" for _, status, _ in rows), [status for _, status, _ in rows]
    for fidelity, _, record in rows:
        sample = json.loads(record)
        assert sample["properties"]["hardness"]["unit"] == "GPa"
        steps = [step["name"] for step in sample["steps"]]
        assert steps == (["anneal", "characterize"] if fidelity == "robot" else ["anneal"]), steps
    assert "demo" not in installed(SYSTEMS_GROUP), "the shared environment must not see the throwaway install"
    print("timings (s): " + ", ".join(f"{step} {seconds:.1f}" for step, seconds in timings.items()))
