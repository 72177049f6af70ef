"""kill -9 of `sdl run` at several moments, then resume: nothing lost, nothing repeated.

Each case starts a real dry run in a subprocess, waits until the store shows the
moment to kill (a simulation in flight, a robot plan in flight, a store write in
progress), sends SIGKILL, resumes with ``sdl resume`` and checks the store. Every case runs
on SQLite; the store-write case also on PostgreSQL, with ``$SDL_TEST_POSTGRES_URL`` set
(tests/conftest.py): CI runs one kill point per backend; the rest are soaks (``-m soak``).
"""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest

from controller.records.store import RecordStore

ROOT = Path(__file__).resolve().parents[2]
DEFAULT = ROOT / "configs" / "thermoset_dryrun.toml"

pytestmark = pytest.mark.slow


#: The crash campaigns' budget: the initial design (98 cost units) and a few model-made samples
#: after it, so a resumed campaign still asks the model; more would only add model fits.
BUDGET = 110


#: Slow enough a line to catch a robot plan halfway (a 4 h cure is 24 s); the other cases run
#: the line at the default campaign's pace.
CATCH_THE_PLAN = 600


def write_config(tmp_path: Path, name: str, speedup: int = 3000, stations: int = 1) -> Path:
    text = DEFAULT.read_text()
    if stations > 1:
        text = text.replace('expected_duration = "4 h"\ntarget = true', f'expected_duration = "4 h"\ntarget = true\nstations = {stations}')
    raw = tomllib.loads(text)
    text = text.replace(f'name = "{raw["name"]}"', f'name = "{name}"')
    text = text.replace("budget = 400 ", f"budget = {BUDGET} ")
    text = text.replace("initial_design = { closed_form = 12, kinetics_phase_field = 4, robot = 2 }",
                        "initial_design = { closed_form = 3, kinetics_phase_field = 3, robot = 2 }")
    text = text.replace("speedup = 3000 ", f"speedup = {speedup} ")
    text = text.replace("simulation_workers = 2", "simulation_workers = 1")
    path = tmp_path / f"{name}.toml"
    path.write_text(text)
    cfg = tomllib.loads(text)
    assert cfg["budget"] == BUDGET and cfg["devices"]["speedup"] == speedup, "the test's config edits no longer apply"
    assert cfg["fidelities"]["robot"].get("stations", 1) == stations, "the test's config edits no longer apply"
    return path


def rows(store: Path | str, sql: str, *args):
    """Read the store behind the controller's back: a SQLite file, or a PostgreSQL URL."""
    if isinstance(store, str):
        import psycopg

        with psycopg.connect(store, autocommit=True) as con:
            return con.execute(sql.replace("?", "%s"), args or None).fetchall()
    con = sqlite3.connect(store, timeout=30)
    try:
        return con.execute(sql, args).fetchall()
    finally:
        con.close()


def wait_for(store: Path | str, sql: str, timeout: float = 120.0):
    import psycopg

    deadline = time.time() + timeout
    while time.time() < deadline:
        if isinstance(store, str) or store.exists():
            try:
                found = rows(store, sql)
            except (sqlite3.OperationalError, psycopg.Error):  # tables not made yet
                found = []
            if found:
                return found
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for: {sql}")


def run_documents(store: Path | str, run_uid: str) -> list[tuple[str, dict]]:
    s = RecordStore(store)
    try:
        return s.documents(run_uid)
    finally:
        s.close()


KILL_IN_WRITE = Path(__file__).with_name("kill_in_write.py")


def start(config: Path, store: Path | str, kill_in_write: int | None = None) -> subprocess.Popen:
    """``sdl run`` in a subprocess; ``kill_in_write=N``: it kills itself inside the write of sample N
    (injected by a wrapper, so no fault hook lives in the production store)."""
    entry = ["-m", "controller.ui.cli"] if kill_in_write is None else [str(KILL_IN_WRITE), str(kill_in_write)]
    return subprocess.Popen([sys.executable, *entry, "run", str(config), "--store", str(store), "--quiet"],
                            env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=ROOT)


def check_store(store: Path | str, name: str, budget: float):
    s = RecordStore(store)
    samples = s.samples(name, include_running=True)
    seqs = [x.seq for x in samples]
    assert seqs == list(range(1, len(seqs) + 1)), "a sample was lost or duplicated"
    assert all(x.status in ("completed", "interrupted", "failed") for x in samples)
    uids = [x.run_uid for x in samples if x.run_uid]
    assert len(uids) == len(set(uids)), "a robot run was repeated under one sample"
    assert s.spent(name) == pytest.approx(sum(x.cost for x in samples))
    assert s.spent(name) <= budget
    assert s.campaign(name)["status"] == "finished"
    s.close()
    return samples


KILL_POINTS = [
    ("during-simulation",
     "SELECT id FROM samples WHERE status='running' AND fidelity='kinetics_phase_field'", None),
    # with two robot stations, both halfway through a plan (each its own run and documents; the fifth
    # document is the first completed step's)
    ("during-robot-plan",
     "SELECT fidelity FROM samples WHERE status='running' AND fidelity='robot' AND run_uid IS NOT NULL "
     "AND (SELECT COUNT(*) FROM documents d WHERE d.run_uid = samples.run_uid) >= 5 GROUP BY fidelity "
     "HAVING COUNT(*) >= 2", None),
    ("during-store-write", None, 4),
]


