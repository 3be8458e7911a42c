"""Backup and restore of the whole database.

PostgreSQL: `pg_dump --format=custom` and `pg_restore --clean --if-exists --single-transaction` (the client
tools must be on PATH, same major version as the server or newer). The password, if any, is passed in the
environment, never on the command line. SQLite: the sqlite3 online backup API, which copies a consistent
snapshot even while the runner writes; the backup is a plain single-file SQLite database.

A backup can only be restored into the same kind of database it came from; `restore` checks the file first.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import URL

from traderagent.persistence.engine import (
    EngineOptions,
    check_connection,
    describe,
    is_sqlite,
    make_engine,
    resolve_url,
)
from traderagent.persistence.errors import BackupError
from traderagent.persistence.models import TABLES, VERSION_TABLE

SQLITE_MAGIC = b"SQLite format 3\x00"
PG_MAGIC = b"PGDMP"


@dataclass(frozen=True)
class BackupInfo:
    path: Path
    size: int
    source: str  # describe(url) of the database backed up or restored into


def backup(url: str | URL | None, path: str | Path) -> BackupInfo:
    """Write a backup of the database to `path` (replaced atomically if it exists)."""
    resolved, target = resolve_url(url), Path(path).expanduser()
    if not target.parent.is_dir():
        raise BackupError(f"cannot write backup {target}: folder {target.parent} does not exist")
    tmp = target.with_name(target.name + ".part")
    try:
        if is_sqlite(resolved):
            _sqlite_backup(_sqlite_path(resolved, must_exist=True), tmp)
        else:
            _check_reachable(resolved)
            _run_pg_tool(
                "pg_dump", resolved, ["--format=custom", "--no-owner", "--no-privileges", f"--file={tmp}"]
            )
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)
    return BackupInfo(target, target.stat().st_size, describe(resolved))


def restore(url: str | URL | None, path: str | Path) -> BackupInfo:
    """Replace the database's TraderAgent data with the backup in `path`."""
    resolved, source = resolve_url(url), Path(path).expanduser()
    if not source.is_file():
        raise BackupError(f"backup file {source} does not exist")
    with source.open("rb") as fh:
        head = fh.read(len(SQLITE_MAGIC))
    kind = "SQLite" if head.startswith(SQLITE_MAGIC) else "PostgreSQL" if head.startswith(PG_MAGIC) else None
    target_kind = "SQLite" if is_sqlite(resolved) else "PostgreSQL"
    if kind is None:
        raise BackupError(
            f"{source} is not a TraderAgent backup (neither a SQLite file nor a pg_dump archive)"
        )
    if kind != target_kind:
        raise BackupError(f"{source} is a {kind} backup but the database is {describe(resolved)}; "
                          f"restore it into a {kind} database")  # fmt: skip
    if is_sqlite(resolved):
        _sqlite_restore(source, _sqlite_path(resolved, must_exist=False))
    else:
        _check_reachable(resolved)
        _run_pg_tool("pg_restore", resolved, ["--clean", "--if-exists", "--no-owner", "--no-privileges",
                                              "--single-transaction", "--exit-on-error", str(source)])  # fmt: skip
    return BackupInfo(source, source.stat().st_size, describe(resolved))


def table_checksums(url: str | URL | None) -> dict[str, tuple[int, str]]:
    """(row count, sha256 of the rows in primary-key order) of every TraderAgent table in the database.

    Equal before a backup and after its restore: what `traderagent db restore` reports and the tests check.
    """
    engine = make_engine(resolve_url(url), EngineOptions(pool_size=1, max_overflow=0))
    out: dict[str, tuple[int, str]] = {}
    try:
        check_connection(engine)
        present = set(sa.inspect(engine).get_table_names())
        with engine.connect() as conn:
            for table in TABLES:
                if table.name not in present:
                    continue
                digest, count = hashlib.sha256(), 0
                for row in conn.execute(sa.select(table).order_by(*table.primary_key.columns)):
                    digest.update(json.dumps([_canonical(v) for v in row], sort_keys=True).encode())
                    count += 1
                out[table.name] = (count, digest.hexdigest())
    finally:
        engine.dispose()
    return out


def _canonical(value: object) -> object:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, bytes | memoryview):
        return bytes(value).hex()
    return value


# -- SQLite ---------------------------------------------------------------------------------------------
def _sqlite_path(url: URL, must_exist: bool) -> Path:
    if url.database in (None, "", ":memory:"):
        raise BackupError("an in-memory SQLite database cannot be backed up or restored; use a file")
    path = Path(url.database).expanduser()
    if must_exist and not path.is_file():
        raise BackupError(f"no database at {path} to back up (DATABASE_URL / --database-url)")
    return path


def _sqlite_backup(source: Path, target: Path) -> None:
    src = sqlite3.connect(source)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
        dst.execute("PRAGMA journal_mode=DELETE")  # the backup is one self-contained file
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"cannot back up SQLite at {source}: {exc}") from None
    finally:
        dst.close()
        src.close()


def _sqlite_restore(source: Path, target: Path) -> None:
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        try:
            found = src.execute(
                "SELECT name FROM sqlite_master WHERE type='table' AND name=?", (VERSION_TABLE,)
            )
            has_version = found.fetchone() is not None
        except sqlite3.DatabaseError as exc:
            raise BackupError(f"{source} is not a readable SQLite backup: {exc}") from None
        if not has_version:
            raise BackupError(
                f"{source} is a SQLite file but not a TraderAgent backup (no {VERSION_TABLE} table)"
            )
        target.parent.mkdir(parents=True, exist_ok=True)
        dst = sqlite3.connect(target, timeout=30)
        try:
            src.backup(dst)
        except sqlite3.DatabaseError as exc:
            raise BackupError(f"cannot restore into SQLite at {target}: {exc}") from None
        finally:
            dst.close()
    finally:
        src.close()


# -- PostgreSQL -----------------------------------------------------------------------------------------
def _check_reachable(url: URL) -> None:
    engine = make_engine(url, EngineOptions(pool_size=1, max_overflow=0))
    try:
        check_connection(engine)
    finally:
        engine.dispose()


def libpq_url(url: URL) -> str:
    """The URL as libpq understands it (no SQLAlchemy driver name, no password: that goes in PGPASSWORD)."""
    plain = sa.URL.create("postgresql", url.username, None, url.host, url.port, url.database, url.query)
    return plain.render_as_string(hide_password=False)


def _run_pg_tool(tool: str, url: URL, args: list[str]) -> None:
    exe = shutil.which(tool)
    if exe is None:
        raise BackupError(f"{tool} not found on PATH: install the PostgreSQL client tools "
                          "(e.g. apt install postgresql-client) of the server's major version")  # fmt: skip
    env = dict(os.environ)
    if url.password is not None:
        env["PGPASSWORD"] = str(url.password)
    proc = subprocess.run([exe, f"--dbname={libpq_url(url)}", *args], capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        lines = [ln.strip() for ln in proc.stderr.splitlines() if ln.strip()]
        detail = next(
            (ln for ln in lines if "error" in ln.lower()), lines[0] if lines else f"exit {proc.returncode}"
        )
        raise BackupError(f"{tool} failed for {describe(url)}: {detail}")
