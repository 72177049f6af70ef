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

import hashlib
import json
import os
import re
import signal
import socket
import sqlite3
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from core import StoreError
from controller.records.samples import OPEN_STATUSES, Sample

SCHEMA_VERSION = 2  # 2: approvals and controls (operator decisions)
# Alembic revision of each schema version (REVISIONS[v - 1]); the last is the newest.
REVISIONS = ("0001", "0002")
HEAD_REVISION = REVISIONS[-1]
APPLICATION_ID = 0x53444C31  # "SDL1": marks a SQLite file as this project's store
MIGRATIONS = Path(__file__).resolve().with_name("migrations")

CONTROL_ACTIONS = ("pause", "resume", "stop")
DECISIONS = ("approved", "rejected")

STORE_FORMS = "a SQLite file path, sqlite:///PATH or postgresql://USER:PASSWORD@HOST:PORT/DATABASE"
_URL = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://")
_SAMPLE_COLUMNS = "id, campaign, seq, fidelity, status, cost, run_uid, created, completed, record_json"
_EVENT = "INSERT INTO campaign_events (campaign, time, kind, payload_json) VALUES (?,?,?,?)"


def redact(url: str) -> str:
    """``url`` with its password (in the authority or a ``password=`` parameter) shown as ``***``."""
    url = re.sub(r"^([A-Za-z][A-Za-z0-9+.-]*://[^:/?#@]*):[^@/?#]*@", r"\1:***@", url)
    return re.sub(r"(?i)([?&]password=)[^&#]*", r"\1***", url)


@dataclass(frozen=True)
class StoreLocation:
    """Where a record store lives.

    Attributes:
        kind: ``"sqlite"`` or ``"postgresql"``.
        url: the complete URL, credentials included (``sqlite:///PATH`` for SQLite).
        path: the SQLite file; None for PostgreSQL.
        display: for messages: the SQLite path as given, or the URL with its password masked.
    """

    kind: str
    url: str
    path: Path | None
    display: str

    @classmethod
    def parse(cls, value: str | Path) -> "StoreLocation":
        """Read a store path or URL.

        Raises:
            StoreError: an unsupported URL scheme, or a URL with no file or database.
        """
        if isinstance(value, Path) or not _URL.match(str(value)):
            text = str(value)
            if not text.strip():
                raise StoreError(f"store: empty; give {STORE_FORMS}")
            return cls("sqlite", f"sqlite:///{text}", Path(text), text)
        text = str(value)
        scheme = _URL.match(text)["scheme"].lower()
        if scheme in ("sqlite", "sqlite+pysqlite"):
            rest = text.split("://", 1)[1]
            if not rest.startswith("/") or not rest[1:].split("?", 1)[0]:
                raise StoreError(f"store {text!r}: a SQLite URL names its file: sqlite:///relative/path.sqlite "
                                 "or sqlite:////absolute/path.sqlite")
            path = rest[1:].split("?", 1)[0]
            return cls("sqlite", f"sqlite:///{path}", Path(path), path)
        if scheme in ("postgresql", "postgres", "postgresql+psycopg"):
            url = "postgresql://" + text.split("://", 1)[1]
            database = url.split("://", 1)[1].split("?", 1)[0].partition("/")[2]
            if not database:
                raise StoreError(f"store {redact(url)!r}: name the database: postgresql://USER:PASSWORD@HOST:PORT/DATABASE")
            return cls("postgresql", url, None, redact(url))
        raise StoreError(f"store {redact(text)!r}: unsupported URL scheme {scheme!r}; give {STORE_FORMS}")


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
            self._db = _SQLite(where.path, self.location)
        else:
            self._db = _Postgres(where)
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
            revision, stamped = _schema_state(self._db.query, self._db.has_table, self.location)
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

                revision, stamped = _schema_state(query, sa.inspect(conn).has_table, self.location)
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
                             f"({_scrub(err, self.url)}); nothing was changed") from err
        finally:
            engine.dispose()

    @contextmanager
    def _transaction(self) -> Iterator["_Backend"]:
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
            _fault_point(sample.seq)

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


def _fault_point(seq: int) -> None:
    """Fault injection for the crash tests: ``SDL_FAULT_KILL_IN_WRITE=N`` makes the process
    SIGKILL itself inside the transaction that finishes sample N, before it commits."""
    target = os.environ.get("SDL_FAULT_KILL_IN_WRITE")
    if target and int(target) == seq:
        os.kill(os.getpid(), signal.SIGKILL)


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if hasattr(obj, "item"):
        return obj.item()
    return str(obj)


