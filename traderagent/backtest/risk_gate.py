"""The `risk_limits` integrity gate: the risk guard's rules re-checked from the ledger alone after every run.

From the fills (replayed to cash and position after each fill), the equity per bar and the bars' UTC days:
  exposure    every fill that opens or adds to a position leaves |position| x price within
              min(max_exposure, max_position, leverage) x the equity just before it (valued at the fill price);
  daily loss  once a UTC day's loss (from the equity at the previous day's last close) reaches daily_loss_limit at
              a bar's close, no fill opens or adds to a position until the day is over (including the next day's
              first bar, whose orders that close decided); the guard logged every such day;
  per trade   a trade closed by a stop (its own, or a strategy's stop rule) loses at most max_loss_per_trade of the
              equity at its entry (the higher of the last close before its first fill and the equity just before
              that fill), unless the stop filled at a gapped open (named as a gap) or the strategy says why not
              (`exempt`: e.g. the hybrid's handover re-prices inherited units' stop; named too).
"""

from __future__ import annotations

import numpy as np

from traderagent.backtest import nb
from traderagent.core.records import Reason
from traderagent.core.risk import day_numbers

REL_TOL = 1e-9


def _opening(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    return np.abs(after) > np.abs(before) * (1.0 + 1e-12)


def check_risk_limits(c, risk, costs, exempt: dict | None = None, reached_days: set | None = None) -> tuple[bool, str]:
    """The gate over an integrity context `c` (see integrity._Ctx); `risk` is the run's RiskConfig (None: off)."""
    if risk is None:
        return True, "risk guard off (mechanics run)"
    if c.replay is None:
        return True, "not checked: the fills are malformed"
    if c.index is None:
        return True, "not checked: no bar times"
    f = c.fills
    cash_f, pos_f = c.replay[2], c.replay[3]
    before = np.r_[0.0, pos_f[:-1]] if len(f) else np.empty(0)
    opening = _opening(before, pos_f)
    price = f["price"]
    tol = REL_TOL * c.init_cash
    notes = []
    # exposure at opening fills
    cap = min(float(risk.max_exposure), float(risk.max_position), c.leverage)
    equity_f = np.r_[c.init_cash, cash_f[:-1]] + before * price if len(f) else np.empty(0)
    notional = np.abs(pos_f) * price
    bad = opening & ~(notional <= cap * equity_f * (1.0 + REL_TOL) + tol)
    if bad.any():
        k = int(np.argmax(bad))
        return False, (f"fill {k} (trade {int(f['trade'][k])}, {c.at(int(f['bar'][k]))}): position "
                       f"{notional[k]:.10g} > {cap:g} x equity {equity_f[k]:.10g} (max_exposure / max_position)")
    worst = float((notional[opening] / equity_f[opening]).max()) if opening.any() else 0.0
    notes.append(f"max exposure at opening fills {worst:.4g} <= {cap:g}")
    # daily loss limit
    days = day_numbers(c.index)
    limit = float(risk.daily_loss_limit)
    blocked_until = np.full(c.n, False)
    hit_days = []
    if limit > 0:
        day_eq = c.init_cash
        blocked = False
        for i in range(c.n):
            if i == 0 or days[i] != days[i - 1]:
                day_eq = c.equity[i - 1] if i > 0 else c.init_cash
                blocked = False
            if not blocked and day_eq > 0 and day_eq - c.equity[i] >= limit * day_eq:
                blocked = True
                hit_days.append(int(days[i]))
                j = i + 1
                while j < c.n and days[j] == days[i]:
                    blocked_until[j] = True
                    j += 1
                if j < c.n:
                    blocked_until[j] = True  # the next day's first bar fills what the blocked close decided
        if len(f):
            late = opening & blocked_until[f["bar"]]
            if late.any():
                k = int(np.argmax(late))
                return False, (f"fill {k} (trade {int(f['trade'][k])}, {c.at(int(f['bar'][k]))}) opens a position "
                               f"after the daily loss limit ({limit:.4g}) was reached that day")
        if reached_days is not None and set(hit_days) != set(reached_days):
            missing = sorted(set(hit_days) ^ set(reached_days))[:1]
            return False, f"the guard's log and the ledger disagree on the days the daily loss limit was reached " \
                          f"(first: day {missing[0]})"
    notes.append(f"daily loss limit reached on {len(hit_days)} day(s), no opening fill after it")
    # per-trade loss of stopped trades
    if len(f):
        last = c.n - 1
        tc = nb.trades_from_fills_nb(f, c.close[last], last)
        entry_bar, exit_bar, direction, pnl, reason = tc[0], tc[1], tc[2], tc[6], tc[8]
        first_fill = np.full(len(pnl), -1, dtype=np.int64)
        last_fill = np.full(len(pnl), -1, dtype=np.int64)
        for k in range(len(f)):
            t = int(f["trade"][k])
            if first_fill[t] < 0:
                first_fill[t] = k
            last_fill[t] = k
        exempt = exempt or {}
        limit_t = float(risk.max_loss_per_trade)
        gaps, named, worst_t = [], [], 0.0
        for t in np.flatnonzero((reason == Reason.stop) | (reason == Reason.risk)):
            if not pnl[t] < 0:
                continue
            k0, k1 = first_fill[t], last_fill[t]
            b0 = int(entry_bar[t])
            ref = max(c.equity[b0 - 1] if b0 > 0 else c.init_cash, equity_f[k0])
            loss = -float(pnl[t])
            if loss <= limit_t * ref * (1.0 + REL_TOL) + tol:
                worst_t = max(worst_t, loss / ref)
                continue
            b1 = int(f["bar"][k1])
            d = int(direction[t])
            gap_px = c.open[b1] * (1.0 - costs.slippage) if d > 0 else c.open[b1] * (1.0 + costs.slippage)
            gap_px = min(max(gap_px, c.low[b1]), c.high[b1])
            if abs(price[k1] - gap_px) <= 1e-12 * abs(gap_px):
                gaps.append(f"trade {t} ({c.at(b1)}, {loss / ref:.2%})")
            elif int(t) in exempt:
                named.append(f"trade {t} ({exempt[int(t)]}, {loss / ref:.2%})")
            else:
                return False, (f"trade {t} (entry {c.at(b0)}, stopped {c.at(int(exit_bar[t]))}) lost "
                               f"{loss:.10g} = {loss / ref:.4%} of equity {ref:.10g} at entry > max_loss_per_trade "
                               f"{limit_t:.4g}, and its stop did not fill at a gapped open")
        notes.append(f"largest stopped-trade loss {worst_t:.4%} of equity at entry <= {limit_t:.4g}"
                     + (f"; beyond it at a gapped open: {', '.join(gaps[:5])}" if gaps else "")
                     + (f"; exempt: {', '.join(named[:5])}" if named else ""))
    return True, "; ".join(notes)
