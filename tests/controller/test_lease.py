"""The lease with a heartbeat: a controller that stops beating loses its campaign after the lease
timeout, on any host, and another controller resumes it; one that finds its lease taken stops
(issue 14, item 8). Tests taking ``store_url``/``store`` run on SQLite and PostgreSQL."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from controller.records.lease import Heartbeat, holds
from controller.records.store import RecordStore
from core import StoreError
from tests.controller.test_crash_resume import BUDGET, ROOT, check_store, rows, wait_for, write_config
from tests.conftest import BACKENDS


def test_a_fresh_lease_on_another_host_is_refused_a_stale_one_taken_over(store_url):
    first = RecordStore(store_url, lease_timeout_s=1.0)
    first.open_campaign("lease", "fp", "{}", 10.0, owner="otherhost:1")
    second = RecordStore(store_url, lease_timeout_s=1.0)
    with pytest.raises(StoreError, match=r"being run right now by controller otherhost:1 \(last heartbeat"):
        second.open_campaign("lease", "fp", "{}", 10.0, owner="thishost:2")
    time.sleep(1.2)
    assert second.open_campaign("lease", "fp", "{}", 10.0, owner="thishost:2") is True
    assert second.campaign("lease")["owner"] == "thishost:2"
    taken = [e["payload"] for e in second.events("lease") if e["kind"] == "lease_taken_over"]
    assert taken and taken[0]["from"] == "otherhost:1" and taken[0]["to"] == "thishost:2"
    # the first controller's next beat sees another owner: its lease is lost, with the reason
    lost = []
    beat = Heartbeat(first._connection(), "lease", "otherhost:1", 0.1, on_lost=lost.append)
    assert beat.beat() is False
    assert "taken over by controller thishost:2" in beat.lost and lost == [beat.lost]
    beat.backend.close()
    first.close()
    second.close()


def test_a_beating_controller_keeps_its_lease(store_url):
    holder = RecordStore(store_url, lease_timeout_s=0.6)
    holder.open_campaign("lease", "fp", "{}", 10.0, owner="otherhost:1")
    beat = holder.heartbeat("lease", "otherhost:1")
    try:
        time.sleep(1.5)  # more than twice the timeout: only the beats keep it
        with pytest.raises(StoreError, match="being run right now"):
            RecordStore(store_url, lease_timeout_s=0.6).open_campaign("lease", "fp", "{}", 10.0, owner="thishost:2")
        assert beat.lost is None
    finally:
        beat.stop()
    holder.finish_campaign("lease", "stopped", "test")
    assert holder.campaign("lease")["heartbeat"] is None
    holder.close()


@pytest.mark.parametrize("owner, heartbeat, expected", [
    pytest.param(f"{os.uname().nodename}:999999999", None, False, id="dead-process-here"),
    pytest.param(f"{os.uname().nodename}:{os.getpid()}", None, True, id="live-process-here-no-beat"),
    pytest.param("otherhost:1", None, True, id="other-host-no-beat"),
    pytest.param("otherhost:1", 95.0, True, id="other-host-fresh"),
    pytest.param("otherhost:1", 30.0, False, id="other-host-stale"),
    pytest.param(f"{os.uname().nodename}:{os.getpid()}", 30.0, False, id="hung-process-here"),
])
def test_who_holds_a_lease(owner, heartbeat, expected, monkeypatch):
    monkeypatch.delenv("SDL_OWNER_HOST", raising=False)
    assert holds(owner, heartbeat, timeout_s=60.0, now=100.0) is expected


@pytest.fixture
def store(request, tmp_path):
    if request.param == "sqlite":
        return tmp_path / "records.sqlite"
    return request.getfixturevalue("postgres_url")


def sdl(*args, env=None, timeout=300):
    return subprocess.run([sys.executable, "-m", "controller.ui.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})


# A shared PostgreSQL is where a controller on another host holds a lease; SQLite (one
# host) is the same mechanism again: a soak.
@pytest.mark.slow
@pytest.mark.parametrize("store", [pytest.param("sqlite", id="sqlite", marks=pytest.mark.soak),
                                   *[b for b in BACKENDS if b.id == "postgresql"]], indirect=True)
def test_a_killed_controller_on_another_host_is_taken_over_after_the_timeout(tmp_path, store):
    """SIGKILL of a controller whose owner string names another host (os.kill cannot see it):
    refused while its heartbeat is within the timeout, taken over after it; nothing lost or repeated."""
    name = "lease-kill"
    config = write_config(tmp_path, name)
    proc = subprocess.Popen([sys.executable, "-m", "controller.ui.cli", "run", str(config), "--store", str(store), "--quiet"],
                            env={**os.environ, "SDL_OWNER_HOST": "labpc-far-away", "SDL_LEASE_TIMEOUT_S": "3"},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=ROOT)
    try:
        wait_for(store, "SELECT id FROM samples WHERE status='running' AND fidelity='kinetics_phase_field'")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    killed_at = time.time()
    owner = rows(store, "SELECT owner FROM campaigns")[0][0]
    assert owner.startswith("labpc-far-away:")
    before = {r[0]: r[1] for r in rows(store, "SELECT id, status FROM samples")}

    refused = sdl("resume", name, "--store", str(store), "--quiet", env={"SDL_LEASE_TIMEOUT_S": "600"})
    assert refused.returncode == 2 and f"being run right now by controller {owner}" in refused.stderr, refused.stderr

    time.sleep(max(0.0, killed_at + 3.5 - time.time()))
    resumed = sdl("resume", name, "--store", str(store), "--quiet", env={"SDL_LEASE_TIMEOUT_S": "3"})
    assert resumed.returncode == 0, resumed.stdout[-2000:] + resumed.stderr[-2000:]
    samples = check_store(store, name, budget=BUDGET)
    by_id = {x.id: x for x in samples}
    for sid, status in before.items():
        assert sid in by_id, f"{sid} was lost"
        if status == "running":
            assert by_id[sid].status == "interrupted" and "in flight" in by_id[sid].error
        elif status in ("completed", "failed"):
            assert by_id[sid].status == status
    taken = [json.loads(r[0]) for r in rows(store, "SELECT payload_json FROM campaign_events WHERE kind='lease_taken_over'")]
    assert len(taken) == 1 and taken[0]["from"] == owner
    assert RecordStore(store).verify_chain(name).intact


def _stop_outside_a_write(proc, store) -> None:
    """SIGSTOP the controller at a moment it holds no SQLite write transaction. A process stopped inside
    one keeps the database's write lock, and no other controller can write (take the campaign over)
    until it continues or dies; with a fast optimizer the loop spends enough of its time in short
    writes that a stop at a random moment sometimes lands in one."""
    for _ in range(50):
        proc.send_signal(signal.SIGSTOP)
        time.sleep(0.05)
        probe = sqlite3.connect(str(store), timeout=0.2, isolation_level=None)
        try:
            probe.execute("BEGIN IMMEDIATE")
            probe.execute("ROLLBACK")
            return
        except sqlite3.OperationalError:  # stopped mid-write: let it finish, stop it again
            proc.send_signal(signal.SIGCONT)
            time.sleep(0.1)
        finally:
            probe.close()
    raise AssertionError("the controller held the write lock at each of 50 stops")


@pytest.mark.slow
def test_a_controller_whose_lease_was_taken_stops_dispatching(tmp_path):
    """A hung controller (SIGSTOP) loses its lease; woken up (SIGCONT) it finds another owner and
    ends with that reason, leaving the campaign to the new owner."""
    store = tmp_path / "records.sqlite"
    name = "lease-hung"
    config = write_config(tmp_path, name)
    proc = subprocess.Popen([sys.executable, "-m", "controller.ui.cli", "run", str(config), "--store", str(store), "--quiet"],
                            env={**os.environ, "SDL_LEASE_TIMEOUT_S": "2"}, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, cwd=ROOT)
    try:
        wait_for(store, "SELECT id FROM samples WHERE status='completed'")
        _stop_outside_a_write(proc, store)
        time.sleep(2.5)
        row = rows(store, "SELECT fingerprint, config_json, budget FROM campaigns")[0]
        thief = RecordStore(store, lease_timeout_s=2)
        assert thief.open_campaign(name, *row, owner="thief:1") is True
        thief.close()
        proc.send_signal(signal.SIGCONT)
        out = proc.communicate(timeout=120)[0].decode()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1, out[-2000:]
    assert "taken over by controller thief:1" in out, out[-2000:]
    assert rows(store, "SELECT owner, status FROM campaigns") == [("thief:1", "running")], "the old controller left it alone"
