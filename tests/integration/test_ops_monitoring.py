"""The monitoring files under live/ checked by the tools that run them (Debian's promtool, amtool, prometheus and
prometheus-alertmanager), and the whole alert path for real: a runner's metrics endpoint -> Prometheus with the
shipped rules -> Alertmanager with the shipped config -> a Telegram Bot API fake on 127.0.0.1.

- the alert rules pass `promtool check rules` and their unit tests (`promtool test rules`), which cover every alert;
- Alertmanager's config, rendered the way its container renders it, passes `amtool check-config`;
- the dashboard file is the generated one, every query parses, reads only metrics the runner exports, and returns
  data from a real Prometheus scraping a runner's endpoint with the shipped scrape settings.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import yaml
from ops_tools import LIVE, ROOT, FakeTelegram, Process, free_port, log_tail, require_tool, run, wait_for
from prometheus_client.parser import text_string_to_metric_families

from traderagent.obs import dashboard
from traderagent.obs.metrics import METRICS, Metrics
from traderagent.obs.server import MetricsServer

RULES = LIVE / "prometheus" / "rules" / "traderagent.yml"
RULE_TESTS = LIVE / "prometheus" / "tests" / "traderagent_test.yml"
AM_TEMPLATE = LIVE / "alertmanager" / "alertmanager.yml"
RENDER = LIVE / "alertmanager" / "render.sh"
DASHBOARD = LIVE / "grafana" / "dashboards" / "traderagent.json"
TOKEN, CHAT = "123456789:AAtest-token_for-the-fake", "-1001234567890"
#: Series Prometheus makes itself (not the runner's).
PROMETHEUS_OWN = {"up", "ALERTS"}


def alert_rules() -> list[dict]:
    return [r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"] if "alert" in r]


def render(out: Path, env: dict[str, str]) -> object:
    full = {"PATH": os.environ["PATH"], **env}
    return run(["sh", str(RENDER), str(AM_TEMPLATE), str(out)], env=full)


def busy_metrics() -> Metrics:
    """A runner's metrics after some activity: every metric has a series."""
    m = Metrics(timeframe_seconds=900, max_silence_seconds=60)
    m.health(markets_loaded=True, data_fresh=True, database_up=True)
    m.portfolio(20_000.0)
    m.instance("trend-btc", equity=10_100.0, drawdown=0.02, drawdown_limit=0.2, position=0.01, symbol="BTC/USDT",
               open_orders=2, state="active", stage=0.05, daily_loss_limit_reached=False)
    m.instance("grid-eth", equity=9_900.0, drawdown=0.04, position=1.5, symbol="ETH/USDT", open_orders=8,
               state="paused", stage=0.25, daily_loss_limit_reached=False)
    m.order_error("insufficient_funds")
    m.risk_block("grid-eth", "max_exposure")
    m.reconnect()
    now = time.time()
    m.bar(now - 30, now, symbol="BTC/USDT")
    m.bar(now - 30, now, symbol="ETH/USDT")
    tick(m)
    return m


def tick(m: Metrics) -> None:
    """One loop's worth of events (a background thread repeats it so rates are not zero)."""
    m.order_placed("trend-btc")
    m.order_cancelled("grid-eth")
    m.fill("trend-btc", "buy")
    m.fill("grid-eth", "sell")
    m.trade("trend-btc")
    m.request("create_order", 0.08)
    m.request("fetch_ohlcv", 0.03)
    m.loop(0.004)


def exported_names() -> set[str]:
    text = busy_metrics().exposition()
    return {s.name for f in text_string_to_metric_families(text) for s in f.samples}


# ------------------------------------------------------------------------------------------- alert rules
def test_alert_rules_pass_promtool():
    promtool = require_tool("promtool")
    checked = run([promtool, "check", "rules", str(RULES)], cwd=ROOT)
    assert checked.returncode == 0 and f"SUCCESS: {len(alert_rules())} rules found" in checked.stdout
    tested = run([promtool, "test", "rules", str(RULE_TESTS)], cwd=ROOT)
    assert tested.returncode == 0 and "SUCCESS" in tested.stdout, tested.stdout + tested.stderr


