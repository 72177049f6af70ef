"""The record store: campaigns, samples, Bluesky documents and campaign events.

One class, two databases, chosen by the store's location:

- a file path or ``sqlite:///PATH``: SQLite in WAL mode with ``synchronous=FULL`` (the
  default, ``runs/sdl.sqlite``);
- ``postgresql://USER:PASSWORD@HOST:PORT/DATABASE``: PostgreSQL through psycopg 3, for a
  lab where controllers, dashboards and operators work from several machines.

Every sample, with its Bluesky documents, is written in one transaction, so a crash leaves
either the whole sample or none of it. The schema is versioned with Alembic
(``controller/migrations/versions``): a store is brought to the newest revision when it is
opened, and a store made by a newer sdl is refused.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator
from core import StoreError
from controller.records.samples import OPEN_STATUSES, Sample
from controller.records.backends import HEAD_REVISION, Backend, PostgresBackend, SQLiteBackend, schema_state, scrub
from controller.records.location import StoreLocation


MIGRATIONS = Path(__file__).resolve().with_name("migrations")

CONTROL_ACTIONS = ("pause", "resume", "stop")

DECISIONS = ("approved", "rejected")

_SAMPLE_COLUMNS = "id, campaign, seq, fidelity, status, cost, run_uid, created, completed, record_json"

_EVENT = "INSERT INTO campaign_events (campaign, time, kind, payload_json) VALUES (?,?,?,?)"

class RecordStore:
    """Persistent store of campaigns and their samples.

    Args:
        path: where the store lives: a SQLite file (its folder is created if needed),
            ``sqlite:///PATH``, or ``postgresql://USER:PASSWORD@HOST:PORT/DATABASE`` (the
            database must exist; its tables are created). See :class:`StoreLocation`.

    Attributes:
        path: the SQLite file (None for PostgreSQL).
        url: the complete URL of the store, credentials included: never print it.
        location: the store for messages (the password masked).

    Raises:
        StoreError: a SQLite file that is not this project's store or is corrupt, a database
            that cannot be reached, or a store whose schema is newer than this sdl.
    """

    def __init__(self, path: str | Path):
        where = StoreLocation.parse(path)
        self.kind = where.kind
        self.path = where.path
        self.url = where.url
        self.location = where.display
        self._lock = threading.RLock()
        # Test seam: called inside begin_sample's transaction, after its budget check.
        self._on_budget_checked: Callable[[], None] | None = None
        if where.kind == "sqlite":
            self._db = SQLiteBackend(where.path, self.location)
        else:
            self._db = PostgresBackend(where)
        try:
            self._open()
        except BaseException:
            self._db.close()
            raise

    def __repr__(self) -> str:
        return f"RecordStore({self.location!r})"

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

    @contextmanager
    def _transaction(self) -> Iterator["Backend"]:
        with self._lock:
            self._db.begin()
            try:
                yield self._db
            except BaseException:
                self._db.rollback()
                raise
            else:
                self._db.commit()

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
        with self._transaction() as db:
            db.lock_campaign(name)
            row = db.execute("SELECT fingerprint, status, owner FROM campaigns WHERE name=?", (name,)).fetchone()
            if row is None:
                db.execute(
                    "INSERT INTO campaigns (name, fingerprint, config_json, budget, status, stop_reason, owner, created, updated) "
                    "VALUES (?,?,?,?,?,?,?,?,?)",
                    (name, fingerprint, config_json, budget, "running", None, owner, now, now),
                )
                return False
            if row["fingerprint"] != fingerprint:
                raise StoreError(
                    f"store {self.location!r} already holds a campaign {name!r} with a different search space, objective or fidelities; "
                    "rename the campaign or give another store path"
                )
            holder = row["owner"]
            if owner and row["status"] in ("running", "paused") and holder and holder != owner and _alive(holder):
                raise StoreError(
                    f"campaign {name!r} is being run right now by controller {holder}; two controllers must never "
                    "share a campaign: stop that one first (Ctrl-C) or wait for it"
                )
            db.execute(
                "UPDATE campaigns SET status='running', stop_reason=NULL, budget=?, config_json=?, owner=?, updated=? WHERE name=?",
                (budget, config_json, owner, now, name),
            )
            return True

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
        with self._transaction() as db:
            db.execute("UPDATE campaigns SET status=?, stop_reason=?, owner=NULL, updated=? WHERE name=?",
                       (status, reason, time.time(), name))
            db.execute(
                _EVENT,
                (name, time.time(), f"campaign_{status}", json.dumps({"reason": reason})),
            )

    def set_campaign_status(self, name: str, status: str) -> None:
        """``running`` <-> ``paused`` while the controller runs it (finish_campaign ends it)."""
        with self._transaction() as db:
            db.execute("UPDATE campaigns SET status=?, updated=? WHERE name=?", (status, time.time(), name))

    def log_event(self, campaign: str, kind: str, payload: dict[str, Any]) -> None:
        with self._transaction() as db:
            db.execute(
                _EVENT,
                (campaign, time.time(), kind, json.dumps(payload, default=str)),
            )

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

    # operator decisions --------------------------------------------------
    def decide(self, sample_id: str, decision: str, operator: str, note: str | None = None) -> dict[str, Any]:
        """Record an operator's approval or rejection of a sample awaiting approval.

        Raises:
            StoreError: unknown decision, no operator, no such sample, the sample is not
                awaiting approval, or it was already decided (a decision is never changed).
        """
        if decision not in DECISIONS:
            raise StoreError(f"decision {decision!r}: allowed {list(DECISIONS)}")
        if not operator or not operator.strip():
            raise StoreError("operator: say who decides (a name or initials)")
        now = time.time()
        with self._transaction() as db:
            row = db.execute("SELECT campaign, status FROM samples WHERE id=?", (sample_id,)).fetchone()
            if row is None:
                raise StoreError(f"no sample {sample_id!r} in {self.location!r}")
            db.lock_campaign(row["campaign"])  # two operators deciding at once: the second sees the first
            prior = db.execute("SELECT decision, operator, time FROM approvals WHERE sample_id=?", (sample_id,)).fetchone()
            if prior is not None:
                raise StoreError(f"sample {sample_id} was already {prior['decision']} by {prior['operator']} "
                                 f"at {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(prior['time']))}")
            if row["status"] != "awaiting_approval":
                raise StoreError(f"sample {sample_id} is {row['status']}, not awaiting approval")
            db.execute("INSERT INTO approvals (sample_id, campaign, decision, operator, note, time) VALUES (?,?,?,?,?,?)",
                       (sample_id, row["campaign"], decision, operator.strip(), note, now))
            db.execute(_EVENT,
                       (row["campaign"], now, f"sample_{decision}",
                        json.dumps({"sample": sample_id, "operator": operator.strip(), "note": note})))
        return {"sample": sample_id, "decision": decision, "operator": operator.strip(), "note": note, "time": now}

    def decision(self, sample_id: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM approvals WHERE sample_id=?", (sample_id,)).fetchone()
        return dict(row) if row else None

    def awaiting(self, campaign: str) -> list[Sample]:
        """Samples held at the approval gate, oldest first."""
        with self._lock:
            rows = self._db.execute("SELECT record_json FROM samples WHERE campaign=? AND status='awaiting_approval' "
                                    "ORDER BY seq", (campaign,)).fetchall()
        return [self._decode(r[0]) for r in rows]

    def request_control(self, campaign: str, action: str, operator: str, note: str | None = None) -> int:
        """Queue an operator's pause/resume/stop for the controller running ``campaign``."""
        if action not in CONTROL_ACTIONS:
            raise StoreError(f"action {action!r}: allowed {list(CONTROL_ACTIONS)}")
        if not operator or not operator.strip():
            raise StoreError("operator: say who asks (a name or initials)")
        self.campaign(campaign)  # raises with the known names
        now = time.time()
        with self._transaction() as db:
            control_id = db.execute("INSERT INTO controls (campaign, action, operator, note, time) VALUES (?,?,?,?,?) "
                                    "RETURNING id", (campaign, action, operator.strip(), note, now)).fetchone()[0]
            db.execute(_EVENT,
                       (campaign, now, f"{action}_requested", json.dumps({"operator": operator.strip(), "note": note})))
            return int(control_id)

    def pending_controls(self, campaign: str) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM controls WHERE campaign=? AND handled IS NULL ORDER BY id",
                                    (campaign,)).fetchall()
        return [dict(r) for r in rows]

    def controls(self, campaign: str) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(r) for r in self._db.execute("SELECT * FROM controls WHERE campaign=? ORDER BY id", (campaign,))]

    def control_handled(self, control_id: int, outcome: str) -> None:
        with self._transaction() as db:
            db.execute("UPDATE controls SET handled=?, outcome=? WHERE id=?", (time.time(), outcome, control_id))

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
        with self._transaction() as db:
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
            db.execute(_EVENT,
                       (sample.campaign, time.time(),
                        "sample_dispatched" if sample.status == "running" else "sample_awaiting_approval",
                        json.dumps({"sample": sample.id, "fidelity": sample.fidelity})))

    def start_approved(self, sample: Sample) -> None:
        """An approved sample leaves the gate: ``awaiting_approval`` -> ``running`` (its record updated)."""
        if sample.status != "running":
            raise StoreError(f"sample {sample.id}: start_approved needs status 'running', got {sample.status!r}")
        values = _columns(sample)
        with self._transaction() as db:
            cur = db.execute(
                "UPDATE samples SET campaign=?, seq=?, fidelity=?, status=?, cost=?, run_uid=?, created=?, "
                "completed=?, record_json=? WHERE id=? AND status='awaiting_approval'", (*values, sample.id))
            if cur.rowcount != 1:
                raise StoreError(f"sample {sample.id} is not awaiting approval")
            db.execute(_EVENT,
                       (sample.campaign, time.time(), "sample_dispatched",
                        json.dumps({"sample": sample.id, "fidelity": sample.fidelity})))

    def attach_run(self, sample_id: str, run_uid: str) -> None:
        """Link a running sample to the Bluesky run that makes it (at the run's start document).

        A retried sample has one run per attempt; the sample's ``run_uid`` is the latest.
        """
        with self._transaction() as db:
            attempt = db.execute("SELECT COUNT(*) FROM sample_runs WHERE sample_id=?", (sample_id,)).fetchone()[0] + 1
            db.execute("INSERT INTO sample_runs (sample_id, attempt, run_uid) VALUES (?,?,?)", (sample_id, attempt, run_uid))
            db.execute("UPDATE samples SET run_uid=? WHERE id=?", (run_uid, sample_id))

    def runs_of(self, sample_id: str) -> list[str]:
        """Every Bluesky run made for a sample, in attempt order."""
        with self._lock:
            return [r[0] for r in self._db.execute(
                "SELECT run_uid FROM sample_runs WHERE sample_id=? ORDER BY attempt", (sample_id,))]

    def add_document(self, run_uid: str, name: str, doc: dict) -> None:
        """Append one Bluesky document as it is emitted, so an interrupted run keeps what it did."""
        with self._transaction() as db:
            seq = db.execute("SELECT COALESCE(MAX(seq), -1) + 1 FROM documents WHERE run_uid=?", (run_uid,)).fetchone()[0]
            db.execute("INSERT INTO documents (run_uid, seq, name, doc_json) VALUES (?,?,?,?)",
                       (run_uid, seq, name, json.dumps(doc, default=_json_default)))

    def add_sample(self, sample: Sample, documents: list[tuple[str, dict]] | None = None) -> None:
        """Write one finished sample (and any documents not yet stored) in one transaction.

        A sample begun with :meth:`begin_sample` is completed in place; a sample that was
        already finished is refused (no sample is recorded twice).
        """
        values = _columns(sample)
        with self._transaction() as db:
            row = db.execute("SELECT status FROM samples WHERE id=?", (sample.id,)).fetchone()
            if row is None:
                db.execute(f"INSERT INTO samples ({_SAMPLE_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?)", (sample.id, *values))
            elif row["status"] in OPEN_STATUSES:
                db.execute(
                    "UPDATE samples SET campaign=?, seq=?, fidelity=?, status=?, cost=?, run_uid=?, created=?, "
                    "completed=?, record_json=? WHERE id=?", (*values, sample.id))
            else:
                raise StoreError(f"sample {sample.id} is already recorded as {row['status']}; it is never recorded twice")
            if documents:
                if not sample.run_uid:
                    raise StoreError(f"sample {sample.id}: documents given without a run uid")
                start = db.execute("SELECT COALESCE(MAX(seq), -1) + 1 FROM documents WHERE run_uid=?", (sample.run_uid,)).fetchone()[0]
                db.executemany(
                    "INSERT INTO documents (run_uid, seq, name, doc_json) VALUES (?,?,?,?)",
                    [(sample.run_uid, start + i, name, json.dumps(doc, default=_json_default)) for i, (name, doc) in enumerate(documents)],
                )
            db.execute(
                _EVENT,
                (sample.campaign, time.time(), f"sample_{sample.status}", json.dumps({"sample": sample.id, "fidelity": sample.fidelity})),
            )

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

def _alive(owner: str) -> bool:
    """Whether the controller ``host:pid`` still runs (a process on another host is assumed alive)."""
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError):
        return True
    return True

def _json_default(obj: Any) -> Any:
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if hasattr(obj, "item"):
        return obj.item()
    return str(obj)
