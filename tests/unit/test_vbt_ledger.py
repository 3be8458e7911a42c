"""The ledger calls vectorbt's Rust simulator directly: it must equal `vbt.Portfolio.from_orders`, bit for bit."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from traderagent.backtest import run_signals
from traderagent.backtest.vbt import LOG_DT, ORDER_DT, load, simulate_orders
from traderagent.config.models import RiskConfig
from traderagent.core.signals import Signals


def test_record_dtypes_are_vectorbts():
    enums = load().portfolio.enums
    assert ORDER_DT == enums.order_dt and ORDER_DT.itemsize == enums.order_dt.itemsize
    assert LOG_DT == enums.log_dt and LOG_DT.itemsize == enums.log_dt.itemsize


def _signals(n: int, seed: int, stops: bool, short: bool) -> Signals:
    rng = np.random.default_rng(seed)
    s = Signals.empty(n)
    s.entry_long[:] = rng.random(n) < 0.03
    s.exit_long[:] = rng.random(n) < 0.03
    if short:
        s.entry_short[:] = rng.random(n) < 0.03
        s.exit_short[:] = rng.random(n) < 0.03
    return s


@pytest.mark.parametrize(
    ("stops", "short", "leverage"),
    [(False, False, 1.0), (True, False, 1.0), (True, True, 3.0)],
    ids=["one fill per bar", "same-bar stops (extra rows)", "shorts on a 3x credit line"],
)
def test_book_equals_portfolio_from_orders(walk, stops, short, leverage):
    bars = walk(2500, seed=3)
    s = _signals(2500, seed=8, stops=stops, short=short)
    if stops:
        c = bars["close"].to_numpy()
        s.stop[:] = np.where(s.entry_short, c * 1.003, c * 0.997)
        s.target[:] = np.where(s.entry_short, c * 0.994, c * 1.006)
    risk = RiskConfig(max_exposure=leverage, max_position=leverage)
    res = run_signals(bars, s, "15m", leverage=leverage, risk=risk, allow_short=short)
    assert len(res.fills) > 50 and res.integrity["checks"]["vectorbt_ledger"]["ok"]
    if leverage > 1:
        assert res.settings["vectorbt_credit"] > 0  # the credit line is exercised
    pf = res.portfolio.build()  # vectorbt's own Portfolio of the same orders
    close = pf.close.to_numpy()
    size = np.full(len(close), np.nan)
    price = close.copy()
    fixed = np.zeros(len(close))
    rec = pf.order_records
    size[rec["idx"]] = np.where(rec["side"] == 0, rec["size"], -rec["size"])
    price[rec["idx"]] = rec["price"]
    fixed[rec["idx"]] = rec["fees"]
    direct = simulate_orders(close, size, price, fixed, float(pf.init_cash), len(rec))
    assert np.array_equal(direct["records"], rec)
    assert np.array_equal(direct["value"], pf.value().to_numpy())
    assert np.array_equal(direct["cash"], pf.cash().to_numpy())
    assert np.array_equal(direct["assets"], pf.assets().to_numpy())
    last_row = np.cumsum(np.maximum(np.bincount(res.fills["bar"], minlength=len(bars)), 1)) - 1
    np.testing.assert_allclose(res.equity, direct["value"][last_row] - res.settings["vectorbt_credit"],
                               rtol=1e-9, atol=1e-6)


def test_empty_book_keeps_the_cash():
    close = np.array([10.0, 11.0, 12.0])
    out = simulate_orders(close, np.full(3, np.nan), close, np.zeros(3), 100.0, 0)
    assert len(out["records"]) == 0
    assert out["value"].tolist() == [100.0, 100.0, 100.0] and out["assets"].tolist() == [0.0, 0.0, 0.0]


def test_a_backtest_never_imports_the_vectorbt_package(btc_15m):
    """The demo's backtest runs the vectorbt ledger gate without importing `vectorbt` (only its Rust engine),
    and leaves no stand-in module behind: vectorbt still imports normally afterwards."""
    code = (
        "import sys\n"
        "from traderagent.backtest.runner import run_backtest\n"
        "from traderagent.data.sample import sample_path\n"
        "r = run_backtest('trend_follower', timeframe='1h', data=sample_path('BTC_USDT-15m.csv.gz'), "
        "start='2025-01-01')\n"
        "assert r.json['integrity']['checks']['vectorbt_ledger']['ok']\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'vectorbt'))\n"
        "from traderagent.backtest.vbt import load\n"
        "print(load().Portfolio.__name__)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.splitlines() == ["[]", "Portfolio"]
