"""Nothing lost, nothing doubled: a replay killed with SIGKILL at random points (between the exchange's fills and
the runner's commit, between an order's commit and its send, in the middle of sending, after sending) and resumed
by running the same command again against the same database ends with the uninterrupted run's trades hash, no
client order id sent twice (the paper exchange refuses and counts a second use) and every exchange fill in the
database. CI runs a few kill points per strategy and database; `LIVE_KILL_POINTS=20` runs the full sweep.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys

import pytest
import sqlalchemy as sa
from integration.pg import create_database, drop_database, require_postgres

from traderagent.live.runner import KILL_POINTS

SPAN = {"grid": ("2025-02-01", "2025-03-15"), "dca": ("2025-02-01", "2025-03-15"),
        "hybrid": ("2025-02-01", "2025-03-15"), "trend_follower": ("2025-01-01", "2025-06-30"),
        "smc": ("2025-02-01", "2025-03-15")}
TIMEFRAME = {"trend_follower": "1h"}
PER_CASE = int(os.environ.get("LIVE_KILL_POINTS", "0"))


def cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "traderagent", *args], capture_output=True, text=True, timeout=600,
                          env={**os.environ, **(env or {})})


def replay_args(strategy: str, url: str, data: str) -> list[str]:
    start, end = SPAN[strategy]
    args = ["live", "replay", "--strategy", strategy, "--data", data, "--start", start, "--end", end,
            "--database-url", url, "--json"]
    if strategy in TIMEFRAME:
        args += ["--timeframe", TIMEFRAME[strategy]]
    return args


def exchange_fill_count(url: str, name: str) -> int:
    """Fills the paper exchange made (its sequence number) against fills the runner stored."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as c:
            blob = c.execute(sa.text("SELECT payload FROM paper_exchanges WHERE name = :n"), {"n": name}).scalar_one()
            stored = c.execute(sa.text("SELECT count(*) FROM fills")).scalar_one()
        return json.loads(bytes(blob))["seq"], int(stored)
    finally:
        engine.dispose()


def cases():
    rng = random.Random(7)
    out = []
    for db in ("sqlite", "postgresql"):
        for strategy, n in (("grid", 2), ("dca", 2), ("hybrid", 1), ("trend_follower", 1), ("smc", 1)):
            n = PER_CASE if PER_CASE else n
            if PER_CASE and strategy in ("trend_follower", "smc"):
                n = max(10, PER_CASE // 2)
            for k in range(n):
                point = KILL_POINTS[(k + len(out)) % len(KILL_POINTS)]
                most = 3 if point == "mid_send" else 400  # a bar that sends two orders or more is rarer
                out.append(pytest.param(strategy, db, point, rng.randint(1, most), id=f"{strategy}-{db}-{point}-{k}"))
    return out


@pytest.fixture(scope="module")
def reference(btc_15m):
    """The uninterrupted backtest hashes (backtest = replay is the parity test's claim)."""
    from traderagent.backtest.runner import run_backtest
    from traderagent.data.sample import sample_path

    data = str(sample_path("BTC_USDT-15m.csv.gz"))
    out = {}
    for s, (start, end) in SPAN.items():
        out[s] = run_backtest(s, data=data, start=start, end=end, timeframe=TIMEFRAME.get(s)).json["trades_sha256"]
    return data, out


@pytest.mark.slow
@pytest.mark.parametrize("strategy, db, point, n", cases())
def test_a_killed_replay_resumes_to_the_same_trades(strategy, db, point, n, reference, tmp_path):
    data, hashes = reference
    if db == "sqlite":
        url = f"sqlite:///{tmp_path / 'live.db'}"
    else:
        require_postgres()
        url = create_database("traderagent_kill")
    try:
        killed = cli(*replay_args(strategy, url, data), env={"TRADERAGENT_KILL_AT": f"{point}:{n}"})
        assert killed.returncode == -9, (killed.returncode, killed.stderr[-2000:])
        done = cli(*replay_args(strategy, url, data))
        assert done.returncode == 0, done.stderr[-3000:]
        js = json.loads(done.stdout)
        assert js["meta"]["resumed"] is True
        assert js["trades_sha256"] == hashes[strategy]
        assert js["meta"]["duplicates"] == 0
        made, stored = exchange_fill_count(url, f"paper-{js['meta']['instance']}")
        assert stored == made, f"{made} exchange fills, {stored} stored"
    finally:
        if db != "sqlite":
            drop_database(url)
