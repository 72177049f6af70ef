"""The record store keeps whole samples, refuses foreign or corrupt files, writes atomically.

Tests taking ``store``/``store_url`` run on SQLite and, with ``$SDL_TEST_POSTGRES_URL``
set, on PostgreSQL (see tests/conftest.py).
"""

import sqlite3
import threading

import pytest

from controller.records.samples import ProcessStep, Sample
from controller.records.store import MIGRATIONS, RecordStore
from controller.records.location import StoreLocation, redact
from controller.records.backends import HEAD_REVISION, REVISIONS, SCHEMA_VERSION
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
def store(store_url):
    s = RecordStore(store_url)
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


def test_an_array_measurement_is_kept_whole(store):
    """A spectrum in a step's actuals and in the structure comes back as the same array quantity;
    the export table leaves it out (one cell cannot hold it) and keeps the scalars."""
    import numpy as np

    from controller.records.history import sample_table

    wavelength = Q_(np.linspace(400.0, 700.0, 512), "nm")
    intensity = Q_(np.exp(-((wavelength.magnitude - 560.0) / 20.0) ** 2) * 1e4, "count")
    sample = make_sample(run_uid="uid-1")
    sample.steps[0].actuals.update(wavelength=wavelength, intensity=intensity)
    sample.structure["emission_spectrum"] = intensity
    store.add_sample(sample, [("start", {"uid": "uid-1", "time": 1.0}),
                              ("event", {"data": {"intensity": intensity.magnitude}})])
    back = store.sample("demo-0001")
    for got in (back.steps[0].actuals["intensity"], back.structure["emission_spectrum"]):
        assert got.units == intensity.units and got.magnitude.shape == (512,)
        assert np.allclose(got.magnitude, intensity.magnitude)
    assert np.allclose(back.steps[0].actuals["wavelength"].to("um").magnitude, wavelength.to("um").magnitude)
    table = sample_table(None, [back])
    assert not any("emission_spectrum" in c for c in table.columns)
    assert "structure.degree_of_cure" in table.columns
    event = dict(store.documents("uid-1"))["event"]
    assert len(event["data"]["intensity"]) == 512


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


def test_wal_mode(tmp_path):
    store = RecordStore(tmp_path / "records.sqlite")
    assert store._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    store.close()


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


def running(seq, cost=40.0, campaign="demo"):
    sample = make_sample(seq)
    sample.id, sample.campaign, sample.status, sample.cost = f"{campaign}-{seq:04d}", campaign, "running", cost
    return sample


def test_operator_decisions_and_controls(store):
    gated = make_sample(1)
    gated.status, gated.steps, gated.properties = "awaiting_approval", [], {}
    store.begin_sample(gated, budget=100.0)
    assert [s.id for s in store.awaiting("demo")] == ["demo-0001"]
    first = store.last_event_id()
    store.decide("demo-0001", "approved", " Ada ", note="looks safe")
    assert store.decision("demo-0001")["operator"] == "Ada"
    with pytest.raises(StoreError, match="already approved by Ada"):
        store.decide("demo-0001", "rejected", "Bob")
    gated.status = "running"
    store.start_approved(gated)
    assert store.awaiting("demo") == [] and [s.id for s in store.inflight("demo")] == ["demo-0001"]
    with pytest.raises(StoreError, match="not awaiting approval"):
        store.start_approved(gated)
    pause = store.request_control("demo", "pause", "Ada")
    stop = store.request_control("demo", "stop", "Bob", note="end of shift")
    assert stop > pause
    assert [c["action"] for c in store.pending_controls("demo")] == ["pause", "stop"]
    store.control_handled(pause, "paused")
    assert [c["id"] for c in store.pending_controls("demo")] == [stop]
    assert store.controls("demo")[0]["outcome"] == "paused"
    store.set_campaign_status("demo", "paused")
    assert store.campaign("demo")["status"] == "paused"
    newer = store.events("demo", after=first)
    assert [e["kind"] for e in newer] == ["sample_approved", "sample_dispatched", "pause_requested", "stop_requested"]
    assert newer[0]["payload"]["note"] == "looks safe"
    assert [e["kind"] for e in store.events(None, after=first, limit=2)] == ["sample_approved", "sample_dispatched"]
    assert store.last_event_id() == newer[-1]["id"]


