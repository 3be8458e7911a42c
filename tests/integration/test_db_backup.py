"""Backup and restore round trips on SQLite (sqlite3 backup API) and PostgreSQL (pg_dump / pg_restore)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from integration.pg import create_database, db_url, drop_database, pg_database, sqlite_url  # noqa: F401

from traderagent.persistence import FillRecord, MetricRecord, OrderRecord, Repository, SignalRecord
from traderagent.persistence.backup import backup, restore, table_checksums
from traderagent.persistence.errors import BackupError

T0 = dt.datetime(2025, 6, 2, tzinfo=dt.UTC)
RESULT = {
    "strategy": "trend_follower", "symbol": "BTC/USDT", "timeframe": "1h", "start": "2025-06-02T00:00:00+00:00",
    "end": "2025-06-30T00:00:00+00:00", "params": {"fast": 20}, "initial_equity": 10000.0, "final_equity": 10150.5,
    "stats": {"total_return": 0.01505, "sharpe": 1.1, "max_drawdown": 0.03, "trades": 2, "profit_factor": float("inf")},
    "integrity": {"ok": True, "checks": {"pnl": {"ok": True, "detail": ""}}, "flags": []},
    "trades": [{"entry": 1, "exit": 5}, {"entry": 9, "exit": 12}], "trades_sha256": "ab" * 32,
}  # fmt: skip


def populate(url: str) -> None:
    with Repository(url) as repo:
        repo.upsert_strategy("grid-1", "grid", config={"levels": [1, 2.5]}, status="active")
        repo.upsert_strategy("dca-1", "dca", meta={"note": "ünïcode ✓"})
        repo.save_strategy_state("grid-1", bytes(range(256)))
        repo.save_strategy_state("dca-1", {"cycle": 3})
        orders = [OrderRecord(f"c{i}", "grid-1", "binance", "BTC/USDT", "buy" if i % 2 else "sell", "limit",
                              "0.001", price=f"{60000 + i}.123456789", status="filled", filled="0.001",
                              fills=(FillRecord(T0 + dt.timedelta(minutes=i), f"{60000 + i}.1", "0.001",
                                                fee="0.00000006", trade_id=f"t{i}"),))
                  for i in range(40)]  # fmt: skip
        repo.record_orders(orders)
        repo.set_position("grid-1", "BTC/USDT", "-0.004", "60010.5", "3.25")
        repo.record_signal(SignalRecord("grid-1", "BTC/USDT", "15m", T0, "long_entry", price="60000"))
        repo.record_metric(MetricRecord("grid-1", "day", T0, T0 + dt.timedelta(days=1), "1000", "1003.25",
                                        "3.25", "0.1", 40, sharpe=0.9))  # fmt: skip
        repo.save_backtest_run(RESULT, data_hash="sha256:feed", code_version="0.1.0+test")
        repo.save_optimization_result({"study": "s1", "strategy": "grid", "params": {"k": 1}, "stats": {"sharpe": 1}},
                                      data_hash="sha256:feed", code_version="0.1.0+test")  # fmt: skip


def mutate(url: str) -> None:
    with Repository(url) as repo:
        repo.record_order(OrderRecord("c0", "grid-1", "binance", "BTC/USDT", "sell", "limit", "0.001",
                                      fills=(FillRecord(T0, "1", "0.0005", trade_id="extra"),)))  # fmt: skip
        repo.save_strategy_state("dca-1", {"cycle": 4})
        repo.upsert_strategy("new", "grid")


def test_backup_restore_round_trip(db_url: str, tmp_path: Path):  # noqa: F811
    populate(db_url)
    before = table_checksums(db_url)
    assert before["orders"][0] == 40 and before["fills"][0] == 40 and before["backtest_runs"][0] == 1
    info = backup(db_url, tmp_path / "traderagent.backup")
    assert info.size > 0 and info.path.is_file()
    mutate(db_url)
    assert table_checksums(db_url) != before  # the checksums see a changed fill, state and strategy
    restore(db_url, info.path)
    assert table_checksums(db_url) == before
    with Repository(db_url) as repo:  # still usable: ids continue after the restored rows
        repo.record_order(OrderRecord("after", "grid-1", "binance", "BTC/USDT", "buy", "market", "1"))
        assert repo.get_order("after").id == 41
        assert repo.load_strategy_state("grid-1") == bytes(range(256))
        assert repo.get_run("bt-1")["stats"]["profit_factor"] == float("inf")


def test_restore_into_a_fresh_database(db_url: str, tmp_path: Path):  # noqa: F811
    populate(db_url)
    backup(db_url, tmp_path / "b.bin")
    if db_url.startswith("sqlite"):
        fresh = sqlite_url(tmp_path / "elsewhere" / "fresh.db")
        restore(fresh, tmp_path / "b.bin")
        assert table_checksums(fresh) == table_checksums(db_url)
        return
    fresh = create_database("traderagent_restore")
    try:
        restore(fresh, tmp_path / "b.bin")
        assert table_checksums(fresh) == table_checksums(db_url)
    finally:
        drop_database(fresh)


def test_restore_refuses_files_that_are_not_backups_of_that_kind(db_url: str, tmp_path: Path):  # noqa: F811
    junk = tmp_path / "notes.txt"
    junk.write_text("hello")
    with pytest.raises(BackupError, match="notes.txt is not a TraderAgent backup"):
        restore(db_url, junk)
    with pytest.raises(BackupError, match="does not exist"):
        restore(db_url, tmp_path / "missing.backup")
    other = sqlite_url(tmp_path / "other.db") if db_url.startswith("postgresql") else None
    if other:  # a SQLite backup offered to PostgreSQL
        populate(other)
        backup(other, tmp_path / "sqlite.backup")
        with pytest.raises(BackupError, match="is a SQLite backup but the database is PostgreSQL at"):
            restore(db_url, tmp_path / "sqlite.backup")
    else:  # a SQLite file that is not ours
        import sqlite3

        con = sqlite3.connect(tmp_path / "foreign.db")
        con.execute("CREATE TABLE t (x)")
        con.commit()
        con.close()
        with pytest.raises(BackupError, match="not a TraderAgent backup .no traderagent_alembic_version"):
            restore(db_url, tmp_path / "foreign.db")
    with pytest.raises(BackupError, match="folder .* does not exist"):
        backup(db_url, tmp_path / "no" / "such" / "dir" / "x.backup")
