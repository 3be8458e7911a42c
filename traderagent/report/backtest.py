"""The HTML page of one backtest: the strategy beside buy-and-hold (stats and equity), price with entries/exits,
strategy overlays and risk-guard blocks, drawdowns, the integrity verdict, trades, params and provenance.

`render` writes the page and, beside it, the run's JSON (`<page>.json`: the result, its provenance and the full
equity curve), which is what the report site indexes and what holds the data the charts draw downsampled.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from traderagent.report.html import esc, figure_div, fmt, table, write_page, write_text_atomic
from traderagent.report.labels import PCT_KEYS, label

CANDLES_MAX = 4000  # above this many bars the price is drawn as a line (a browser stays responsive)
STATS_ORDER = ("total_return", "cagr", "sharpe", "sortino", "max_drawdown", "win_rate", "profit_factor", "expectancy",
               "exposure", "trades")
TRADE_COLUMNS = ["entry_time", "exit_time", "side", "entry_price", "exit_price", "size", "pnl", "fees", "exit_reason"]
STRATEGY, BUY_HOLD, PRICE = "#0969da", "#8c959f", "#24292f"
LONG, SHORT, EXIT, BLOCK = "#1a7f37", "#cf222e", "#8250df", "#bc4c00"
RISK_TIME_KEYS = ("time", "bar_time", "bar", "at", "timestamp")
META_LABELS = {"fees": "Fee per side", "slippage": "Slippage per fill"}
MAX_TRADE_MARKERS = 3000  # latest trades drawn as markers (every trade is in the table's JSON)
MAX_TABLE_TRADES = 1000  # trades listed on the page: all up to this, else the first and last half of it
KIND = "backtest"  # the JSON's "kind": what the site reads it as


def buy_and_hold(bars: pd.DataFrame, initial_equity: float, fees: float, slippage: float, timeframe: str):
    """Buy-and-hold on the traded bars (bought at the first bar's open with the run's costs): (equity, stats)."""
    from traderagent.backtest.metrics import return_stats
    from traderagent.backtest.portfolio import buy_and_hold_equity

    close = bars["close"].to_numpy(dtype=float)
    eq = buy_and_hold_equity(float(bars["open"].iloc[0]), close, initial_equity, fees, slippage)
    stats = return_stats(eq, initial_equity, timeframe)
    stats.update(trades=1, exposure=1.0)
    return eq, stats


def _marker_size(n: int) -> int:
    return 9 if n <= 150 else 7 if n <= 600 else 5


def _ms(times) -> np.ndarray:
    return pd.DatetimeIndex(pd.to_datetime(list(times), utc=True)).as_unit("ms").asi8.astype(np.float64)


def trade_markers(fig, trades: Sequence[dict], row: int = 1) -> None:
    """Entries (triangles, green long / red short) and exits (purple open circles), small and translucent
    when there are many, so the price line (drawn on top) stays readable; the latest MAX_TRADE_MARKERS."""
    import plotly.graph_objects as go

    note = "" if len(trades) <= MAX_TRADE_MARKERS else f" (latest {MAX_TRADE_MARKERS:,})"
    trades = trades[-MAX_TRADE_MARKERS:]
    size = _marker_size(len(trades))
    for side, color, symbol in (("long", LONG, "triangle-up"), ("short", SHORT, "triangle-down")):
        sel = [t for t in trades if t.get("side") == side]
        if sel:
            fig.add_trace(go.Scatter(
                x=_ms(t["entry_time"] for t in sel), y=[t["entry_price"] for t in sel], mode="markers",
                marker=dict(symbol=symbol, size=size, color=color, opacity=0.75, line=dict(width=0)),
                name=f"{side} entry{note}", customdata=np.array([t["size"] for t in sel], dtype=float),
                hovertemplate=f"{side} entry, size %{{customdata:.6g}}<br>%{{y:,.2f}}<extra></extra>"), row=row, col=1)
    closed = [t for t in trades if t.get("exit_time")]
    if closed:
        fig.add_trace(go.Scatter(
            x=_ms(t["exit_time"] for t in closed), y=[t["exit_price"] for t in closed], mode="markers",
            marker=dict(symbol="circle-open", size=size, color=EXIT, opacity=0.75, line=dict(width=1.2)),
            name=f"exit{note}", text=[t["exit_reason"] for t in closed],
            customdata=np.array([np.nan if t["pnl"] is None else t["pnl"] for t in closed], dtype=float),
            hovertemplate="exit (%{text}), P&L %{customdata:,.2f}<br>%{y:,.2f}<extra></extra>"), row=row, col=1)


def risk_events(result: dict) -> list[dict] | None:
    """The risk guard's blocks of a result: `risk_events` (one record per block: time, until, bars, rule, action,
    side, orders, amount), or a list under `risk_blocks`; None when the result has neither (older runs)."""
    for key in ("risk_events", "risk_blocks"):
        if isinstance(result.get(key), list):
            return result[key]
    return None


def refused_text(e: dict) -> str:
    """What a block refused, in words."""
    for key in ("refused", "what", "detail"):
        if key in e:
            v = e[key]
            return json.dumps(v, default=str) if isinstance(v, (dict, list)) else str(v)
    action, amount = e.get("action", "refused"), e.get("amount")
    if action == "reached":
        return f"daily loss of {fmt(amount, True)} reached: no new positions until the next UTC day"
    if action == "flattened":
        return "position closed at the next bar's open"
    n = int(e.get("orders") or 0)
    side = {1: "buy ", -1: "sell "}.get(int(e.get("side") or 0), "")
    text = f"{n} {side}order{'s' if n != 1 else ''} " + ("made smaller" if action == "resized" else "refused")
    if amount:
        text += f", {amount:,.2f} notional"
    bars = int(e.get("bars") or 1)
    return text + (f", {bars:,} bars in a row" if bars > 1 else "")


def risk_block_rows(events: Sequence[dict]) -> list[dict]:
    """One table row per block: rule, action, bar time, what was refused."""
    rows = []
    for e in events:
        tkey = next((k for k in RISK_TIME_KEYS if k in e and not isinstance(e[k], int)), None)
        rows.append({"rule": e.get("rule", ""), "action": e.get("action", "refused"),
                     "time": e.get(tkey) if tkey else None, "refused": refused_text(e)})
    return rows


def risk_markers(fig, bars: pd.DataFrame, events: Sequence[dict], row: int = 1) -> None:
    """Each block as a marker above its bar's high (hover: the rule and what was refused); the latest
    MAX_TRADE_MARKERS."""
    import plotly.graph_objects as go

    rows = [r for r in risk_block_rows(events) if r["time"] is not None][-MAX_TRADE_MARKERS:]
    if not rows or not len(bars):
        return
    times = pd.DatetimeIndex(pd.to_datetime([r["time"] for r in rows], utc=True))
    pos = np.clip(bars.index.searchsorted(times, side="right") - 1, 0, len(bars) - 1)
    y = bars["high"].to_numpy(dtype=float)[pos] * 1.01
    fig.add_trace(go.Scatter(
        x=times.as_unit("ms").asi8.astype(np.float64), y=y, mode="markers", name=f"risk guard ({len(rows):,} blocks)",
        marker=dict(symbol="hexagon-open", size=9, color=BLOCK, line=dict(width=1.5)),
        text=[f"{r['rule']}: {r['refused']}" for r in rows], hovertemplate="%{text}<extra></extra>"), row=row, col=1)


def _drawdown(eq: np.ndarray, initial: float) -> np.ndarray:
    return eq / np.maximum.accumulate(np.r_[initial, eq])[1:] - 1.0 if len(eq) else eq


def price_figure(bars: pd.DataFrame, trades: Sequence[dict], equity: pd.Series, title: str,
                 overlays: Sequence[Callable] = (), buy_hold: np.ndarray | None = None,
                 risk: Sequence[dict] = (), initial_equity: float | None = None):
    """Price (candles or close line) with entries/exits, overlays and risk blocks; equity beside buy-and-hold;
    drawdowns of both. The price is drawn last on its panel, over the markers and overlays."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=3, cols=1, shared_xaxes=True, row_heights=[0.55, 0.3, 0.15], vertical_spacing=0.04,
                        subplot_titles=(title, "Equity: strategy and buy-and-hold", "Drawdown from the peak"))
    fig.update_layout(height=900, xaxis_rangeslider_visible=False, hovermode="x unified",
                      margin=dict(l=50, r=20, t=60, b=30), legend=dict(orientation="h", y=1.02, yanchor="bottom"))
    fig.update_yaxes(tickformat=".0%", row=3, col=1)
    trade_markers(fig, trades)
    for overlay in overlays:  # they may restyle the layout (legend room, zoom buttons): applied after ours
        overlay(fig, 1)
    risk_markers(fig, bars, risk)
    if len(bars) <= CANDLES_MAX:
        fig.add_trace(go.Candlestick(x=bars.index, open=bars["open"], high=bars["high"], low=bars["low"],
                                     close=bars["close"], name="price", showlegend=False), row=1, col=1)
    else:
        fig.add_trace(go.Scatter(x=bars.index, y=bars["close"], name="close", line=dict(width=1, color=PRICE)),
                      row=1, col=1)
    eq = equity.to_numpy(dtype=float)
    init = float(initial_equity if initial_equity is not None else (eq[0] if len(eq) else 1.0))
    curves = [("strategy", eq, STRATEGY)] if buy_hold is None else [("buy and hold", np.asarray(buy_hold, float),
                                                                       BUY_HOLD), ("strategy", eq, STRATEGY)]
    for name, values, color in curves:
        fig.add_trace(go.Scatter(x=equity.index, y=values, name=f"{name} equity", legendgroup=name,
                                 line=dict(color=color, width=1.6 if name == "strategy" else 1.1)), row=2, col=1)
        fig.add_trace(go.Scatter(x=equity.index, y=_drawdown(values, init), name=f"{name} drawdown",
                                 legendgroup=name, showlegend=False, fill="tozeroy" if name == "strategy" else None,
                                 line=dict(color=SHORT if name == "strategy" else color, width=1)), row=3, col=1)
    return fig