def test_the_rule_tests_can_fail(tmp_path):
    """A wrong expectation (a drawdown of 31% instead of 30%) makes `promtool test rules` fail: the tests compare."""
    promtool = require_tool("promtool")
    wrong = tmp_path / "tests" / "wrong_test.yml"
    wrong.parent.mkdir()
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / RULES.name).write_text(RULES.read_text())
    text = RULE_TESTS.read_text()
    assert "Instance b is 30% below its equity peak" in text
    wrong.write_text(text.replace("Instance b is 30% below", "Instance b is 31% below"))
    result = run([promtool, "test", "rules", str(wrong)])
    assert result.returncode == 1 and "Instance b is 31% below" in result.stdout + result.stderr


def test_every_alert_is_unit_tested_firing_and_silent():
    tests = yaml.safe_load(RULE_TESTS.read_text())["tests"]
    firing, silent = set(), set()
    for t in tests:
        for case in t.get("alert_rule_test", []):
            (firing if case.get("exp_alerts") else silent).add(case["alertname"])
    names = {r["alert"] for r in alert_rules()}
    assert names == firing, f"alerts without a firing case: {names - firing}"
    assert names == silent, f"alerts without a silent case: {names - silent}"
    assert {"TraderAgentDown", "TraderAgentDataStale", "TraderAgentDrawdownOverLimit", "TraderAgentDailyLossLimitHit",
            "TraderAgentOrderErrors", "TraderAgentReconnecting", "TraderAgentDatabaseUnreachable"} <= names


def test_every_alert_has_a_severity_and_words():
    for r in alert_rules():
        assert r["labels"]["severity"] in ("critical", "warning"), r["alert"]
        assert r["annotations"]["summary"] and r["annotations"]["description"], r["alert"]


def test_prometheus_config_passes_promtool():
    promtool = require_tool("promtool")
    result = run([promtool, "check", "config", str(LIVE / "prometheus" / "prometheus.yml")], cwd=ROOT)
    assert result.returncode == 0 and "is valid prometheus config file syntax" in result.stdout
    assert f"SUCCESS: {len(alert_rules())} rules found" in result.stdout  # the rules glob finds the rules file


# -------------------------------------------------------------------------------------------- alertmanager
def test_alertmanager_config_renders_and_passes_amtool(tmp_path):
    amtool = require_tool("amtool")
    out = tmp_path / "alertmanager.yml"
    assert render(out, {"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_CHAT_ID": CHAT}).returncode == 0
    assert oct(out.stat().st_mode & 0o777) == "0o600"  # it holds the token
    cfg = yaml.safe_load(out.read_text())
    tg = cfg["receivers"][0]["telegram_configs"][0]
    assert (tg["bot_token"], tg["chat_id"], tg["api_url"]) == (TOKEN, int(CHAT), "https://api.telegram.org")
    assert cfg["templates"] == [f"{AM_TEMPLATE.parent}/templates/*.tmpl"]
    result = run([amtool, "check-config", str(out)])
    assert result.returncode == 0 and "SUCCESS" in result.stdout and " - 1 templates" in result.stdout


def test_the_template_itself_is_not_a_valid_config():
    """The committed file has placeholders only: no token can be committed by mistake in a valid-looking file."""
    text = AM_TEMPLATE.read_text()
    assert "@TELEGRAM_BOT_TOKEN@" in text and "@TELEGRAM_CHAT_ID@" in text
    assert not re.search(r"\d{6,}:[A-Za-z0-9_-]{20,}", text)


