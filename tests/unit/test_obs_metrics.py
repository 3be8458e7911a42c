"""The runner's metrics (traderagent/obs/metrics.py): names and values as scraped (parsed back with
prometheus_client's own parser), liveness on an injected clock, readiness, label hygiene, bad calls."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from prometheus_client.parser import text_string_to_metric_families

from traderagent.config.loader import ConfigValidationError, parse_config
from traderagent.obs.metrics import METRICS, STATES, Metrics, label_token


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def scrape(m: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the exposition, parsed back: (name, sorted labels) -> value."""
    out = {}
    for family in text_string_to_metric_families(m.exposition()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def exercised(clock: Clock | None = None) -> Metrics:
    """Metrics after one call of every method (what a runner's first bars do)."""
    m = Metrics(timeframe_seconds=900, version="9.9.9", clock=clock or Clock(), wall=lambda: 1_700_000_000.0)
    m.health(markets_loaded=True, data_fresh=True, database_up=True)
    m.portfolio(30_100.5)
    m.instance("grid-btc", equity=10_250.0, drawdown=0.012, drawdown_limit=0.2, position=0.05, symbol="BTC/USDT",
               open_orders=6, state="active", stage=0.05, daily_loss_limit_reached=False)
    m.order_placed("grid-btc")
    m.order_cancelled("grid-btc")
    m.fill("grid-btc", "buy")
    m.trade("grid-btc")
    m.order_error("min_notional")
    m.risk_block("grid-btc", "max_exposure")
    m.request("create_order", 0.084)
    m.reconnect()
    m.bar(1_699_999_200.0, 1_699_999_201.5, symbol="BTC/USDT")
    m.loop(0.004, 1_699_999_202.0)
    return m


def test_every_listed_metric_is_exported_with_its_type_and_labels():
    families = {f.name: f for f in text_string_to_metric_families(exercised().exposition())}
    for name, spec in METRICS.items():
        family = families.get(name.removesuffix("_total"))
        assert family is not None, f"{name} not exported"
        assert family.type == spec.kind, name
        labels = {k for s in family.samples for k in s.labels if k != "le"}
        assert labels == set(spec.labels), (name, labels)
    # prometheus_client adds a `<counter or histogram>_created` gauge beside each (the series' start time)
    ours = {n for n in families if n.startswith("traderagent_") and not n.endswith("_created")}
    assert ours == {n.removesuffix("_total") for n in METRICS}


def test_names_follow_prometheus_conventions():
    for name, spec in METRICS.items():
        assert name.startswith("traderagent_")
        assert name.endswith("_total") == (spec.kind == "counter"), name
        if spec.kind == "histogram":
            assert name.endswith("_seconds"), name
        assert not any(word in name for word in ("_ms", "_milliseconds", "_percent")), name


def test_values_as_scraped():
    s = scrape(exercised())
    inst = (("instance", "grid-btc"),)
    assert s[("traderagent_build_info", (("version", "9.9.9"),))] == 1
    assert s[("traderagent_portfolio_value_quote", ())] == 30_100.5
    assert s[("traderagent_instance_equity_quote", inst)] == 10_250.0
    assert s[("traderagent_instance_drawdown_ratio", inst)] == 0.012
    assert s[("traderagent_instance_drawdown_limit_ratio", inst)] == 0.2
    assert s[("traderagent_instance_position_base", (("instance", "grid-btc"), ("symbol", "BTC/USDT")))] == 0.05
    assert s[("traderagent_open_orders", inst)] == 6
    assert {st: s[("traderagent_instance_state", (("instance", "grid-btc"), ("state", st)))] for st in STATES} == \
        {"idle": 0, "active": 1, "paused": 0, "stopped": 0}
    assert s[("traderagent_instance_stage_ratio", inst)] == 0.05
    assert s[("traderagent_daily_loss_limit_reached", inst)] == 0
    assert s[("traderagent_orders_placed_total", inst)] == 1
    assert s[("traderagent_orders_cancelled_total", inst)] == 1
    assert s[("traderagent_fills_total", (("instance", "grid-btc"), ("side", "buy")))] == 1
    assert s[("traderagent_trades_total", inst)] == 1
    assert s[("traderagent_order_errors_total", (("reason", "min_notional"),))] == 1
    assert s[("traderagent_risk_blocks_total", (("instance", "grid-btc"), ("rule", "max_exposure")))] == 1
    assert s[("traderagent_websocket_reconnects_total", ())] == 1
    req = (("endpoint", "create_order"),)
    assert s[("traderagent_exchange_request_duration_seconds_count", req)] == 1
    assert s[("traderagent_exchange_request_duration_seconds_sum", req)] == 0.084
    assert s[("traderagent_exchange_request_duration_seconds_bucket", (*req, ("le", "0.05")))] == 0
    assert s[("traderagent_exchange_request_duration_seconds_bucket", (*req, ("le", "0.1")))] == 1
    assert s[("traderagent_loop_iteration_seconds_count", ())] == 1
    assert s[("traderagent_bar_timeframe_seconds", ())] == 900
    assert s[("traderagent_last_bar_timestamp_seconds", ())] == 1_699_999_200.0
    assert s[("traderagent_symbol_last_bar_timestamp_seconds", (("symbol", "BTC/USDT"),))] == 1_699_999_200.0
    assert s[("traderagent_bar_lag_seconds", ())] == 2.0  # refreshed by loop() at 1_699_999_202
    assert s[("traderagent_loop_last_iteration_timestamp_seconds", ())] == 1_700_000_000.0  # the wall clock
    assert s[("traderagent_database_up", ())] == s[("traderagent_markets_loaded", ())] == 1
    assert s[("traderagent_data_fresh", ())] == 1


def test_counters_of_a_new_instance_start_at_zero():
    """So that `increase()` sees an instance's first fill, trade or block (a series born at 1 loses it)."""
    m = Metrics(process=False)
    m.instance("dca-eth", state="idle")
    s = scrape(m)
    inst = (("instance", "dca-eth"),)
    for name in ("traderagent_trades_total", "traderagent_orders_placed_total", "traderagent_orders_cancelled_total"):
        assert s[(name, inst)] == 0, name
    for side in ("buy", "sell"):
        assert s[("traderagent_fills_total", (("instance", "dca-eth"), ("side", side)))] == 0
    rules = {dict(k[1])["rule"] for k in s if k[0] == "traderagent_risk_blocks_total"}
    assert rules == {"max_loss_per_trade", "daily_loss_limit", "max_exposure", "max_position"}


def test_bar_lag_is_the_stalest_symbols():
    m = Metrics(process=False)
    m.bar(datetime(2025, 1, 1, 0, 15, tzinfo=UTC), datetime(2025, 1, 1, 0, 15, 1, tzinfo=UTC), symbol="BTC/USDT")
    m.bar(datetime(2025, 1, 1, 0, 0, tzinfo=UTC), datetime(2025, 1, 1, 0, 15, 2, tzinfo=UTC), symbol="ETH/USDT")
    assert m.value("traderagent_last_bar_timestamp_seconds") == datetime(2025, 1, 1, tzinfo=UTC).timestamp()
    assert m.value("traderagent_bar_lag_seconds") == 15 * 60 + 2
    m.bar(datetime(2025, 1, 1, 0, 15, tzinfo=UTC), datetime(2025, 1, 1, 0, 15, 3, tzinfo=UTC), symbol="ETH/USDT")
    assert m.value("traderagent_bar_lag_seconds") == 3
    m.loop(0.01, datetime(2025, 1, 1, 0, 20, tzinfo=UTC))  # idle wake-up: the lag keeps growing
    assert m.value("traderagent_bar_lag_seconds") == 5 * 60
    with pytest.raises(ValueError, match="naive datetime"):
        m.bar(datetime(2025, 1, 1), 0.0)


def test_liveness_follows_the_loop_on_the_injected_clock():
    clock = Clock(1000.0)
    m = Metrics(max_silence_seconds=60, clock=clock, process=False)
    alive, body = m.liveness()
    assert alive and body["iterations"] == 0  # the start counts as an iteration
    clock.t = 1061.0
    alive, body = m.liveness()
    assert not alive and body["status"] == "stalled" and body["seconds_since_last_iteration"] == 61.0
    m.loop(0.002)
    alive, body = m.liveness()
    assert alive and body == {"status": "ok", "seconds_since_last_iteration": 0.0, "max_silence_seconds": 60.0,
                              "iterations": 1}
    clock.t = 1121.0
    assert m.liveness()[0]
    clock.t = 1121.5
    assert not m.liveness()[0]


def test_readiness_names_what_is_missing():
    m = Metrics(process=False)
    ready, body = m.readiness()
    assert not ready and body["not_ready"] == ["markets_loaded", "data_fresh", "database_up"]
    m.health(markets_loaded=True, database_up=True)
    ready, body = m.readiness()
    assert not ready and body["not_ready"] == ["data_fresh"] and body["status"] == "not ready"
    m.health(data_fresh=True)
    assert m.readiness() == (True, {"status": "ready", "markets_loaded": True, "data_fresh": True,
                                    "database_up": True, "not_ready": []})
    m.health(database_up=False)
    assert m.readiness()[1]["not_ready"] == ["database_up"]
    assert m.value("traderagent_database_up") == 0 and m.value("traderagent_markets_loaded") == 1


def test_state_switches_and_instances_go_away():
    m = Metrics(process=False)
    m.instance("a", state="active", position=1.0, symbol="BTC/USDT", equity=5.0)
    m.instance("a", state="paused")
    assert m.value("traderagent_instance_state", instance="a", state="paused") == 1
    assert m.value("traderagent_instance_state", instance="a", state="active") == 0
    assert m.value("traderagent_instance_equity_quote", instance="a") == 5.0  # untouched by the second call
    m.fill("a", "sell")
    m.remove_instance("a")
    assert m.value("traderagent_instance_state", instance="a", state="paused") is None
    assert m.value("traderagent_instance_position_base", instance="a", symbol="BTC/USDT") is None
    assert m.value("traderagent_instance_equity_quote", instance="a") is None
    assert m.value("traderagent_fills_total", instance="a", side="sell") == 1  # counters keep their totals
    m.remove_instance("never-seen")  # no error


class InsufficientFunds(Exception):
    pass


@pytest.mark.parametrize(("reason", "token"), [
    (InsufficientFunds("account has 3.2 USDT, order needs 10.0"), "insufficient_funds"),
    (TimeoutError("x"), "timeout_error"),
    (type("HTTPError", (Exception,), {})(), "http_error"),
    (type("RequestTimeout", (Exception,), {})(), "request_timeout"),
    (type("DDoSProtection", (Exception,), {})(), "ddos_protection"),
    ("Min notional", "min_notional"),
    ("binance -2010: Account has insufficient balance for requested action.",
     "binance_2010_account_has_insufficient_balance_fo"),
    ("", "unknown"),
    ("!!!", "unknown"),
])
def test_label_tokens_are_bounded_and_readable(reason, token):
    assert label_token(reason) == token
    assert len(label_token(reason)) <= 48


def test_order_error_takes_an_exception():
    m = Metrics(process=False)
    assert m.order_error(InsufficientFunds("order 123 needs 10 USDT")) == "insufficient_funds"
    assert m.value("traderagent_order_errors_total", reason="insufficient_funds") == 1


@pytest.mark.parametrize(("call", "message"), [
    (lambda m: m.instance("a", state="running"), "unknown state 'running'"),
    (lambda m: m.instance("a", position=1.0), "needs its symbol"),
    (lambda m: m.instance("a", drawdown=1.5), "drawdown is a fraction"),
    (lambda m: m.instance("a", stage=-0.1), "stage is a fraction"),
    (lambda m: m.instance("a", open_orders=-1), "open_orders must be >= 0"),
    (lambda m: m.instance("", equity=1.0), "instance name is empty"),
    (lambda m: m.fill("a", "long"), "buy or sell"),
])
def test_bad_calls_say_what_is_wrong(call, message):
    with pytest.raises(ValueError, match=message):
        call(Metrics(process=False))


def test_registries_are_separate():
    a, b = Metrics(process=False), Metrics(process=False)
    a.reconnect()
    assert a.value("traderagent_websocket_reconnects_total") == 1
    assert b.value("traderagent_websocket_reconnects_total") == 0


def test_for_live_reads_the_config():
    live = parse_config({"live": {"timeframe": "1h", "health_max_silence_seconds": 300}}).live
    m = Metrics.for_live(live, process=False)
    assert m.max_silence_seconds == 300
    assert m.value("traderagent_bar_timeframe_seconds") == 3600


def test_config_keys_and_their_checks():
    live = parse_config({}).live
    assert (live.metrics_host, live.metrics_port, live.health_max_silence_seconds) == ("127.0.0.1", 9108, 120.0)
    with pytest.raises(ConfigValidationError) as err:
        parse_config({"live": {"metrics_port": 70000}}, "c.yaml")
    assert "c.yaml: live.metrics_port: must be <= 65535 (got 70000)" in str(err.value)
    with pytest.raises(ConfigValidationError) as err:
        parse_config({"live": {"poll_seconds": 90}}, "c.yaml")
    assert "c.yaml: live.health_max_silence_seconds: must be at least twice poll_seconds (180)" in str(err.value)
