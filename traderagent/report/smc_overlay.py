"""Price-chart overlays for an SMC backtest, drawn from the strategy's plain chart data
(`traderagent.strategies.smc.chart_data`): order blocks and FVGs as filled rectangles, BOS/CHoCH as lines from the
broken swing to the breaking candle, liquidity sweeps as markers. Only the last days of the plotted span are
drawn; the legend names the window.
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

_COLORS = {1: "rgba(26,127,55,{a})", -1: "rgba(207,34,46,{a})"}


def _rect_xy(df: pd.DataFrame) -> tuple[list, list]:
    x: list = []
    y: list = []
    for s0, e0, b, t in zip(df["start"], df["end"], df["bottom"], df["top"], strict=True):
        x += [s0, e0, e0, s0, s0, None]
        y += [b, b, t, t, b, None]
    return x, y


def _segments(df: pd.DataFrame) -> tuple[list, list]:
    x: list = []
    y: list = []
    for s0, e0, lv in zip(df["swing"], df["time"], df["level"], strict=True):
        x += [s0, e0, None]
        y += [lv, lv, None]
    return x, y


def figure_overlays(data: dict, days: int = 90) -> list[Callable]:
    """Callables (fig, row) -> None drawing `overlay_data` on the price panel."""
    import plotly.graph_objects as go

    r = data["roles"]
    note = f" (last {days} d)"

    def draw_zones(fig, row: int) -> None:
        z = data["zones"]
        for d, side in ((1, "bullish"), (-1, "bearish")):
            sel = z[z["direction"] == d]
            if len(sel):
                x, y = _rect_xy(sel)
                fig.add_trace(go.Scatter(x=x, y=y, fill="toself", mode="lines", line=dict(width=0),
                                         fillcolor=_COLORS[d].format(a=0.15), hoverinfo="skip",
                                         name=f"{r['zone']} {side} OB/FVG{note}"), row=row, col=1)

    def draw_breaks(fig, row: int) -> None:
        b = data["breaks"]
        for kind, dash in (("bos", "dot"), ("choch", "solid")):
            for d, side in ((1, "bull"), (-1, "bear")):
                sel = b[(b["kind"] == kind) & (b["direction"] == d)]
                if len(sel):
                    x, y = _segments(sel)
                    fig.add_trace(go.Scatter(x=x, y=y, mode="lines", line=dict(color=_COLORS[d].format(a=0.9),
                                  width=1.5, dash=dash), name=f"{r['structure']} {side} {kind.upper()}{note}",
                                  hoverinfo="skip"), row=row, col=1)

    def draw_sweeps(fig, row: int) -> None:
        sw = data["sweeps"]
        for side, sym, label in ((1, "triangle-down-open", "high"), (-1, "triangle-up-open", "low")):
            sel = sw[sw["side"] == side]
            if len(sel):
                fig.add_trace(go.Scattergl(x=sel["time"], y=sel["level"], mode="markers",
                                           marker=dict(symbol=sym, size=8, color="#8250df"),
                                           name=f"{r['entry']} swept {label}s{note}"), row=row, col=1)

    return [draw_zones, draw_breaks, draw_sweeps]


def overlays(data: dict, result=None, bars=None) -> list[Callable]:
    """The overlays of a finished SMC backtest, from `SPEC.overlay_data` (strategies.smc.chart_data)."""
    if not data:
        return []
    return figure_overlays(data, data.get("days", 90))
