"""Fixtures shared by the whole suite.

``store_url`` runs a test once per record-store backend: SQLite always, PostgreSQL when
``$SDL_TEST_POSTGRES_URL`` names a server (``eval "$(bash .ci/postgres.sh start)"`` sets
it). Each PostgreSQL test gets a database of its own, created from that URL's server and
dropped afterwards, so the URL's user needs the CREATEDB right.
"""

from __future__ import annotations

import os
import uuid
from contextlib import contextmanager
from typing import Iterator

import pytest

POSTGRES_ENV = "SDL_TEST_POSTGRES_URL"

needs_postgres = pytest.mark.skipif(
    not os.environ.get(POSTGRES_ENV),
    reason=f"no PostgreSQL server: set ${POSTGRES_ENV} (eval \"$(bash .ci/postgres.sh start)\") to run these",
)

BACKENDS = [pytest.param("sqlite", id="sqlite"), pytest.param("postgresql", id="postgresql", marks=needs_postgres)]


@contextmanager
def fresh_postgres_database(prefix: str = "sdl_test") -> Iterator[str]:
    """A new, empty database on the server of ``$SDL_TEST_POSTGRES_URL``; yields its URL."""
    import psycopg

    admin = os.environ[POSTGRES_ENV]
    base, _, query = admin.partition("?")
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    url = base.rsplit("/", 1)[0] + "/" + name + (f"?{query}" if query else "")
    with psycopg.connect(admin, autocommit=True) as con:
        con.execute(f'CREATE DATABASE "{name}"')
    try:
        yield url
    finally:
        with psycopg.connect(admin, autocommit=True) as con:
            con.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=BACKENDS)
def store_url(request, tmp_path) -> Iterator[str]:
    """Where a test's record store lives: a SQLite file path, or a fresh PostgreSQL database's URL."""
    if request.param == "sqlite":
        yield str(tmp_path / "records.sqlite")
    else:
        with fresh_postgres_database() as url:
            yield url


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database's URL (the test is skipped without ``$SDL_TEST_POSTGRES_URL``)."""
    if not os.environ.get(POSTGRES_ENV):
        pytest.skip(f"no PostgreSQL server: set ${POSTGRES_ENV} (eval \"$(bash .ci/postgres.sh start)\") to run this")
    with fresh_postgres_database() as url:
        yield url
