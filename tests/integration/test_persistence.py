"""The repository on SQLite and on the real PostgreSQL: the same tests, both backends.

Orders and fills, exact decimals, UTC times, the client-order-id constraint in the database, rollback of
failed writes, kernel state, signals, positions, metrics and the async facade.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from decimal import Decimal

import pytest
import sqlalchemy as sa
from integration.pg import db_url, pg_database  # noqa: F401  (fixtures)

from traderagent.persistence import (
    AsyncRepository,
    DatabaseError,
    DuplicateOrderError,
    FillRecord,
    MetricRecord,
    NotFoundError,
    OrderRecord,
    Repository,
    SignalRecord,
    StaleStateError,
)

T0 = dt.datetime(2024, 3, 1, 12, 0, tzinfo=dt.UTC)


def order(cid: str, *fills: FillRecord, strategy: str = "grid-1", **fields) -> OrderRecord:
    base = dict(
        exchange="binance", symbol="BTC/USDT", side="buy", type="limit", amount="0.5", price="42000.1"
    )
    return OrderRecord(cid, strategy, **{**base, **fields}, fills=fills)


def fill(trade_id: str | None, amount: str = "0.25", price: str = "42000.1", minutes: int = 0) -> FillRecord:
    return FillRecord(T0 + dt.timedelta(minutes=minutes), price, amount, fee="0.000025", fee_currency="BTC",
                      trade_id=trade_id, liquidity="maker")  # fmt: skip


@pytest.fixture
def repo(db_url: str):  # noqa: F811
    with Repository(db_url) as r:
        r.upsert_strategy("grid-1", "grid", config={"levels": 10, "spacing": 0.005})
        yield r


def counts(repo: Repository) -> tuple[int, int]:
    c = repo.table_counts()
    return c["orders"], c["fills"]


def test_money_is_exact_and_rounds_like_numeric_38_18(repo: Repository):
    fills = (FillRecord(T0, "42000.123456789012345678", "0.1", fee=1e-8, trade_id="a"),
             FillRecord(T0, "0.0000000000000000015", "-0.0000000000000000015", trade_id="b"))  # fmt: skip
    repo.insert_order(order("c1", *fills, amount=0.1, price="99999999999999999999.5"))
    back = repo.get_order("c1")
    assert back.amount == Decimal("0.1")  # a float goes through its repr: 0.1, not 0.1000000000000000055...
    assert back.price == Decimal("99999999999999999999.5")  # 20 integer digits: the NUMERIC(38, 18) limit
    a, b = back.fills
    assert a.price == Decimal("42000.123456789012345678") and a.fee == Decimal("0.00000001")
    assert sum(f.amount for f in back.fills) == Decimal("0.0999999999999999980")  # exact, no float drift
    # half a unit of the 18th decimal rounds away from zero on both backends, as PostgreSQL does
    assert b.price == Decimal("0.000000000000000002") and b.amount == Decimal("-0.000000000000000002")
    with pytest.raises(ValueError, match="more than 20 integer digits"):
        order("c2", price="100000000000000000000")
    import numpy as np

    assert order("c3", amount=np.float64(0.1), price=np.float32(0.5)).amount == Decimal("0.1")


def test_times_are_stored_as_utc_and_naive_times_refused(repo: Repository):
    plus2 = dt.timezone(dt.timedelta(hours=2))
    repo.insert_order(
        order("c1", FillRecord(dt.datetime(2024, 3, 1, 14, 0, tzinfo=plus2), "1", "1", trade_id="t"))
    )
    (f,) = repo.get_order("c1").fills
    assert f.time == T0 and f.time.utcoffset() == dt.timedelta(0)
    with pytest.raises(ValueError, match="timezone-aware"):
        FillRecord(dt.datetime(2024, 3, 1, 12, 0), "1", "1")


def test_duplicate_client_order_id_is_rejected_by_the_database(repo: Repository):
    repo.insert_order(order("dup-1", fill("t1")))
    with pytest.raises(DuplicateOrderError, match="'dup-1' already exists"):
        repo.insert_order(order("dup-1", price="1"))
    # the constraint is in the database itself: a raw INSERT that bypasses this code fails too
    with pytest.raises(sa.exc.IntegrityError), repo.engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO orders (client_order_id, strategy_id, exchange, symbol, side, type, amount, status, filled,"
            " fee, meta, created_at, updated_at) SELECT client_order_id, strategy_id, exchange, symbol, side, type,"
            " amount, status, filled, fee, meta, created_at, updated_at FROM orders"))  # fmt: skip
    # a bulk batch with one already-stored id writes nothing at all
    batch = [order(f"new-{i}", fill(f"n{i}")) for i in range(50)] + [order("dup-1")]
    with pytest.raises(DuplicateOrderError):
        repo.record_orders(batch)
    assert counts(repo) == (1, 1)


def test_record_order_is_idempotent_and_never_goes_back(repo: Repository):
    placed = order("c1", fill("t1"), status="open", exchange_order_id="X1", filled="0.25")
    first = repo.record_order(placed)
    again = repo.record_order(placed)  # a retry after a timeout: same row, same single fill
    assert (first.id, len(again.fills)) == (again.id, 1)
    done = repo.record_order(order("c1", fill("t1"), fill("t2", minutes=1), status="filled", filled="0.5",
                                   average_price="42000.1", fee="0.00005"))  # fmt: skip
    assert (done.status, done.filled, [f.trade_id for f in done.fills]) == (
        "filled",
        Decimal("0.5"),
        ["t1", "t2"],
    )
    assert done.exchange_order_id == "X1"  # kept when a later update does not repeat it
    stale = repo.record_order(order("c1", status="open", filled="0.25"))  # an update that arrives late
    assert (stale.status, stale.filled, len(stale.fills)) == ("filled", Decimal("0.5"), 2)
    assert counts(repo) == (1, 2)


def test_fills_without_trade_id_are_deduplicated_by_time_price_amount(repo: Repository):
    repo.record_order(order("c1", fill(None)))
    repo.record_order(order("c1", fill(None), fill(None, minutes=5)))
    assert [f.time for f in repo.get_order("c1").fills] == [T0, T0 + dt.timedelta(minutes=5)]


def test_client_order_id_of_another_order_is_refused(repo: Repository):
    repo.record_order(order("c1"))
    with pytest.raises(DatabaseError, match="already belongs to another order .*symbol 'BTC/USDT'"):
        repo.record_order(order("c1", symbol="ETH/USDT"))


def test_a_write_failing_midway_leaves_no_partial_rows(repo: Repository):
    # the database fails the fill INSERT after the order row was written: everything is rolled back
    def fail_on_fills(conn, cursor, statement, params, context, executemany):
        if statement.lstrip().upper().startswith("INSERT INTO FILLS"):
            raise RuntimeError("injected fault while writing fills")

    sa.event.listen(repo.engine, "before_cursor_execute", fail_on_fills)
    try:
        with pytest.raises(RuntimeError, match="injected fault"):
            repo.record_order(order("c1", fill("t1"), fill("t2")))
    finally:
        sa.event.remove(repo.engine, "before_cursor_execute", fail_on_fills)
    assert counts(repo) == (0, 0)
    # bulk path: the last order's two fills share a trade id, which the fills table's unique key rejects
    batch = [order(f"b{i}", fill(f"t{i}")) for i in range(200)] + [order("bad", fill("x"), fill("x"))]
    with pytest.raises(sa.exc.IntegrityError):
        repo.record_orders(batch)
    assert counts(repo) == (0, 0)
    # a unit of work (state + order) that raises after both writes commits neither
    with pytest.raises(RuntimeError, match="crash"), repo.transaction() as tx:
        tx.save_strategy_state("grid-1", {"level": 3})
        tx.record_order(order("c2", fill("t9")))
        raise RuntimeError("crash before commit")
    assert counts(repo) == (0, 0) and repo.load_strategy_state("grid-1") is None


def test_bulk_insert_reads_back_every_order_and_fill(repo: Repository):
    batch = [order(f"b{i:04d}", fill(f"t{i}a"), fill(f"t{i}b", amount="0.125"), side="sell" if i % 2 else "buy",
                   status="filled", filled="0.375", meta={"i": i}) for i in range(300)]  # fmt: skip
    assert repo.record_orders(batch) == 300
    back = repo.list_orders("grid-1")
    assert [o.client_order_id for o in back] == [o.client_order_id for o in batch]
    assert back[7].side == "sell" and back[7].meta == {"i": 7}
    assert [(f.trade_id, f.amount) for f in back[7].fills] == [
        ("t7a", Decimal("0.25")),
        ("t7b", Decimal("0.125")),
    ]
    assert sum(f.amount for o in back for f in o.fills) == Decimal("112.5")


def test_list_orders_filters(repo: Repository):
    repo.upsert_strategy("dca-1", "dca")
    repo.record_order(order("a", status="open"))
    repo.record_order(order("b", status="filled", symbol="ETH/USDT"))
    repo.record_order(order("c", status="canceled"))
    repo.record_order(order("d", strategy="dca-1", status="partially_filled"))
    ids = lambda orders: [o.client_order_id for o in orders]  # noqa: E731
    assert ids(repo.list_orders(open_only=True)) == ["a", "d"]
    assert ids(repo.list_orders("grid-1", open_only=True)) == ["a"]
    assert ids(repo.list_orders(symbol="ETH/USDT")) == ["b"]
    assert ids(repo.list_orders(statuses=["filled", "canceled"])) == ["b", "c"]
    assert ids(repo.list_orders(limit=2)) == ["a", "b"]
    assert repo.get_order("zzz") is None
    with pytest.raises(NotFoundError, match="strategy 'nope' is not registered"):
        repo.record_order(order("e", strategy="nope"))


def test_strategy_lifecycle_and_config_snapshot(repo: Repository):
    s = repo.get_strategy("grid-1")
    assert (s.kind, s.status, s.config) == ("grid", "idle", {"levels": 10, "spacing": 0.005})
    for status in ("active", "paused", "active", "stopped"):
        assert repo.set_strategy_status("grid-1", status).status == status
    updated = repo.upsert_strategy("grid-1", "grid", config={"levels": 12})
    assert (updated.config, updated.status, updated.id) == ({"levels": 12}, "stopped", s.id)
    with pytest.raises(ValueError, match="'running' is not one of idle, active, paused, stopped"):
        repo.set_strategy_status("grid-1", "running")
    with pytest.raises(sa.exc.IntegrityError), repo.engine.begin() as conn:  # the CHECK is in the database
        conn.execute(sa.text("UPDATE strategies SET status = 'running'"))
    assert [x.name for x in repo.list_strategies(status="stopped")] == ["grid-1"]


def test_strategy_state_bytes_and_dicts_with_versions(repo: Repository):
    assert repo.load_strategy_state_versioned("grid-1") == (None, 0)
    blob = bytes(range(256))  # e.g. a numpy record array's bytes
    assert repo.save_strategy_state("grid-1", blob, expected_version=0) == 1
    assert repo.load_strategy_state("grid-1") == blob
    state = {"levels": [41000.5, 42000.0], "open": {"L3": "cid-7"}, "cycle": 4}
    assert repo.save_strategy_state("grid-1", state, expected_version=1) == 2
    assert repo.load_strategy_state_versioned("grid-1") == (state, 2)
    with pytest.raises(StaleStateError, match="at version 2, not 1"):
        repo.save_strategy_state("grid-1", {"cycle": 5}, expected_version=1)
    assert repo.load_strategy_state("grid-1") == state
    with pytest.raises(NotFoundError):
        repo.save_strategy_state("unknown", b"x")
    with pytest.raises(TypeError, match="bytes or a dict"):
        repo.save_strategy_state("grid-1", [1, 2])


def test_signals_are_recorded_once_per_bar(repo: Repository):
    sig = SignalRecord("grid-1", "BTC/USDT", "15m", T0, "long_entry", price=42000.5, stop="41000", size=0.5,
                       meta={"atr": 120.5})  # fmt: skip
    assert repo.record_signal(sig) is True
    assert repo.record_signal(sig) is False  # a restart replays the bar: no second row
    assert repo.record_signal(SignalRecord("grid-1", "BTC/USDT", "15m", T0, "long_exit")) is True
    (first, second) = repo.list_signals("grid-1")
    assert (first.kind, first.price, first.stop, first.size, first.meta) == (
        "long_entry", Decimal("42000.5"), Decimal("41000"), 0.5, {"atr": 120.5})  # fmt: skip
    assert second.kind == "long_exit" and second.bar_time == T0


def test_positions_and_metrics_are_replaced_not_duplicated(repo: Repository):
    repo.set_position("grid-1", "BTC/USDT", "0.5", "42000", "0")
    p = repo.set_position("grid-1", "BTC/USDT", "-0.25", "43000.5", "12.75")
    assert (p.quantity, p.average_price, p.realized_pnl) == (
        Decimal("-0.25"),
        Decimal("43000.5"),
        Decimal("12.75"),
    )
    assert len(repo.list_positions()) == 1
    day = MetricRecord("grid-1", "day", T0, T0 + dt.timedelta(days=1), "10000", "10012.5", "12.5", "1.2", 7,
                       win_rate=4 / 7, sharpe=1.5)  # fmt: skip
    repo.record_metric(day)
    repo.record_metric(MetricRecord(**{**day.__dict__, "pnl": Decimal("13"), "trades": 8}))
    (m,) = repo.list_metrics("grid-1", "day")
    assert (m.pnl, m.trades, m.equity_end, m.win_rate) == (Decimal("13"), 8, Decimal("10012.5"), 4 / 7)


def test_async_repository_runs_the_same_operations_off_the_event_loop(repo: Repository):
    arepo = AsyncRepository(repo)

    async def main():
        await asyncio.gather(*(arepo.record_order(order(f"a{i}", fill(f"t{i}"))) for i in range(20)))
        await arepo.run(
            lambda tx: (tx.save_strategy_state("grid-1", {"bar": 1}), tx.record_order(order("u1")))
        )
        return await arepo.list_orders("grid-1"), await arepo.load_strategy_state("grid-1")

    orders, state = asyncio.run(main())
    assert sorted(o.client_order_id for o in orders) == sorted([f"a{i}" for i in range(20)] + ["u1"])
    assert state == {"bar": 1}
    with pytest.raises(AttributeError):
        arepo.engine  # noqa: B018  (only repository operations are exposed)


def test_backtest_and_optimization_results_are_saved_whole(db_url: str, tmp_path):  # noqa: F811
    import hashlib

    import numpy as np
    import pandas as pd

    from traderagent.persistence import save_backtest_run, save_optimization_result
    from traderagent.persistence.runs import files_hash

    candles = tmp_path / "BTC_USDT-1h.csv"
    candles.write_bytes(b"timestamp,open\n1,2\n")
    result = {
        "strategy": "trend_follower", "symbol": "BTC/USDT", "timeframe": "1h",
        "start": pd.Timestamp("2024-01-01", tz="UTC"), "end": "2024-02-01T00:00:00Z",
        "params": {"fast": np.int64(20), "atr_mult": np.float64(2.5)},
        "initial_equity": 10_000.0, "final_equity": np.float64(10_512.25),
        "stats": {"total_return": np.float64(0.051225), "sharpe": float("nan"), "max_drawdown": 0.02,
                  "profit_factor": float("inf"), "trades": np.int64(3)},
        "integrity": {"ok": np.bool_(True), "checks": {"pnl": {"ok": True, "detail": "0.0"}}, "flags": []},
        "trades": [{"pnl": 1.5}, {"pnl": -0.5}, {"pnl": 2.0}], "trades_sha256": "f" * 64,
        "fees": {"taker": 0.001},  # not a column of its own: kept in meta
    }  # fmt: skip
    data_hash = files_hash(candles)
    assert data_hash == "sha256:" + hashlib.sha256(candles.read_bytes()).hexdigest()
    run_id = save_backtest_run(result, data_hash=data_hash, database_url=db_url)
    opt_id = save_optimization_result(
        {"study": "tf", "strategy": "trend_follower", "params": {"fast": 20}, "stats": {"sharpe": 1.2}},
        data_hash=data_hash, code_version="v1", database_url=db_url,
    )  # fmt: skip
    with Repository(db_url) as repo:
        run = repo.get_run(f"bt-{run_id}")
        (summary_opt, summary_bt) = repo.list_runs()
        opt = repo.get_run(f"opt-{opt_id}")
    assert run["start"] == dt.datetime(2024, 1, 1, tzinfo=dt.UTC) and run["end"] == dt.datetime(
        2024, 2, 1, tzinfo=dt.UTC
    )
    assert run["params"] == {"fast": 20, "atr_mult": 2.5} and run["final_equity"] == 10_512.25
    assert (
        run["stats"]["profit_factor"] == float("inf") and run["stats"]["sharpe"] != run["stats"]["sharpe"]
    )  # NaN
    assert (run["integrity_ok"], run["n_trades"], run["trades"]) == (True, 3, result["trades"])
    assert run["meta"] == {"fees": {"taker": 0.001}} and run["data_hash"] == data_hash
    assert run["code_version"].startswith("0.1.0")  # the package version (+ git commit in a checkout)
    assert (summary_bt.run_id, summary_bt.sharpe, summary_bt.total_return) == (f"bt-{run_id}", None, 0.051225)
    assert (summary_opt.run_id, opt["study"], opt["code_version"]) == (f"opt-{opt_id}", "tf", "v1")
    with pytest.raises(ValueError, match="missing key.*'integrity'"):
        save_backtest_run(
            {k: v for k, v in result.items() if k != "integrity"}, data_hash="x", database_url=db_url
        )
    with pytest.raises(ValueError, match="data_hash must be a non-empty string"):
        save_backtest_run(result, data_hash=" ", database_url=db_url)
