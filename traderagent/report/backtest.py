"""The HTML page of one backtest: price with entries/exits (and strategy overlays), equity with drawdown,
stats, integrity verdict, trade table, params, data file hash and code version."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from traderagent.report.html import esc, figure_div, json_block, kv_table, table, write_page

PCT_STATS = ("total_return", "cagr", "max_drawdown", "win_rate", "exposure")
CANDLES_MAX = 4000  # above this many bars the price is drawn as a line (a browser stays responsive)


def price_figure(bars: pd.DataFrame, trades: Sequence[dict], equity: pd.Series, title: str,
                 overlays: Sequence[Callable] = ()):
    """Price (candles or close line) with entry/exit markers, equity and drawdown in linked panels."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=3, cols=1, shared_xaxes=True, row_heights=[0.55, 0.3, 0.15], vertical_spacing=0.03,
                        subplot_titles=(title, "equity", "drawdown"))
    if len(bars) <= CANDLES_MAX:
        fig.add_trace(go.Candlestick(x=bars.index, open=bars["open"], high=bars["high"], low=bars["low"],
                                     close=bars["close"], name="price", showlegend=False), row=1, col=1)
    else:
        fig.add_trace(go.Scattergl(x=bars.index, y=bars["close"], name="close", line=dict(width=1, color="#555")),
                      row=1, col=1)
    for side, color, symbol in (("long", "#1a7f37", "triangle-up"), ("short", "#cf222e", "triangle-down")):
        sel = [t for t in trades if t.get("side") == side]
        if sel:
            fig.add_trace(go.Scattergl(
                x=[t["entry_time"] for t in sel], y=[t["entry_price"] for t in sel], mode="markers",
                marker=dict(symbol=symbol, size=9, color=color), name=f"{side} entry",
                text=[f"size {t['size']:.6g}" for t in sel]), row=1, col=1)
    closed = [t for t in trades if t.get("exit_time")]
    if closed:
        fig.add_trace(go.Scattergl(
            x=[t["exit_time"] for t in closed], y=[t["exit_price"] for t in closed], mode="markers",
            marker=dict(symbol="x", size=8, color="#0969da"), name="exit",
            text=[f"{t['exit_reason']} pnl {t['pnl']:.2f}" for t in closed]), row=1, col=1)
    for overlay in overlays:
        overlay(fig, 1)
    fig.add_trace(go.Scattergl(x=equity.index, y=equity.to_numpy(), name="equity", line=dict(color="#0969da")),
                  row=2, col=1)
    eq = equity.to_numpy(dtype=float)
    dd = eq / np.maximum.accumulate(eq) - 1.0 if len(eq) else eq
    fig.add_trace(go.Scattergl(x=equity.index, y=dd, name="drawdown", fill="tozeroy",
                               line=dict(color="#cf222e", width=1)), row=3, col=1)
    fig.update_layout(height=900, xaxis_rangeslider_visible=False, hovermode="x unified",
                      margin=dict(l=40, r=20, t=40, b=30), legend=dict(orientation="h", y=1.04))
    fig.update_yaxes(tickformat=".0%", row=3, col=1)
    return fig


def integrity_html(integrity: dict) -> str:
    verdict = '<span class=ok>all gates passed</span>' if integrity.get("ok") else '<span class=bad>FAILED</span>'
    rows = [{"gate": k, "ok": v.get("ok"), "detail": v.get("detail", "")} for k, v in integrity.get("checks", {}).items()]
    flags = "".join(f"<p class=flag>{esc(f)}</p>" for f in integrity.get("flags", []))
    return f"<p>Integrity: {verdict}</p>{flags}{table(rows, ['gate', 'ok', 'detail'])}"


def render(result: dict, bars: pd.DataFrame, equity: pd.Series, path: Path, meta: dict | None = None,
           overlays: Sequence[Callable] = (), extra_html: str = "") -> Path:
    """Write the backtest page for a result (the `--json` dict) and return its path."""
    meta = meta or {}
    title = f"{result['strategy']} · {result['symbol']} · {result['timeframe']} · {result['start'][:10]} → {result['end'][:10]}"
    trades = result.get("trades", [])
    fig = price_figure(bars, trades, equity, f"{result['symbol']} {result['timeframe']}", overlays)
    trade_cols = ["entry_time", "exit_time", "side", "entry_price", "exit_price", "size", "pnl", "fees", "exit_reason"]
    if trades and "fills" in trades[0]:  # order strategies list each trade's fills: show how many, not them
        trades = [{**t, "fills": len(t["fills"])} for t in trades]
        trade_cols.append("fills")
    body = (
        f"<h1>{esc(title)}</h1>"
        f"<p class=meta>initial equity {result['initial_equity']:,.2f} → final {result['final_equity']:,.2f}; "
        f"fees and slippage included; {len(trades)} trades</p>"
        f"{integrity_html(result['integrity'])}"
        f"<h2>Stats</h2>{kv_table(result['stats'], PCT_STATS)}"
        f"{figure_div(fig)}{extra_html}"
        f"<h2>Trades</h2><div class=scroll>{table(trades, trade_cols)}</div>"
        f"<h2>Parameters</h2>{json_block(result.get('params', {}))}"
        f"<h2>Provenance</h2>{kv_table(meta)}<p class=meta>trades_sha256 {esc(result.get('trades_sha256', ''))}</p>"
    )
    return write_page(path, title, body)
