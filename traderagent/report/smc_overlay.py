"""Price-chart overlays for an SMC backtest: zone-timeframe order blocks and FVGs as filled rectangles
(from the close of the candle that confirmed them to mitigation or expiry), structure-timeframe BOS/CHoCH
as lines from the broken swing to the breaking candle, and entry-timeframe liquidity sweeps as markers.

Only the last `OVERLAY_DAYS` of the plotted span are drawn (the page plots up to ~115k bars; a few hundred
shapes per kind keep it responsive); the legend names the window. Every item is placed at the time it
became known (a candle's close), never earlier.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from traderagent.data import timeframes
from traderagent.indicators import smc as smc_ind

OVERLAY_DAYS = 90
_COLORS = {1: "rgba(26,127,55,{a})", -1: "rgba(207,34,46,{a})"}


def _close_times(times: pd.Series | pd.DatetimeIndex, tf: str):
    return times + pd.Timedelta(timeframes.nanos(tf), unit="ns")


def zones(bars: pd.DataFrame, tf: str, s: smc_ind.SMCSettings, since: pd.Timestamp, until: pd.Timestamp) -> pd.DataFrame:
    """Order blocks and FVGs active at some time in [since, until]: kind, direction, top, bottom, start, end
    (start = close of the confirming candle; end = close of the mitigating candle, expiry, or `until`)."""
    ev = smc_ind.events(bars, s, kinds=("order_block", "fvg"))
    if ev.empty:
        return pd.DataFrame(columns=["kind", "direction", "top", "bottom", "start", "end"])
    idx = bars.index
    n = len(idx)
    end_idx = ev["mitigated_idx"].to_numpy()
    if s.max_age:
        expiry = ev["confirm_idx"].to_numpy() + s.max_age
        end_idx = np.where((end_idx < 0) | (end_idx > expiry), expiry, end_idx)
    end = pd.Series(pd.NaT, index=ev.index, dtype=f"datetime64[ns, {idx.tz}]")
    known = (end_idx >= 0) & (end_idx < n)
    end[known] = _close_times(idx[end_idx[known]], tf)
    out = pd.DataFrame({
        "kind": ev["kind"], "direction": ev["direction"], "top": ev["top"], "bottom": ev["bottom"],
        "start": _close_times(ev["confirm_time"], tf), "end": end.fillna(until).clip(upper=until),
    })
    return out[(out["end"] >= since) & (out["start"] <= until)].reset_index(drop=True)


def breaks(bars: pd.DataFrame, tf: str, s: smc_ind.SMCSettings, since, until) -> pd.DataFrame:
    """BOS/CHoCH confirmed in [since, until]: kind, direction, level, swing (anchor time), time (break close)."""
    ev = smc_ind.structure(bars, s)
    out = pd.DataFrame({"kind": ev["kind"], "direction": ev["direction"], "level": ev["level"],
                        "swing": ev["anchor_time"], "time": _close_times(ev["confirm_time"], tf)})
    return out[(out["time"] >= since) & (out["time"] <= until)].reset_index(drop=True)


def sweeps(bars: pd.DataFrame, tf: str, s: smc_ind.SMCSettings, since, until) -> pd.DataFrame:
    """Liquidity sweeps in [since, until]: side (+1 high, -1 low), level, time (sweeping candle's close), equal."""
    ev = smc_ind.events(bars, s, kinds=("sweep_high", "sweep_low"))
    out = pd.DataFrame({"side": ev["direction"], "level": ev["level"],
                        "time": _close_times(ev["confirm_time"], tf), "equal": ev["equal"]})
    return out[(out["time"] >= since) & (out["time"] <= until)].reset_index(drop=True)


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


def overlay_data(bars_by_tf: dict, params, until: pd.Timestamp, days: int = OVERLAY_DAYS) -> dict[str, pd.DataFrame]:
    """The zones, breaks and sweeps an SMC chart shows for the `days` before `until`, by the strategy's roles."""
    from traderagent.strategies import smc as strat

    r = strat.roles(params)
    s = strat.settings(params)
    base = r["entry"]
    since = until - pd.Timedelta(days=days)

    def frame(tf: str) -> pd.DataFrame:
        return strat._complete(bars_by_tf[tf], tf, base)

    return {
        "zones": zones(frame(r["zone"]), r["zone"], s, since, until),
        "breaks": breaks(frame(r["structure"]), r["structure"], s, since, until),
        "sweeps": sweeps(frame(base), base, s, since, until),
        "roles": r, "since": since,
    }


def figure_overlays(data: dict, days: int = OVERLAY_DAYS) -> list[Callable]:
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


def overlays(run) -> list[Callable]:
    """The overlays of a finished SMC backtest (`traderagent.backtest.runner.BacktestRun`)."""
    if not len(run.bars):
        return []
    until = run.bars.index[-1] + pd.Timedelta(timeframes.nanos(run.json["timeframe"]), unit="ns")
    return figure_overlays(overlay_data(run.bars_by_tf, run.params, until))
