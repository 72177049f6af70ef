"""Operators as identities: per-operator tokens, stored hashed, with a role each.

Roles, lowest first (after bluesky-queueserver's user groups): ``viewer`` reads,
``operator`` also pauses, resumes and stops, ``approver`` also approves and rejects robot
runs, ``admin`` may do everything. The ``operators`` table (migration 0003) holds the
name, the role, the token's hash, when the operator was created and, once revoked, when
(seconds since the epoch). A token is shown once, when it is made, and never stored.

These functions take an open :class:`~controller.records.store.RecordStore` and use its
transaction and query methods; they work on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

from controller.records.store import RecordStore
from core import SDLError

ROLES = ("viewer", "operator", "approver", "admin")  # each may do what the ones before it may


class OperatorError(SDLError):
    """Bad input to the operators table (unknown role, duplicate or empty name, unknown operator)."""


@dataclass(frozen=True)
class Operator:
    """One operator: ``created`` and ``revoked`` are seconds since the epoch (``revoked`` None while valid)."""

    name: str
    role: str
    created: float
    revoked: float | None = None

    def may(self, role: str) -> bool:
        """Whether this operator's role is ``role`` or above (a revoked operator may nothing)."""
        return self.revoked is None and ROLES.index(self.role) >= ROLES.index(role)


def token_hash(token: str) -> str:
    """The stored form of a token.

    A plain SHA-256 is enough here: the tokens are 256-bit random strings made by
    :func:`add_operator`, so there is nothing to guess and no password to slow down
    (a salted slow hash protects low-entropy human passwords, not these); and it lets a
    token be looked up by its hash (the column is UNIQUE).
    """
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _write(store: RecordStore, work):
    """Run ``work(db)`` as one write transaction of the store (retried whole after a lost
    PostgreSQL connection)."""
    return store._write(work)


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not name.strip():
        raise OperatorError("name: must not be empty (a name or initials, e.g. ada)")
    name = name.strip()
    if len(name) > 64 or not all(c.isalnum() or c in "._-@" for c in name):
        raise OperatorError(f"name {name!r}: allowed up to 64 letters, digits and . _ - @")
    return name


def add_operator(store: RecordStore, name: str, role: str) -> str:
    """Create an operator and return their new token (shown once; only its hash is stored).

    Raises:
        OperatorError: empty or malformed name, unknown role, or the name is taken.
    """
    name = _check_name(name)
    if role not in ROLES:
        raise OperatorError(f"role {role!r}: allowed {list(ROLES)}")
    token = secrets.token_urlsafe(32)  # 32 random bytes = 256 bits
    row = (name, role, token_hash(token), time.time())

    def work(db) -> None:
        if db.execute("SELECT 1 FROM operators WHERE name=?", (name,)).fetchone() is not None:
            raise OperatorError(f"name {name!r}: an operator of that name exists already; revoke it or choose another name")
        db.execute("INSERT INTO operators (name, role, token_hash, created, revoked) VALUES (?,?,?,?,NULL)", row)

    _write(store, work)
    return token


def list_operators(store: RecordStore) -> list[Operator]:
    """Every operator, revoked ones included, oldest first (never their tokens)."""
    with store._lock:
        rows = store._db.execute("SELECT name, role, created, revoked FROM operators ORDER BY created, name").fetchall()
    return [Operator(r["name"], r["role"], r["created"], r["revoked"]) for r in rows]


def revoke_operator(store: RecordStore, name: str) -> Operator:
    """Revoke an operator's token for good (the row stays: past actions name them).

    Raises:
        OperatorError: no such operator, or already revoked.
    """
    name = _check_name(name)
    now = time.time()

    def work(db) -> tuple[str, float]:
        row = db.execute("SELECT role, created, revoked FROM operators WHERE name=?", (name,)).fetchone()
        if row is None:
            known = [r[0] for r in db.execute("SELECT name FROM operators ORDER BY name").fetchall()]
            raise OperatorError(f"name {name!r}: no such operator; known: {known}")
        if row["revoked"] is not None:
            raise OperatorError(f"name {name!r}: already revoked at {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(row['revoked']))}")
        db.execute("UPDATE operators SET revoked=? WHERE name=?", (now, name))
        return row["role"], row["created"]

    role, created = _write(store, work)
    return Operator(name, role, created, now)


def has_operators(store: RecordStore) -> bool:
    """Whether the store has any operator (revoked ones count: revoking the last one must not
    fall back to the shared token)."""
    with store._lock:
        return store._db.execute("SELECT 1 FROM operators LIMIT 1").fetchone() is not None


def authenticate(store: RecordStore, token: str) -> Operator | None:
    """The operator whose token this is (revoked or not), or None for an unknown token."""
    digest = token_hash(token)
    with store._lock:
        row = store._db.execute("SELECT name, role, created, revoked, token_hash FROM operators WHERE token_hash=?",
                                (digest,)).fetchone()
    if row is None or not hmac.compare_digest(row["token_hash"], digest):
        return None
    return Operator(row["name"], row["role"], row["created"], row["revoked"])