def stats_table(stats: dict, bh_stats: dict | None) -> str:
    keys = [k for k in STATS_ORDER if k in stats] + [k for k in stats if k not in STATS_ORDER]
    rows = []
    for k in keys:
        pct = k in PCT_KEYS
        bh = "" if bh_stats is None else f"<td>{fmt(bh_stats.get(k), pct)}</td>"
        rows.append(f"<tr><td>{esc(label(k))}</td><td>{fmt(stats.get(k), pct)}</td>{bh}</tr>")
    head = "<tr><th></th><th>Strategy</th>" + ("<th>Buy and hold</th>" if bh_stats is not None else "") + "</tr>"
    return f"<table><thead>{head}</thead><tbody>{''.join(rows)}</tbody></table>"


def integrity_html(integrity: dict) -> str:
    ok = integrity.get("ok")
    verdict = '<span class=ok>all gates passed</span>' if ok else '<span class=bad>FAILED</span>'
    rows = [{"Gate": label(k), "Passed": v.get("ok"), "Detail": v.get("detail", "")}
            for k, v in integrity.get("checks", {}).items()]
    flags = "".join(f"<p class=flag>{esc(f)}</p>" for f in integrity.get("flags", []))
    return (f"<p>Integrity: {verdict}</p>{flags}<details{'' if ok else ' open'}><summary>The gates every run "
            f"passes ({len(rows)})</summary>{table(rows, ['Gate', 'Passed', 'Detail'])}</details>")


