"""Integrity gates run on every backtest: accounting and causality invariants over plain arrays.

The gates are a function of arrays only (OHLC, fills as FILL_DTYPE, the decision bar of each fill,
equity/cash/position per bar, the initial cash and an independent ledger's equity), so every engine
(signal strategies here, order strategies elsewhere) runs the same checks:

  ledger              fills are well formed and sorted; replaying them reproduces cash and position of
                      every bar; equity = cash + position x close; the sum of trade P&Ls after fees
                      (open trades marked to the last close) equals final minus initial equity (1e-9 rel.)
  cash_exposure       cash never negative (when leverage <= 1), and every fill that opens or adds to a
                      position leaves |position| x price <= leverage x the equity just before it (valued
                      at the fill price). Exposure is checked where the engine chooses it, at fills: a
                      short or leveraged position's exposure drifts with the price after that.
  drawdown            equity finite and never below 0, i.e. drawdown within [0, 100%]
  no_trade_no_return  a run without fills keeps equity at the initial cash on every bar
  fills_in_range      every fill price lies within its bar's [low, high]
  no_lookahead        every fill happens at or after the bar following the bar of its decision
  vectorbt_ledger     our equity equals the independent ledger's (vectorbt's) on every bar (1e-9 rel.)
  risk_limits         the risk guard's rules hold in the ledger: exposure caps at every opening fill, no opening
                      fill after the daily loss limit was reached that day, no stopped trade losing more than
                      max_loss_per_trade except at a gapped open (`traderagent.backtest.risk_gate`)

A failing gate raises `IntegrityError` (an internal error: a bug in an engine, never bad user input)
naming the gate and the first bar or trade that breaks it. Results that look too good to be true
(Sharpe above 4, or a max drawdown under 1% over more than 30 days with trades) are not errors but are
flagged "too good: check for lookahead or accounting errors".
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from traderagent.backtest import nb
from traderagent.core.records import FILL_DTYPE
from traderagent.data import timeframes

REL_TOL = 1e-9
GATES = (
    "ledger",
    "cash_exposure",
    "drawdown",
    "no_trade_no_return",
    "fills_in_range",
    "no_lookahead",
    "vectorbt_ledger",
    "risk_limits",
)
TOO_GOOD = "too good: check for lookahead or accounting errors"
SHARPE_FLAG = 4.0
DD_FLAG = 0.01
DD_FLAG_DAYS = 30.0


class IntegrityError(Exception):
    """An accounting or causality invariant failed: an internal bug, not bad input. `.report` has details."""

    def __init__(self, message: str, report: dict | None = None) -> None:
        super().__init__(message)
        self.report = report


class _Ctx:
    """Inputs shared by the gates plus the fills replayed once."""

    def __init__(self, ohlc, fills, fill_signal_bar, equity, cash, position, init_cash, reference_equity,
                 leverage, index):
        self.open, self.high, self.low, self.close = (np.asarray(a, dtype=np.float64) for a in ohlc)
        self.fills = fills
        self.signal_bar = np.asarray(fill_signal_bar, dtype=np.int64)
        self.equity = np.asarray(equity, dtype=np.float64)
        self.cash = np.asarray(cash, dtype=np.float64)
        self.position = np.asarray(position, dtype=np.float64)
        self.init_cash = float(init_cash)
        self.reference = np.asarray(reference_equity, dtype=np.float64)
        self.leverage = float(leverage)
        self.index = index
        self.n = len(self.close)
        self.replay = None  # (cash_bar, pos_bar, cash_fill, pos_fill) once the fills are known sound
        self.risk = self.costs = self.exempt = self.reached_days = None  # for risk_limits

    def at(self, bar: int) -> str:
        """'bar 17 (2024-01-01T04:15:00Z)' with the bar's open time when an index was given."""
        if self.index is not None and 0 <= bar < len(self.index):
            return f"bar {bar} ({pd.Timestamp(self.index[bar]).strftime('%Y-%m-%dT%H:%M:%SZ')})"
        return f"bar {bar}"

    def trade_at(self, bar: int) -> str:
        """The trade of the last fill at or before `bar`, for messages."""
        bars = self.fills["bar"]
        k = int(np.searchsorted(bars, bar, side="right")) - 1
        return f", trade {int(self.fills['trade'][k])}" if k >= 0 else ", before any fill"