# schema versions -----------------------------------------------------------
def _schema_state(query: Callable[[str], list], has_table: Callable[[str], bool], location: str) -> tuple[str | None, bool]:
    """The store's schema revision and whether Alembic has stamped it.

    Returns:
        ``(revision, stamped)``: ``(None, False)`` for an empty database; ``(revision, False)``
        for a store made before the migrations (``meta.schema_version`` only).

    Raises:
        StoreError: the store was made by a newer sdl (or by something else that uses Alembic).
    """
    if has_table("alembic_version"):
        found = [r[0] for r in query("SELECT version_num FROM alembic_version")]
        if len(found) == 1 and found[0] in REVISIONS:
            return found[0], True
        if found:
            raise StoreError(f"store {location!r} has schema revision {', '.join(found)}, which this sdl does not know "
                             f"(it reads revisions {REVISIONS[0]} to {HEAD_REVISION}): it was made by a newer sdl, "
                             "or it is not an sdl record store; upgrade sdl or give another store")
    if has_table("meta"):
        rows = query("SELECT value FROM meta WHERE key = 'schema_version'")
        if rows:
            try:
                version = int(rows[0][0])
            except ValueError:
                version = -1
            if not 1 <= version <= SCHEMA_VERSION:
                raise StoreError(f"store {location!r} has schema version {rows[0][0]}, this sdl reads up to "
                                 f"{SCHEMA_VERSION}; upgrade sdl")
            return REVISIONS[version - 1], False
    return None, False


def _lock_key(name: str) -> int:
    """A stable signed 64-bit key for a PostgreSQL advisory lock on ``name``."""
    return int.from_bytes(hashlib.sha256(f"sdl:{name}".encode()).digest()[:8], "big", signed=True)


def _scrub(err: BaseException, url: str) -> str:
    """An error's text without the store's password, should a driver ever quote it."""
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    password = re.match(r"^[^:]+://[^:/?#@]*:([^@/?#]*)@", url)
    if password and password[1]:
        text = text.replace(password[1], "***")
    return text


# backends --------------------------------------------------------------------
class _SQLite:
    """One SQLite connection shared by the store's threads (the store serializes them).

    Every write transaction is ``BEGIN IMMEDIATE``: it holds the file's write lock from its
    first statement, so a budget check and the insert after it are never interleaved with
    another controller's.
    """

    kind = "sqlite"

    def __init__(self, path: Path, location: str):
        self.path = path
        self.location = location
        self.existed = path.exists() and path.stat().st_size > 0
        if not self.existed:
            path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.con = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=30)
        except sqlite3.Error as err:
            raise StoreError(f"store {location!r} cannot be opened ({err}); give another store path") from err
        self.con.row_factory = sqlite3.Row

    def check(self) -> None:
        """Refuse a file that is not this project's store, or is damaged, before anything is written."""
        if self.existed:
            self._check_existing()

    def configure(self) -> None:
        if not self.existed:  # the file's first write: another process opening it sees whose it is
            self.con.execute(f"PRAGMA application_id={APPLICATION_ID}")
        self.con.execute("PRAGMA journal_mode=WAL")
        self.con.execute("PRAGMA synchronous=FULL")
        self.con.execute("PRAGMA foreign_keys=ON")

    def _check_existing(self) -> None:
        try:
            app_id = self.con.execute("PRAGMA application_id").fetchone()[0]
            ok = self.con.execute("PRAGMA quick_check").fetchone()[0]
        except sqlite3.DatabaseError as err:
            raise StoreError(f"store {self.location!r} is corrupt or not SQLite ({err}); move it aside or give another store path") from err
        if ok != "ok":
            raise StoreError(f"store {self.location!r} failed its integrity check ({ok}); restore it from a backup or move it aside")
        if app_id != APPLICATION_ID:
            raise StoreError(f"{self.location!r} is a SQLite file but not an sdl record store; give another store path")

    def execute(self, sql: str, args: tuple | list = ()) -> sqlite3.Cursor:
        return self.con.execute(sql, args)

    def executemany(self, sql: str, rows: list) -> None:
        self.con.executemany(sql, rows)

    def query(self, sql: str) -> list:
        return self.con.execute(sql).fetchall()

    def has_table(self, name: str) -> bool:
        return self.con.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (name,)).fetchone() is not None

    def begin(self) -> None:
        self.con.execute("BEGIN IMMEDIATE")

    def commit(self) -> None:
        self.con.execute("COMMIT")

    def rollback(self) -> None:
        self.con.execute("ROLLBACK")

    def lock_campaign(self, name: str) -> None:
        """Nothing to do: ``BEGIN IMMEDIATE`` already made this the only writer."""

    def migration_engine(self):
        import sqlalchemy as sa
        from sqlalchemy.pool import NullPool

        path = str(self.path)
        engine = sa.create_engine("sqlite://", poolclass=NullPool,
                                  creator=lambda: sqlite3.connect(path, timeout=30, isolation_level=None))

        @sa.event.listens_for(engine, "begin")
        def _begin_immediate(conn):  # the migration is one transaction holding the write lock
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine

    def lock_migrations(self, conn) -> None:
        """Nothing to do: the migration's ``BEGIN IMMEDIATE`` holds the write lock."""

    def close(self) -> None:
        self.con.close()


