"""The pages of the report site (`report.site` decides what goes in; this module draws it): backtest pages
(a verified re-run, or what was saved), study pages, comparison pages and the index."""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd

from traderagent.report.html import (
    GENERATOR,
    esc,
    figure_div,
    fmt,
    kv_table,
    link,
    table,
    write_page,
    write_text_atomic,
)
from traderagent.report.labels import label

LEVEL_COLOR = {"robust": "#1a7f37", "inconclusive": "#d4a72c", "likely overfit": "#cf222e"}


def nav_html(links: list[tuple[str, str]], prefix: str = "") -> str:
    """The site's navigation bar (`prefix` "../" on pages one folder down)."""
    return "<nav class=site>" + "".join(f"<a href='{esc(prefix + href)}'>{esc(text)}</a>" for text, href in links) \
        + "</nav>"


def _period(d: dict) -> str:
    return f"{str(d.get('start') or '')[:10]} → {str(d.get('end') or '')[:10]}"


def _sources_note(it) -> str:
    return f"<p class=meta>Saved as: {esc(', '.join(it.sources))}</p>"


# ------------------------------------------------------------------------------------------------ backtests
def resolve_path(value: Any, folder: Path | None) -> Path | None:
    """A path recorded in a document: as written if it exists, else relative to the document's folder."""
    if not value:
        return None
    p = Path(str(value))
    if p.is_file():
        return p
    if folder is not None and (folder / p).is_file():
        return folder / p
    return None


def reproduce(it):
    """A fresh run of the item's recorded inputs whose trades hash to the recorded ones: (run, "reproduced"),
    else (None, why not)."""
    from traderagent.backtest.runner import file_sha256, run_backtest
    from traderagent.errors import UserError

    d = it.doc
    meta = d.get("meta") or {}
    data = resolve_path(meta.get("data_file"), it.folder)
    if data is None:
        return None, f"its candle file ({meta.get('data_file') or 'not recorded'}) is not here"
    if meta.get("data_sha256") and file_sha256(data) != meta["data_sha256"]:
        return None, f"its candle file {data} changed since the run (SHA-256 differs)"
    try:
        run = run_backtest(d["strategy"], symbol=d["symbol"], timeframe=d["timeframe"], data=data, start=d["start"],
                           end=d["end"], fees=meta.get("fees"), slippage=meta.get("slippage"), overrides=d["params"])
    except (UserError, ValueError, KeyError, TypeError) as exc:
        return None, f"it could not be re-run here ({exc})"
    if d.get("trades_sha256") and run.json["trades_sha256"] != d["trades_sha256"]:
        return None, (f"a fresh run gives different trades (the code or the costs changed since; it was made by "
                      f"{meta.get('code_version') or 'an unrecorded code version'})")
    return run, "reproduced"


def backtest_page(it, out: Path, nav: str, log: Callable[[str], None]) -> Path:
    """The run's page: drawn from a verified re-run, else from what was saved (and why)."""
    from traderagent.report.backtest import buy_and_hold, render
    from traderagent.report.overlays import for_run

    path = out / f"{it.slug}.html"
    run, why = reproduce(it)
    it.status = why
    if run is None:
        log(f"site: {it.slug}: drawn from the saved record: {why}")
        return record_page(it, path, nav)
    result = {**run.json, **{k: v for k, v in it.doc.items() if k not in run.json and k not in ("kind", "meta", "equity")}}
    equity = run.result.equity_series()
    bh, bh_stats = buy_and_hold(run.bars, float(result["initial_equity"]), float(run.meta["fees"]),
                                float(run.meta["slippage"]), result["timeframe"])
    it.extra = {"equity": equity, "initial": float(result["initial_equity"]), "bh_return": bh_stats["total_return"],
                "bh": pd.Series(bh, index=equity.index)}
    note = _sources_note(it) + "<p class=meta>Re-run from its recorded inputs for this page; the trades match the " \
        "saved ones (same SHA-256).</p>"
    log(f"site: {it.slug}: re-run, trades match")
    return render(result, run.bars, equity, path, meta=run.meta, overlays=for_run(run), nav=nav, note=note)