@pytest.mark.parametrize(("env", "message"), [
    ({"TELEGRAM_CHAT_ID": CHAT}, "TELEGRAM_BOT_TOKEN is not set (ALERTMANAGER_TELEGRAM_BOT_TOKEN in live/.env)"),
    ({"TELEGRAM_BOT_TOKEN": "not a token", "TELEGRAM_CHAT_ID": CHAT}, "TELEGRAM_BOT_TOKEN does not look like a bot "
     "token (digits, a colon, then letters, digits, _ and -)"),
    ({"TELEGRAM_BOT_TOKEN": "12:ab|c", "TELEGRAM_CHAT_ID": CHAT}, "TELEGRAM_BOT_TOKEN does not look like a bot token"),
    ({"TELEGRAM_BOT_TOKEN": TOKEN}, "TELEGRAM_CHAT_ID is not set (ALERTMANAGER_TELEGRAM_CHAT_ID in live/.env)"),
    ({"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_CHAT_ID": "@mychannel"}, "TELEGRAM_CHAT_ID must be a numeric chat id "
     "like 123456789 or -1001234567890 (got '@mychannel')"),
    ({"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_CHAT_ID": CHAT, "TELEGRAM_API_URL": "api.telegram.org"},
     "TELEGRAM_API_URL must start with http:// or https:// (got 'api.telegram.org')"),
])
def test_render_refuses_bad_settings_in_one_line(tmp_path, env, message):
    out = tmp_path / "alertmanager.yml"
    result = render(out, env)
    assert result.returncode == 2
    assert result.stderr.startswith(f"alertmanager config: {message}") and result.stderr.count("\n") == 1
    assert TOKEN not in result.stderr  # a token is never echoed
    assert not out.exists() and not list(tmp_path.iterdir())  # nothing written


# ----------------------------------------------------------------------------------------------- dashboard
def test_dashboard_file_is_current():
    assert DASHBOARD.read_text() == dashboard.render(), \
        "regenerate: python -m traderagent.obs.dashboard --out live/grafana/dashboards/traderagent.json"


def test_dashboard_queries_parse_with_promtool(tmp_path):
    promtool = require_tool("promtool")
    found = dashboard.queries(json.loads(DASHBOARD.read_text()))
    assert len(found) >= 30
    for where, expr in found:
        assert "$" not in expr, f"{where}: a Grafana variable is left in {expr!r}"
    rules = [{"record": f"dashboard:query_{i}", "expr": expr} for i, (_, expr) in enumerate(found)]
    path = tmp_path / "dashboard_queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = run([promtool, "check", "rules", str(path)])
    assert result.returncode == 0 and f"SUCCESS: {len(rules)} rules found" in result.stdout
    path.write_text(yaml.safe_dump({"groups": [{"name": "d", "rules": [{"record": "x:y", "expr": "rate(up[5m]"}]}]}))
    assert run([promtool, "check", "rules", str(path)]).returncode == 1  # the check does parse


def test_dashboard_and_rules_use_only_exported_metrics_and_show_them_all():
    exported = exported_names()
    used_by_dashboard = {n for _, q in dashboard.queries(dashboard.build()) for n in dashboard.metric_names(q)}
    used_by_rules = {n for r in alert_rules() for n in dashboard.metric_names(r["expr"])}
    unknown = (used_by_dashboard | used_by_rules) - exported - PROMETHEUS_OWN
    assert not unknown, f"not exported by the runner: {sorted(unknown)}"
    shown = {n for n in METRICS if {n, f"{n}_bucket", f"{n}_count"} & used_by_dashboard}
    assert shown == set(METRICS), f"metrics without a panel: {sorted(set(METRICS) - shown)}"


def test_metric_names_reads_promql():
    assert dashboard.metric_names(
        'sum by (instance, le) (rate(a_total{x="y(z)", instance=~"$i"}[5m])) / on(job) group_left b'
        " or vector(0) * 1e9 and time() - c offset 5m") == {"a_total", "b", "c"}


