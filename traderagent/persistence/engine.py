"""Engines: which database to use, and how to connect to it.

The database is chosen once, in this order: an explicit URL (`--database-url`, a config value), the
`DATABASE_URL` environment variable (or `DATABASE_URL_FILE` naming a file that holds it), else a SQLite file `traderagent.db` in the user's data directory
(platformdirs), so a new user needs nothing. PostgreSQL URLs use psycopg 3 (`postgres://` and
`postgresql://` are normalised to `postgresql+psycopg://`) with a connection pool.

Errors are one line naming what to fix: a malformed URL names the part that is wrong, an unreachable server
names its host and port.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Engine

from traderagent.persistence.errors import DatabaseError, DatabaseUnreachable, DatabaseURLError

ENV_VAR = "DATABASE_URL"
EXAMPLES = "expected e.g. postgresql://USER@HOST:5432/DBNAME or sqlite:///PATH/TO/traderagent.db"
_PG_ALIASES = {"postgres", "postgresql"}
_SQLITE_DRIVERS = {"sqlite", "sqlite+pysqlite"}


@dataclass(frozen=True)
class EngineOptions:
    """Connection-pool settings (PostgreSQL; SQLite ignores the pool sizes)."""

    pool_size: int = 5
    max_overflow: int = 10
    pool_timeout: float = 30.0
    pool_recycle: int = 1800
    connect_timeout: int = 5
    echo: bool = False


def default_sqlite_path() -> Path:
    """`traderagent.db` in the user's data directory (e.g. ~/.local/share/traderagent on Linux)."""
    from platformdirs import user_data_dir

    return Path(user_data_dir("traderagent")) / "traderagent.db"


def mask(raw: str) -> str:
    """The URL text with any password replaced by ***, safe to print."""
    return re.sub(r"(://[^/@:]*:)[^/@]*@", r"\1***@", raw)


def _source(url: str | URL | None, label: str) -> tuple[str, str]:
    if url:
        return label, str(url)
    env = os.environ.get(ENV_VAR, "")
    if env.strip():
        return ENV_VAR, env.strip()
    file_name = os.environ.get(f"{ENV_VAR}_FILE", "").strip()
    if file_name:  # the URL with its password in a file (docker/k8s secrets), as the config loader allows
        try:
            text = Path(file_name).expanduser().read_text().strip()
        except OSError as exc:
            raise DatabaseURLError(
                f"{ENV_VAR}_FILE: cannot read {file_name}: {exc.strerror or exc}"
            ) from None
        if not text:
            raise DatabaseURLError(f"{ENV_VAR}_FILE: {file_name} is empty")
        return f"{ENV_VAR}_FILE", text
    return "default", f"sqlite:///{default_sqlite_path()}"


def _check_netloc(source: str, raw: str) -> None:
    """Name the host and port when the network part of a server URL is malformed."""
    try:
        parts = urlsplit(raw)
        host = parts.hostname or "localhost"
        port_text = parts.netloc.rpartition("@")[2].rpartition("]")[2].partition(":")[2]
    except ValueError as exc:
        raise DatabaseURLError(f"{source} {mask(raw)!r} is malformed ({exc}); {EXAMPLES}") from None
    if port_text and not port_text.isdigit():
        raise DatabaseURLError(
            f"{source} {mask(raw)!r}: port {port_text!r} of host {host!r} is not a number; {EXAMPLES}"
        )
    if port_text and not 0 < int(port_text) < 65536:
        raise DatabaseURLError(
            f"{source} {mask(raw)!r}: port {port_text} of host {host!r} is out of range; {EXAMPLES}"
        )


def resolve_url(url: str | URL | None = None, label: str = "database URL") -> URL:
    """The database URL to use (explicit, else $DATABASE_URL, else the default SQLite file), validated.

    `label` names an explicit URL in error messages (the CLI passes "--database-url").
    """
    if isinstance(url, URL):
        url = url.render_as_string(hide_password=False)
    source, raw = _source(url, label)
    if "://" in raw and not raw.startswith("sqlite"):
        _check_netloc(source, raw)
    try:
        parsed = sa.make_url(raw)
    except (sa.exc.ArgumentError, ValueError) as exc:
        raise DatabaseURLError(f"{source} {mask(raw)!r} is not a database URL ({exc}); {EXAMPLES}") from None
    driver = parsed.drivername
    if driver in _PG_ALIASES:
        return parsed.set(drivername="postgresql+psycopg")
    if driver == "postgresql+psycopg":
        return parsed
    if driver in _SQLITE_DRIVERS:
        return parsed
    raise DatabaseURLError(f"{source} {mask(raw)!r}: unsupported database driver {driver!r}; {EXAMPLES}")