def trade_rows(trades: list[dict]) -> tuple[list[dict], list[str]]:
    """Table rows (human column names) of the trades: all up to MAX_TABLE_TRADES, else the first and last half
    (the rest are in the run's JSON)."""
    cols = list(TRADE_COLUMNS)
    if trades and "fills" in trades[0]:  # order strategies list each trade's fills: show how many, not them
        cols.append("fills")
    rows = [{label(c): (str(t.get(c, ""))[:16].replace("T", " ") if c.endswith("_time")
                        else len(t["fills"]) if c == "fills" else t.get(c)) for c in cols} for t in trades]
    return head_tail(rows, MAX_TABLE_TRADES, "trades", label(cols[0])), [label(c) for c in cols]


def head_tail(rows: list, limit: int, what: str, first_key: str) -> list:
    """All rows up to `limit`, else the first and last half with a row saying how many are in the JSON."""
    half = limit // 2
    if len(rows) <= limit:
        return rows
    return [*rows[:half], {first_key: f"… {len(rows) - 2 * half:,} more {what} in the JSON …"}, *rows[-half:]]


def risk_html(events: Sequence[dict] | None) -> str:
    """The risk-guard section: absent when the result carries no blocks key (older runs)."""
    if events is None:
        return ""
    rows = risk_block_rows(events)
    if not rows:
        return "<h2>Risk guard</h2><p class=meta>The risk guard refused nothing in this run.</p>"
    counts: dict[str, int] = {}
    for r in rows:
        key = f"{r['rule']} ({r['action']})"
        counts[key] = counts.get(key, 0) + 1
    cols = ["rule", "action", "time", "refused"]
    shown = [{label(k): (str(r[k])[:16].replace("T", " ") if k == "time" and r.get(k) else r.get(k)) for k in cols}
             for r in rows]
    summary = ", ".join(f"{esc(k)}: {v:,}" for k, v in counts.items())
    return (f"<h2>Risk guard</h2><p>{len(rows):,} blocks ({summary}); each is marked on the price chart.</p>"
            f"<div class=scroll>{table(head_tail(shown, MAX_TABLE_TRADES, 'blocks', label('rule')), [label(k) for k in cols])}"
            "</div>")


