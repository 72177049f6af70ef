"""Exact replays: two deterministic dry runs of one campaign file record the same campaign
(same samples, recipes, fidelities, values), one on SQLite and one on PostgreSQL when a
server is there; one asked for on the command line, the other in the file."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.conftest import POSTGRES_ENV, fresh_postgres_database

ROOT = Path(__file__).resolve().parents[2]
DEFAULT = ROOT / "configs" / "thermoset_dryrun.toml"

pytestmark = pytest.mark.slow

#: What a replay must repeat; times, run uids and durations are the only columns allowed to differ.
VARYING = ("created", "completed", "run_uid")


def write_config(tmp_path: Path, name: str, in_file: bool) -> Path:
    text = DEFAULT.read_text()
    text = text.replace(f'name = "{tomllib.loads(text)["name"]}"', f'name = "{name}"')
    text = text.replace("budget = 400 ", "budget = 96 ")  # the design (54 cost units), then model-made samples
    text = text.replace("initial_design = { closed_form = 12, kinetics_phase_field = 4, robot = 2 }",
                        "initial_design = { closed_form = 4, kinetics_phase_field = 2, robot = 1 }")
    if in_file:
        text = text.replace("simulation_workers = 2", "simulation_workers = 2\ndeterministic = true")
    raw = tomllib.loads(text)
    assert raw["budget"] == 96 and raw["scheduler"].get("deterministic", False) == in_file, "edits no longer apply"
    path = tmp_path / f"{name}-{in_file}.toml"
    path.write_text(text)
    return path


def sdl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "controller.ui.cli", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=600)


def start(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "controller.ui.cli", *args], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def exported(store: str, name: str, tmp_path: Path) -> list[dict[str, str]]:
    out = tmp_path / f"{name}-{abs(hash(store))}.csv"
    done = sdl("export", name, "--format", "csv", "--output", str(out), "--store", store)
    assert done.returncode == 0, done.stderr[-2000:]
    with out.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    return [{k: v for k, v in row.items() if k not in VARYING} for row in rows]


def test_two_deterministic_dry_runs_record_the_same_campaign(tmp_path):
    stores = [str(tmp_path / "first.sqlite")]
    with fresh_postgres_database() if os.environ.get(POSTGRES_ENV) else _second_sqlite(tmp_path) as second:
        stores.append(second)
        # Both at once: a replay must not depend on what else the machine is doing.
        runs = [start("run", str(write_config(tmp_path, "replay", in_file=False)), "--deterministic", "--quiet",
                      "--store", stores[0]),
                start("run", str(write_config(tmp_path, "replay", in_file=True)), "--quiet", "--store", stores[1])]
        for run in runs:
            out, err = run.communicate(timeout=600)
            assert run.returncode == 0, out[-2000:] + err[-2000:]
        first, again = (exported(store, "replay", tmp_path) for store in stores)
    assert len(first) > 12, "too short a campaign to show anything"
    assert {row["fidelity"] for row in first} == {"closed_form", "kinetics_phase_field", "robot"}
    assert sum(row["suggestion.model_id"] not in ("", "space-filling") for row in first) >= 3, "no model-made samples"
    for a, b in zip(first, again):
        assert a == b, f"the replay differs at {a['id']}: {sorted(set(a.items()) ^ set(b.items()))}"
    assert len(first) == len(again)


class _second_sqlite:
    """Without a PostgreSQL server the replay goes to a second SQLite file."""

    def __init__(self, tmp_path: Path):
        self.path = str(tmp_path / "second.sqlite")

    def __enter__(self) -> str:
        return self.path

    def __exit__(self, *exc) -> None:
        return None