# Every kill point on SQLite; on PostgreSQL the one that tests its write path (a transaction
# killed before commit). What happens at the other moments does not depend on the backend,
# and each of these runs takes a minute or two of CI.
CRASH_CASES = [
    # Once per backend in CI: a robot plan killed halfway on SQLite (its steps come back from
    # the stored documents), a store write killed before commit on PostgreSQL.
    pytest.param("sqlite", *KILL_POINTS[1], id=f"sqlite-{KILL_POINTS[1][0]}"),
    pytest.param("postgresql", *KILL_POINTS[2], id=f"postgresql-{KILL_POINTS[2][0]}"),
    # The other moments on SQLite: soaks (python -m pytest -m soak).
    *[pytest.param("sqlite", *point, id=f"sqlite-{point[0]}", marks=pytest.mark.soak)
      for point in (KILL_POINTS[0], KILL_POINTS[2])],
]


@pytest.fixture
def store(request, tmp_path) -> Path | str:
    """A SQLite store, or a fresh PostgreSQL database for a test parametrized with backend="postgresql"."""
    if getattr(request, "param", "sqlite") == "sqlite":
        return tmp_path / "records.sqlite"
    return request.getfixturevalue("postgres_url")  # skips the test without a PostgreSQL server


@pytest.mark.parametrize("store, moment, sql, kill_in_write", CRASH_CASES, indirect=["store"])
def test_kill_then_resume(tmp_path, store, moment, sql, kill_in_write):
    name = f"crash-{moment}"
    in_plan = moment == "during-robot-plan"
    config = write_config(tmp_path, name, speedup=CATCH_THE_PLAN if in_plan else 3000, stations=2 if in_plan else 1)
    proc = start(config, store, kill_in_write)
    try:
        if sql is not None:
            wait_for(store, sql)
            proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL, proc.stdout.read().decode()[-2000:]
    before = {r[0]: r[1] for r in rows(store, "SELECT id, status FROM samples")}
    assert before, "nothing was recorded before the kill"

    resumed = subprocess.run([sys.executable, "-m", "controller.ui.cli", "resume", name, "--store", str(store), "--quiet"],
                             cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stdout[-2000:] + resumed.stderr[-2000:]
    samples = check_store(store, name, budget=BUDGET)
    by_id = {x.id: x for x in samples}
    for sid, status in before.items():
        assert sid in by_id, f"{sid} was lost"
        if status in ("completed", "failed"):
            assert by_id[sid].status == status, f"{sid} changed from {status}"
        if status == "running":
            assert by_id[sid].status == "interrupted" and "in flight" in by_id[sid].error
    if in_plan:  # both stations' runs: interrupted, each keeping its own completed steps, never repeated
        robot = [x for x in samples if x.status == "interrupted" and x.fidelity == "robot"]
        assert len(robot) == 2, [(x.id, x.status) for x in samples if x.fidelity == "robot"]
        assert all(x.run_uid and x.steps for x in robot), "an interrupted robot run keeps its completed steps"
        stations = {dict(run_documents(store, x.run_uid))["start"]["station"] for x in robot}
        assert stations == {"station-1", "station-2"}, stations
    events = [json.loads(r[0]) for r in rows(store, "SELECT payload_json FROM campaign_events WHERE kind='campaign_resumed'")]
    assert events, "the resume is in the campaign's events"


def test_ctrl_c_stops_cleanly_and_resumes(tmp_path, store):
    name = "ctrl-c"
    config = write_config(tmp_path, name, speedup=CATCH_THE_PLAN)
    proc = start(config, store)
    try:
        wait_for(store, "SELECT id FROM samples WHERE status='running' AND fidelity='robot' AND run_uid IS NOT NULL "
                        "AND (SELECT COUNT(*) FROM documents d WHERE d.run_uid = samples.run_uid) >= 4")
        proc.send_signal(signal.SIGINT)
        out = proc.communicate(timeout=120)[0].decode()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1, out[-2000:]
    assert "stopped by the operator" in out
    s = RecordStore(store)
    info = s.campaign(name)
    assert info["status"] == "stopped" and "Ctrl-C" in info["stop_reason"]
    assert s.inflight(name) == [], "nothing is left running after a clean stop"
    robot = [x for x in s.samples(name) if x.fidelity == "robot" and x.status == "interrupted"]
    assert robot and robot[0].steps and robot[0].run_uid
    assert [n for n, _ in s.documents(robot[0].run_uid)][-1] == "stop", "the stopped run is closed with a stop document"
    s.close()
    resumed = subprocess.run([sys.executable, "-m", "controller.ui.cli", "resume", name, "--store", str(store), "--quiet"],
                             cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stdout[-2000:] + resumed.stderr[-2000:]
    check_store(store, name, budget=BUDGET)