def _first_mismatch(a: np.ndarray, b: np.ndarray, floor: float) -> int:
    """First index where a and b differ by more than REL_TOL x max(|a|, |b|, floor); -1 if none."""
    tol = REL_TOL * np.maximum(np.maximum(np.abs(a), np.abs(b)), floor)
    bad = ~(np.abs(a - b) <= tol)
    return int(np.argmax(bad)) if bad.any() else -1


def _fills_malformed(c: _Ctx) -> str:
    f = c.fills
    m = len(f)
    if f.dtype != FILL_DTYPE:
        return f"fills have dtype {f.dtype}, expected FILL_DTYPE"
    if len(c.signal_bar) != m:
        return f"{len(c.signal_bar)} decision bars for {m} fills"
    checks = (
        ((f["bar"] < 0) | (f["bar"] >= c.n), "bar outside the data"),
        (np.r_[False, np.diff(f["bar"]) < 0] if m else np.zeros(0, bool), "fills not sorted by bar"),
        ((f["side"] != 1) & (f["side"] != -1), "side is not +1/-1"),
        (~(f["size"] > 0) | ~np.isfinite(f["size"]), "size not positive and finite"),
        (~(f["price"] > 0) | ~np.isfinite(f["price"]), "price not positive and finite"),
        (~(f["fee"] >= 0) | ~np.isfinite(f["fee"]), "fee negative or not finite"),
        (f["trade"] < 0, "negative trade id"),
    )
    for bad, what in checks:
        if bad.any():
            k = int(np.argmax(bad))
            return f"fill {k} (trade {int(f['trade'][k])}): {what}"
    for name, arr in (("equity", c.equity), ("cash", c.cash), ("position", c.position), ("reference", c.reference)):
        if len(arr) != c.n:
            return f"{name} has {len(arr)} values for {c.n} bars"
    return ""


def _gate_ledger(c: _Ctx) -> tuple[bool, str]:
    bad = _fills_malformed(c)
    if bad:
        return False, bad
    c.replay = nb.replay_ledger_nb(c.fills, c.n, c.init_cash)
    cash_r, pos_r = c.replay[0], c.replay[1]
    pos_scale = float(np.abs(c.replay[3]).max()) if len(c.fills) else 0.0
    for name, got, want, floor in (
        ("cash", c.cash, cash_r, c.init_cash),
        ("position", c.position, pos_r, pos_scale),
        ("equity", c.equity, cash_r + pos_r * c.close, c.init_cash),
    ):
        i = _first_mismatch(got, want, floor)
        if i >= 0:
            return False, (f"{c.at(i)}{c.trade_at(i)}: reported {name} {got[i]:.10g} != {want[i]:.10g} "
                           "replayed from the fills")
    last = c.n - 1
    pnl = nb.trades_from_fills_nb(c.fills, c.close[last], last)[6]
    total, change = float(pnl.sum()), float(c.equity[last] - c.init_cash)
    if not abs(total - change) <= REL_TOL * max(c.init_cash, abs(c.equity[last])):
        return False, f"sum of {len(pnl)} trade P&Ls {total:.10g} != final - initial equity {change:.10g}"
    return True, f"sum of {len(pnl)} trade P&Ls after fees = final - initial equity = {change:.10g}"


