"""Choosing and reaching the database: URL precedence, driver normalisation, masking, async engines, and the
test harness itself (an unreachable PostgreSQL fails CI; it is never skipped there)."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from integration.pg import create_database, database_exists, db_url, drop_database, pg_database  # noqa: F401

from traderagent.persistence import DatabaseError, OrderRecord, Repository
from traderagent.persistence.engine import default_sqlite_path, describe, make_async_engine, mask, resolve_url

TESTS_DIR = Path(__file__).resolve().parents[1]


def test_url_precedence_explicit_then_environment_then_user_file(monkeypatch, tmp_path: Path):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert default_sqlite_path() == tmp_path / "traderagent" / "traderagent.db"
    assert resolve_url().database == str(tmp_path / "traderagent" / "traderagent.db")
    monkeypatch.setenv("DATABASE_URL", "postgres://trader:pw@db.internal:6543/live")
    env = resolve_url()
    assert (env.drivername, env.host, env.port, env.database) == (
        "postgresql+psycopg",
        "db.internal",
        6543,
        "live",
    )
    assert resolve_url("sqlite:///explicit.db").database == "explicit.db"
    monkeypatch.delenv("DATABASE_URL")
    (tmp_path / "db_url").write_text("postgresql://trader:pw@secret-host/live\n")
    monkeypatch.setenv("DATABASE_URL_FILE", str(tmp_path / "db_url"))
    assert resolve_url().host == "secret-host"
    monkeypatch.setenv("DATABASE_URL_FILE", str(tmp_path / "missing"))
    with pytest.raises(DatabaseError, match="DATABASE_URL_FILE: cannot read .*missing"):
        resolve_url()
    assert describe(env) == "PostgreSQL at db.internal:6543/live"
    assert (
        mask("postgresql://trader:pw@db.internal:6543/live")
        == "postgresql://trader:***@db.internal:6543/live"
    )


def test_concurrent_writers_of_one_client_order_id_make_one_order(db_url: str):  # noqa: F811
    """Eight runners race to record the same order: the database keeps one row, nobody sees an error."""
    errors: list[BaseException] = []
    with Repository(db_url) as setup:
        setup.upsert_strategy("grid-1", "grid")
    repos = [Repository(db_url) for _ in range(8)]
    barrier = threading.Barrier(len(repos))

    def race(repo: Repository) -> None:
        try:
            repo.ensure_ready()
            barrier.wait()
            repo.record_order(
                OrderRecord("same", "grid-1", "binance", "BTC/USDT", "buy", "limit", "1", price="10")
            )
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=race, args=(r,)) for r in repos]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for r in repos:
        r.close()
    assert errors == []
    with Repository(db_url) as repo:
        assert [o.client_order_id for o in repo.list_orders()] == ["same"]


def test_async_engine_needs_greenlet_and_says_so_or_works(db_url: str):  # noqa: F811
    """SQLAlchemy's AsyncEngine needs greenlet (and aiosqlite for SQLite); without them the error says which."""
    needs = ["greenlet"] + (["aiosqlite"] if db_url.startswith("sqlite") else [])
    missing = [m for m in needs if importlib.util.find_spec(m) is None]
    if missing:
        with pytest.raises(DatabaseError, match=f"needs the '{missing[0]}' package .*AsyncRepository"):
            make_async_engine(db_url)
        return
    from sqlalchemy import text

    async def main() -> int:
        engine = make_async_engine(db_url)
        try:
            async with engine.connect() as conn:
                return (await conn.execute(text("SELECT 41 + 1"))).scalar_one()
        finally:
            await engine.dispose()

    assert asyncio.run(main()) == 42


def test_throwaway_databases_are_created_and_dropped(pg_database: str):  # noqa: F811
    url = create_database("traderagent_probe")
    assert database_exists(url)
    drop_database(url)
    assert not database_exists(url)
    assert database_exists(pg_database)


PROBE = """
from integration.pg import db_url, pg_database  # noqa: F401

def test_probe(db_url):
    assert db_url
"""


@pytest.mark.parametrize(
    ("ci", "expected", "code"), [("true", "1 passed, 1 error", 1), ("", "1 passed, 1 skipped", 0)]
)
def test_unreachable_postgres_fails_under_ci_and_only_skips_elsewhere(
    tmp_path: Path, ci: str, expected: str, code: int
):
    (tmp_path / "test_probe.py").write_text(PROBE)
    env = {**os.environ, "CI": ci, "TRADERAGENT_TEST_PG": "postgresql://postgres@127.0.0.1:1/test",
           "PYTHONPATH": str(TESTS_DIR)}  # fmt: skip
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", "-c", os.devnull,
         "--rootdir", str(tmp_path), str(tmp_path / "test_probe.py")],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120,
    )  # fmt: skip
    assert proc.returncode == code, proc.stdout + proc.stderr
    assert expected in proc.stdout
    assert "127.0.0.1:1" in proc.stdout
    if ci:
        assert "CI=true: PostgreSQL tests are never skipped" in proc.stdout


def test_processes_starting_together_on_an_empty_database_create_the_schema_once(db_url: str):  # noqa: F811
    errors: list[BaseException] = []
    repos = [Repository(db_url) for _ in range(6)]
    barrier = threading.Barrier(len(repos))

    def start(repo: Repository) -> None:
        try:
            barrier.wait()
            repo.ensure_ready()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(r,)) for r in repos]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    for r in repos:
        r.close()
    assert errors == []
    with Repository(db_url, auto_migrate=False) as repo:
        assert repo.list_strategies() == []
