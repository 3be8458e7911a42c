"""The HTML page of a walk-forward study: verdict first, then the out-of-sample evidence, then how it was made.

Sections: verdict (plain language), headline numbers (OOS, WFE, DSR, PSR, PBO), stitched OOS equity
against buy-and-hold with the fold boundaries, fold table, parameter stability, Monte Carlo bands,
sensitivity curves and heatmaps, optimization history per fold, PBO logits, timings, the study spec.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from traderagent.report.html import esc, figure_div, fmt, json_block, kv_table, table, write_page

_LEVEL_COLOR = {"robust": "#1a7f37", "inconclusive": "#d4a72c", "likely overfit": "#cf222e"}
_PALETTE = ("#0969da", "#cf222e", "#1a7f37", "#8250df", "#bc4c00", "#0a3069", "#6e7781")


def _go():
    import plotly.graph_objects as go

    return go


def equity_figure(result):
    """Stitched OOS equity and buy-and-hold (same initial equity), fold boundaries marked."""
    go = _go()
    s = result.stitched
    fig = go.Figure()
    fig.add_trace(go.Scattergl(x=s.index, y=s.equity, name="walk-forward OOS", line=dict(color="#0969da")))
    fig.add_trace(go.Scattergl(x=s.index, y=result.buy_hold, name="buy and hold (no fees)",
                               line=dict(color="#6e7781", width=1)))
    for f in result.folds[1:]:
        fig.add_vline(x=s.index[f.fold.oos_start - result.folds[0].fold.oos_start], line=dict(color="#bbb", dash="dot"))
    fig.update_layout(height=420, margin=dict(l=40, r=20, t=30, b=30), hovermode="x unified",
                      legend=dict(orientation="h", y=1.08), yaxis_title="equity")
    return fig


def monte_carlo_figure(mc: dict):
    from plotly.subplots import make_subplots

    go = _go()
    names = {"shuffle": "trade order shuffled", "bootstrap": "trades bootstrapped", "block": "daily returns, block bootstrap"}
    fig = make_subplots(rows=1, cols=len(mc), subplot_titles=[names.get(k, k) for k in mc])
    for col, (key, band) in enumerate(mc.items(), start=1):
        p = band.paths
        x = p["step"]
        fig.add_trace(go.Scatter(x=x, y=p["p95"], line=dict(width=0), showlegend=False, hoverinfo="skip"),
                      row=1, col=col)
        fig.add_trace(go.Scatter(x=x, y=p["p5"], fill="tonexty", fillcolor="rgba(9,105,218,0.18)", line=dict(width=0),
                                 name="5–95%", showlegend=col == 1), row=1, col=col)
        fig.add_trace(go.Scatter(x=x, y=p["p50"], line=dict(color="#0969da"), name="median", showlegend=col == 1),
                      row=1, col=col)
        fig.update_xaxes(title_text="day" if key == "block" else "trade", row=1, col=col)
    fig.update_yaxes(title_text="equity multiple", row=1, col=1)
    fig.update_layout(height=340, margin=dict(l=40, r=20, t=40, b=30))
    return fig


def sensitivity_figures(sens: dict) -> list:
    from plotly.subplots import make_subplots

    go = _go()
    curves = sens["curves"]
    names = list(curves)
    cols = 4
    rows = max(1, math.ceil(len(names) / cols))
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=names)
    for i, name in enumerate(names):
        c = curves[name]
        r, col = i // cols + 1, i % cols + 1
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in c["x"])
        x = c["x"] if numeric else [str(v) for v in c["x"]]
        fig.add_trace(go.Scatter(x=x, y=c["y"], mode="lines+markers", showlegend=False,
                                 line=dict(color="#0969da")), row=r, col=col)
        fig.add_trace(go.Scatter(x=[c["at"] if numeric else str(c["at"])], y=[sens.get("value")], mode="markers",
                                 marker=dict(color="#cf222e", size=12, symbol="star"), showlegend=False,
                                 hoverinfo="skip"), row=r, col=col)
    fig.update_layout(height=260 * rows, margin=dict(l=40, r=20, t=40, b=30))
    out = [fig]
    for hm in sens["heatmaps"]:
        f = go.Figure(go.Heatmap(x=hm["x"], y=hm["y"], z=hm["z"], colorscale="RdBu", zmid=0,
                                 colorbar=dict(title="objective")))
        f.add_trace(go.Scatter(x=[hm["at"][0]], y=[hm["at"][1]], mode="markers",
                               marker=dict(symbol="star", size=14, color="#000"), name="optimum"))
        f.update_layout(height=380, width=460, margin=dict(l=60, r=20, t=40, b=50),
                        title=f"{hm['x_param']} × {hm['y_param']}", xaxis_title=hm["x_param"], yaxis_title=hm["y_param"])
        out.append(f)
    return out


def history_figure(result):
    go = _go()
    fig = go.Figure()
    for i, f in enumerate(result.folds):
        pts = [(n, v) for n, v, ok in f.history if ok]
        if not pts:
            continue
        n, v = zip(*sorted(pts), strict=True)
        color = _PALETTE[i % len(_PALETTE)]
        fig.add_trace(go.Scattergl(x=n, y=v, mode="markers", marker=dict(size=4, color=color, opacity=0.45),
                                   name=f"fold {f.fold.k + 1}"))
        fig.add_trace(go.Scattergl(x=n, y=np.maximum.accumulate(v), mode="lines", line=dict(color=color),
                                   name=f"fold {f.fold.k + 1} best", showlegend=False))
    fig.update_layout(height=380, margin=dict(l=40, r=20, t=30, b=30), xaxis_title="trial",
                      yaxis_title=f"IS {result.spec.objective} (valid trials)")
    return fig


def logit_figure(result):
    go = _go()
    logits = [f.pbo.logits for f in result.folds if f.pbo is not None and f.pbo.n_splits]
    if not logits:
        return None
    # binned here: the raw logits (tens of thousands of CSCV splits) would weigh ~0.7 MB in the page
    counts, edges = np.histogram(np.concatenate(logits), bins=40)
    fig = go.Figure(go.Bar(x=(edges[:-1] + edges[1:]) / 2, y=counts, width=np.diff(edges) * 0.95,
                           marker_color="#8250df", hovertemplate="logit %{x:.2f}: %{y} splits<extra></extra>"))
    fig.add_vline(x=0, line=dict(color="#cf222e"))
    fig.update_layout(height=300, margin=dict(l=40, r=20, t=30, b=30), xaxis_title="logit of the IS-best's OOS rank",
                      yaxis_title="splits")
    return fig


def _fold_rows(result) -> list[dict]:
    obj = result.spec.objective
    rows = []
    for f in result.folds:
        o, i = f.oos_stats, f.is_stats
        rows.append({
            "fold": f.fold.k + 1, "IS": f"{f.times['is_from'][:10]} → {f.times['is_to'][:10]}",
            "OOS": f"{f.times['oos_from'][:10]} → {f.times['oos_to'][:10]}",
            "trials (valid)": f"{f.n_trials} ({f.n_valid})",
            f"IS {obj}": f.is_value, f"OOS {obj}": f.oos_value,
            "IS CAGR": i.get("cagr"), "OOS CAGR": o.get("cagr"), "OOS return": o.get("total_return"),
            "OOS max DD": o.get("max_drawdown"), "OOS trades": o.get("trades"), "WFE": f.wfe,
            "IS DSR": f.is_dsr, "PBO": f.pbo.pbo if f.pbo else None,
            "OOS gates": f.oos_integrity_ok,
        })
    return rows


def _params_rows(result) -> list[dict]:
    rows = []
    for r in result.stability:
        row = {"param": r["param"]}
        for k, v in enumerate(r["values"], start=1):
            row[f"fold {k}"] = "—" if v is None else (f"{v:g}" if isinstance(v, float) else str(v))
        row["measure"] = r.get("measure", "")
        row["score"] = r.get("score")
        row["stable"] = r.get("stable")
        rows.append(row)
    return rows


def _headline(result) -> dict:
    s = result.stitched.stats
    bh = float(result.buy_hold[-1] / result.buy_hold[0] - 1) if len(result.buy_hold) else math.nan
    return {
        "OOS total return": s["total_return"], "OOS CAGR": s["cagr"], "OOS Sharpe": s["sharpe"],
        "OOS Sortino": s["sortino"], "OOS max drawdown": s["max_drawdown"], "OOS trades": s["trades"],
        "OOS exposure": s["exposure"], "buy-and-hold return": bh, "walk-forward efficiency": result.wfe["wfe"],
        "objective WFE": result.wfe["objective_wfe"], "deflated Sharpe ratio": result.dsr["dsr"],
        "PSR (no deflation)": result.dsr["psr"], "PBO (CSCV, pooled)": result.pbo["pbo"],
        "configurations tried": result.dsr["n_trials"], "integrity gates": result.stitched.integrity["ok"],
    }


def _mc_rows(mc: dict) -> list[dict]:
    return [{"method": k, "runs": b.runs, "final p5": b.final_return["p5"], "final p50": b.final_return["p50"],
             "final p95": b.final_return["p95"], "max DD p5": b.max_drawdown["p5"], "max DD p50": b.max_drawdown["p50"],
             "max DD p95": b.max_drawdown["p95"], "P(loss)": b.prob_loss} for k, b in mc.items()]


def _timing_rows(t: dict) -> dict:
    out = {k: v for k, v in t.items() if isinstance(v, float)}
    for k, v in (t.get("analysis") or {}).items():
        out[f"analysis: {k}"] = v
    for w in t.get("workers") or []:
        n = max(int(w.get("trials", 0)), 1)
        out[f"worker {w.get('worker')}: trials"] = int(w.get("trials", 0))
        for part in ("eval", "sampler", "storage"):
            if part in w:
                out[f"worker {w.get('worker')}: {part} ms/trial"] = 1000.0 * w[part] / n
    return out


def render(result, path: str | Path) -> Path:
    """Write the study page (and plotly.min.js beside it); returns the path."""
    spec, v = result.spec, result.verdict
    s = result.stitched
    pct = ("OOS total return", "OOS CAGR", "OOS max drawdown", "OOS exposure", "buy-and-hold return",
           "PBO (CSCV, pooled)", "deflated Sharpe ratio", "PSR (no deflation)")
    parts = [
        f"<h1>Walk-forward study {esc(spec.name)}: {esc(spec.strategy)} on {esc(spec.symbol)} {esc(result.info['timeframe'])}</h1>",
        f"<p class=meta>OOS {esc(str(s.index[0])[:16])} → {esc(str(s.index[-1])[:16])} · {len(result.folds)} "
        f"{esc(spec.folds.scheme)} folds · {result.info['trials_per_fold']} trials per fold · objective "
        f"{esc(spec.objective)} (min {spec.min_trades} trades) · fees {fmt(result.info['fees'], True)} + slippage "
        f"{fmt(result.info['slippage'], True)} per side · seed {spec.seed} · code {esc(result.info['code_version'])}</p>",
        f"<div style='padding:8px 12px;border-left:6px solid {_LEVEL_COLOR.get(v['level'], '#888')};"
        f"background:#f6f8fa;margin:12px 0'><b style='color:{_LEVEL_COLOR.get(v['level'], '#888')}'>"
        f"{esc(v['level'].upper())}: {esc(v['summary'])}</b><ul>"
        + "".join(f"<li>{esc(line)}</li>" for line in v["lines"]) + "</ul></div>",
        "<h2>Out of sample (stitched folds)</h2>", kv_table(_headline(result), pct=pct),
        figure_div(equity_figure(result)),
        "<h2>Folds</h2><p class=meta>Each fold re-optimizes on its in-sample window and trades the best valid "
        "trial on the next window; WFE = OOS CAGR / IS CAGR; IS DSR deflates the fold's best IS Sharpe for the "
        "configurations it tried.</p>",
        "<div class=scroll>" + table(_fold_rows(result), pct=("IS CAGR", "OOS CAGR", "OOS return", "OOS max DD",
                                                              "IS DSR", "PBO")) + "</div>",
        "<h2>Parameters per fold (stability)</h2>", table(_params_rows(result)),
        "<h2>Monte Carlo (OOS trades and days)</h2>",
        table(_mc_rows(result.monte_carlo), pct=("final p5", "final p50", "final p95", "max DD p5", "max DD p50",
                                                 "max DD p95", "P(loss)")),
        figure_div(monte_carlo_figure(result.monte_carlo)),
    ]
    if result.sensitivity:
        parts.append(f"<h2>Sensitivity around fold {result.sensitivity['fold'] + 1}'s optimum (its IS window)</h2>"
                     "<p class=meta>One parameter at a time, others at the optimum (★); gaps are points with "
                     "too few trades. A plateau is robust; a spike is fitted.</p>")
        parts.extend(figure_div(f) for f in sensitivity_figures(result.sensitivity))
    parts += ["<h2>Optimization history</h2>", figure_div(history_figure(result))]
    lf = logit_figure(result)
    if lf is not None:
        parts += ["<h2>Probability of backtest overfitting (CSCV)</h2>",
                  f"<p class=meta>{result.pbo['n_blocks']} blocks per IS window; each split's IS-best "
                  "configuration, ranked out of sample: left of 0 = at or below the median.</p>",
                  kv_table({k: result.pbo[k] for k in ("pbo", "prob_oos_loss")}, pct=("pbo", "prob_oos_loss")),
                  figure_div(lf)]
    parts += ["<h2>Deflated Sharpe ratio</h2>", kv_table({k: result.dsr[k] for k in (
        "dsr", "psr", "sharpe_annual", "sharpe_daily", "sr0_daily", "n_trials", "n_days", "trial_sharpe_var",
        "skew", "kurtosis")}), "<h2>Timings (seconds)</h2>", kv_table(_timing_rows(result.timings)),
        "<h2>Study</h2>", json_block({"spec": spec.model_dump(mode="json"), "info": result.info})]
    return write_page(Path(path), f"study {spec.name}", "\n".join(parts))