def _gate_cash_exposure(c: _Ctx) -> tuple[bool, str]:
    tol = REL_TOL * c.init_cash
    if c.leverage <= 1.0:
        bad = ~(c.cash >= -tol)
        if bad.any():
            i = int(np.argmax(bad))
            return False, f"{c.at(i)}{c.trade_at(i)}: cash {c.cash[i]:.10g} < 0 without leverage"
    if c.replay is None or not len(c.fills):
        return True, "no fills" if c.replay is not None else "not checked: the fills are malformed"
    cash_f, pos_f = c.replay[2], c.replay[3]
    if c.leverage <= 1.0 and (cash_f < -tol).any():
        k = int(np.argmax(cash_f < -tol))
        return False, f"fill {k} (trade {int(c.fills['trade'][k])}): cash {cash_f[k]:.10g} < 0 without leverage"
    before = np.r_[0.0, pos_f[:-1]]
    adds = np.abs(pos_f) > np.abs(before)
    price = c.fills["price"]
    notional = np.abs(pos_f) * price
    equity_f = np.r_[c.init_cash, cash_f[:-1]] + before * price  # equity at the fill price, before the fill
    bad = adds & ~(notional <= c.leverage * equity_f * (1.0 + REL_TOL) + tol)
    if bad.any():
        k = int(np.argmax(bad))
        return False, (f"fill {k} (trade {int(c.fills['trade'][k])}, {c.at(int(c.fills['bar'][k]))}): exposure "
                       f"{notional[k]:.10g} > leverage {c.leverage:g} x equity {equity_f[k]:.10g}")
    worst = float((notional[adds] / equity_f[adds]).max()) if adds.any() else 0.0
    return True, f"cash >= 0 where required; max exposure at entry {worst:.6g} <= leverage {c.leverage:g}"


def _gate_drawdown(c: _Ctx) -> tuple[bool, str]:
    bad = ~np.isfinite(c.equity) | (c.equity < 0.0)
    if bad.any():
        i = int(np.argmax(bad))
        return False, f"{c.at(i)}{c.trade_at(i)}: equity {c.equity[i]:.10g}: drawdown outside [0, 100%]"
    max_dd = float(nb.drawdown_stats_1d_nb(c.equity, c.init_cash)[0])
    if not 0.0 <= max_dd <= 1.0:
        return False, f"max drawdown {max_dd:.6g} outside [0, 1]"
    return True, f"max drawdown {max_dd:.6g} within [0, 1]"


def _gate_no_trade(c: _Ctx) -> tuple[bool, str]:
    if len(c.fills):
        return True, f"{len(c.fills)} fills"
    moved = ~(c.equity == c.init_cash) | ~(c.cash == c.init_cash) | ~(c.position == 0.0)
    if moved.any():
        i = int(np.argmax(moved))
        return False, f"{c.at(i)}: no fills but equity {c.equity[i]:.10g} != initial {c.init_cash:.10g}"
    return True, "no fills and equity stays at the initial cash"


def _gate_fills_in_range(c: _Ctx) -> tuple[bool, str]:
    f = c.fills
    if not len(f):
        return True, "no fills"
    bars = np.clip(f["bar"], 0, c.n - 1)
    lo, hi = c.low[bars], c.high[bars]
    bad = ~((f["price"] >= lo) & (f["price"] <= hi))
    if bad.any():
        k = int(np.argmax(bad))
        return False, (f"fill {k} (trade {int(f['trade'][k])}, {c.at(int(bars[k]))}): price {f['price'][k]:.10g} "
                       f"outside the bar's [low {lo[k]:.10g}, high {hi[k]:.10g}]")
    return True, f"{len(f)} fill prices within their bars' [low, high]"


def _gate_no_lookahead(c: _Ctx) -> tuple[bool, str]:
    f = c.fills
    if len(c.signal_bar) != len(f):
        return False, f"{len(c.signal_bar)} decision bars for {len(f)} fills"
    bad = (c.signal_bar < 0) | (f["bar"] < c.signal_bar + 1)
    if bad.any():
        k = int(np.argmax(bad))
        return False, (f"fill {k} (trade {int(f['trade'][k])}) at {c.at(int(f['bar'][k]))} for a decision at "
                       f"bar {int(c.signal_bar[k])}: fills must come no earlier than the next bar")
    return True, f"{len(f)} fills all after their decision bar"


def _gate_vectorbt(c: _Ctx) -> tuple[bool, str]:
    if len(c.reference) != c.n:
        return False, f"independent ledger has {len(c.reference)} values for {c.n} bars"
    i = _first_mismatch(c.equity, c.reference, REL_TOL * c.init_cash)
    if i >= 0:
        return False, (f"{c.at(i)}{c.trade_at(i) if len(c.fills) else ''}: equity {c.equity[i]:.10g} != "
                       f"vectorbt's {c.reference[i]:.10g}")
    return True, f"equity equals vectorbt's on all {c.n} bars"


