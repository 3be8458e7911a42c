"""Schema migrations with Alembic, configured in code (no alembic.ini) so they work from an installed wheel.

The scripts live in `traderagent/persistence/migrations/` inside the package; the version table is
`traderagent_alembic_version`. `ensure_schema` creates the schema in an empty database (a new user's SQLite
file needs nothing) and refuses to run against a database at another revision.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

from traderagent.persistence.engine import describe
from traderagent.persistence.errors import SchemaError
from traderagent.persistence.models import VERSION_TABLE, Base

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
#: Alembic keeps its migration context in module globals: one migration at a time per process.
_ALEMBIC = threading.Lock()
APP_TABLES = frozenset(Base.metadata.tables)


def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    """Autogenerate looks only at this app's tables (optuna and others may share the database)."""
    if type_ == "table":
        return name in APP_TABLES
    return True


def render_item(type_: str, obj: Any, autogen_context: Any) -> str | bool:
    """Spell our column types with the constants of script.py.mako, so migrations never import the models."""
    if type_ != "type":
        return False
    name = type(obj).__name__
    if name == "Money":
        return "MONEY"
    if name == "UTCDateTime":
        return "UTC_DATETIME"
    if name == "Variant" or (name == "JSON" and getattr(obj, "_variant_mapping", None)):
        return "JSON"
    return False


def _context_options() -> dict[str, Any]:
    return {
        "target_metadata": Base.metadata,
        "version_table": VERSION_TABLE,
        "include_name": include_name,
        "render_item": render_item,
        "compare_type": True,
    }


def configure_context(context: Any) -> None:
    """Called by migrations/env.py: run on the connection handed over in `config.attributes`."""
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run migrations through traderagent.persistence.migrate (or `traderagent db`)")
    context.configure(
        connection=connection,
        render_as_batch=connection.dialect.name == "sqlite",
        **_context_options(),
    )


def alembic_config(connection: sa.Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "no migration scripts found"
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE}).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    with _ALEMBIC, engine.begin() as conn:
        command.upgrade(alembic_config(conn), revision)


def downgrade(engine: Engine, revision: str) -> None:
    with _ALEMBIC, engine.begin() as conn:
        command.downgrade(alembic_config(conn), revision)


def schema_diff(engine: Engine) -> list[Any]:
    """Differences between the models and the database (empty when migrations and models agree)."""
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts=_context_options())
        return compare_metadata(ctx, Base.metadata)


def revision(engine: Engine, message: str) -> str:
    """Autogenerate a new migration script from the models against an up-to-date database; returns its path."""
    with _ALEMBIC, engine.begin() as conn:
        cfg = alembic_config(conn)
        number = len(list(ScriptDirectory.from_config(cfg).walk_revisions())) + 1
        script = command.revision(cfg, message=message, autogenerate=True, rev_id=f"{number:04d}")
    scripts = script if isinstance(script, list) else [script]
    return ", ".join(str(s.path) for s in scripts if s is not None)


#: Key of the PostgreSQL advisory lock that serialises schema creation by processes starting together.
_SCHEMA_LOCK = 0x7472_6164_6572  # "trader"


def ensure_schema(engine: Engine) -> None:
    """Create the schema in an empty database; refuse a database at another revision than the code.

    Two processes starting on an empty database at once (a runner and a CLI command) do not both create it:
    PostgreSQL holds an advisory lock for the check and the upgrade; SQLite's BEGIN IMMEDIATE does the same.
    """
    head = head_revision()
    if current_revision(engine) == head:
        return
    with _ALEMBIC, engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_SCHEMA_LOCK})")
        current = MigrationContext.configure(
            conn, opts={"version_table": VERSION_TABLE}
        ).get_current_revision()
        if current == head:
            return
        if current is not None:
            raise SchemaError(
                f"{describe(engine.url)} is at schema revision {current}, this code expects {head}: "
                "run `traderagent db upgrade` (or upgrade traderagent if the database is newer)"
            )
        existing = APP_TABLES & set(sa.inspect(conn).get_table_names())
        if existing:
            raise SchemaError(
                f"{describe(engine.url)} has TraderAgent tables ({', '.join(sorted(existing))}) but no "
                f"{VERSION_TABLE} table; restore a backup or drop those tables, then `traderagent db upgrade`"
            )
        command.upgrade(alembic_config(conn), "head")