def record_figure(doc: dict):
    """The saved equity curve, or (without one) equity at each trade's exit from the trades' P&L."""
    import plotly.graph_objects as go

    fig = go.Figure()
    eq = doc.get("equity")
    if eq and eq.get("time_ms"):
        fig.add_trace(go.Scatter(x=np.asarray(eq["time_ms"], float), y=np.asarray(eq["value"], float),
                                 name="equity (saved)", line=dict(color="#0969da")))
        title = "Equity (saved with the run)"
    else:
        trades = [t for t in doc.get("trades") or [] if t.get("exit_time")]
        trades.sort(key=lambda t: t["exit_time"])
        x = [doc["start"]] + [t["exit_time"] for t in trades]
        y = float(doc["initial_equity"]) + np.r_[0.0, np.cumsum([t.get("pnl") or 0.0 for t in trades])]
        fig.add_trace(go.Scatter(x=x, y=y, mode="lines+markers", name="equity at each exit",
                                 line=dict(color="#0969da", shape="hv"), marker=dict(size=4)))
        title = "Equity at each trade's exit (initial equity plus the trades' P&L after fees)"
    fig.update_layout(height=380, title=title, margin=dict(l=50, r=20, t=50, b=30), xaxis=dict(type="date"))
    return fig


def record_page(it, path: Path, nav: str) -> Path:
    """A run that cannot be re-run here: what was saved, and why the price chart is missing."""
    from traderagent.report.backtest import (
        integrity_html,
        params_table,
        risk_events,
        risk_html,
        stats_table,
        title_of,
        trade_rows,
    )

    d = it.doc
    rows, cols = trade_rows(d.get("trades") or [])
    meta = {label(k): v for k, v in (d.get("meta") or {}).items() if v is not None}
    body = (
        f"<h1>{esc(title_of(d))}</h1>{_sources_note(it)}"
        f"<p class=flag>This page shows the run as it was saved: {esc(it.status)}, so the price chart, the "
        f"strategy's overlays and buy-and-hold are not drawn.</p>"
        f"<p class=meta>initial equity {fmt(d['initial_equity'])} → final {fmt(d['final_equity'])}; fees and "
        f"slippage included; {len(d.get('trades') or []):,} trades</p>"
        f"{integrity_html(d['integrity'])}<h2>Stats</h2>{stats_table(d['stats'], None)}"
        f"{figure_div(record_figure(d))}{risk_html(risk_events(d))}"
        f"<h2>Trades</h2><div class=scroll>{table(rows, cols)}</div>"
        f"<h2>Parameters</h2>{params_table(d.get('params') or {})}<h2>Provenance</h2>{kv_table(meta)}"
    )
    write_text_atomic(path.with_suffix(".json"), json.dumps(d, allow_nan=False, default=str))
    return write_page(path, title_of(d), body, nav=nav)


# -------------------------------------------------------------------------------------------------- studies
def _with_nav(html: str, nav: str) -> str:
    return html.replace("<body>", "<body>" + nav, 1)


def study_page(it, out: Path, nav: str, log: Callable[[str], None]) -> Path:
    """The page `optimize` rendered (when it comes from this renderer), else a summary of the saved result."""
    path = out / f"{it.slug}.html"
    doc = {k: v for k, v in it.doc.items() if k != "kind"}
    write_text_atomic(path.with_suffix(".json"), json.dumps(doc, allow_nan=False, default=str))
    if it.page is not None:
        html = it.page.read_text(encoding="utf-8")
        if GENERATOR in html[:2000]:
            it.status = "study page"
            return write_text_atomic(path, _with_nav(html, nav))
        log(f"site: {it.page} comes from an older renderer; drawing a summary from its JSON instead")
    it.status = "summary"
    return study_summary_page(it, path, nav)


def _headline(d: dict) -> dict:
    s = (d.get("oos") or {}).get("stats") or {}
    return {"OOS total return": s.get("total_return"), "OOS CAGR": s.get("cagr"), "OOS Sharpe": s.get("sharpe"),
            "OOS max drawdown": s.get("max_drawdown"), "OOS trades": s.get("trades"),
            "Buy-and-hold return": (d.get("oos") or {}).get("buy_hold_return"),
            "Walk-forward efficiency": (d.get("wfe") or {}).get("wfe"),
            "Deflated Sharpe ratio": (d.get("dsr") or {}).get("dsr"),
            "Probability of backtest overfitting": (d.get("pbo") or {}).get("pbo")}