def _gate_risk_limits(c: _Ctx) -> tuple[bool, str]:
    from traderagent.backtest.risk_gate import check_risk_limits

    return check_risk_limits(c, c.risk, c.costs, c.exempt, c.reached_days)


_GATE_FUNCS: dict[str, Callable[[_Ctx], tuple[bool, str]]] = {
    "ledger": _gate_ledger,
    "cash_exposure": _gate_cash_exposure,
    "drawdown": _gate_drawdown,
    "no_trade_no_return": _gate_no_trade,
    "fills_in_range": _gate_fills_in_range,
    "no_lookahead": _gate_no_lookahead,
    "vectorbt_ledger": _gate_vectorbt,
    "risk_limits": _gate_risk_limits,
}


def too_good_flags(equity: np.ndarray, init_cash: float, timeframe: str, n_fills: int) -> list[str]:
    """The 'too good' flags of a run (not errors): Sharpe above 4, or max drawdown under 1% over > 30 days."""
    equity = np.asarray(equity, dtype=np.float64)
    if n_fills == 0 or not len(equity) or not np.isfinite(equity).all():
        return []
    ann = timeframes.bars_per_year(timeframe)
    sharpe = float(nb.sharpe_1d_nb(nb.bar_returns_1d_nb(equity, float(init_cash)), ann))
    max_dd = float(nb.drawdown_stats_1d_nb(equity, float(init_cash))[0])
    days = len(equity) * timeframes.seconds(timeframe) / 86400.0
    flags = []
    if sharpe > SHARPE_FLAG:
        flags.append(f"{TOO_GOOD} (Sharpe {sharpe:.2f} > {SHARPE_FLAG:g})")
    if max_dd < DD_FLAG and days > DD_FLAG_DAYS:
        flags.append(f"{TOO_GOOD} (max drawdown {max_dd:.2%} < 1% over {days:.0f} days)")
    return flags


def check_integrity(
    *,
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    fills: np.ndarray,
    fill_signal_bar: np.ndarray,
    equity: np.ndarray,
    cash: np.ndarray,
    position: np.ndarray,
    init_cash: float,
    reference_equity: np.ndarray,
    timeframe: str,
    leverage: float = 1.0,
    index: pd.DatetimeIndex | None = None,
    raise_on_fail: bool = True,
    risk=None,
    costs=None,
    risk_events: list | None = None,
    exempt: dict | None = None,
) -> dict:
    """Run every gate; return {"ok", "checks": {name: {"ok", "detail"}}, "flags": [...]}.

    `fill_signal_bar[k]` is the bar whose close decided fill k (for a stop or target: the bar that decided
    the entry). `reference_equity` is an independent ledger's equity per bar (vectorbt's). With
    `raise_on_fail`, the first failing gate (in `GATES` order) raises IntegrityError. `risk` (the run's RiskConfig,
    None: guard off), `costs`, `risk_events` (the guard's log) and `exempt` ({trade: why}) feed `risk_limits`.
    """
    ctx = _Ctx((open_, high, low, close), np.asarray(fills), fill_signal_bar, equity, cash, position, init_cash,
               reference_equity, leverage, index)
    ctx.risk, ctx.costs, ctx.exempt = risk, costs, exempt
    ctx.reached_days = None
    if risk_events is not None and index is not None:
        days = index.as_unit("ns").asi8 // 86_400_000_000_000
        ctx.reached_days = {int(days[e["bar"]]) for e in risk_events if e["action"] == "reached"}
    checks = {}
    for name in GATES:
        ok, detail = _GATE_FUNCS[name](ctx)
        checks[name] = {"ok": bool(ok), "detail": detail}
    flags = too_good_flags(ctx.equity, ctx.init_cash, timeframe, len(ctx.fills)) if len(ctx.equity) == ctx.n else []
    report = {"ok": all(v["ok"] for v in checks.values()), "checks": checks, "flags": flags}
    if raise_on_fail and not report["ok"]:
        name = next(k for k in GATES if not checks[k]["ok"])
        raise IntegrityError(f"integrity gate '{name}' failed: {checks[name]['detail']}", report)
    return report