def test_grafana_provisioning_matches_the_dashboard_and_compose():
    ds = yaml.safe_load((LIVE / "grafana" / "provisioning" / "datasources" / "prometheus.yml").read_text())
    source = ds["datasources"][0]
    assert (source["uid"], source["type"]) == (dashboard.DATASOURCE["uid"], dashboard.DATASOURCE["type"])
    assert source["url"] == "http://prometheus:9090"
    provider = yaml.safe_load((LIVE / "grafana" / "provisioning" / "dashboards" / "traderagent.yml").read_text())
    path = provider["providers"][0]["options"]["path"]
    grafana = yaml.safe_load((LIVE / "docker-compose.yml").read_text())["services"]["grafana"]
    assert f"./grafana/dashboards:{path}:ro" in grafana["volumes"]
    assert grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"] == f"{path}/{DASHBOARD.name}"
    model = json.loads(DASHBOARD.read_text())
    ids = [p["id"] for p in model["panels"]]
    assert len(ids) == len(set(ids))
    for p in model["panels"]:
        g = p["gridPos"]
        assert 0 <= g["x"] and g["x"] + g["w"] <= 24, p["title"]


# ------------------------------------------------------------------- the alert path, for real, end to end
@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """A runner's metrics endpoint, Prometheus (shipped rules, shipped scrape settings, 1 s intervals),
    Alertmanager (the shipped config rendered as in its container, Telegram pointed at a fake)."""
    prometheus_bin, alertmanager_bin = require_tool("prometheus"), require_tool("prometheus-alertmanager")
    tmp = tmp_path_factory.mktemp("stack")
    metrics = busy_metrics()
    metrics.instance("dca-btc", equity=5_000.0, state="active", daily_loss_limit_reached=True)
    telegram = FakeTelegram()
    server = MetricsServer(metrics, "127.0.0.1", 0).start()
    stop = threading.Event()
    ticker = threading.Thread(target=lambda: [tick(metrics) for _ in iter(lambda: stop.wait(0.2), True)],
                              daemon=True)
    ticker.start()
    procs: list[Process] = []
    try:
        am_port, prom_port = free_port(), free_port()
        am_cfg = tmp / "alertmanager.yml"
        assert render(am_cfg, {"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_CHAT_ID": CHAT,
                               "TELEGRAM_API_URL": telegram.url}).returncode == 0
        procs.append(Process([alertmanager_bin, f"--config.file={am_cfg}", f"--storage.path={tmp / 'am'}",
                              f"--web.listen-address=127.0.0.1:{am_port}", "--cluster.listen-address="],
                             tmp / "alertmanager.log"))
        shipped = yaml.safe_load((LIVE / "prometheus" / "prometheus.yml").read_text())
        job = next(j for j in shipped["scrape_configs"] if j["job_name"] == "traderagent")
        job["static_configs"] = [{"targets": [f"127.0.0.1:{server.port}"]}]
        job["scrape_interval"] = "1s"
        cfg = {"global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
               "rule_files": [str(RULES)],
               "alerting": {"alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{am_port}"]}]}]},
               "scrape_configs": [job]}
        prom_cfg = tmp / "prometheus.yml"
        prom_cfg.write_text(yaml.safe_dump(cfg))
        procs.append(Process([prometheus_bin, f"--config.file={prom_cfg}", f"--storage.tsdb.path={tmp / 'tsdb'}",
                              f"--web.listen-address=127.0.0.1:{prom_port}", "--log.level=warn"],
                             tmp / "prometheus.log"))
        stack = {"metrics": metrics, "server": server, "telegram": telegram, "procs": procs,
                 "prometheus": f"http://127.0.0.1:{prom_port}", "alertmanager": f"http://127.0.0.1:{am_port}"}
        for name, proc in zip(("alertmanager", "prometheus"), procs, strict=True):
            wait_for(lambda p=proc, n=name: not p.alive() or ready(stack[n]), f"{name} to be ready",
                     log=lambda p=proc: log_tail(p.log))
            assert proc.alive(), f"{name} exited:\n{log_tail(proc.log)}"
        yield stack
    finally:
        stop.set()
        ticker.join(5)
        for p in procs:
            p.stop()
        server.stop()
        telegram.close()


def ready(base: str) -> bool:
    try:
        with urllib.request.urlopen(base + "/-/ready", timeout=5) as resp:
            return resp.status == 200
    except OSError:
        return False


def api(base: str, path: str, **params: str) -> dict:
    url = f"{base}{path}?{urllib.parse.urlencode(params)}" if params else base + path
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.loads(resp.read())


