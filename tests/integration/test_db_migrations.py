"""Alembic migrations on SQLite and PostgreSQL: models and migrations agree, and they go up, down and up again.

The version table is `traderagent_alembic_version`, so an optuna study storage in the same database (with its
own `alembic_version`) never clashes and is never touched.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from integration.pg import db_url, pg_database  # noqa: F401  (fixtures)

from traderagent.persistence import Repository, SchemaError
from traderagent.persistence.engine import make_engine
from traderagent.persistence.migrate import (
    APP_TABLES,
    current_revision,
    downgrade,
    ensure_schema,
    head_revision,
    schema_diff,
    upgrade,
)
from traderagent.persistence.models import VERSION_TABLE

EXPECTED_TABLES = {"strategies", "strategy_states", "signals", "orders", "fills", "positions", "performance_metrics",
                   "backtest_runs", "optimization_results", "ledger_fills", "equity_bars", "paper_exchanges",
                   "paper_orders_sent", "live_commands"}  # fmt: skip


@pytest.fixture
def engine(db_url: str):  # noqa: F811
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


def tables(engine: sa.Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names())


def test_autogenerate_finds_no_difference_between_models_and_migrations(engine: sa.Engine):
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    assert APP_TABLES == EXPECTED_TABLES and EXPECTED_TABLES | {VERSION_TABLE} <= tables(engine)
    assert schema_diff(engine) == []


def test_the_no_difference_check_does_see_differences(engine: sa.Engine):
    upgrade(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE orders ADD COLUMN stray INTEGER")
        conn.exec_driver_sql("DROP INDEX ix_orders_strategy_id_status")
        if engine.dialect.name == "postgresql":  # SQLite cannot change a column's type in place
            conn.exec_driver_sql("ALTER TABLE fills ALTER COLUMN price TYPE DOUBLE PRECISION")
    found = {(d[0] if isinstance(d, tuple) else d[0][0]) for d in schema_diff(engine)}
    expected = {"remove_column", "add_index"} | (
        {"modify_type"} if engine.dialect.name == "postgresql" else set()
    )
    assert found == expected


def test_upgrade_downgrade_upgrade(engine: sa.Engine):
    upgrade(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO strategies (name, kind, config, status, meta, created_at, updated_at) "
                             "VALUES ('s', 'grid', '{}', 'idle', '{}', '2024-01-01', '2024-01-01')")  # fmt: skip
    downgrade(engine, "base")
    assert current_revision(engine) is None
    assert not tables(engine) & APP_TABLES
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    assert schema_diff(engine) == []
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM strategies").scalar() == 0


def test_an_optuna_storage_shares_the_database_without_clashing(db_url: str, engine: sa.Engine):  # noqa: F811
    optuna = pytest.importorskip("optuna")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = optuna.storages.RDBStorage(db_url)
    try:
        study = optuna.create_study(storage=storage, study_name="shared")
        study.optimize(lambda trial: trial.suggest_float("x", 0.0, 1.0), n_trials=3)
        upgrade(engine)
        assert schema_diff(engine) == []  # optuna's tables are not ours: autogenerate ignores them
        with engine.connect() as conn:
            optuna_version = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
            ours = conn.exec_driver_sql(f"SELECT version_num FROM {VERSION_TABLE}").scalar()
        assert ours == head_revision() and optuna_version != ours
        downgrade(engine, "base")
        assert {"alembic_version", "studies", "trials"} <= tables(engine)
        assert len(optuna.load_study(study_name="shared", storage=storage).trials) == 3
    finally:
        storage.engine.dispose()


def test_a_database_at_another_revision_is_refused(engine: sa.Engine, db_url: str):  # noqa: F811
    upgrade(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"UPDATE {VERSION_TABLE} SET version_num = '9999'")
    with Repository(db_url) as repo, pytest.raises(SchemaError, match="revision 9999, this code expects"):
        repo.list_strategies()
    with engine.begin() as conn:
        conn.exec_driver_sql(f"DROP TABLE {VERSION_TABLE}")
    with pytest.raises(SchemaError, match="has TraderAgent tables .* but no traderagent_alembic_version"):
        ensure_schema(engine)


def test_without_auto_migrate_an_empty_database_is_refused(db_url: str):  # noqa: F811
    with (
        Repository(db_url, auto_migrate=False) as repo,
        pytest.raises(SchemaError, match="traderagent db upgrade"),
    ):
        repo.list_strategies()


def test_revision_autogenerates_a_numbered_migration(tmp_path, monkeypatch):
    """`traderagent db revision` on an up-to-date database writes the next number, empty while the models agree."""
    import shutil

    from traderagent.persistence import migrate

    copy = tmp_path / "migrations"
    shutil.copytree(migrate.MIGRATIONS_DIR, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(migrate, "MIGRATIONS_DIR", copy)  # never write into the package under test
    eng = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    try:
        upgrade(eng)
        path = Path(migrate.revision(eng, "nothing changes"))
    finally:
        eng.dispose()
    assert path.parent == copy / "versions" and path.name == "0003_nothing_changes.py"
    text = path.read_text().replace('"', "'")
    assert "revision: str = '0003'" in text and "down_revision: str | None = '0002'" in text
    for body in (
        text.split("def upgrade() -> None:")[1].split("def downgrade")[0],
        text.split("def downgrade() -> None:")[1],
    ):
        assert [ln.strip() for ln in body.splitlines() if ln.strip() and not ln.strip().startswith("#")] == [
            "pass"
        ]