def verdict_html(v: dict) -> str:
    color = LEVEL_COLOR.get(v.get("level", ""), "#888")
    lines = "".join(f"<li>{esc(line)}</li>" for line in v.get("lines") or [])
    return (f"<div style='padding:8px 12px;border-left:6px solid {color};background:#f6f8fa;margin:12px 0'>"
            f"<b style='color:{color}'>{esc(str(v.get('level', '')).upper())}: {esc(v.get('summary', ''))}</b>"
            f"<ul>{lines}</ul></div>")


def folds_figure(d: dict):
    """In-sample against out-of-sample objective per fold: the gap is what the selection did not keep."""
    import plotly.graph_objects as go

    folds = d.get("folds") or []
    x = [f"fold {int(f.get('fold', i)) + 1}" for i, f in enumerate(folds)]
    fig = go.Figure()
    for key, name, color in (("is_objective", "in sample (best trial)", "#8c959f"),
                             ("oos_objective", "out of sample", "#0969da")):
        y = [np.nan if f.get(key) is None else float(f[key]) for f in folds]
        fig.add_trace(go.Bar(x=x, y=y, name=name, marker_color=color))
    fig.update_layout(height=320, barmode="group", margin=dict(l=50, r=20, t=40, b=30),
                      title=f"Objective per fold ({d.get('objective') or 'objective'})", legend=dict(orientation="h"))
    return fig


def study_summary_page(it, path: Path, nav: str) -> Path:
    from traderagent.report.optimize import monte_carlo_figure, sensitivity_figures

    d = it.doc
    pct = ("OOS total return", "OOS CAGR", "OOS max drawdown", "Buy-and-hold return",
           "Probability of backtest overfitting", "Deflated Sharpe ratio")
    fold_rows = [{"Fold": int(f.get("fold", i)) + 1, "Best params": json.dumps(f.get("best_values") or {}),
                  "IS objective": f.get("is_objective"), "OOS objective": f.get("oos_objective")}
                 for i, f in enumerate(d.get("folds") or [])]
    parts = [f"<h1>Walk-forward study {esc(d['study'])}: {esc(d['strategy'])} on {esc(d.get('symbol') or '')} "
             f"{esc(d.get('timeframe') or '')}</h1>{_sources_note(it)}",
             f"<p class=meta>OOS {esc(_period(d))} · summary of the saved result (the full study page is written by "
             "`traderagent optimize` beside its JSON)</p>",
             verdict_html(d.get("verdict") or {}), "<h2>Out of sample</h2>", kv_table(_headline(d), pct=pct),
             figure_div(folds_figure(d)), "<h2>Folds</h2>", table(fold_rows),
             "<h2>Final parameters</h2>", kv_table(d.get("final_params") or {})]
    mc = d.get("monte_carlo") or {}
    if mc and all("paths" in b for b in mc.values()):
        parts += ["<h2>Monte Carlo</h2>", figure_div(monte_carlo_figure({k: SimpleNamespace(**b) for k, b in mc.items()}))]
    if d.get("sensitivity"):
        parts.append("<h2>Sensitivity</h2>")
        parts += [figure_div(f) for f in sensitivity_figures(d["sensitivity"])]
    return write_page(path, f"study {d['study']}", "\n".join(parts), nav=nav)


# ---------------------------------------------------------------------------------------------- comparisons
def market_figure(runs: list, symbol: str):
    """Each run's equity over its initial equity, and buy-and-hold over the longest run's span."""
    import plotly.graph_objects as go

    fig = go.Figure()
    longest = max(runs, key=lambda it: it.extra["bh"].index[-1] - it.extra["bh"].index[0])
    bh = longest.extra["bh"]
    fig.add_trace(go.Scatter(x=bh.index, y=bh.to_numpy() / longest.extra["initial"], name=f"buy and hold {symbol}",
                             line=dict(color="#6e7781", width=1.2, dash="dot")))
    for it in runs:
        eq = it.extra["equity"]
        fig.add_trace(go.Scatter(x=eq.index, y=eq.to_numpy() / it.extra["initial"], line=dict(width=1.4),
                                 name=f"{it.doc['strategy']} {it.doc['timeframe']} ({_period(it.doc)})"))
    fig.update_layout(height=480, hovermode="x unified", margin=dict(l=50, r=20, t=50, b=30),
                      title=f"{symbol}: equity / initial equity", legend=dict(orientation="h", y=-0.12),
                      yaxis=dict(tickformat=".2f"))
    return fig


