"""The record store: campaigns, samples, Bluesky documents and campaign events.

One class, two databases, chosen by the store's location:

- a file path or ``sqlite:///PATH``: SQLite in WAL mode with ``synchronous=FULL`` (the
  default, ``runs/sdl.sqlite``);
- ``postgresql://USER:PASSWORD@HOST:PORT/DATABASE``: PostgreSQL through psycopg 3, for a
  lab where controllers, dashboards and operators work from several machines.

Every sample, with its Bluesky documents, is written in one transaction, so a crash leaves
either the whole sample or none of it. The schema is versioned with Alembic
(``controller/records/migrations/versions``): a store is brought to the newest revision when it is
opened, and a store made by a newer sdl is refused.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar

from core import StoreError
from controller.records import integrity
from controller.records.decisions import CONTROL_ACTIONS, DECISIONS, OperatorDecisions
from controller.records.samples import OPEN_STATUSES, Sample
from controller.records.backends import (HEAD_REVISION, Backend, ConnectionLost, PostgresBackend, SQLiteBackend,
                                         retry_window, schema_state, scrub)
from controller.records.lease import Heartbeat, holds, lease_timeout
from controller.records.location import StoreLocation
from controller.records.stopwatch import StopWatch

__all__ = ["CONTROL_ACTIONS", "DECISIONS", "RecordStore"]

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().with_name("migrations")

T = TypeVar("T")

_SAMPLE_COLUMNS = "id, campaign, seq, fidelity, status, cost, run_uid, created, completed, record_json"

_EVENT = "INSERT INTO campaign_events (campaign, time, kind, payload_json) VALUES (?,?,?,?)"

class RecordStore(OperatorDecisions):
    """Persistent store of campaigns and their samples.

    Args:
        path: where the store lives: a SQLite file (its folder is created if needed),
            ``sqlite:///PATH``, or ``postgresql://USER:PASSWORD@HOST:PORT/DATABASE`` (the
            database must exist; its tables are created). See :class:`StoreLocation`.
        lease_timeout_s: seconds after the last heartbeat when another controller may take
            a campaign over (default ``$SDL_LEASE_TIMEOUT_S``, else 60).

    Attributes:
        path: the SQLite file (None for PostgreSQL).
        url: the complete URL of the store, credentials included: never print it.
        location: the store for messages (the password masked).

    Raises:
        StoreError: a SQLite file that is not this project's store or is corrupt, a database
            that cannot be reached, or a store whose schema is newer than this sdl.
    """

    def __init__(self, path: str | Path, lease_timeout_s: float | None = None):
        where = StoreLocation.parse(path)
        self.lease_timeout_s = lease_timeout(lease_timeout_s)
        self._where = where
        self.kind = where.kind
        self.path = where.path
        self.url = where.url
        self.location = where.display
        self._lock = threading.RLock()
        # Test seam: called inside begin_sample's transaction, after its budget check.
        self._on_budget_checked: Callable[[], None] | None = None
        self._db = self._connection()
        try:
            self._open()
        except BaseException:
            self._db.close()
            raise

    def __repr__(self) -> str:
        return f"RecordStore({self.location!r})"

    def _connection(self) -> Backend:
        where = self._where
        return SQLiteBackend(where.path, self.location) if where.kind == "sqlite" else PostgresBackend(where)

    def _open(self) -> None:
        try:
            self._db.check()
            revision, stamped = schema_state(self._db.query, self._db.has_table, self.location)
            self._db.configure()
            if revision != HEAD_REVISION or not stamped:
                self._migrate()
        except sqlite3.DatabaseError as err:
            raise StoreError(f"store {self.location!r} is not a readable record store ({err}); "
                             "move it aside or give another store path") from err

    def _migrate(self) -> None:
        """Bring the schema to :data:`HEAD_REVISION` with Alembic, in one transaction that holds
        the migration lock (two controllers opening a new store at once migrate it once).

        A store made before the migrations existed (``meta.schema_version`` only) is stamped
        with the revision of its version first.
        """
        import sqlalchemy as sa
        from alembic import command
        from alembic.config import Config

        engine = self._db.migration_engine()
        try:
            with engine.connect() as conn, conn.begin():
                self._db.lock_migrations(conn)

                def query(sql):
                    return conn.exec_driver_sql(sql).fetchall()

                revision, stamped = schema_state(query, sa.inspect(conn).has_table, self.location)
                if revision == HEAD_REVISION and stamped:
                    return  # another process migrated it while we waited for the lock
                config = Config()
                config.set_main_option("script_location", str(MIGRATIONS))
                config.attributes["connection"] = conn
                if revision is not None and not stamped:
                    command.stamp(config, revision)
                command.upgrade(config, HEAD_REVISION)
        except StoreError:
            raise
        except Exception as err:  # noqa: BLE001 - SQLAlchemy, Alembic or driver errors alike
            raise StoreError(f"store {self.location!r}: migrating its schema to revision {HEAD_REVISION} failed "
                             f"({scrub(err, self.url)}); nothing was changed") from err
        finally:
            engine.dispose()

    def _write(self, work: Callable[[Backend], T]) -> T:
        """Run ``work(db)`` as one transaction and return its result.

        On PostgreSQL a lost connection is waited for and the transaction tried again whole
        (the server rolled it back); each try logged at WARNING, for up to ``retry_window()``
        seconds. A commit whose outcome the lost connection hid is looked up by its write
        token (``write_tokens``, committed with it) rather than written twice.
        """
        token = uuid.uuid4().hex if self.kind == "postgresql" else None
        deadline = time.monotonic() + retry_window()
        attempt = 0
        with self._lock:
            while True:
                attempt += 1
                db = self._db
                committing = False
                try:
                    db.begin()
                    try:
                        result = work(db)
                        if token is not None:
                            db.execute("INSERT INTO write_tokens (token, time, result_json) VALUES (?,?,?)",
                                       (token, time.time(), json.dumps(result, default=str)))
                    except BaseException:
                        db.rollback()
                        raise
                    committing = True
                    db.commit()
                    return result
                except ConnectionLost as err:
                    if time.monotonic() > deadline:
                        raise StoreError(f"{err}; gave up after {attempt} tries") from err
                    log.warning("store %s: connection lost %s (attempt %d): %s; waiting for the server",
                                self.location, "at commit" if committing else "in a transaction", attempt, err)
                    db.reopen()
                    if committing:  # did that commit land? its token says
                        found = db.execute("SELECT result_json FROM write_tokens WHERE token=?", (token,)).fetchone()
                        if found is not None:
                            return json.loads(found[0]) if found[0] is not None else None

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # campaigns -----------------------------------------------------------
    def open_campaign(self, name: str, fingerprint: str, config_json: str, budget: float,
                      owner: str | None = None) -> bool:
        """Register the campaign, or check that an existing one is the same campaign.

        Args:
            owner: ``host:pid`` of the controller that will run it. Two controllers must
                never run one campaign: a campaign held by another live process is refused.

        Returns:
            True if the campaign already had records (the run continues it).

        Raises:
            StoreError: a campaign of that name with a different search space, objective or
                fidelities is already in this store, or another controller is running it.
        """
        now = time.time()

        def work(db) -> bool:
            db.lock_campaign(name)
            row = db.execute("SELECT fingerprint, status, owner, heartbeat FROM campaigns WHERE name=?", (name,)).fetchone()
            if self.kind == "postgresql":  # write tokens outlive any lost commit by far after a day
                db.execute("DELETE FROM write_tokens WHERE time < ?", (now - 86400,))
            if row is None:
                db.execute(
                    "INSERT INTO campaigns (name, fingerprint, config_json, budget, status, stop_reason, owner, created, "
                    "updated, heartbeat) VALUES (?,?,?,?,?,?,?,?,?,?)",
                    (name, fingerprint, config_json, budget, "running", None, owner, now, now, now if owner else None),
                )
                return False
            if row["fingerprint"] != fingerprint:
                raise StoreError(
                    f"store {self.location!r} already holds a campaign {name!r} with a different search space, objective or fidelities; "
                    "rename the campaign or give another store path"
                )
            holder, beat = row["owner"], row["heartbeat"]
            if (owner and row["status"] in ("running", "paused") and holder and holder != owner
                    and holds(holder, beat, self.lease_timeout_s, now)):
                since = "" if beat is None else f" (last heartbeat {now - beat:.0f} s ago)"
                raise StoreError(
                    f"campaign {name!r} is being run right now by controller {holder}{since}; two controllers must never "
                    "share a campaign: stop that one first (Ctrl-C) or wait for it; a controller that stopped beating "
                    f"loses the campaign {self.lease_timeout_s:g} s after its last heartbeat ($SDL_LEASE_TIMEOUT_S)"
                )
            db.execute(
                "UPDATE campaigns SET status='running', stop_reason=NULL, budget=?, config_json=?, owner=?, updated=?, "
                "heartbeat=? WHERE name=?",
                (budget, config_json, owner, now, now if owner else None, name),
            )
            if owner and holder and holder != owner and row["status"] in ("running", "paused"):
                db.execute(_EVENT, (name, now, "lease_taken_over", json.dumps(
                    {"from": holder, "to": owner, "last_heartbeat": beat})))
            return True

        return self._write(work)

    def heartbeat(self, campaign: str, owner: str, on_lost: Callable[[str], None] | None = None) -> Heartbeat:
        """Start renewing ``owner``'s lease on ``campaign`` (a daemon thread on its own connection),
        every quarter of the lease timeout, at most 5 s. Stop it before :meth:`finish_campaign`."""
        return Heartbeat(self._connection(), campaign, owner, min(self.lease_timeout_s / 4, 5.0), on_lost).start()

    def watch_stop(self, campaign: str, on_stop: Callable[[dict], None]) -> StopWatch:
        """Call ``on_stop(request)`` (from a daemon thread on its own connection) as soon as an
        operator asks ``campaign`` to stop; :meth:`StopWatch.close` it when the campaign ends."""
        return StopWatch(self._connection(), campaign, on_stop).start()

    def verify_chain(self, campaign: str) -> integrity.ChainReport:
        """Check the campaign's hash chain and its records (see :mod:`controller.records.integrity`)."""
        self.campaign(campaign)  # raises with the known names

        def rows(sql: str, args: tuple) -> list:
            with self._lock:
                return self._db.execute(sql, args).fetchall()

        return integrity.verify(rows, campaign)

    def campaign(self, name: str) -> dict[str, Any]:
        with self._lock:
            row = self._db.execute("SELECT * FROM campaigns WHERE name=?", (name,)).fetchone()
        if row is None:
            raise StoreError(f"no campaign {name!r} in {self.location!r}; known: {self.campaign_names()}")
        return dict(row)

    def campaign_names(self) -> list[str]:
        with self._lock:
            return [r[0] for r in self._db.execute("SELECT name FROM campaigns ORDER BY created")]

    def finish_campaign(self, name: str, status: str, reason: str) -> None:
        now = time.time()

        def work(db) -> None:
            db.execute("UPDATE campaigns SET status=?, stop_reason=?, owner=NULL, heartbeat=NULL, updated=? WHERE name=?",
                       (status, reason, now, name))
            db.execute(_EVENT, (name, now, f"campaign_{status}", json.dumps({"reason": reason})))

        self._write(work)

    def set_campaign_status(self, name: str, status: str) -> None:
        """``running`` <-> ``paused`` while the controller runs it (finish_campaign ends it)."""
        now = time.time()
        self._write(lambda db: db.execute("UPDATE campaigns SET status=?, updated=? WHERE name=?", (status, now, name)))

    def log_event(self, campaign: str, kind: str, payload: dict[str, Any]) -> None:
        row = (campaign, time.time(), kind, json.dumps(payload, default=str))
        self._write(lambda db: db.execute(_EVENT, row))

    def events(self, campaign: str | None, after: int = 0, limit: int | None = None) -> list[dict[str, Any]]:
        """Campaign events in order; ``after`` an event id gives only newer ones (for tailing),
        ``campaign=None`` those of every campaign."""
        where, args = "id > ?", [after]
        if campaign is not None:
            where += " AND campaign=?"
            args.append(campaign)
        tail = f" LIMIT {int(limit)}" if limit else ""
        with self._lock:
            rows = self._db.execute(f"SELECT * FROM campaign_events WHERE {where} ORDER BY id{tail}", args).fetchall()
        return [{**dict(r), "payload": json.loads(r["payload_json"])} for r in rows]

    def last_event_id(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COALESCE(MAX(id), 0) FROM campaign_events").fetchone()[0])

    # samples -------------------------------------------------------------
    def next_seq(self, campaign: str) -> int:
        with self._lock:
            row = self._db.execute("SELECT COALESCE(MAX(seq), 0) FROM samples WHERE campaign=?", (campaign,)).fetchone()
        return int(row[0]) + 1

    def begin_sample(self, sample: Sample, budget: float | None = None) -> None:
        """Record a sample as ``running`` the moment it is dispatched (its cost is committed).

        If the controller dies before :meth:`add_sample`, :meth:`inflight` finds it.

        Raises:
            StoreError: committing the sample's cost would exceed ``budget``.
        """
        if sample.status not in OPEN_STATUSES:
            raise StoreError(f"sample {sample.id}: begin_sample needs status 'running' or 'awaiting_approval', got {sample.status!r}")
        values = _columns(sample)  # serialized before the lock is taken
        now = time.time()

        def work(db) -> None:
            if budget is not None:
                # Two controllers on one campaign: the check and the insert are one step
                # (SQLite: BEGIN IMMEDIATE; PostgreSQL: a lock on the campaign).
                db.lock_campaign(sample.campaign)
                spent = db.execute("SELECT COALESCE(SUM(cost), 0) FROM samples WHERE campaign=?", (sample.campaign,)).fetchone()[0]
                if spent + sample.cost > budget + 1e-9:
                    raise StoreError(f"sample {sample.id}: its cost {sample.cost:g} would exceed the budget "
                                     f"({spent:g} of {budget:g} cost units already committed)")
                if self._on_budget_checked is not None:
                    self._on_budget_checked()
            db.execute(f"INSERT INTO samples ({_SAMPLE_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?)", (sample.id, *values))
            integrity.link_sample(db, sample.id)
            db.execute(_EVENT,
                       (sample.campaign, now,
                        "sample_dispatched" if sample.status == "running" else "sample_awaiting_approval",
                        json.dumps({"sample": sample.id, "fidelity": sample.fidelity})))

        self._write(work)

    def start_approved(self, sample: Sample) -> None:
        """An approved sample leaves the gate: ``awaiting_approval`` -> ``running`` (its record updated)."""
        if sample.status != "running":
            raise StoreError(f"sample {sample.id}: start_approved needs status 'running', got {sample.status!r}")
        values = _columns(sample)
        now = time.time()

        def work(db) -> None:
            cur = db.execute(
                "UPDATE samples SET campaign=?, seq=?, fidelity=?, status=?, cost=?, run_uid=?, created=?, "
                "completed=?, record_json=? WHERE id=? AND status='awaiting_approval'", (*values, sample.id))
            if cur.rowcount != 1:
                raise StoreError(f"sample {sample.id} is not awaiting approval")
            integrity.link_sample(db, sample.id)
            db.execute(_EVENT, (sample.campaign, now, "sample_dispatched",
                                json.dumps({"sample": sample.id, "fidelity": sample.fidelity})))

        self._write(work)

    def attach_run(self, sample_id: str, run_uid: str) -> None:
        """Link a running sample to the Bluesky run that makes it (at the run's start document).

        A retried sample has one run per attempt; the sample's ``run_uid`` is the latest.
        """
        def work(db) -> None:
            attempt = db.execute("SELECT COUNT(*) FROM sample_runs WHERE sample_id=?", (sample_id,)).fetchone()[0] + 1
            db.execute("INSERT INTO sample_runs (sample_id, attempt, run_uid) VALUES (?,?,?)", (sample_id, attempt, run_uid))
            db.execute("UPDATE samples SET run_uid=? WHERE id=?", (run_uid, sample_id))
            integrity.link_sample(db, sample_id)

        self._write(work)

    def runs_of(self, sample_id: str) -> list[str]:
        """Every Bluesky run made for a sample, in attempt order."""
        with self._lock:
            return [r[0] for r in self._db.execute(
                "SELECT run_uid FROM sample_runs WHERE sample_id=? ORDER BY attempt", (sample_id,))]

    def add_document(self, run_uid: str, name: str, doc: dict) -> None:
        """Append one Bluesky document as it is emitted, so an interrupted run keeps what it did."""
        text = json.dumps(doc, default=_json_default)

        def work(db) -> None:
            seq = db.execute("SELECT COALESCE(MAX(seq), -1) + 1 FROM documents WHERE run_uid=?", (run_uid,)).fetchone()[0]
            db.execute("INSERT INTO documents (run_uid, seq, name, doc_json) VALUES (?,?,?,?)", (run_uid, seq, name, text))
            integrity.link_documents(db, run_uid, [(seq, name, text)])

        self._write(work)

    def add_sample(self, sample: Sample, documents: list[tuple[str, dict]] | None = None) -> None:
        """Write one finished sample (and any documents not yet stored) in one transaction.

        A sample begun with :meth:`begin_sample` is completed in place; a sample that was
        already finished is refused (no sample is recorded twice).
        """
        values = _columns(sample)
        texts = [(name, json.dumps(doc, default=_json_default)) for name, doc in documents or ()]
        now = time.time()

        def work(db) -> None:
            row = db.execute("SELECT status FROM samples WHERE id=?", (sample.id,)).fetchone()
            if row is None:
                db.execute(f"INSERT INTO samples ({_SAMPLE_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?)", (sample.id, *values))
            elif row["status"] in OPEN_STATUSES:
                db.execute(
                    "UPDATE samples SET campaign=?, seq=?, fidelity=?, status=?, cost=?, run_uid=?, created=?, "
                    "completed=?, record_json=? WHERE id=?", (*values, sample.id))
            else:
                raise StoreError(f"sample {sample.id} is already recorded as {row['status']}; it is never recorded twice")
            integrity.link_sample(db, sample.id)
            if texts:
                if not sample.run_uid:
                    raise StoreError(f"sample {sample.id}: documents given without a run uid")
                start = db.execute("SELECT COALESCE(MAX(seq), -1) + 1 FROM documents WHERE run_uid=?", (sample.run_uid,)).fetchone()[0]
                docs = [(start + i, name, text) for i, (name, text) in enumerate(texts)]
                db.executemany("INSERT INTO documents (run_uid, seq, name, doc_json) VALUES (?,?,?,?)",
                               [(sample.run_uid, *d) for d in docs])
                integrity.link_documents(db, sample.run_uid, docs)
            db.execute(_EVENT, (sample.campaign, now, f"sample_{sample.status}",
                                json.dumps({"sample": sample.id, "fidelity": sample.fidelity})))

        self._write(work)

    def run_uid_of(self, sample_id: str) -> str | None:
        """The Bluesky run attached to a sample (also while it is still running)."""
        with self._lock:
            row = self._db.execute("SELECT run_uid FROM samples WHERE id=?", (sample_id,)).fetchone()
        return row[0] if row else None

    def inflight(self, campaign: str) -> list[Sample]:
        """Samples dispatched but never finished: the controller stopped while they ran."""
        with self._lock:
            rows = self._db.execute(
                "SELECT record_json, run_uid FROM samples WHERE campaign=? AND status='running' ORDER BY seq", (campaign,)).fetchall()
        out = []
        for r in rows:
            sample = self._decode(r[0])
            sample.run_uid = r[1]
            out.append(sample)
        return out

    def samples(self, campaign: str, include_running: bool = False) -> list[Sample]:
        """Finished samples (completed, failed, interrupted, rejected, cancelled) in dispatch order;
        with ``include_running`` also those running or awaiting approval."""
        where = "" if include_running else " AND status NOT IN ('running', 'awaiting_approval')"
        with self._lock:
            rows = self._db.execute(f"SELECT record_json FROM samples WHERE campaign=?{where} ORDER BY seq", (campaign,)).fetchall()
        return [self._decode(r[0]) for r in rows]

    def sample(self, sample_id: str) -> Sample:
        with self._lock:
            row = self._db.execute("SELECT record_json FROM samples WHERE id=?", (sample_id,)).fetchone()
        if row is None:
            raise StoreError(f"no sample {sample_id!r} in {self.location!r}")
        return self._decode(row[0])

    def spent(self, campaign: str) -> float:
        """Cost units committed: every sample dispatched, finished or not, counted once."""
        with self._lock:
            row = self._db.execute("SELECT COALESCE(SUM(cost), 0) FROM samples WHERE campaign=?", (campaign,)).fetchone()
        return float(row[0])

    def documents(self, run_uid: str) -> list[tuple[str, dict]]:
        with self._lock:
            rows = self._db.execute("SELECT name, doc_json FROM documents WHERE run_uid=? ORDER BY seq", (run_uid,)).fetchall()
        return [(r[0], json.loads(r[1])) for r in rows]

    def campaign_documents(self, campaign: str) -> Iterator[tuple[str, dict]]:
        """Every document of every robot run of the campaign (retried attempts included)."""
        with self._lock:
            uids = [r[0] for r in self._db.execute(
                "SELECT r.run_uid FROM sample_runs r JOIN samples s ON s.id = r.sample_id "
                "WHERE s.campaign=? ORDER BY s.seq, r.attempt", (campaign,))]
            uids += [r[0] for r in self._db.execute(  # runs recorded without attach_run (completed in one call)
                "SELECT run_uid FROM samples WHERE campaign=? AND run_uid IS NOT NULL "
                "AND run_uid NOT IN (SELECT run_uid FROM sample_runs) ORDER BY seq", (campaign,))]
        for uid in uids:
            yield from self.documents(uid)

    def _decode(self, text: str) -> Sample:
        try:
            return Sample.from_json(json.loads(text))
        except (ValueError, TypeError, KeyError) as err:
            raise StoreError(f"a sample record in {self.location!r} is corrupt ({err})") from err

def _columns(sample: Sample) -> tuple:
    """The ``samples`` row after its id, in the table's column order."""
    return (sample.campaign, sample.seq, sample.fidelity, sample.status, sample.cost,
            sample.run_uid, sample.created, sample.completed, json.dumps(sample.to_json(), allow_nan=True))

def _json_default(obj: Any) -> Any:
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if hasattr(obj, "item"):
        return obj.item()
    return str(obj)