def test_two_controllers_racing_never_overspend(store_url):
    """Two controllers (two connections) dispatch into one budget at once; the budget holds.

    Each check is held open for a moment after it passes, so a store that checked without
    locking out the other controller would let both through.
    """
    setup = RecordStore(store_url)
    setup.open_campaign("race", "fp", "{}", 100.0)
    setup.close()
    stores = [RecordStore(store_url), RecordStore(store_url)]
    accepted: list[str] = []
    refused: list[str] = []
    start = threading.Barrier(2)

    def controller(k: int) -> None:
        store = stores[k]
        store._on_budget_checked = lambda: threading.Event().wait(0.05)
        start.wait()
        for i in range(6):
            sample = running(100 * (k + 1) + i, cost=10.0, campaign="race")
            try:
                store.begin_sample(sample, budget=55.0)
                accepted.append(sample.id)
            except StoreError as err:
                assert "exceed the budget" in str(err)
                refused.append(sample.id)

    threads = [threading.Thread(target=controller, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(accepted) == 5 and len(refused) == 7
    assert stores[0].spent("race") == 50.0
    assert len(stores[1].inflight("race")) == 5
    for s in stores:
        s.close()


def test_two_controllers_taking_over_one_campaign(store_url):
    """Only one of two controllers that open a campaign at once gets it."""
    import os
    import socket
    import subprocess
    import sys

    holders = [subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"]) for _ in range(2)]
    stores = [RecordStore(store_url), RecordStore(store_url)]
    outcomes: list[str] = []
    start = threading.Barrier(2)

    def controller(k: int) -> None:
        start.wait()
        try:
            stores[k].open_campaign("lease", "fp", "{}", 10.0, owner=f"{socket.gethostname()}:{holders[k].pid}")
            outcomes.append("got it")
        except StoreError as err:
            outcomes.append("refused" if "being run right now" in str(err) else str(err))

    try:
        threads = [threading.Thread(target=controller, args=(k,)) for k in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
    finally:
        for h in holders:
            h.kill()
            h.wait()
    assert sorted(outcomes) == ["got it", "refused"]
    assert stores[0].open_campaign("lease", "fp", "{}", 10.0, owner=f"{socket.gethostname()}:{os.getpid()}") is True
    for s in stores:
        s.close()


def test_a_new_store_opened_twice_at_once_is_migrated_once(store_url):
    opened: list = []
    errors: list = []
    start = threading.Barrier(3)

    def open_it() -> None:
        start.wait()
        try:
            opened.append(RecordStore(store_url))
        except Exception as err:  # noqa: BLE001 - the assertion shows it
            errors.append(err)

    threads = [threading.Thread(target=open_it) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == [] and len(opened) == 3
    assert [tuple(r) for r in opened[0]._db.query("SELECT version_num FROM alembic_version")] == [(HEAD_REVISION,)]
    opened[0].open_campaign("demo", "fp", "{}", 1.0)
    assert opened[2].campaign_names() == ["demo"]
    for s in opened:
        s.close()


def test_a_store_newer_than_this_sdl_is_refused(store_url):
    store = RecordStore(store_url)
    store.open_campaign("demo", "fp", "{}", 1.0)
    store._db.execute("UPDATE alembic_version SET version_num = '0099'")
    store.close()
    with pytest.raises(StoreError, match="revision 0099.*newer sdl.*upgrade sdl"):
        RecordStore(store_url)


# Schema versions 1 and 2 as sdl wrote them before the migrations (meta.schema_version only).
LEGACY_SCHEMA_V1 = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE campaigns (name TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, config_json TEXT NOT NULL,
    budget REAL NOT NULL, status TEXT NOT NULL, stop_reason TEXT, owner TEXT, created REAL NOT NULL, updated REAL NOT NULL);
CREATE TABLE samples (id TEXT PRIMARY KEY, campaign TEXT NOT NULL REFERENCES campaigns(name), seq INTEGER NOT NULL,
    fidelity TEXT NOT NULL, status TEXT NOT NULL, cost REAL NOT NULL, run_uid TEXT, created REAL NOT NULL,
    completed REAL, record_json TEXT NOT NULL, UNIQUE (campaign, seq));
CREATE INDEX samples_campaign ON samples(campaign, seq);
CREATE TABLE documents (run_uid TEXT NOT NULL, seq INTEGER NOT NULL, name TEXT NOT NULL, doc_json TEXT NOT NULL,
    PRIMARY KEY (run_uid, seq));
CREATE TABLE sample_runs (sample_id TEXT NOT NULL REFERENCES samples(id), attempt INTEGER NOT NULL,
    run_uid TEXT NOT NULL UNIQUE, PRIMARY KEY (sample_id, attempt));
CREATE TABLE campaign_events (id INTEGER PRIMARY KEY AUTOINCREMENT, campaign TEXT NOT NULL, time REAL NOT NULL,
    kind TEXT NOT NULL, payload_json TEXT NOT NULL);
"""
LEGACY_SCHEMA_V2 = LEGACY_SCHEMA_V1 + """
CREATE TABLE approvals (sample_id TEXT PRIMARY KEY REFERENCES samples(id), campaign TEXT NOT NULL,
    decision TEXT NOT NULL, operator TEXT NOT NULL, note TEXT, time REAL NOT NULL);
CREATE TABLE controls (id INTEGER PRIMARY KEY AUTOINCREMENT, campaign TEXT NOT NULL, action TEXT NOT NULL,
    operator TEXT NOT NULL, note TEXT, time REAL NOT NULL, handled REAL, outcome TEXT);
"""


def legacy_store(path, schema: str, version: int):
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("PRAGMA application_id=1396984881")
    con.executescript(schema)
    con.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(version),))
    con.execute("INSERT INTO campaigns VALUES ('demo', 'fp1', '{}', 100.0, 'finished', 'budget', NULL, 1.0, 2.0)")
    sample = make_sample(1, run_uid="uid-1")
    con.execute("INSERT INTO samples VALUES (?,?,?,?,?,?,?,?,?,?)",
                (sample.id, "demo", 1, "robot", "completed", 40.0, "uid-1", 1.0, 2.0, __import__("json").dumps(sample.to_json())))
    con.execute("INSERT INTO campaign_events (campaign, time, kind, payload_json) VALUES ('demo', 1.0, 'campaign_started', '{}')")
    con.close()


@pytest.mark.parametrize("schema, version", [(LEGACY_SCHEMA_V1, 1), (LEGACY_SCHEMA_V2, 2)], ids=["v1", "v2"])
def test_stores_made_before_the_migrations_are_upgraded(tmp_path, schema, version):
    path = tmp_path / "old.sqlite"
    legacy_store(path, schema, version)
    store = RecordStore(path)
    assert [tuple(r) for r in store._db.query("SELECT version_num FROM alembic_version")] == [(HEAD_REVISION,)]
    assert store._db.query("SELECT value FROM meta")[0][0] == str(SCHEMA_VERSION)
    assert store.sample("demo-0001").recipe["cure_temperature"] == Q_(120.0, "degC")
    assert store.spent("demo") == 40.0 and store.campaign("demo")["status"] == "finished"
    assert store.request_control("demo", "stop", "Ada") == 1  # the v2 tables exist and work
    assert [e["kind"] for e in store.events("demo")] == ["campaign_started", "stop_requested"]
    store.close()
    assert RecordStore(path).sample("demo-0001").id == "demo-0001"  # and it opens again as it is


def test_a_legacy_store_newer_than_this_sdl_is_refused(tmp_path):
    path = tmp_path / "new.sqlite"
    legacy_store(path, LEGACY_SCHEMA_V2, SCHEMA_VERSION + 1)
    before = path.read_bytes()
    with pytest.raises(StoreError, match=f"schema version {SCHEMA_VERSION + 1}.*upgrade sdl"):
        RecordStore(path)
    assert path.read_bytes() == before


def test_the_head_revision_is_the_last_migration():
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    script = ScriptDirectory.from_config(config)
    assert script.get_current_head() == HEAD_REVISION
    chain = [s.revision for s in script.walk_revisions()][::-1]
    assert tuple(chain) == REVISIONS and len(REVISIONS) == SCHEMA_VERSION


LOCATIONS = [
    ("runs/sdl.sqlite", "sqlite", "runs/sdl.sqlite", "runs/sdl.sqlite"),
    ("sqlite:///runs/sdl.sqlite", "sqlite", "runs/sdl.sqlite", "runs/sdl.sqlite"),
    ("sqlite:////tmp/x/sdl.sqlite", "sqlite", "/tmp/x/sdl.sqlite", "/tmp/x/sdl.sqlite"),
    ("postgresql://lab:s3cret@db.example:5433/sdl", "postgresql", None, "postgresql://lab:***@db.example:5433/sdl"),
    ("postgres://lab@db/sdl?sslmode=require", "postgresql", None, "postgres://lab@db/sdl?sslmode=require".replace("postgres:", "postgresql:")),
    ("postgresql+psycopg://lab:p@db/sdl", "postgresql", None, "postgresql://lab:***@db/sdl"),
    ("postgresql:///sdl?host=/run/postgresql&password=pw", "postgresql", None, "postgresql:///sdl?host=/run/postgresql&password=***"),
]


@pytest.mark.parametrize("given, kind, path, display", LOCATIONS, ids=[g.split(":")[0] + str(i) for i, (g, *_) in enumerate(LOCATIONS)])
def test_store_locations(given, kind, path, display):
    where = StoreLocation.parse(given)
    assert (where.kind, where.display) == (kind, display)
    assert where.path == (None if path is None else __import__("pathlib").Path(path))
    assert "***" not in where.url


@pytest.mark.parametrize("given, message", [
    ("mysql://root:hunter2@db/sdl", "unsupported URL scheme 'mysql'"),
    ("sqlite://", "names its file"),
    ("postgresql://lab:hunter2@db:5432", "name the database"),
    ("", "empty"),
], ids=["mysql", "sqlite-no-file", "postgres-no-database", "empty"])
def test_bad_store_locations_are_refused(given, message):
    with pytest.raises(StoreError, match=message) as info:
        StoreLocation.parse(given)
    assert "hunter2" not in str(info.value)


def test_an_unreachable_server_is_reported_without_its_password():
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(StoreError, match="cannot be reached") as info:
        RecordStore(f"postgresql://lab:hunter2@127.0.0.1:{port}/sdl")
    assert "hunter2" not in str(info.value) and "lab:***@" in str(info.value)
    assert redact("postgresql://a:b@h/d") == "postgresql://a:***@h/d"


def test_the_sqlite_url_names_the_same_file(tmp_path):
    path = tmp_path / "records.sqlite"
    store = RecordStore(path)
    store.open_campaign("demo", "fp1", "{}", 100.0)
    store.close()
    again = RecordStore(f"sqlite:///{path}")
    assert again.path == path and again.url == f"sqlite:///{path}" and again.campaign_names() == ["demo"]
    again.close()


def test_postgres_messages_hide_the_password(postgres_url):
    store = RecordStore(postgres_url)
    password = postgres_url.split("://", 1)[1].split("@", 1)[0].partition(":")[2]
    assert store.path is None and store.url == postgres_url
    with pytest.raises(StoreError) as info:
        store.campaign("nope")
    assert password and password not in str(info.value) and password not in repr(store)
    assert ":***@" in store.location
    store.close()


def test_a_dropped_postgres_connection_is_reopened(postgres_url):
    import psycopg

    store = RecordStore(postgres_url)
    store.open_campaign("demo", "fp1", "{}", 100.0)

    def drop() -> None:  # what a server restart or a network cut does to the controller's session
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (store._db.con.info.backend_pid,))

    drop()
    assert store.spent("demo") == 0.0  # a read: retried on a new connection
    drop()
    store.begin_sample(running(1), budget=100.0)  # a transaction: begun on a new connection
    assert store.spent("demo") == 40.0
    store.close()


def test_the_campaign_file_takes_a_store_url():
    import tomllib
    from pathlib import Path

    from controller.config.campaign import config_from_dict
    from controller.records.location import store_target
    from core import ConfigError

    raw = tomllib.loads((Path(__file__).resolve().parents[2] / "configs" / "thermoset_dryrun.toml").read_text())
    raw["store"] = "postgresql://lab:hunter2@db.lab:5432/sdl"
    config = config_from_dict(raw)
    assert config.store == raw["store"]
    assert "hunter2" not in config.to_json() and "lab:***@db.lab" in config.to_json()
    assert store_target(config.store) == raw["store"]  # what CampaignRunner opens: not folded by Path()
    assert store_target("sqlite:///runs/x.sqlite") == store_target("runs/x.sqlite") == Path("runs/x.sqlite")
    raw["store"] = "mysql://lab:hunter2@db.lab/sdl"
    with pytest.raises(ConfigError, match="store: 'mysql://lab:\\*\\*\\*@db.lab/sdl': unsupported URL scheme") as info:
        config_from_dict(raw)
    assert "hunter2" not in str(info.value)
