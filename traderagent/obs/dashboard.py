"""The Grafana dashboard of the runner, as code: `build()` returns the JSON model that Grafana provisions from
live/grafana/dashboards/traderagent.json. Regenerate that file after a change (a test checks it is current):

    python -m traderagent.obs.dashboard --out live/grafana/dashboards/traderagent.json

`queries(model)` lists every PromQL expression of a model (panels and template variables) with Grafana's variables
replaced (`promql`), for the checks: each parses (promtool), uses only metrics the runner exports, and returns data
from a real Prometheus scraping a runner's endpoint (tests/integration/test_ops_monitoring.py).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

DATASOURCE = {"type": "prometheus", "uid": "prometheus"}
SEL = 'instance=~"$instance"'  # the per-instance panels follow the dashboard's instance picker
#: Grafana's variables -> what they stand for when an expression is checked outside Grafana.
VARIABLES = {"$__rate_interval": "1m", "$__interval": "1m", "$__range": "1h", "$instance": ".*"}
GREEN, RED, YELLOW, GREY = "green", "red", "yellow", "text"


# ------------------------------------------------------------------------------------------------ panels
def _target(expr: str, legend: str = "", ref: str = "A", instant: bool = False) -> dict[str, Any]:
    t: dict[str, Any] = {"refId": ref, "datasource": DATASOURCE, "expr": expr, "range": not instant,
                         "instant": instant}
    if legend:
        t["legendFormat"] = legend
    return t


def _targets(*pairs: tuple[str, str], instant: bool = False) -> list[dict[str, Any]]:
    return [_target(expr, legend, chr(ord("A") + i), instant) for i, (expr, legend) in enumerate(pairs)]


def _mapping(*values: tuple[int, str, str]) -> list[dict[str, Any]]:
    return [{"type": "value", "options": {str(v): {"text": text, "color": color, "index": i}}}
            for i, (v, text, color) in enumerate(values)]


_UP = _mapping((1, "up", GREEN), (0, "down", RED))
_YES_NO = _mapping((1, "yes", GREEN), (0, "no", RED))


def stat(title: str, targets: list[dict], unit: str = "none", mappings: list | None = None,
         text_mode: str = "auto", description: str = "") -> dict[str, Any]:
    return {"type": "stat", "title": title, "description": description, "datasource": DATASOURCE,
            "targets": targets,
            "fieldConfig": {"defaults": {"unit": unit, "mappings": mappings or [], "color": {"mode": "thresholds"},
                                         "thresholds": {"mode": "absolute",
                                                        "steps": [{"color": GREEN, "value": None}]}},
                            "overrides": []},
            "options": {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                        "colorMode": "background" if mappings else "value", "graphMode": "none",
                        "textMode": text_mode, "justifyMode": "auto", "orientation": "auto"}}


def series(title: str, targets: list[dict], unit: str = "none", description: str = "", stepped: bool = False,
           stack: bool = False) -> dict[str, Any]:
    custom: dict[str, Any] = {"lineWidth": 1, "fillOpacity": 10 if stack else 0, "showPoints": "never",
                              "spanNulls": False, "lineInterpolation": "stepAfter" if stepped else "linear",
                              "stacking": {"mode": "normal" if stack else "none", "group": "A"}}
    return {"type": "timeseries", "title": title, "description": description, "datasource": DATASOURCE,
            "targets": targets,
            "fieldConfig": {"defaults": {"unit": unit, "custom": custom, "color": {"mode": "palette-classic"}},
                            "overrides": []},
            "options": {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
                        "tooltip": {"mode": "multi", "sort": "desc"}}}


def timeline(title: str, targets: list[dict], mappings: list, description: str = "") -> dict[str, Any]:
    return {"type": "state-timeline", "title": title, "description": description, "datasource": DATASOURCE,
            "targets": targets,
            "fieldConfig": {"defaults": {"mappings": mappings, "color": {"mode": "thresholds"},
                                         "thresholds": {"mode": "absolute",
                                                        "steps": [{"color": GREY, "value": None}]},
                                         "custom": {"fillOpacity": 80, "lineWidth": 0}},
                            "overrides": []},
            "options": {"mergeValues": True, "showValue": "auto", "rowHeight": 0.9,
                        "legend": {"displayMode": "list", "placement": "bottom", "showLegend": False}}}


def _per_hour(metric: str, by: str, selector: str = SEL) -> str:
    return f"sum by ({by}) (rate({metric}{{{selector}}}[$__rate_interval])) * 3600"


def _quantile(q: float, metric: str, by: str = "") -> str:
    keys = f"le, {by}" if by else "le"
    return f"histogram_quantile({q}, sum by ({keys}) (rate({metric}_bucket[$__rate_interval])))"


#: The state timeline's code per lifecycle state (traderagent_instance_state is 1 for the current state).
_STATE_CODE = " + ".join(
    f'{code} * max by (instance) (traderagent_instance_state{{{SEL}, state="{state}"}})'
    for code, state in ((1, "active"), (2, "paused"), (3, "stopped")))


def _overview() -> list[dict]:
    return [
        stat("Bot", _targets(('up{job="traderagent"}', "scrape")), mappings=_UP,
             description="Prometheus can scrape the runner (TraderAgentDown fires after 2 minutes of down)"),
        stat("Ready", _targets(("traderagent_markets_loaded", "markets"), ("traderagent_data_fresh", "data"),
                               ("traderagent_database_up", "database")),
             mappings=_YES_NO, text_mode="value_and_name", description="the three inputs of /ready"),
        stat("Portfolio value", _targets(("traderagent_portfolio_value_quote", "value")), unit="short"),
        stat("Bar lag", _targets(("traderagent_bar_lag_seconds", "lag")), unit="s",
             description="runner clock minus the close of the stalest symbol's last closed bar"),
        stat("Loop silent for", _targets(("time() - traderagent_loop_last_iteration_timestamp_seconds", "age")),
             unit="s", description="/health answers 503 past live.health_max_silence_seconds"),
        stat("Firing alerts", _targets(('count(ALERTS{alertstate="firing", alertname=~"TraderAgent.+"}) '
                                        "or vector(0)", "alerts"))),
    ]


def _instances() -> list[dict]:
    return [
        series("Equity by instance", _targets((f"traderagent_instance_equity_quote{{{SEL}}}", "{{instance}}")),
               unit="short"),
        series("Drawdown by instance", _targets(
            (f"traderagent_instance_drawdown_ratio{{{SEL}}}", "{{instance}}"),
            (f"traderagent_instance_drawdown_limit_ratio{{{SEL}}} > 0", "{{instance}} limit")), unit="percentunit"),
        series("Position by instance", _targets(
            (f"traderagent_instance_position_base{{{SEL}}}", "{{instance}} {{symbol}}")), unit="short"),
        series("Open orders", _targets((f"traderagent_open_orders{{{SEL}}}", "{{instance}}")), stepped=True),
        timeline("Lifecycle state", _targets((_STATE_CODE, "{{instance}}")), _mapping(
            (0, "idle", GREY), (1, "active", GREEN), (2, "paused", YELLOW), (3, "stopped", RED))),
        series("Capital stage", _targets((f"traderagent_instance_stage_ratio{{{SEL}}}", "{{instance}}")),
               unit="percentunit", stepped=True, description="fraction of the allocation deployed (5% → 25% → 100%)"),
        timeline("Daily loss limit", _targets((f"traderagent_daily_loss_limit_reached{{{SEL}}}", "{{instance}}")),
                 _mapping((0, "open", GREEN), (1, "reached", RED))),
        series("Portfolio value over time", _targets(("traderagent_portfolio_value_quote", "portfolio")),
               unit="short"),
    ]


def _orders() -> list[dict]:
    return [
        series("Fills per hour", _targets((_per_hour("traderagent_fills_total", "instance, side"),
                                           "{{instance}} {{side}}")), stack=True),
        series("Trades per hour", _targets((_per_hour("traderagent_trades_total", "instance"), "{{instance}}")),
               stack=True),
        series("Orders placed and cancelled per hour", _targets(
            (_per_hour("traderagent_orders_placed_total", "instance"), "{{instance}} placed"),
            (_per_hour("traderagent_orders_cancelled_total", "instance"), "{{instance}} cancelled"))),
        series("Order errors by reason", _targets(
            ("sum by (reason) (increase(traderagent_order_errors_total[$__rate_interval]))", "{{reason}}")),
            stack=True, description="TraderAgentOrderErrors fires when 20% of the orders of 15 minutes fail"),
        series("Risk blocks by rule", _targets((
            f"sum by (instance, rule) (increase(traderagent_risk_blocks_total{{{SEL}}}[$__rate_interval]))",
            "{{instance}} {{rule}}")), stack=True),
        series("Websocket reconnects", _targets(
            ("increase(traderagent_websocket_reconnects_total[$__rate_interval])", "reconnects")), stack=True,
            description="TraderAgentReconnecting fires at 5 within 30 minutes"),
    ]


def _exchange_and_loop() -> list[dict]:
    req = "traderagent_exchange_request_duration_seconds"
    loop = "traderagent_loop_iteration_seconds"
    return [
        series("Exchange latency p50 / p99", _targets(
            (_quantile(0.5, req, "endpoint"), "{{endpoint}} p50"),
            (_quantile(0.99, req, "endpoint"), "{{endpoint}} p99")), unit="s"),
        series("Exchange requests per second", _targets(
            (f"sum by (endpoint) (rate({req}_count[$__rate_interval]))", "{{endpoint}}")), unit="reqps", stack=True),
        series("Loop iteration", _targets(
            (_quantile(0.5, loop), "p50"), (_quantile(0.99, loop), "p99"),
            (f"rate({loop}_sum[$__rate_interval]) / rate({loop}_count[$__rate_interval])", "mean")), unit="s"),
        series("Bar lag", _targets(
            ("traderagent_bar_lag_seconds", "lag"),
            ("2 * (traderagent_bar_timeframe_seconds > 0)", "stale above (2 bars)")), unit="s"),
        stat("Last closed bar", _targets(
            ("traderagent_last_bar_timestamp_seconds * 1000", "stalest"),
            ("traderagent_symbol_last_bar_timestamp_seconds * 1000", "{{symbol}}")), unit="dateTimeAsIso",
            text_mode="value_and_name", description="close time of the last closed bar stepped on, per symbol"),
        series("Process", _targets(
            ('process_resident_memory_bytes{job="traderagent"}', "resident memory"),
            ('rate(process_cpu_seconds_total{job="traderagent"}[$__rate_interval]) * 1e9', "CPU (ns/s)")),
            unit="bytes", description="CPU is shown scaled: 1e9 = one full core"),
        stat("Version", _targets(("traderagent_build_info", "{{version}}")), text_mode="name"),
    ]


def _layout(rows: list[tuple[str, list[dict], int]]) -> list[dict]:
    """Rows of panels on Grafana's 24-column grid: each row's panels `width` wide, wrapping."""
    panels: list[dict] = []
    y, next_id = 0, 1
    for title, row, width in rows:
        panels.append({"type": "row", "title": title, "id": next_id, "collapsed": False, "panels": [],
                       "gridPos": {"h": 1, "w": 24, "x": 0, "y": y}})
        next_id += 1
        y += 1
        height = 4 if all(p["type"] == "stat" for p in row) else 8
        for i, panel in enumerate(row):
            x = (i * width) % 24
            if i and x == 0:
                y += height
            panels.append({**panel, "id": next_id, "gridPos": {"h": height, "w": width, "x": x, "y": y}})
            next_id += 1
        y += height
    return panels


def build() -> dict[str, Any]:
    """The dashboard's JSON model (uid `traderagent`)."""
    instance_query = "label_values(traderagent_instance_equity_quote, instance)"
    return {
        "uid": "traderagent",
        "title": "TraderAgent",
        "description": "The live runner: account, instances, orders, exchange and loop (traderagent/obs/dashboard.py)",
        "tags": ["traderagent"],
        "timezone": "utc",
        "editable": False,
        "graphTooltip": 1,
        "refresh": "30s",
        "time": {"from": "now-24h", "to": "now"},
        "schemaVersion": 39,
        "version": 1,
        "links": [],
        "annotations": {"list": [{
            "name": "Alerts", "datasource": DATASOURCE, "enable": True, "iconColor": "red",
            "expr": 'ALERTS{alertstate="firing", alertname=~"TraderAgent.+"}', "titleFormat": "{{alertname}}",
            "textFormat": "{{instance}}", "step": "60s"}]},
        "templating": {"list": [{
            "name": "instance", "label": "instance", "type": "query", "datasource": DATASOURCE,
            "definition": instance_query, "query": {"query": instance_query, "refId": "instance"},
            "refresh": 2, "includeAll": True, "multi": True, "allValue": ".*", "sort": 1,
            "current": {"selected": True, "text": ["All"], "value": ["$__all"]}}]},
        "panels": _layout([("Overview", _overview(), 4), ("Instances", _instances(), 12),
                           ("Orders", _orders(), 8), ("Exchange and loop", _exchange_and_loop(), 8)]),
    }