def query(stack: dict, expr: str) -> list[dict]:
    body = api(stack["prometheus"], "/api/v1/query", query=expr)
    assert body["status"] == "success", body
    return body["data"]["result"]


def test_prometheus_loads_the_rules_and_keeps_the_strategy_instance_label(stack):
    groups = wait_for(lambda: api(stack["prometheus"], "/api/v1/rules")["data"]["groups"], "the rules to load")
    rules = {r["name"]: r for g in groups for r in g["rules"]}
    assert set(rules) == {r["alert"] for r in alert_rules()}
    wait_for(lambda: all(r.get("health") == "ok" for g in api(stack["prometheus"], "/api/v1/rules")["data"]["groups"]
                         for r in g["rules"]), "every rule to evaluate healthy")
    up = wait_for(lambda: query(stack, 'up{job="traderagent"} == 1'), "a successful scrape")
    assert up[0]["metric"]["instance"] == f"127.0.0.1:{stack['server'].port}"  # the target's own label
    equity = query(stack, "traderagent_instance_equity_quote")
    assert {s["metric"]["instance"] for s in equity} == {"trend-btc", "grid-eth", "dca-btc"}  # honor_labels
    assert not query(stack, "traderagent_instance_equity_quote{exported_instance!=''}")


def test_every_dashboard_query_returns_data(stack):
    found = dashboard.queries(dashboard.build())
    optional = {"annotation 'Alerts'"}  # firing alerts only

    def empty() -> list[str]:
        return [f"{where}: {expr}" for where, expr in found if where not in optional and not query(stack, expr)]

    missing = wait_for(lambda: not empty() or None, "every dashboard query to return data", timeout=60,
                       log=lambda: "still empty:\n" + "\n".join(empty()))
    assert missing is True
    state = {s["metric"]["instance"]: s["value"][1] for s in query(stack, dashboard.promql(dashboard._STATE_CODE))}
    assert state == {"trend-btc": "1", "grid-eth": "2", "dca-btc": "1"}  # active 1, paused 2


def test_an_alert_reaches_telegram(stack):
    """dca-btc reports its daily loss limit reached: the rule fires, Prometheus sends it to Alertmanager, and
    Alertmanager posts it to the Bot API with the shipped template."""
    telegram = stack["telegram"]

    def delivered() -> list[dict]:
        return [m for m in telegram.messages() if "TraderAgentDailyLossLimitHit" in m.get("text", "")]

    messages = wait_for(delivered, "the daily-loss alert to reach Telegram", timeout=90,
                        log=lambda: log_tail(stack["procs"][0].log) + f"\nrequests: {telegram.requests}")
    path = next(p for p, b in telegram.requests if b is messages[0])
    assert path == f"/bot{TOKEN}/sendMessage"
    msg = messages[0]
    assert msg["chat_id"] == CHAT and msg["parse_mode"] == "HTML"
    assert msg["text"].startswith("🔥 <b>FIRING</b> TraderAgentDailyLossLimitHit (warning)\n")
    assert "• Instance dca-btc hit its daily loss limit [dca-btc]\n" in msg["text"]
    assert "No new positions for dca-btc until 00:00 UTC" in msg["text"]


def test_bot_down_inhibits_the_rest_of_its_alerts(stack):
    am = stack["alertmanager"]
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    alerts = [{"labels": {"alertname": name, "job": "inhibit-check", "severity": sev},
               "annotations": {"summary": name, "description": "-"}, "startsAt": now}
              for name, sev in (("TraderAgentDown", "critical"), ("TraderAgentDataStale", "warning"))]
    req = urllib.request.Request(am + "/api/v2/alerts", data=json.dumps(alerts).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status == 200

    def states() -> dict[str, str] | None:
        got = {a["labels"]["alertname"]: a["status"]["state"]
               for a in api(am, "/api/v2/alerts", filter='job="inhibit-check"')}
        return got if got.get("TraderAgentDataStale") == "suppressed" else None

    assert wait_for(states, "TraderAgentDataStale to be inhibited") == {"TraderAgentDown": "active",
                                                                        "TraderAgentDataStale": "suppressed"}