def title_of(result: dict) -> str:
    return (f"{result['strategy']} · {result['symbol']} · {result['timeframe']} · {result['start'][:10]} → "
            f"{result['end'][:10]}")


def equity_json(equity: pd.Series) -> dict:
    """The full equity curve as JSON: epoch milliseconds (UTC) and values."""
    return {"time_ms": pd.DatetimeIndex(equity.index).as_unit("ms").asi8.tolist(),
            "value": [float(v) for v in equity.to_numpy(dtype=float)]}


def run_document(result: dict, meta: dict | None, equity: pd.Series | None = None) -> dict:
    """The run's JSON beside its page: the result, its provenance and (when given) the full equity curve."""
    doc = {"kind": KIND, **result, "meta": dict(meta or {})}
    if equity is not None:
        doc["equity"] = equity_json(equity)
    return doc


def render(result: dict, bars: pd.DataFrame, equity: pd.Series, path: Path, meta: dict | None = None,
           overlays: Sequence[Callable] = (), extra_html: str = "", nav: str = "", note: str = "",
           write_json: bool = True) -> Path:
    """Write the backtest page for a result (the `--json` dict) and, beside it, the run's JSON; returns the page."""
    meta = meta or {}
    path = Path(path)
    trades = result.get("trades", [])
    fees, slip = float(meta.get("fees", 0.0) or 0.0), float(meta.get("slippage", 0.0) or 0.0)
    bh_eq, bh_stats = buy_and_hold(bars, float(result["initial_equity"]), fees, slip, result["timeframe"])
    blocks = risk_events(result)
    fig = price_figure(bars, trades, equity, f"{result['symbol']} {result['timeframe']}", overlays, bh_eq,
                       blocks or (), float(result["initial_equity"]))
    rows, cols = trade_rows(trades)
    bh_final = float(bh_eq[-1]) if len(bh_eq) else float("nan")
    json_link = f" · <a href='{esc(path.with_suffix('.json').name)}'>full data (JSON)</a>" if write_json else ""
    prov = {META_LABELS.get(k, label(k)): (fmt(v, True) if k in META_LABELS else v) for k, v in meta.items()}
    body = (
        f"<h1>{esc(title_of(result))}</h1>"
        f"<p class=meta>initial equity {result['initial_equity']:,.2f} → final {result['final_equity']:,.2f} "
        f"(buy and hold: {bh_final:,.2f}); fees and slippage included; {len(trades):,} trades{json_link}</p>"
        f"{note}{integrity_html(result['integrity'])}"
        f"<h2>Strategy and buy-and-hold</h2>{stats_table(result['stats'], bh_stats)}"
        f"<p class=meta>Buy and hold: the whole initial equity bought at the first traded bar's open with the "
        f"same fee and slippage, then held.</p>"
        f"{figure_div(fig)}{extra_html}{risk_html(blocks)}"
        f"<h2>Trades</h2><div class=scroll>{table(rows, cols)}</div>"
        f"<h2>Parameters</h2>{params_table(result.get('params', {}))}"
        f"<h2>Provenance</h2>{_kv(prov)}<p class=meta>trades SHA-256 {esc(result.get('trades_sha256', ''))}</p>"
    )
    if write_json:
        doc = run_document(result, meta, equity)
        write_text_atomic(path.with_suffix(".json"), json.dumps(doc, allow_nan=False, default=str))
    return write_page(path, title_of(result), body, nav=nav)


def _kv(d: dict) -> str:
    return "<table>" + "".join(f"<tr><td>{esc(k)}</td><td>{esc(v)}</td></tr>" for k, v in d.items()) + "</table>"


def params_table(params: dict, prefix: str = "") -> str:
    """Parameters as the config spells them (`key: value`, nested sections flattened with dots)."""
    flat: dict[str, object] = {}

    def walk(d: dict, pre: str) -> None:
        for k, v in d.items():
            if isinstance(v, dict):
                walk(v, f"{pre}{k}.")
            else:
                flat[f"{pre}{k}"] = json.dumps(v) if isinstance(v, (list, tuple, bool)) or v is None else v

    walk(params or {}, prefix)
    return ("<table><thead><tr><th>Key (config)</th><th>Value</th></tr></thead><tbody>"
            + "".join(f"<tr><td><code>{esc(k)}</code></td><td>{esc(v)}</td></tr>" for k, v in flat.items())
            + "</tbody></table>")