# ---------------------------------------------------------------------------------------------- checking
def promql(expr: str) -> str:
    """`expr` with Grafana's variables replaced by what they stand for (VARIABLES)."""
    for var in sorted(VARIABLES, key=len, reverse=True):
        expr = expr.replace(var, VARIABLES[var])
    return expr


def queries(model: dict[str, Any]) -> list[tuple[str, str]]:
    """(where, PromQL) of every expression in a dashboard model: panel targets, annotations and the selectors of
    `label_values(...)` template queries, variables replaced."""
    out: list[tuple[str, str]] = []
    for panel in model.get("panels", []):
        for t in panel.get("targets", []):
            out.append((f"panel {panel['title']!r} {t['refId']}", promql(t["expr"])))
    for a in model.get("annotations", {}).get("list", []):
        if a.get("expr"):
            out.append((f"annotation {a['name']!r}", promql(a["expr"])))
    for v in model.get("templating", {}).get("list", []):
        query = v.get("query", {}).get("query", "") if isinstance(v.get("query"), dict) else str(v.get("query", ""))
        m = re.fullmatch(r"label_values\((.+),\s*\w+\)", query.strip())
        if m:
            out.append((f"variable {v['name']!r}", promql(m.group(1))))
    return out


def metric_names(expr: str) -> set[str]:
    """Names of the metrics an expression reads (identifiers that are not functions, keywords or labels)."""
    no_strings = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    no_groupings = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", no_strings)
    no_matchers = re.sub(r"\{[^}]*\}", " ", no_groupings)
    names = set()
    for m in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", no_matchers):
        rest = no_matchers[m.end():].lstrip()
        if rest.startswith("(") or m.group(0) in _KEYWORDS or no_matchers[max(0, m.start() - 1)] in "0123456789.":
            continue
        names.add(m.group(0))
    return names


_KEYWORDS = {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "group_left",
             "group_right", "inf", "nan", "Inf", "NaN", "e"}


def write(path: Path) -> None:
    path.write_text(render(), encoding="utf-8")


def render() -> str:
    """The dashboard file's text (stable: sorted keys, two-space indent, final newline)."""
    return json.dumps(build(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m traderagent.obs.dashboard", description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, help="file to write (default: print)")
    args = parser.parse_args(argv)
    if args.out is None:
        sys.stdout.write(render())
    else:
        write(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