def is_sqlite(url: URL) -> bool:
    return url.get_backend_name() == "sqlite"


def describe(url: URL) -> str:
    """Where the database is, for messages: `PostgreSQL at HOST:PORT/DB` or `SQLite at PATH`."""
    if is_sqlite(url):
        return f"SQLite at {url.database or ':memory:'}"
    return f"PostgreSQL at {url.host or 'localhost'}:{url.port or 5432}/{url.database or ''}"


def make_engine(url: str | URL | None = None, options: EngineOptions | None = None) -> Engine:
    """A sync engine: pooled for PostgreSQL; SQLite with foreign keys, WAL and real transactions."""
    opts = options or EngineOptions()
    resolved = resolve_url(url)
    if is_sqlite(resolved):
        return _sqlite_engine(resolved, opts)
    return sa.create_engine(
        resolved,
        pool_size=opts.pool_size,
        max_overflow=opts.max_overflow,
        pool_timeout=opts.pool_timeout,
        pool_recycle=opts.pool_recycle,
        pool_pre_ping=True,
        connect_args=_pg_connect_args(opts),
        echo=opts.echo,
    )


def _pg_connect_args(opts: EngineOptions) -> dict[str, Any]:
    # sessions in UTC: timestamps come back already in UTC, and server-side date functions agree with ours
    return {
        "connect_timeout": opts.connect_timeout,
        "application_name": "traderagent",
        "options": "-c TimeZone=UTC",
    }


def _sqlite_engine(url: URL, opts: EngineOptions) -> Engine:
    memory = url.database in (None, "", ":memory:")
    kwargs: dict[str, Any] = {"echo": opts.echo, "connect_args": {"timeout": 30, "check_same_thread": False}}
    if memory:
        kwargs["poolclass"] = sa.pool.StaticPool
    else:
        folder = Path(url.database).expanduser().parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DatabaseUnreachable(
                f"cannot create folder {folder} for {describe(url)}: {exc.strerror or exc}"
            ) from None
    engine = sa.create_engine(url, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # SQLAlchemy emits BEGIN itself (below): savepoints and DDL work
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        if not memory:
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        # IMMEDIATE takes the write lock up front: concurrent writers wait (busy timeout) instead of failing
        # when a read-then-write transaction finds its snapshot stale.
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def connection_error(url: URL, exc: BaseException) -> DatabaseError:
    """The one-line error for a failed connection, naming host and port (or the SQLite path)."""
    reason = " ".join(str(getattr(exc, "orig", None) or exc).split())
    reason = re.sub(r"\(Background on this error at: [^)]*\)", "", reason).strip()
    if is_sqlite(url):
        return DatabaseUnreachable(f"cannot open {describe(url)}: {reason}")
    return DatabaseUnreachable(
        f"cannot connect to PostgreSQL at {url.host or 'localhost'}:{url.port or 5432} "
        f"(database {url.database!r}, user {url.username!r}): {reason}; "
        f"check {ENV_VAR} / --database-url and that the server is running"
    )


def check_connection(engine: Engine) -> None:
    """Connect once; raise `DatabaseUnreachable` (one line) if the database cannot be reached."""
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    except (sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
        raise connection_error(engine.url, exc) from None


def make_async_engine(url: str | URL | None = None, options: EngineOptions | None = None) -> Any:
    """An SQLAlchemy `AsyncEngine` (psycopg 3 async on PostgreSQL, aiosqlite on SQLite).

    Needs the `greenlet` package (SQLAlchemy's asyncio extra), and `aiosqlite` for SQLite. Without them
    use `traderagent.persistence.aio.AsyncRepository`, which runs the sync repository in worker threads.
    """
    opts = options or EngineOptions()
    resolved = resolve_url(url)
    _require("greenlet", "sqlalchemy[asyncio]")
    from sqlalchemy.ext.asyncio import create_async_engine

    if is_sqlite(resolved):
        _require("aiosqlite", "aiosqlite")
        return create_async_engine(resolved.set(drivername="sqlite+aiosqlite"), echo=opts.echo)
    return create_async_engine(
        resolved,
        pool_size=opts.pool_size,
        max_overflow=opts.max_overflow,
        pool_timeout=opts.pool_timeout,
        pool_recycle=opts.pool_recycle,
        pool_pre_ping=True,
        connect_args=_pg_connect_args(opts),
        echo=opts.echo,
    )


def _require(module: str, package: str) -> None:
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise DatabaseError(
            f"the async engine needs the {module!r} package (pip install '{package}'), which is not installed; "
            "use traderagent.persistence.aio.AsyncRepository instead, which needs nothing extra"
        )
