"""Price-panel overlays of the order strategies (grid levels and fills, DCA ladders) for the backtest page.

`grid_overlays(run)` / `dca_overlays(run)` take a finished `BacktestRun` (runner.py) and return callables
`overlay(fig, row)` that `report.backtest.price_figure` applies to its price panel. They stay light on a
115k-bar page: a level is drawn as one horizontal segment per stretch where the grid did not change
(not one point per bar), only the most recent `MAX_LEVEL_SEGMENTS` level segments are drawn (the range's
outer levels and the stop are always drawn in full; the legend says from when the inner levels start), and
at most `MAX_FILL_MARKERS` of the latest fills get a marker. The order strategies' fills are the trades'
truth, so the page's per-trade entry/exit markers start hidden (one click in the legend shows them).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

MAX_LEVEL_SEGMENTS = 6000  # inner grid-level segments drawn (3 points each)
MAX_FILL_MARKERS = 20_000  # latest fills drawn as markers
TIME_FMT = "%Y-%m-%d %H:%M"
LEVEL, RANGE, STOP = "#8c959f", "#0969da", "#cf222e"
BUY, SELL, RISK = "#1a7f37", "#bc4c00", "#82071e"
TP, AVG = "#0a7d6c", "#0550ae"
_TRADE_MARKERS = ("long entry", "short entry", "exit")

Overlay = Callable[[Any, int], None]


# ------------------------------------------------------------------------------------------------ helpers
def change_runs(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(start, end) bar indices of the runs of identical rows of `values` (NaN equals NaN); `end` exclusive."""
    v = np.asarray(values, dtype=float).reshape(len(values), -1)
    if not len(v):
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    same = np.all((v[1:] == v[:-1]) | (np.isnan(v[1:]) & np.isnan(v[:-1])), axis=1)
    starts = np.r_[0, np.flatnonzero(~same) + 1].astype(np.int64)
    return starts, np.r_[starts[1:], len(v)].astype(np.int64)


def segments(times: Sequence[str], t0: np.ndarray, t1: np.ndarray, y: np.ndarray,
             text: Sequence[str] | None = None) -> tuple[list, list, list | None]:
    """Horizontal segments (times[t0[i]], y[i]) -> (times[t1[i]], y[i]) as x/y lists with None gaps (NaN y skipped)."""
    keep = np.flatnonzero(np.isfinite(y))
    xs: list = []
    ys: list = []
    tx: list | None = [] if text is not None else None
    for i in keep:
        xs += [times[t0[i]], times[t1[i]], None]
        ys += [float(y[i]), float(y[i]), None]
        if tx is not None:
            tx += [text[i], text[i], None]
    return xs, ys, tx


def _times(index: pd.DatetimeIndex) -> list[str]:
    return index.tz_convert("UTC").strftime(TIME_FMT).tolist()


def _hide_trade_markers(fig: Any) -> None:
    for trace in fig.data:
        if trace.name in _TRADE_MARKERS:
            trace.visible = "legendonly"


def _layout(fig: Any) -> None:
    """Room above the price panel for the longer legend, and zoom buttons on the shared time axis inside the
    panel's top-left corner (the page still opens on the whole run)."""
    fig.update_layout(margin=dict(t=110), legend=dict(y=1.03, yanchor="bottom", x=0, xanchor="left", itemsizing="constant"))
    fig.update_xaxes(row=1, col=1, rangeselector=dict(
        buttons=[dict(count=7, label="1w", step="day", stepmode="backward"),
                 dict(count=1, label="1m", step="month", stepmode="backward"),
                 dict(count=3, label="3m", step="month", stepmode="backward"),
                 dict(count=1, label="1y", step="year", stepmode="backward"),
                 dict(step="all", label="all")],
        x=0.005, xanchor="left", y=0.995, yanchor="top", bgcolor="rgba(255,255,255,0.8)", font=dict(size=11)))


def _step_line(fig: Any, row: int, times: list[str], values: np.ndarray, name: str, color: str,
               dash: str = "solid", width: float = 1.2) -> None:
    """A per-bar series that changes rarely (stop, take-profit, average), drawn as its constant stretches."""
    import plotly.graph_objects as go

    s, e = change_runs(values)
    v = np.asarray(values, float)[s]
    xs, ys, _ = segments(times, s, np.minimum(e, len(times) - 1), v)
    if xs:
        fig.add_trace(go.Scattergl(x=xs, y=ys, mode="lines", name=name, line=dict(color=color, width=width, dash=dash),
                                   connectgaps=False, hoverinfo="skip"), row=row, col=1)


