"""The record store: campaigns, samples, Bluesky documents and campaign events in SQLite.

SQLite in WAL mode with ``synchronous=FULL``: every sample, with its Bluesky
documents, is written in one transaction, so a crash leaves either the whole
sample or none of it.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from core import StoreError
from controller.records import Sample

SCHEMA_VERSION = 1
APPLICATION_ID = 0x53444C31  # "SDL1": marks a file as this project's store

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS campaigns (
    name TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    config_json TEXT NOT NULL,
    budget REAL NOT NULL,
    status TEXT NOT NULL,
    stop_reason TEXT,
    owner TEXT,
    created REAL NOT NULL,
    updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS samples (
    id TEXT PRIMARY KEY,
    campaign TEXT NOT NULL REFERENCES campaigns(name),
    seq INTEGER NOT NULL,
    fidelity TEXT NOT NULL,
    status TEXT NOT NULL,
    cost REAL NOT NULL,
    run_uid TEXT,
    created REAL NOT NULL,
    completed REAL,
    record_json TEXT NOT NULL,
    UNIQUE (campaign, seq)
);
CREATE INDEX IF NOT EXISTS samples_campaign ON samples(campaign, seq);
CREATE TABLE IF NOT EXISTS documents (
    run_uid TEXT NOT NULL,
    seq INTEGER NOT NULL,
    name TEXT NOT NULL,
    doc_json TEXT NOT NULL,
    PRIMARY KEY (run_uid, seq)
);
CREATE TABLE IF NOT EXISTS sample_runs (
    sample_id TEXT NOT NULL REFERENCES samples(id),
    attempt INTEGER NOT NULL,
    run_uid TEXT NOT NULL UNIQUE,
    PRIMARY KEY (sample_id, attempt)
);
CREATE TABLE IF NOT EXISTS campaign_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    campaign TEXT NOT NULL,
    time REAL NOT NULL,
    kind TEXT NOT NULL,
    payload_json TEXT NOT NULL
);
"""


