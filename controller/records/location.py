"""Where a record store lives (a SQLite file or a PostgreSQL URL), and the one way every command opens it."""

from __future__ import annotations

import os

import re
from dataclasses import dataclass
from pathlib import Path
from core import StoreError


DEFAULT_STORE = "runs/sdl.sqlite"  # beside the working directory, as a newcomer expects
STORE_FORMS = "a SQLite file path, sqlite:///PATH or postgresql://USER:PASSWORD@HOST:PORT/DATABASE"

_URL = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://")

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

def store_target(value: str | Path) -> Path | str:
    """What a store setting points at: a SQLite store as its :class:`~pathlib.Path`, a PostgreSQL
    store as its URL (``Path()`` would fold the URL's ``//``)."""
    where = StoreLocation.parse(value)
    return where.path if where.kind == "sqlite" else where.url


def default_store() -> str:
    """The store a reading command uses when none is given: ``$SDL_STORE``, else :data:`DEFAULT_STORE`."""
    return os.environ.get("SDL_STORE", DEFAULT_STORE)