def fill_markers(fig: Any, row: int, result: Any, times: list[str]) -> None:
    """Buy, sell and risk-exit fills (the latest MAX_FILL_MARKERS) as markers with size and reason on hover."""
    import plotly.graph_objects as go

    from traderagent.core.records import REASON_NAMES, Reason

    f = result.fills[-MAX_FILL_MARKERS:]
    if not len(f):
        return
    note = "" if len(result.fills) <= MAX_FILL_MARKERS else f" (latest {MAX_FILL_MARKERS:,})"
    risk = f["reason"] == Reason.risk
    small = 7 if len(f) <= 1000 else 5 if len(f) <= 5000 else 3  # thousands of fills must not hide the levels
    groups = (("buy fills", (f["side"] > 0) & ~risk, BUY, "triangle-up", small),
              ("sell fills", (f["side"] < 0) & ~risk, SELL, "triangle-down", small),
              ("risk exits", risk, RISK, "x", 8))
    for name, sel, color, symbol, size in groups:
        g = f[sel]
        if not len(g):
            continue
        fig.add_trace(go.Scattergl(
            x=[times[b] for b in g["bar"].tolist()], y=g["price"], mode="markers", name=name + note,
            marker=dict(symbol=symbol, size=size, color=color, line=dict(width=0)),
            text=[f"trade {t} {REASON_NAMES[r]} size {s:.6g}" for t, r, s in
                  zip(g["trade"].tolist(), g["reason"].tolist(), g["size"].tolist(), strict=True)],
            hovertemplate="%{text}<br>%{y:,.2f}<extra></extra>"), row=row, col=1)