class _Row(tuple):
    """A PostgreSQL row read like ``sqlite3.Row``: by position, by column name, and ``dict(row)``."""

    def __new__(cls, values, names: list[str], index: dict[str, int]):
        row = super().__new__(cls, values)
        row._names, row._index = names, index
        return row

    def __getitem__(self, key):
        if isinstance(key, str):
            return tuple.__getitem__(self, self._index[key])
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self._names)


def _row_factory(cursor):
    names = [c.name for c in cursor.description or ()]
    index = {n: i for i, n in enumerate(names)}
    return lambda values: _Row(values, names, index)


class _Postgres:
    """One psycopg 3 connection shared by the store's threads (the store serializes them).

    In autocommit mode outside the store's transactions; each transaction is READ COMMITTED,
    and the steps that must not interleave with another controller's (the budget check and
    its insert, taking over a campaign, an operator's decision) first take a transaction-level
    advisory lock on their campaign. A dropped connection (server restart, network) is reopened
    by the next read, which is retried once, or by the next transaction; a transaction that it
    broke fails (and is rolled back by the server).
    """

    kind = "postgresql"

    def __init__(self, where: StoreLocation):
        try:
            import psycopg
        except ImportError as err:
            raise StoreError(f"store {where.display!r}: PostgreSQL needs psycopg 3: pip install 'psycopg[binary]'") from err
        self._psycopg = psycopg
        self.url = where.url
        self.location = where.display
        self._sql: dict[str, str] = {}
        self.con = None
        self._in_transaction = False
        self._connect()

    def _connect(self) -> None:
        try:
            self.con = self._psycopg.connect(self.url, autocommit=True, row_factory=_row_factory,
                                             application_name="sdl", connect_timeout=30)
        except self._psycopg.Error as err:
            raise StoreError(f"store {self.location!r} cannot be reached ({_scrub(err, self.url)}); check that the "
                             "server runs, the user and password, and that the database exists (createdb NAME)") from err

    def _error(self, err: Exception) -> StoreError:
        return StoreError(f"store {self.location!r}: {type(err).__name__}: {_scrub(err, self.url)}")

    def check(self) -> None:
        """Nothing to vouch for before the schema is read: a database has no file header."""

    def configure(self) -> None:
        """Nothing to set: durability and isolation are the server's and each transaction's."""

    def execute(self, sql: str, args: tuple | list = ()):
        query = self._sql.get(sql)
        if query is None:  # the store's SQL has no '?' or '%' in literals
            query = self._sql[sql] = sql.replace("?", "%s")
        params = tuple(args) if args else None
        try:
            if self.con.broken and not self._in_transaction:
                self._reconnect()
            return self.con.execute(query, params)
        except self._psycopg.OperationalError as err:
            if self._in_transaction or not self.con.broken:
                raise self._error(err) from err
        except self._psycopg.Error as err:
            raise self._error(err) from err
        try:  # the connection dropped under a read (no transaction was open): once more on a new one
            self._reconnect()
            return self.con.execute(query, params)
        except self._psycopg.Error as err:
            raise self._error(err) from err

    def executemany(self, sql: str, rows: list) -> None:
        try:
            with self.con.cursor() as cur:
                cur.executemany(sql.replace("?", "%s"), rows)
        except self._psycopg.Error as err:
            raise self._error(err) from err

    def query(self, sql: str) -> list:
        return self.execute(sql).fetchall()

    def has_table(self, name: str) -> bool:
        return self.execute("SELECT 1 FROM information_schema.tables WHERE table_schema = current_schema() "
                            "AND table_name = ?", (name,)).fetchone() is not None

    def _reconnect(self) -> None:
        self.con.close()
        self._connect()

    def begin(self) -> None:
        self.execute("BEGIN ISOLATION LEVEL READ COMMITTED")
        self._in_transaction = True

    def commit(self) -> None:
        try:
            self.execute("COMMIT")
        finally:
            self._in_transaction = False

    def rollback(self) -> None:
        self._in_transaction = False
        if self.con.broken or self.con.closed:
            return  # the server rolls back a transaction whose connection is gone
        try:
            self.con.execute("ROLLBACK")
        except self._psycopg.Error:
            pass

    def lock_campaign(self, name: str) -> None:
        self.execute("SELECT pg_advisory_xact_lock(?)", (_lock_key(f"campaign:{name}"),))

    def migration_engine(self):
        import sqlalchemy as sa
        from sqlalchemy.pool import NullPool

        url = self.url
        return sa.create_engine("postgresql+psycopg://", poolclass=NullPool,
                                creator=lambda: self._psycopg.connect(url, application_name="sdl-migrate"))

    def lock_migrations(self, conn) -> None:
        import sqlalchemy as sa

        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _lock_key("migrations")})

    def close(self) -> None:
        if self.con is not None:
            self.con.close()


_Backend = _SQLite | _Postgres


def store_target(value: str | Path) -> Path | str:
    """What a store setting points at: a SQLite store as its :class:`~pathlib.Path`, a PostgreSQL
    store as its URL (``Path()`` would fold the URL's ``//``)."""
    where = StoreLocation.parse(value)
    return where.path if where.kind == "sqlite" else where.url
