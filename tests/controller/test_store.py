"""The record store keeps whole samples, refuses foreign or corrupt files, writes atomically."""

import sqlite3

import pytest

from controller.records import ProcessStep, Sample
from controller.store import RecordStore
from core import Q_, StoreError


def make_sample(seq=1, run_uid=None):
    return Sample(
        id=f"demo-{seq:04d}", campaign="demo", seq=seq, fidelity="robot", status="completed", cost=40.0,
        recipe={"cure_temperature": Q_(120.0, "degC"), "additive": "CCCCOCC1CO1"},
        steps=[ProcessStep(name="cure", device="oven", setpoints={"temperature": Q_(120.0, "degC")},
                           actuals={"temperature": Q_(119.6, "degC"), "hold_time": Q_(2.0, "h")},
                           start_time=1.0, end_time=2.0, lots={"resin": "R-001"},
                           ambient={"relative_humidity": Q_(41.0, "percent")})],
        structure={"degree_of_cure": Q_(0.93, "")}, properties={"glass_transition_temperature": Q_(141.2, "degC")},
        suggestion={"model_id": "abc", "predicted_mean": 140.0}, run_uid=run_uid, created=1.0, completed=2.0,
    )


@pytest.fixture
def store(tmp_path):
    s = RecordStore(tmp_path / "records.sqlite")
    s.open_campaign("demo", "fp1", "{}", 100.0)
    yield s
    s.close()


def test_sample_round_trip_keeps_units(store):
    store.add_sample(make_sample(run_uid="uid-1"), [("start", {"uid": "uid-1", "time": 1.0}), ("stop", {"exit_status": "success"})])
    back = store.sample("demo-0001")
    assert back.recipe["cure_temperature"] == Q_(120.0, "degC")
    assert back.steps[0].actuals["hold_time"].to("min").magnitude == pytest.approx(120.0)
    assert back.steps[0].lots == {"resin": "R-001"}
    assert back.properties["glass_transition_temperature"].units == Q_(1, "degC").units
    assert [name for name, _ in store.documents("uid-1")] == ["start", "stop"]
    assert store.spent("demo") == 40.0
    assert store.next_seq("demo") == 2


def test_sample_and_documents_are_one_transaction(store):
    store.add_sample(make_sample(1, run_uid="uid-1"), [("start", {"uid": "uid-1"})])
    # Documents without a run uid fail after the sample row was written in the same
    # transaction: the sample row must be rolled back with them.
    with pytest.raises(StoreError, match="without a run uid"):
        store.add_sample(make_sample(2, run_uid=None), [("start", {"uid": "uid-2"})])
    assert [s.id for s in store.samples("demo")] == ["demo-0001"]
    assert store.spent("demo") == 40.0


def test_duplicate_sample_is_refused(store):
    store.add_sample(make_sample(1))
    with pytest.raises(StoreError, match="never recorded twice"):
        store.add_sample(make_sample(1))
    assert len(store.samples("demo")) == 1


def test_running_sample_is_committed_then_completed_in_place(store):
    running = make_sample(1)
    running.status, running.steps, running.properties = "running", [], {}
    store.begin_sample(running)
    assert store.spent("demo") == 40.0  # committed at dispatch
    assert store.samples("demo") == []  # not a finished sample yet
    assert [s.id for s in store.inflight("demo")] == ["demo-0001"]
    store.attach_run("demo-0001", "uid-9")
    store.add_document("uid-9", "start", {"uid": "uid-9"})
    store.add_sample(make_sample(1, run_uid="uid-9"), [("stop", {"run_start": "uid-9"})])
    assert store.inflight("demo") == []
    assert store.spent("demo") == 40.0  # counted once
    assert [n for n, _ in store.documents("uid-9")] == ["start", "stop"]
    assert store.sample("demo-0001").status == "completed"


def test_store_of_another_campaign_is_refused(store):
    with pytest.raises(StoreError, match="different search space"):
        store.open_campaign("demo", "fp2", "{}", 100.0)
    assert store.open_campaign("demo", "fp1", "{}", 200.0) is True


def test_corrupt_file_is_refused(tmp_path):
    path = tmp_path / "bad.sqlite"
    path.write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(StoreError, match="corrupt|not"):
        RecordStore(path)
    assert path.read_bytes() == b"this is not a database at all" * 100


def test_foreign_sqlite_is_refused(tmp_path):
    path = tmp_path / "other.sqlite"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE x (a)")
    con.commit()
    con.close()
    with pytest.raises(StoreError, match="not an sdl record store"):
        RecordStore(path)


def test_unknown_sample_and_campaign(store):
    with pytest.raises(StoreError, match="no sample"):
        store.sample("demo-9999")
    with pytest.raises(StoreError, match="known"):
        store.campaign("other")


def test_wal_mode(store):
    assert store._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_campaign_run_by_a_live_controller_is_refused(store, tmp_path):
    import os
    import socket
    import subprocess
    import sys

    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        store.open_campaign("leased", "fp", "{}", 10.0, owner=f"{socket.gethostname()}:{other.pid}")
        with pytest.raises(StoreError, match="being run right now"):
            store.open_campaign("leased", "fp", "{}", 10.0, owner=f"{socket.gethostname()}:{os.getpid()}")
    finally:
        other.kill()
        other.wait()
    # The holder died (kill -9, crash): the campaign can be taken over and resumed.
    assert store.open_campaign("leased", "fp", "{}", 10.0, owner=f"{socket.gethostname()}:{os.getpid()}") is True


def test_begin_sample_never_overspends(store):
    first = make_sample(1)
    first.status = "running"
    store.begin_sample(first, budget=100.0)
    second = make_sample(2)
    second.status = "running"
    store.begin_sample(second, budget=100.0)
    third = make_sample(3)
    third.status = "running"
    with pytest.raises(StoreError, match="exceed the budget"):
        store.begin_sample(third, budget=100.0)
    assert store.spent("demo") == 80.0
