"""The one way every command opens an existing record store."""

from __future__ import annotations

from pathlib import Path

from controller.records.location import StoreLocation, default_store
from controller.records.store import RecordStore
from core import StoreError


def open_store(target: str | Path | None = None) -> RecordStore:
    """Open an existing record store for a reading command (every ``sdl`` command opens it here).

    Args:
        target: a SQLite path or a database URL; None for :func:`default_store`.

    Raises:
        StoreError: no SQLite file there (a database server's store is always there), or
            the store cannot be opened (see :class:`~controller.records.store.RecordStore`).
    """
    if isinstance(target, RecordStore):
        return target
    text = str(target) if target is not None else default_store()
    if not store_exists(text):
        raise StoreError(f"no record store at {text!r}; run a campaign first or pass --store")
    return RecordStore(text)


def store_exists(target: str | Path) -> bool:
    """Whether there is a store to read: a SQLite file must exist; a database server's store
    always does (its tables are made when it is first opened)."""
    where = StoreLocation.parse(target)
    return where.kind != "sqlite" or where.path.exists()