# --------------------------------------------------------------------------------------------------- grid
def grid_level_traces(levels: np.ndarray, times: list[str]) -> dict[str, Any]:
    """Segments of the outer levels (all runs) and of the inner levels (the latest runs within the budget)."""
    n = len(levels)
    s, e = change_runs(levels)
    e = np.minimum(e, n - 1)
    rows = levels[s]
    active = np.isfinite(rows).all(axis=1)
    s, e, rows = s[active], e[active], rows[active]
    outer_x: list = []
    outer_y: list = []
    for col in (0, rows.shape[1] - 1) if len(rows) else ():
        x, y, _ = segments(times, s, e, rows[:, col])
        outer_x += x
        outer_y += y
    inner = rows[:, 1:-1]
    per_run = inner.shape[1] if inner.ndim == 2 else 0
    keep = len(rows) if per_run == 0 else min(len(rows), MAX_LEVEL_SEGMENTS // max(per_run, 1))
    first = len(rows) - keep
    inner_x: list = []
    inner_y: list = []
    for col in range(per_run):
        x, y, _ = segments(times, s[first:], e[first:], inner[first:, col])
        inner_x += x
        inner_y += y
    since = times[s[first]] if first > 0 and keep else None
    return {"outer": (outer_x, outer_y), "inner": (inner_x, inner_y), "runs": len(rows), "inner_since": since}


def grid_overlays(data: dict, result: Any, bars: Any = None) -> tuple[Overlay, ...]:
    """Grid range and levels (one segment per stretch between rebuilds), its stop, and every fill.

    `data` is the grid's plain chart data (`strategies.grid.overlay_data`): levels per bar and the resting stop."""
    import plotly.graph_objects as go

    times = _times(result.index)
    tr = grid_level_traces(data["levels"], times)
    stop = data["stop"]

    def draw(fig: Any, row: int) -> None:
        _hide_trade_markers(fig)
        ox, oy = tr["outer"]
        if ox:
            fig.add_trace(go.Scattergl(x=ox, y=oy, mode="lines", name=f"grid range ({tr['runs']:,} builds)",
                                       line=dict(color=RANGE, width=1.4), hoverinfo="skip"), row=row, col=1)
        ix, iy = tr["inner"]
        if ix:
            since = f" since {tr['inner_since'][:10]}" if tr["inner_since"] else ""
            fig.add_trace(go.Scattergl(x=ix, y=iy, mode="lines", name=f"grid levels{since}",
                                       line=dict(color=LEVEL, width=0.8), opacity=0.8, hoverinfo="skip"),
                          row=row, col=1)
        _step_line(fig, row, times, stop, "grid stop", STOP, dash="dash")
        fill_markers(fig, row, result, times)
        _layout(fig)

    return (draw,)


# ---------------------------------------------------------------------------------------------------- DCA
def dca_ladder_traces(ladders: list[dict], fills: np.ndarray, index: pd.DatetimeIndex,
                      times: list[str]) -> dict[str, tuple]:
    """Per cycle: each placed safety order from the cycle's trigger until it filled (solid) or until the cycle
    ended (dotted: never filled), and the base order at its fill. Safety orders fill top down, one fill each."""
    from traderagent.core.records import Reason

    pos = {t: i for i, t in enumerate(index)}
    last = len(index) - 1
    limit_buys = fills[(fills["side"] > 0) & (fills["reason"] == Reason.limit)]
    groups: dict[str, tuple[list, list, list]] = {"filled": ([], [], []), "resting": ([], [], [])}
    base_x: list = []
    base_y: list = []
    base_t: list = []
    for c in ladders:
        trade = int(c["trade"])
        t0 = pos.get(c["start_time"], 0)
        t1 = pos.get(c["end_time"], last) if c.get("end_time") is not None else last
        own = fills["bar"][fills["trade"] == trade]
        if c.get("base_price") is not None and len(own):
            base_x.append(times[int(own[0])])
            base_y.append(c["base_price"])
            base_t.append(f"cycle {trade} base order")
        safety_bars = limit_buys["bar"][limit_buys["trade"] == trade]
        for so in c["safety"]:
            if not so["placed"]:
                continue
            k = int(so["k"])
            key = "filled" if so["filled"] and k <= len(safety_bars) else "resting"
            end = int(safety_bars[k - 1]) if key == "filled" else t1
            label = f"cycle {trade} safety {k} ({so['quote']:,.0f} quote) {'filled' if key == 'filled' else 'not filled'}"
            x, y, tx = segments(times, np.array([t0]), np.array([end]), np.array([so["price"]]), [label])
            groups[key][0].extend(x)
            groups[key][1].extend(y)
            groups[key][2].extend(tx or [])
    return {**groups, "base": (base_x, base_y, base_t)}


def dca_overlays(data: dict, result: Any, bars: Any = None) -> tuple[Overlay, ...]:
    """DCA ladders per cycle (base, safety orders filled or not), average, take-profit and stop lines, fills.

    `data` is the DCA's plain chart data (`strategies.dca.overlay_data`)."""
    import plotly.graph_objects as go

    times = _times(result.index)
    tr = dca_ladder_traces(data["ladders"], result.fills, result.index, times)

    def draw(fig: Any, row: int) -> None:
        _hide_trade_markers(fig)
        for key, color, dash, name in (("resting", LEVEL, "dot", "safety orders (never filled)"),
                                       ("filled", BUY, "solid", "safety orders (until filled)")):
            x, y, tx = tr[key]
            if x:
                fig.add_trace(go.Scattergl(x=x, y=y, text=tx, mode="lines", name=name,
                                           line=dict(color=color, width=1.2, dash=dash),
                                           hovertemplate="%{text}<br>%{y:,.2f}<extra></extra>"), row=row, col=1)
        _step_line(fig, row, times, data["avg"], "average entry", AVG, width=1.0)
        _step_line(fig, row, times, data["tp"], "take-profit", TP, dash="dash")
        _step_line(fig, row, times, data["stop"], "stop", STOP, dash="dash")
        bx, by, bt = tr["base"]
        if bx:
            fig.add_trace(go.Scattergl(x=bx, y=by, text=bt, mode="markers", name="base orders",
                                       marker=dict(symbol="circle-open", size=9, color=AVG, line=dict(width=2)),
                                       hovertemplate="%{text}<br>%{y:,.2f}<extra></extra>"), row=row, col=1)
        fill_markers(fig, row, result, times)
        _layout(fig)

    return (draw,)
