"""The comparison page: every strategy side by side (stats, equity curves, drawdowns, integrity verdicts), the
portfolio they make, and each pair's price shaded by the market regime with per-regime performance.

Input is a `traderagent.backtest.portfolio.PortfolioResult` (its sleeves, references such as the hybrid and
buy & hold, regimes per symbol). Equity and drawdown curves go to the figure at full resolution and are drawn
min/max-downsampled (`report.downsample`); the regime shading is drawn on at most `MAX_POINTS` evenly spaced
bars (every statistic is computed on every bar).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from traderagent.report.html import esc, figure_div, table, write_page

MAX_POINTS = 3000
REGIME_COLORS = {0: "#8c959f", 1: "#1a7f37", 2: "#cf222e", 3: "#bf8700"}
PCT = ("allocation", "total_return", "cagr", "max_drawdown", "win_rate", "exposure", "return", "share", "up_bars",
       "annualised_mean")


def _stride(n: int) -> np.ndarray:
    step = max(1, int(np.ceil(n / MAX_POINTS)))
    rows = np.arange(0, n, step)
    return rows if rows[-1] == n - 1 else np.r_[rows, n - 1]


def _ms(index: pd.DatetimeIndex) -> np.ndarray:
    """Epoch milliseconds as floats: plotly draws them on a date axis and stores them as a compact binary array."""
    return index.as_unit("ms").asi8.astype(np.float64)


def curves(p) -> list[dict]:
    """Every curve on the page: the portfolio, each strategy (all its pairs), each sleeve, each reference."""
    out = [{"name": "portfolio", "group": "portfolio", "equity": p.equity, "initial": p.initial_equity}]
    for key, eq in p.group_equity(lambda s: s.plan.strategy).items():
        init = sum(s.plan.initial_equity for s in p.sleeves if s.plan.strategy == key)
        out.append({"name": f"{key} (all pairs)", "group": key, "equity": eq, "initial": init})
    for s in p.sleeves:
        out.append({"name": s.name, "group": s.plan.strategy, "equity": s.equity, "initial": s.plan.initial_equity})
    for r in p.references:
        out.append({"name": f"{r['name']}:{r['symbol']}", "group": r["name"], "equity": r["equity"],
                    "initial": r["initial_equity"]})
    return out


def equity_figure(p):
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    rows = slice(None)  # every bar: figure_div downsamples (min/max per display bucket, spikes kept)
    x = _ms(p.index)
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.65, 0.35], vertical_spacing=0.04,
                        subplot_titles=("equity / initial equity", "drawdown"))
    for c in curves(p):
        eq = np.asarray(c["equity"], dtype=float)
        main = c["name"] == "portfolio" or c["name"].endswith("(all pairs)")
        width = 3 if c["name"] == "portfolio" else (1.5 if main else 1)
        visible = True if main or c["group"] in ("hybrid", "buy_and_hold") else "legendonly"
        fig.add_trace(go.Scattergl(x=x, y=eq[rows] / c["initial"], name=c["name"], legendgroup=c["name"],
                                   visible=visible, line=dict(width=width)), row=1, col=1)
        peak = np.maximum.accumulate(np.r_[c["initial"], eq])[1:]
        fig.add_trace(go.Scattergl(x=x, y=(eq / peak - 1.0)[rows], name=c["name"], legendgroup=c["name"],
                                   showlegend=False, visible=visible, line=dict(width=1)), row=2, col=1)
    fig.update_layout(height=720, hovermode="x unified", margin=dict(l=40, r=20, t=40, b=30),
                      legend=dict(orientation="h", y=1.08))
    fig.update_yaxes(tickformat=".0%", row=2, col=1)
    fig.update_xaxes(type="date")
    return fig


def regime_price_figure(p, symbol: str):
    """The pair's close with the background shaded by the regime in force at each bar's close."""
    import plotly.graph_objects as go

    from traderagent.strategies.regime import name_of

    rows = _stride(len(p.index))
    x = _ms(p.index[rows])
    price = p.prices[symbol][rows]
    codes = p.regimes[symbol][rows]
    lo, hi = float(np.nanmin(price)), float(np.nanmax(price))
    width_ms = float(np.median(np.diff(x))) if len(x) > 1 else 1.0
    fig = go.Figure()
    for code, color in REGIME_COLORS.items():
        sel = codes == code
        if sel.any():
            fig.add_trace(go.Bar(x=x[sel], y=np.full(int(sel.sum()), hi - lo), base=lo, width=width_ms,
                                 marker=dict(color=color, line=dict(width=0)), opacity=0.22, name=name_of(code),
                                 hoverinfo="skip"))
    fig.add_trace(go.Scattergl(x=x, y=price, name=f"{symbol} close", line=dict(color="#24292f", width=1)))
    fig.update_layout(height=400, bargap=0, barmode="overlay", margin=dict(l=40, r=20, t=70, b=30),
                      title=f"{symbol}: close shaded by regime (confirmed, known at each bar's close)",
                      legend=dict(orientation="h", y=1.12), yaxis=dict(range=[lo, hi]), xaxis=dict(type="date"))
    return fig


def stats_rows(p) -> list[dict]:
    rows = []

    def row(name, symbol, tf, alloc, init, final, stats, integ):
        verdict = "—" if integ is None else ("ok" if integ.get("ok") else "FAILED")
        flags = "" if integ is None else "; ".join(integ.get("flags", []))
        rows.append({"strategy": name, "symbol": symbol, "timeframe": tf, "allocation": alloc, "initial": init,
                     "final": final, **{k: stats.get(k) for k in ("total_return", "cagr", "sharpe", "max_drawdown",
                                                                  "win_rate", "trades")},
                     "integrity": verdict, "flags": flags})

    for s in p.sleeves:
        r = s.result
        row(s.plan.strategy, s.plan.symbol, s.timeframe, s.plan.allocation, s.plan.initial_equity, r.final_equity,
            r.stats, r.integrity)
    js = p.to_json_dict()
    for key, st in js["strategies"].items():
        row(f"{key} (all pairs)", "all", p.timeframe, None, st["initial_equity"], st["final_equity"], st, None)
    for ref in p.references:
        row(ref["name"], ref["symbol"], ref["timeframe"], None, ref["initial_equity"], ref["final_equity"],
            ref["stats"], ref["integrity"])
    row("portfolio", "all", p.timeframe, 1.0 - p.reserve / p.initial_equity, p.initial_equity, float(p.equity[-1]),
        p.stats, p.integrity)
    return rows


def _integrity_rows(p) -> list[dict]:
    rows = [{"scope": "portfolio", "gate": k, "ok": v["ok"], "detail": v["detail"]}
            for k, v in p.integrity["checks"].items()]
    for s in p.sleeves:
        bad = [k for k, v in s.result.integrity["checks"].items() if not v["ok"]]
        rows.append({"scope": s.name, "gate": f"all {len(s.result.integrity['checks'])} engine gates", "ok": not bad,
                     "detail": "failed: " + ", ".join(bad) if bad else "passed"})
    for r in p.references:
        if r["integrity"] is not None:
            bad = [k for k, v in r["integrity"]["checks"].items() if not v["ok"]]
            rows.append({"scope": f"{r['name']}:{r['symbol']} (reference)", "gate": "engine gates", "ok": not bad,
                         "detail": "failed: " + ", ".join(bad) if bad else "passed"})
    return rows


def _regime_section(p, symbol: str, js: dict) -> str:
    reg = js["regimes"][symbol]
    dist = [{"regime": k, "share": v, **reg["spells"].get(k, {})} for k, v in reg["distribution"].items()]
    perf = []
    for name, rows in reg["per_regime"].items():
        for r in rows:
            if r["bars"]:
                perf.append({"curve": name, **r})
    return (f"<h2>{esc(symbol)}: regimes</h2>{figure_div(regime_price_figure(p, symbol))}"
            f"<h3>Distribution</h3>{table(dist, ['regime', 'share', 'spells', 'mean_bars'], pct=PCT)}"
            "<h3>Performance by regime</h3><p class=meta>each bar's return is attributed to the regime known at the "
            "previous bar's close</p>"
            f"<div class=scroll>{table(perf, ['curve', 'regime', 'bars', 'share', 'return', 'annualised_mean', 'up_bars'], pct=PCT)}</div>")


def render_comparison(p, path: Path, title: str | None = None, meta: dict | None = None) -> Path:
    """Write the comparison page for a PortfolioResult and return its path."""
    js = p.to_json_dict()
    symbols = list(p.regimes)
    title = title or f"Comparison · {', '.join(symbols)} · {js['start'][:10]} → {js['end'][:10]}"
    verdict = '<span class=ok>all gates passed</span>' if p.integrity["ok"] else '<span class=bad>FAILED</span>'
    notes = "".join(f"<p class=flag>{esc(n)}</p>" for n in p.notes)
    flags = "".join(f"<p class=flag>{esc(f)}</p>" for f in p.integrity.get("flags", []))
    corr = p.correlation()
    corr_rows = [{"sleeve": k, **{c: float(v) for c, v in row.items()}} for k, row in corr.iterrows()]
    cols = ["strategy", "symbol", "timeframe", "allocation", "initial", "final", "total_return", "cagr", "sharpe",
            "max_drawdown", "win_rate", "trades", "integrity", "flags"]
    meta_html = "".join(f"<p class=meta>{esc(k)}: {esc(v)}</p>" for k, v in (meta or {}).items())
    body = (
        f"<h1>{esc(title)}</h1>"
        f"<p class=meta>initial equity {p.initial_equity:,.2f} → {float(p.equity[-1]):,.2f}; fees and slippage "
        f"included in every run; max concurrent strategies {p.max_concurrent}; clock {esc(p.timeframe)}</p>"
        f"{meta_html}{notes}<p>Integrity: {verdict}</p>{flags}"
        f"{table(_integrity_rows(p), ['scope', 'gate', 'ok', 'detail'])}"
        f"<h2>Side by side</h2><p class=meta>sleeves trade their allocation; references (hybrid, buy &amp; hold) "
        f"trade the whole initial equity on one pair and are not part of the portfolio</p>"
        f"<div class=scroll>{table(stats_rows(p), cols, pct=PCT)}</div>"
        f"{figure_div(equity_figure(p))}"
        + "".join(_regime_section(p, s, js) for s in symbols)
        + f"<h2>Correlation of daily sleeve returns</h2>{table(corr_rows, ['sleeve', *corr.columns])}"
    )
    return write_page(path, title, body)


def frame(p) -> pd.DataFrame:
    """The side-by-side table as a DataFrame (for notebooks)."""
    return pd.DataFrame(stats_rows(p))


def hybrid_overlays(data: dict, result, bars) -> tuple:
    """Backtest-page overlay of the hybrid: who was in charge (grid / DCA / nobody) as coloured bands on the price
    panel, one segment per spell at the bar's high (light: a few hundred segments for three years of 15m).

    `data["mode"]` is the machine in charge per bar (`strategies.hybrid.overlay_data`: 0 none, 1 grid, 2 DCA)."""
    from traderagent.report.orders_overlay import _times, change_runs, segments

    mode = data["mode"]
    times = _times(bars.index)
    t0, t1 = change_runs(mode)
    t1 = np.minimum(t1, len(times) - 1)
    top = np.array([float(bars["high"].iloc[a:b + 1].max()) for a, b in zip(t0, t1, strict=True)])

    def overlay(fig, row):
        import plotly.graph_objects as go

        for code, name, color in ((1, "grid in charge", "#8c959f"), (2, "DCA in charge", "#cf222e")):
            sel = mode[t0] == code
            xs, ys, _ = segments(times, t0[sel], t1[sel], top[sel] * 1.01)
            fig.add_trace(go.Scattergl(x=xs, y=ys, mode="lines", name=name, line=dict(color=color, width=4)),
                          row=row, col=1)

    return (overlay,)