class RecordStore:
    """Persistent store of campaigns and their samples.

    Args:
        path: SQLite file; its folder is created if needed.

    Raises:
        StoreError: the file is not a SQLite database of this project, or is corrupt.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._lock = threading.RLock()
        existed = self.path.exists() and self.path.stat().st_size > 0
        if not existed:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None, timeout=30)
            self._db.row_factory = sqlite3.Row
            if existed:
                self._check_existing()
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA foreign_keys=ON")
            if not existed:
                with self._transaction() as db:
                    db.execute(f"PRAGMA application_id={APPLICATION_ID}")
                    for statement in SCHEMA.strip().split(";"):
                        if statement.strip():
                            db.execute(statement)
                    db.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
        except sqlite3.DatabaseError as err:
            raise StoreError(
                f"store {str(self.path)!r} is not a readable record store ({err}); move it aside or give another store path"
            ) from err

    def _check_existing(self) -> None:
        try:
            app_id = self._db.execute("PRAGMA application_id").fetchone()[0]
            ok = self._db.execute("PRAGMA quick_check").fetchone()[0]
        except sqlite3.DatabaseError as err:
            raise StoreError(f"store {str(self.path)!r} is corrupt or not SQLite ({err}); move it aside or give another store path") from err
        if ok != "ok":
            raise StoreError(f"store {str(self.path)!r} failed its integrity check ({ok}); restore it from a backup or move it aside")
        if app_id != APPLICATION_ID:
            raise StoreError(f"{str(self.path)!r} is a SQLite file but not an sdl record store; give another store path")
        version = self._db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        if version is None or int(version[0]) > SCHEMA_VERSION:
            raise StoreError(f"store {str(self.path)!r} has schema version {version and version[0]}, this sdl reads up to {SCHEMA_VERSION}; upgrade sdl")

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            else:
                self._db.execute("COMMIT")

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
                    f"store {str(self.path)!r} already holds a campaign {name!r} with a different search space, objective or fidelities; "
                    "rename the campaign or give another store path"
                )
            holder = row["owner"]
            if owner and row["status"] == "running" and holder and holder != owner and _alive(holder):
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
            raise StoreError(f"no campaign {name!r} in {str(self.path)!r}; known: {self.campaign_names()}")
        return dict(row)

    def campaign_names(self) -> list[str]:
        with self._lock:
            return [r[0] for r in self._db.execute("SELECT name FROM campaigns ORDER BY created")]

    def finish_campaign(self, name: str, status: str, reason: str) -> None:
        with self._transaction() as db:
            db.execute("UPDATE campaigns SET status=?, stop_reason=?, owner=NULL, updated=? WHERE name=?",
                       (status, reason, time.time(), name))
            db.execute(
                "INSERT INTO campaign_events (campaign, time, kind, payload_json) VALUES (?,?,?,?)",
                (name, time.time(), f"campaign_{status}", json.dumps({"reason": reason})),
            )

    def log_event(self, campaign: str, kind: str, payload: dict[str, Any]) -> None:
        with self._transaction() as db:
            db.execute(
                "INSERT INTO campaign_events (campaign, time, kind, payload_json) VALUES (?,?,?,?)",
                (campaign, time.time(), kind, json.dumps(payload, default=str)),
            )

    def events(self, campaign: str) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM campaign_events WHERE campaign=? ORDER BY id", (campaign,)).fetchall()
        return [{**dict(r), "payload": json.loads(r["payload_json"])} for r in rows]

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
        if sample.status != "running":
            raise StoreError(f"sample {sample.id}: begin_sample needs status 'running', got {sample.status!r}")
        values = _columns(sample)  # serialized before the lock is taken
        with self._transaction() as db:
            if budget is not None:
                spent = db.execute("SELECT COALESCE(SUM(cost), 0) FROM samples WHERE campaign=?", (sample.campaign,)).fetchone()[0]
                if spent + sample.cost > budget + 1e-9:
                    raise StoreError(f"sample {sample.id}: its cost {sample.cost:g} would exceed the budget "
                                     f"({spent:g} of {budget:g} cost units already committed)")
            db.execute("INSERT INTO samples VALUES (?,?,?,?,?,?,?,?,?,?)", (sample.id, *values))

    def attach_run(self, sample_id: str, run_uid: str) -> None:
        """Link a running sample to the Bluesky run that makes it (at the run's start document).

        A retried sample has one run per attempt; the sample's ``run_uid`` is the latest.
        """
        with self._transaction() as db:
            attempt = db.execute("SELECT COUNT(*) FROM sample_runs WHERE sample_id=?", (sample_id,)).fetchone()[0] + 1
            db.execute("INSERT INTO sample_runs VALUES (?,?,?)", (sample_id, attempt, run_uid))
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
            db.execute("INSERT INTO documents VALUES (?,?,?,?)",
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
                db.execute("INSERT INTO samples VALUES (?,?,?,?,?,?,?,?,?,?)", (sample.id, *values))
            elif row["status"] == "running":
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
                    "INSERT INTO documents VALUES (?,?,?,?)",
                    [(sample.run_uid, start + i, name, json.dumps(doc, default=_json_default)) for i, (name, doc) in enumerate(documents)],
                )
            db.execute(
                "INSERT INTO campaign_events (campaign, time, kind, payload_json) VALUES (?,?,?,?)",
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
        """Finished samples (completed, failed, interrupted) in dispatch order."""
        where = "" if include_running else " AND status != 'running'"
        with self._lock:
            rows = self._db.execute(f"SELECT record_json FROM samples WHERE campaign=?{where} ORDER BY seq", (campaign,)).fetchall()
        return [self._decode(r[0]) for r in rows]

    def sample(self, sample_id: str) -> Sample:
        with self._lock:
            row = self._db.execute("SELECT record_json FROM samples WHERE id=?", (sample_id,)).fetchone()
        if row is None:
            raise StoreError(f"no sample {sample_id!r} in {str(self.path)!r}")
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
            raise StoreError(f"a sample record in {str(self.path)!r} is corrupt ({err})") from err


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