def _run_row(it) -> dict:
    d, s = it.doc, it.doc.get("stats") or {}
    return {"Run": link(f"{it.slug}.html", f"{d['strategy']} {d['symbol']} {d['timeframe']}"),
            "Period": _period(d), "Total return": s.get("total_return"), "Buy and hold": it.extra.get("bh_return"),
            "Sharpe": s.get("sharpe"), "Max drawdown": s.get("max_drawdown"), "Trades": s.get("trades"),
            "Integrity": "passed" if (d.get("integrity") or {}).get("ok") else "FAILED",
            "Drawn from": "re-run (trades match)" if it.status == "reproduced" else "saved record",
            "Saved as": ", ".join(it.sources)}


RUN_PCT = ("Total return", "Buy and hold", "Max drawdown", "OOS return", "Buy-and-hold return", "PBO", "DSR")


def _study_row(it) -> dict:
    d = it.doc
    s = (d.get("oos") or {}).get("stats") or {}
    return {"Study": link(f"{it.slug}.html", d["study"]), "Strategy": d["strategy"],
            "Market": f"{d.get('symbol') or ''} {d.get('timeframe') or ''}", "OOS period": _period(d),
            "Verdict": (d.get("verdict") or {}).get("level", "—"), "OOS return": s.get("total_return"),
            "Buy-and-hold return": (d.get("oos") or {}).get("buy_hold_return"), "OOS Sharpe": s.get("sharpe"),
            "DSR": (d.get("dsr") or {}).get("dsr"), "PBO": (d.get("pbo") or {}).get("pbo"),
            "Saved as": ", ".join(it.sources)}


def studies_figure(studies: list):
    import plotly.graph_objects as go

    names = [it.doc["study"] for it in studies]
    fig = go.Figure()
    for key, name, color in (("total_return", "OOS return", "#0969da"), ("buy_hold_return", "buy and hold", "#8c959f")):
        y = [((it.doc.get("oos") or {}).get("stats") or {}).get(key) if key == "total_return"
             else (it.doc.get("oos") or {}).get(key) for it in studies]
        fig.add_trace(go.Bar(x=names, y=[np.nan if v is None else v for v in y], name=name, marker_color=color))
    fig.update_layout(height=360, barmode="group", yaxis=dict(tickformat=".0%"), margin=dict(l=50, r=20, t=50, b=30),
                      title="Out-of-sample return of each study beside buy-and-hold over the same span",
                      legend=dict(orientation="h"))
    return fig


def comparison_pages(items: list, out: Path, nav: str) -> list[tuple[str, str]]:
    """Each market's re-run backtests side by side (two or more), and the studies side by side (two or more)."""
    links = []
    by_symbol: dict[str, list] = {}
    for it in items:
        if it.kind == "backtest" and it.status == "reproduced":
            by_symbol.setdefault(it.doc["symbol"], []).append(it)
    for symbol, runs in sorted(by_symbol.items()):
        if len(runs) < 2:
            continue
        name = f"compare-{symbol.replace('/', '_')}.html"
        body = (f"<h1>{esc(symbol)}: every run side by side</h1><p class=meta>fees and slippage included in every "
                f"run; buy and hold bought at the first bar's open with the same costs</p>"
                f"{figure_div(market_figure(runs, symbol))}<div class=scroll>"
                f"{table([_run_row(it) for it in runs], pct=RUN_PCT)}</div>")
        write_page(out / name, f"{symbol}: runs side by side", body, nav=nav)
        links.append((f"{symbol}: {len(runs)} runs side by side", name))
    studies = [it for it in items if it.kind == "study"]
    if len(studies) >= 2:
        body = ("<h1>Walk-forward studies side by side</h1><p class=meta>out of sample only; DSR = deflated Sharpe "
                "ratio, PBO = probability of backtest overfitting</p>"
                f"{figure_div(studies_figure(studies))}{table([_study_row(it) for it in studies], pct=RUN_PCT)}")
        write_page(out / "compare-studies.html", "studies side by side", body, nav=nav)
        links.append((f"{len(studies)} walk-forward studies side by side", "compare-studies.html"))
    return links


