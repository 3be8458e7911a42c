"""Databases for integration tests: the same test runs on SQLite and on the real PostgreSQL.

Import the fixtures into a test module with `from integration.pg import db_url, pg_database  # noqa: F401`
(tests/ is on sys.path through tests/conftest.py).

PostgreSQL: $TRADERAGENT_TEST_PG (default postgresql://postgres@127.0.0.1:5432/test, trust auth). One
throwaway database is created per test session and dropped at the end; each test starts from an empty
`public` schema. Under CI=true an unreachable server fails the run; on a developer's machine the PostgreSQL
half is skipped with the reason.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
ADMIN_URL = os.environ.get("TRADERAGENT_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
BACKENDS = ("sqlite", "postgresql")


def _admin() -> sa.Engine:
    url = sa.make_url(ADMIN_URL).set(drivername="postgresql+psycopg")
    return sa.create_engine(
        url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool, connect_args={"connect_timeout": 5}
    )


def postgres_unavailable() -> str | None:
    """Why the test server cannot be used, or None when it can."""
    engine = _admin()
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    except sa.exc.OperationalError as exc:
        return " ".join(str(exc.orig).split())
    finally:
        engine.dispose()
    return None


def require_postgres() -> None:
    """Fail (under CI) or skip (elsewhere) when the PostgreSQL test server cannot be reached."""
    reason = postgres_unavailable()
    if reason is None:
        return
    message = f"PostgreSQL test server {ADMIN_URL} unreachable: {reason}"
    if IN_CI:
        pytest.fail(message + " (CI=true: PostgreSQL tests are never skipped)", pytrace=False)
    pytest.skip(message)


def create_database(prefix: str = "traderagent_test") -> str:
    """CREATE a fresh database on the test server; returns its URL.

    Its commits do not wait for the WAL's flush to disk (`synchronous_commit = off`, a server setting that changes
    nothing a client sees): a flushed commit costs ~5 ms on the CI machine's disk and the live tests commit every
    bar of a year. The tests kill clients, never the server, and a killed client loses nothing either way."""
    name = f"{prefix}_{os.getpid()}_{secrets.token_hex(4)}"
    engine = _admin()
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
            conn.exec_driver_sql(f'ALTER DATABASE "{name}" SET synchronous_commit = off')
    finally:
        engine.dispose()
    return sa.make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)


def drop_database(url: str) -> None:
    name = sa.make_url(url).database
    engine = _admin()
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        engine.dispose()


def database_exists(url: str) -> bool:
    engine = _admin()
    try:
        with engine.connect() as conn:
            found = conn.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": sa.make_url(url).database})
            return found.first() is not None
    finally:
        engine.dispose()


def reset_schema(url: str) -> None:
    """Empty the database: drop and recreate the public schema."""
    engine = sa.create_engine(sa.make_url(url).set(drivername="postgresql+psycopg"), poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP SCHEMA public CASCADE")
            conn.exec_driver_sql("CREATE SCHEMA public")
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """URL of a throwaway PostgreSQL database for this test session (dropped afterwards)."""
    require_postgres()
    url = create_database()
    try:
        yield url
    finally:
        drop_database(url)


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database, once on SQLite (a file in tmp_path) and once on PostgreSQL."""
    if request.param == "sqlite":
        return sqlite_url(tmp_path / "traderagent.db")
    url = request.getfixturevalue("pg_database")
    reset_schema(url)
    return url
