"""`traderagent db ...`: schema migrations, backup and restore of the TraderAgent database."""

from __future__ import annotations

_WHERE = (
    "The database is --database-url, else $DATABASE_URL, else the SQLite file traderagent.db in the user's "
    "data directory. URLs: postgresql://USER@HOST:5432/DB or sqlite:///PATH."
)


def add_database_url(parser) -> None:
    parser.add_argument(
        "--database-url",
        metavar="URL",
        help="database to use (default: $DATABASE_URL, else the user's SQLite file)",
    )


def register(sub) -> None:
    p = sub.add_parser("db", help="database: migrate, show revision, back up, restore", description=_WHERE)
    cmds = p.add_subparsers(dest="db_command", metavar="SUBCOMMAND", required=True)

    up = cmds.add_parser("upgrade", help="migrate the schema up (default: to the newest revision)")
    up.add_argument("revision", nargs="?", default="head", help="target revision (default head)")
    up.set_defaults(func=run_upgrade)

    down = cmds.add_parser("downgrade", help="migrate the schema down (e.g. -1, or base to drop every table)")
    down.add_argument("revision", help="target revision: an id, -1 for one step, base for none")
    down.set_defaults(func=run_downgrade)

    cur = cmds.add_parser("current", help="print the database's schema revision and where it is")
    cur.set_defaults(func=run_current)

    bak = cmds.add_parser(
        "backup",
        help="write a backup file (pg_dump custom format, or a SQLite copy)",
        description="PostgreSQL: pg_dump --format=custom (client tools on PATH). SQLite: the online backup "
        "API, a consistent copy even while the live runner writes. " + _WHERE,
    )
    bak.add_argument("file", metavar="FILE", help="backup file to write (replaced if it exists)")
    bak.set_defaults(func=run_backup)

    res = cmds.add_parser(
        "restore",
        help="replace the database's contents with a backup file",
        description="PostgreSQL: pg_restore --clean --if-exists --single-transaction. SQLite: the backup API. "
        "A backup restores only into the same kind of database. " + _WHERE,
    )
    res.add_argument("file", metavar="FILE", help="backup file made by `traderagent db backup`")
    res.set_defaults(func=run_restore)

    rev = cmds.add_parser(
        "revision",
        help="(developers) autogenerate a migration from the models against an up-to-date database",
    )
    rev.add_argument("-m", "--message", required=True, help="what the migration changes")
    rev.set_defaults(func=run_revision)

    for parser in (up, down, cur, bak, res, rev):
        add_database_url(parser)


def _require_db() -> None:
    from traderagent.cli.extras import require

    require("db", "`traderagent db`")


def _engine(args):
    _require_db()
    from traderagent.persistence.engine import check_connection, make_engine, resolve_url

    engine = make_engine(resolve_url(args.database_url, "--database-url"))
    try:
        check_connection(engine)
    except BaseException:
        engine.dispose()
        raise
    return engine


def _where(args) -> str:
    from traderagent.persistence.engine import describe, resolve_url

    return describe(resolve_url(args.database_url, "--database-url"))


def _migrate(args, direction: str) -> int:
    """Run `migrate.upgrade` or `migrate.downgrade` to args.revision and print the revision before and after."""
    _require_db()
    from traderagent.persistence import migrate

    engine = _engine(args)
    try:
        before = migrate.current_revision(engine)
        getattr(migrate, direction)(engine, args.revision)
        after = migrate.current_revision(engine)
    finally:
        engine.dispose()
    print(f"{_where(args)}: schema {before or 'empty'} -> {after or 'empty'}")
    return 0


def run_upgrade(args) -> int:
    return _migrate(args, "upgrade")


def run_downgrade(args) -> int:
    return _migrate(args, "downgrade")


def run_current(args) -> int:
    _require_db()
    from traderagent.persistence import migrate

    engine = _engine(args)
    try:
        current = migrate.current_revision(engine)
    finally:
        engine.dispose()
    head = migrate.head_revision()
    state = "up to date" if current == head else f"behind: run `traderagent db upgrade` to reach {head}"
    print(f"{_where(args)}: revision {current or 'none'} ({'empty database' if current is None else state})")
    return 0


def run_backup(args) -> int:
    from traderagent.persistence.backup import backup

    info = backup(_url(args), args.file)
    print(f"backup of {info.source} written to {info.path} ({info.size:,} bytes)")
    return 0


def run_restore(args) -> int:
    from traderagent.persistence.backup import restore, table_checksums

    info = restore(_url(args), args.file)
    rows = ", ".join(f"{name} {n}" for name, (n, _) in table_checksums(_url(args)).items() if n)
    print(f"restored {info.path} into {info.source}: {rows or 'no rows'}")
    return 0


def run_revision(args) -> int:
    _require_db()
    from traderagent.persistence import migrate

    engine = _engine(args)
    try:
        path = migrate.revision(engine, args.message)
    finally:
        engine.dispose()
    print(f"new migration: {path}")
    return 0


def _url(args):
    _require_db()
    from traderagent.persistence.engine import resolve_url

    return resolve_url(args.database_url, "--database-url")