def portfolio_page(out: Path, nav: str, log: Callable[[str], None]) -> tuple[str, str]:
    """The packaged config's portfolio (every enabled strategy as a sleeve) beside the hybrid and buy-and-hold."""
    from traderagent.backtest.portfolio import run_portfolio
    from traderagent.backtest.runner import code_version
    from traderagent.config import load_config
    from traderagent.report.compare import render_comparison

    log("site: running the portfolio of the packaged config")
    result = run_portfolio(load_config(None), references=("hybrid",))
    path = render_comparison(result, out / "compare-portfolio.html",
                             meta={"config": "packaged default", "code_version": code_version()})
    write_text_atomic(path, _with_nav(path.read_text(encoding="utf-8"), nav))
    return "Portfolio of the packaged config, with the hybrid and buy-and-hold", path.name


# ------------------------------------------------------------------------------------------------------ index
def summary_figure(items: list):
    """Total return of every run and study beside buy-and-hold over the same span."""
    import plotly.graph_objects as go

    names, got, bh = [], [], []
    for it in items:
        d = it.doc
        if it.kind == "backtest":
            names.append(f"{d['strategy']} {d['symbol']} {d['timeframe']} {d['start'][:4]}–{d['end'][:4]}")
            got.append((d.get("stats") or {}).get("total_return"))
            bh.append(it.extra.get("bh_return"))
        else:
            names.append(f"study {d['study']} (OOS)")
            got.append(((d.get("oos") or {}).get("stats") or {}).get("total_return"))
            bh.append((d.get("oos") or {}).get("buy_hold_return"))
    fig = go.Figure()
    for y, name, color in ((got, "strategy", "#0969da"), (bh, "buy and hold", "#8c959f")):
        fig.add_trace(go.Bar(x=names, y=[np.nan if v is None or not math.isfinite(v) else v for v in y], name=name,
                             marker_color=color))
    fig.update_layout(height=380, barmode="group", yaxis=dict(tickformat=".0%"), margin=dict(l=50, r=20, t=50, b=120),
                      title="Total return after costs, beside buy-and-hold", legend=dict(orientation="h", y=1.1))
    return fig


def index_page(items: list, comparisons: list, doc_links: list, out: Path, nav: str) -> Path:
    from traderagent.backtest.runner import code_version

    backtests = [it for it in items if it.kind == "backtest"]
    studies = [it for it in items if it.kind == "study"]
    built = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lists = "".join(f"<li>{link(href, text)}</li>" for text, href in comparisons) or "<li>none yet (two or more " \
        "re-run backtests of one market, or two or more studies, make one)</li>"
    docs = "".join(f"<li>{link(href, text)}</li>" for text, href in doc_links)
    body = (
        "<h1>TraderAgent: backtests and walk-forward studies</h1>"
        f"<p class=meta>built {built} with code {esc(code_version())}; {len(backtests)} backtests, {len(studies)} "
        "studies. Every result is after fees and slippage; buy-and-hold is shown beside each. Most strategies lose "
        "money on this data, and the pages say so.</p>"
        + (figure_div(summary_figure(items)) if items else "<p>No saved runs or studies yet.</p>")
        + "<h2>Backtests</h2><div class=scroll>"
        + table([_run_row(it) for it in backtests], pct=RUN_PCT) + "</div>"
        + "<h2>Walk-forward studies</h2>" + table([_study_row(it) for it in studies], pct=RUN_PCT)
        + f"<h2>Comparisons</h2><ul>{lists}</ul>"
        + (f"<h2>Documentation</h2><ul>{docs}</ul>" if docs else "")
    )
    return write_page(out / "index.html", "TraderAgent reports", body, nav=nav)

