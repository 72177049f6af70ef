"""The store's two database backends (SQLite, PostgreSQL) behind one small interface, and the schema-revision check."""

from __future__ import annotations

import hashlib
import logging
import math
import os
import re
import sqlite3
import time
from pathlib import Path
from typing import Callable
from core import StoreError
from controller.records.location import StoreLocation

log = logging.getLogger(__name__)

RETRY_ENV = "SDL_STORE_RETRY_S"
DEFAULT_RETRY_S = 60.0


class ConnectionLost(StoreError):
    """The database connection dropped inside a transaction: the server rolled it back, so
    the whole transaction may be tried again (see ``RecordStore._write``)."""


def retry_window() -> float:
    """How long a lost PostgreSQL connection is waited for, in seconds (``$SDL_STORE_RETRY_S``, default 60)."""
    text = os.environ.get(RETRY_ENV)
    if text is None:
        return DEFAULT_RETRY_S
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value >= 0):
        raise StoreError(f"{RETRY_ENV}={text!r}: give seconds, a finite number >= 0 (default {DEFAULT_RETRY_S:g})")
    return value


# 2: approvals and controls (operator decisions); 3: operators (identities, roles);
# 4: integrity (the hash chain of records, lease heartbeats, write tokens)
SCHEMA_VERSION = 4

# Alembic revision of each schema version (REVISIONS[v - 1]); the last is the newest.
REVISIONS = ("0001", "0002", "0003", "0004")

HEAD_REVISION = REVISIONS[-1]

APPLICATION_ID = 0x53444C31  # "SDL1": marks a SQLite file as this project's store

# schema versions -----------------------------------------------------------
def schema_state(query: Callable[[str], list], has_table: Callable[[str], bool], location: str) -> tuple[str | None, bool]:
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

def scrub(err: BaseException, url: str) -> str:
    """An error's text without the store's password, should a driver ever quote it."""
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    password = re.match(r"^[^:]+://[^:/?#@]*:([^@/?#]*)@", url)
    if password and password[1]:
        text = text.replace(password[1], "***")
    return text

# backends --------------------------------------------------------------------
class SQLiteBackend:
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
        self._enter_wal()
        self.con.execute("PRAGMA synchronous=FULL")
        self.con.execute("PRAGMA foreign_keys=ON")

    def _enter_wal(self, wait_s: float = 30.0) -> None:
        """Put the file in WAL mode, waiting out other connections as a write would.

        SQLite does not call the busy handler when it switches a file into WAL mode: with
        another controller reading the new file at that moment, the switch fails at once with
        "database is locked". It is retried here for as long as a write would wait.
        """
        deadline = time.monotonic() + wait_s
        pause = 0.005
        while True:
            try:
                if self.con.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                    self.con.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as err:
                if "locked" not in str(err) or time.monotonic() >= deadline:
                    raise
            time.sleep(pause)
            pause = min(pause * 2, 0.2)

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

class PostgresBackend:
    """One psycopg 3 connection shared by the store's threads (the store serializes them).

    In autocommit mode outside the store's transactions; each transaction is READ COMMITTED,
    and the steps that must not interleave with another controller's (the budget check and
    its insert, taking over a campaign, an operator's decision) first take a transaction-level
    advisory lock on their campaign. A dropped connection (server restart, network) is waited
    for: a read outside a transaction reconnects with backoff for up to :func:`retry_window`
    seconds (each attempt logged at WARNING) and runs again; a statement inside a transaction
    raises :class:`ConnectionLost` (the server rolled the transaction back) and the store
    retries the whole transaction.
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
            raise StoreError(f"store {self.location!r} cannot be reached ({scrub(err, self.url)}); check that the "
                             "server runs, the user and password, and that the database exists (createdb NAME)") from err

    def _error(self, err: Exception) -> StoreError:
        return StoreError(f"store {self.location!r}: {type(err).__name__}: {scrub(err, self.url)}")

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
            if (self.con.broken or self.con.closed) and not self._in_transaction:
                self._reconnect_waiting()
            return self.con.execute(query, params)
        except self._psycopg.OperationalError as err:
            if not self._lost():
                raise self._error(err) from err
            if self._in_transaction:
                raise ConnectionLost(f"store {self.location!r}: the connection dropped in a transaction "
                                     f"({scrub(err, self.url)})") from err
            lost = err
        except self._psycopg.Error as err:
            raise self._error(err) from err
        # the connection dropped under a read (no transaction was open): again on a new one
        self._reconnect_waiting(lost)
        return self.execute(sql, args)

    def _lost(self) -> bool:
        return self.con.broken or self.con.closed

    def _reconnect_waiting(self, cause: BaseException | None = None) -> None:
        """Reopen the connection, waiting with backoff (0.25 s doubling to 5 s) for up to
        :func:`retry_window` seconds: a server restart takes a few seconds. Each attempt is
        logged at WARNING with its number.

        Raises:
            StoreError: the server did not come back in time.
        """
        deadline = time.monotonic() + retry_window()
        attempt, why = 0, scrub(cause, self.url) if cause is not None else "the connection is closed"
        while True:
            attempt += 1
            log.warning("store %s: connection lost (%s); reconnecting, attempt %d", self.location, why, attempt)
            try:
                self._reconnect()
                return
            except StoreError as err:
                delay = min(0.25 * 2 ** (attempt - 1), 5.0)
                if time.monotonic() + delay > deadline:
                    raise StoreError(f"{err} (gave up after {attempt} attempts in {retry_window():g} s; "
                                     f"${RETRY_ENV} sets how long to wait)") from err
                why = str(err)
                time.sleep(delay)

    def executemany(self, sql: str, rows: list) -> None:
        try:
            with self.con.cursor() as cur:
                cur.executemany(sql.replace("?", "%s"), rows)
        except self._psycopg.OperationalError as err:
            if self._lost():
                raise ConnectionLost(f"store {self.location!r}: the connection dropped in a transaction "
                                     f"({scrub(err, self.url)})") from err
            raise self._error(err) from err
        except self._psycopg.Error as err:
            raise self._error(err) from err

    def query(self, sql: str) -> list:
        return self.execute(sql).fetchall()

    def has_table(self, name: str) -> bool:
        return self.execute("SELECT 1 FROM information_schema.tables WHERE table_schema = current_schema() "
                            "AND table_name = ?", (name,)).fetchone() is not None

    def _reconnect(self) -> None:
        if self.con is not None:
            self.con.close()
        self._connect()

    def begin(self) -> None:
        self._in_transaction = False  # a connection lost since is reopened (waiting) before BEGIN
        self.execute("BEGIN ISOLATION LEVEL READ COMMITTED")
        self._in_transaction = True

    def reopen(self) -> None:
        """After a lost connection: wait for the server again (see ``_reconnect_waiting``)."""
        self._in_transaction = False
        self._reconnect_waiting()

    def commit(self) -> None:
        try:
            self.execute("COMMIT")
        finally:
            self._in_transaction = False

    def rollback(self) -> None:
        self._in_transaction = False
        if self._lost():
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

Backend = SQLiteBackend | PostgresBackend
