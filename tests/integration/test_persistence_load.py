"""Load: 10,000 orders with 20,000 fills written in one bulk call and read back complete and exact on PostgreSQL.

How fast is measured on demand by bench/bench_db.py (target: under 2 s), not asserted here: a timed assertion
would make CI depend on how busy the machine is.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from integration.pg import pg_database, reset_schema  # noqa: F401  (fixture)

from traderagent.persistence import FillRecord, OrderRecord, Repository

N, FILLS = 10_000, 2
T0 = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)


def workload() -> list[OrderRecord]:
    out = []
    for i in range(N):
        price = Decimal(60000 + i % 5000) + Decimal(i % 97) / 100
        part = Decimal("0.001") * (1 + i % 7)
        fills = tuple(FillRecord(T0 + dt.timedelta(seconds=i, milliseconds=k), price, part, fee=part * price / 1000,
                                 fee_currency="USDT", trade_id=f"{i}-{k}") for k in range(FILLS))  # fmt: skip
        out.append(OrderRecord(f"o{i:06d}", "bench", "binance", "BTC/USDT", "buy" if i % 2 else "sell", "limit",
                               part * FILLS, price=price, status="filled", filled=part * FILLS,
                               fee=part * FILLS * price / 1000, fills=fills))  # fmt: skip
    return out


@pytest.mark.postgres
@pytest.mark.slow
def test_ten_thousand_orders_with_fills_round_trip_exactly(pg_database: str):  # noqa: F811
    reset_schema(pg_database)
    orders = workload()
    expected_fees = sum(f.fee for o in orders for f in o.fills)
    with Repository(pg_database) as repo:
        repo.upsert_strategy("bench", "grid")
        repo.record_orders(orders)
        back = repo.list_orders("bench")
    assert len(back) == N and sum(len(o.fills) for o in back) == N * FILLS
    got, want = back[1234], orders[1234]
    assert (got.side, got.amount, got.price, got.filled, got.fee) == (
        want.side, want.amount, want.price, want.filled, want.fee)  # fmt: skip
    assert [o.client_order_id for o in back] == [o.client_order_id for o in orders]
    assert sum(f.fee for o in back for f in o.fills) == expected_fees  # exact to the last decimal
    assert back[4321].fills[1].price == orders[4321].fills[1].price
