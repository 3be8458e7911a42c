"""Typed config: the plan's file loads as is, units, every bad input gets its exact one-line message."""

from __future__ import annotations

import re
from pathlib import Path
from typing import get_args

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, Field, ValidationError

from traderagent.config import (
    STRATEGY_MODELS,
    AppConfig,
    BacktestConfig,
    ConfigError,
    ConfigValidationError,
    DcaConfig,
    GridConfig,
    LiveConfig,
    OrchestratorConfig,
    RiskConfig,
    Secrets,
    SmcConfig,
    StrategiesConfig,
    TrendFollowerConfig,
    database_url,
    default_config_path,
    load_config,
    parse_config,
    replace,
    search_space,
    validate,
)
from traderagent.config.models import DEFAULT_ROUTES, HybridConfig, RegimeConfig, SelectorConfig
from traderagent.config.units import format_percent, parse_fraction_text

PLAN = {
    "strategies": {
        "grid": {"enabled": True, "pairs": ["BTC/USDT", "ETH/USDT"], "range_percentage": 5, "grid_levels": 10,
                 "risk_per_level": "0.5%"},
        "dca": {"enabled": True, "pairs": ["BTC/USDT", "ETH/USDT"], "max_safety_orders": 5,
                "safety_order_multiplier": 1.5, "take_profit_percentage": 3},
        "smc": {"enabled": True, "timeframes": ["D1", "H4", "H1", "M15"], "confluence_threshold": 3,
                "risk_per_trade": "2%"},
        "trend_follower": {"enabled": True, "timeframe": "H1", "ema_fast": 12, "ema_slow": 26, "risk_per_trade": "2%"},
    },
    "orchestrator": {
        "max_concurrent_strategies": 4,
        "capital_allocation": {"grid": "30%", "dca": "25%", "smc": "25%", "trend_follower": "20%"},
    },
}

ROOT = Path(__file__).resolve().parents[2]


def problems(mapping, source="config.yaml") -> list[str]:
    with pytest.raises(ConfigValidationError) as info:
        parse_config(mapping, source=source)
    return list(info.value.problems)


# ------------------------------------------------------------------------------------------ the plan's file
def test_packaged_default_is_the_plans_example_verbatim():
    assert yaml.safe_load(default_config_path().read_text(encoding="utf-8")) == PLAN


def test_default_loads_as_is_with_the_plans_values():
    cfg = load_config()
    s = cfg.strategies
    assert list(s.enabled()) == ["grid", "dca", "smc", "trend_follower"]
    assert s.grid.pairs == ("BTC/USDT", "ETH/USDT")
    assert s.grid.range_percentage == 5.0 and s.grid.range_fraction == 0.05
    assert s.grid.grid_levels == 10 and s.grid.risk_per_level == 0.005
    assert s.dca.max_safety_orders == 5 and s.dca.safety_order_multiplier == 1.5
    assert s.dca.take_profit_percentage == 3.0 and s.dca.take_profit_fraction == 0.03
    assert s.smc.timeframes == ("1d", "4h", "1h", "15m") and s.smc.entry_timeframe == "15m"
    assert s.smc.confluence_threshold == 3 and s.smc.risk_per_trade == 0.02
    tf = s.trend_follower
    assert (tf.timeframe, tf.ema_fast, tf.ema_slow, tf.risk_per_trade) == ("1h", 12, 26, 0.02)
    assert cfg.orchestrator.max_concurrent_strategies == 4
    assert cfg.orchestrator.capital_allocation.as_dict() == {"grid": 0.3, "dca": 0.25, "smc": 0.25,
                                                             "trend_follower": 0.2}
    assert cfg.orchestrator.capital_allocation.total == 1.0


def test_sections_absent_from_the_file_take_the_schema_defaults():
    cfg = load_config()
    assert cfg.backtest == BacktestConfig()
    assert (cfg.backtest.initial_equity, cfg.backtest.fees, cfg.backtest.slippage) == (10_000.0, 0.001, 0.0002)
    assert (cfg.risk.max_exposure, cfg.risk.max_position, cfg.risk.daily_loss_action) == (1.0, 1.0, "block")
    assert (cfg.backtest.leverage, cfg.backtest.allow_short) == (1.0, False)
    assert cfg.risk.max_loss_per_trade == 0.03
    assert cfg.database.url is None
    assert (cfg.live.mode, cfg.live.exchange) == ("paper", "binance")
    assert cfg.live.telegram_chat_ids == ()  # deny by default


def test_empty_mapping_and_empty_file_give_all_defaults(tmp_path):
    empty = tmp_path / "empty.yaml"
    empty.write_text("# nothing yet\n")
    assert parse_config({}) == parse_config(None) == load_config(empty) == AppConfig()
    assert AppConfig().strategies.configured() == {}


def test_fully_resolved_dump_round_trips_exactly():
    cfg = load_config()
    text = yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False)
    assert parse_config(yaml.safe_load(text)) == cfg
    assert "risk_per_level: 0.5%" in text and "slippage: 0.02%" in text


# ----------------------------------------------------------------------------------------------------- units
@pytest.mark.parametrize(("text", "fraction"), [
    ("0.5%", 0.005), ("30%", 0.3), ("2%", 0.02), ("0.02%", 0.0002), ("2bps", 0.0002), ("2 bps", 0.0002),
    ("50bp", 0.005), ("0.005", 0.005), ("2e-4", 0.0002), (0.3, 0.3), (0, 0.0), ("100%", 1.0), (" 25 % ", 0.25),
])
def test_fraction_notations_give_the_identical_float(text, fraction):
    assert parse_fraction_text(text) == fraction  # exact: no binary noise from the percent conversion


@pytest.mark.parametrize("path", [
    ("strategies", "grid", "risk_per_level"), ("strategies", "smc", "risk_per_trade"),
    ("strategies", "trend_follower", "risk_per_trade"), ("strategies", "dca", "price_deviation"),
    ("orchestrator", "capital_allocation", "grid"), ("backtest", "fees"), ("backtest", "slippage"),
    ("risk", "max_position"), ("risk", "max_loss_per_trade"), ("risk", "daily_loss_limit"),
])
def test_every_fraction_field_reads_percent_and_fraction_alike(path):
    def at(value):
        mapping: dict = {}
        node = mapping
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = value
        got = parse_config(mapping)
        for key in path:
            got = getattr(got, key)
        return got

    assert at("0.5%") == at(0.005) == at("50bps") == 0.005
    assert at("1%") == at(0.01) == 0.01


def test_percentage_fields_take_percent_numbers_and_percent_strings():
    a = GridConfig(range_percentage=5)
    b = GridConfig(range_percentage="5%")
    assert a == b and a.range_percentage == 5.0 and a.range_fraction == 0.05
    assert DcaConfig(take_profit_percentage="0.3%").take_profit_fraction == parse_fraction_text("0.3%") == 0.003
    assert DcaConfig(take_profit_percentage=1.5).take_profit_fraction == 0.015


def test_percent_formatting_is_exact():
    assert [format_percent(x) for x in (0.005, 0.3, 0.0002, 1.0, 0.125, 10.0)] == \
        ["0.5%", "30%", "0.02%", "100%", "12.5%", "1000%"]


@given(st.floats(min_value=0.0, max_value=10.0, allow_nan=False))
def test_percent_text_round_trips_every_float_exactly(x):
    assert parse_fraction_text(format_percent(x)) == x


def test_json_schema_accepts_percent_strings_and_carries_search_ranges():
    props = AppConfig.model_json_schema()["$defs"]["TrendFollowerConfig"]["properties"]
    assert props["risk_per_trade"]["anyOf"] == [{"type": "number"}, {"type": "string"}]
    assert props["ema_fast"]["search"] == {"low": 4, "high": 24}


def test_timeframe_aliases_and_pairs_are_stored_canonically():
    t = TrendFollowerConfig(timeframe="H1", trend_filter_timeframe="D1", pairs=["eth/usdt"])
    assert (t.timeframe, t.trend_filter_timeframe, t.pairs) == ("1h", "1d", ("ETH/USDT",))
    assert SmcConfig(timeframes=["H4", "M15"]).timeframes == ("4h", "15m")
    assert TrendFollowerConfig(timeframe="60m").timeframe == "1h"
    assert GridConfig(pairs=["BTC/USDT:USDT"]).pairs == ("BTC/USDT:USDT",)


# ------------------------------------------------------------------------------------------- bad values
BAD = [
    ({"strategies": {"trend_follower": {"ema_fsat": 10}}},
     "config.yaml: strategies.trend_follower.ema_fsat: unknown key; did you mean 'ema_fast'?"),
    ({"strategy": {}}, "config.yaml: strategy: unknown key; did you mean 'strategies'?"),
    ({"telemetry": {}},
     "config.yaml: telemetry: unknown key; expected one of: strategies, orchestrator, backtest, risk, database, live"),
    ({"orchestrator": {"capital_allocation": {"gird": "30%"}}},
     "config.yaml: orchestrator.capital_allocation.gird: unknown strategy; did you mean 'grid'?"),
    ({"strategies": {"dca": {"max_safety_orders": -1}}},
     "config.yaml: strategies.dca.max_safety_orders: must be >= 0 (got -1)"),
    ({"strategies": {"grid": {"grid_levels": 1}}}, "config.yaml: strategies.grid.grid_levels: must be >= 2 (got 1)"),
    ({"orchestrator": {"max_concurrent_strategies": 0}},
     "config.yaml: orchestrator.max_concurrent_strategies: must be >= 1 (got 0)"),
    ({"orchestrator": {"capital_allocation": {"grid": "60%", "dca": "50%"}}},
     "config.yaml: orchestrator.capital_allocation: allocations add up to 110% (grid 60%, dca 50%); "
     "the total must be at most 100%"),
    ({"strategies": {"trend_follower": {"ema_fast": 30, "ema_slow": 20}}},
     "config.yaml: strategies.trend_follower.ema_fast: must be less than ema_slow (got ema_fast 30, ema_slow 20)"),
    ({"strategies": {"trend_follower": {"ema_fast": 26, "ema_slow": 26}}},
     "config.yaml: strategies.trend_follower.ema_fast: must be less than ema_slow (got ema_fast 26, ema_slow 26)"),
    ({"strategies": {"trend_follower": {"timeframe": "H0"}}},
     "config.yaml: strategies.trend_follower.timeframe: unknown timeframe 'H0': use one of 1m 5m 15m 30m 1h 2h 4h "
     "6h 8h 12h 1d 1w or an alias M15 H1 H4 D1"),
    ({"strategies": {"smc": {"timeframes": ["H1", "hourly"]}}},
     "config.yaml: strategies.smc.timeframes[1]: unknown timeframe 'hourly': use one of 1m 5m 15m 30m 1h 2h 4h "
     "6h 8h 12h 1d 1w or an alias M15 H1 H4 D1"),
    ({"strategies": {"smc": {"timeframes": ["1h", "1h"]}}},
     "config.yaml: strategies.smc.timeframes: lists '1h' twice; each timeframe may appear once"),
    ({"strategies": {"trend_follower": {"trend_filter_timeframe": "30m"}}},
     "config.yaml: strategies.trend_follower.trend_filter_timeframe: must be a higher timeframe than timeframe "
     "'1h' and a whole multiple of it (got '30m')"),
    ({"strategies": {"smc": {"risk_per_trade": "150%"}}},
     "config.yaml: strategies.smc.risk_per_trade: must be at most 100% (got '150%')"),
    ({"strategies": {"smc": {"risk_per_trade": 2}}},
     "config.yaml: strategies.smc.risk_per_trade: must be at most 100% (got 2 = 200%); did you mean '2%'?"),
    ({"strategies": {"smc": {"risk_per_trade": "0%"}}},
     "config.yaml: strategies.smc.risk_per_trade: must be more than 0% (got '0%')"),
    ({"strategies": {"grid": {"risk_per_level": "half a percent"}}},
     "config.yaml: strategies.grid.risk_per_level: must be a percent like '2%', a fraction like 0.02 or basis "
     "points like '2bps' (got 'half a percent')"),
    ({"strategies": {"grid": {"risk_per_level": "2%%"}}},
     "config.yaml: strategies.grid.risk_per_level: must be a percent like '2%', a fraction like 0.02 or basis "
     "points like '2bps' (got '2%%')"),
    ({"backtest": {"fees": 0.1}},
     "config.yaml: backtest.fees: must be at most 2% (got 0.1 = 10%); did you mean '0.1%'?"),
    ({"backtest": {"slippage": "-1bps"}}, "config.yaml: backtest.slippage: must be at least 0% (got '-1bps')"),
    ({"risk": {"max_exposure": "200%", "max_position": "50%"}},
     "config.yaml: risk.max_exposure: 200% of equity needs backtest.leverage of at least 2 (got 1)"),
    ({"backtest": {"max_exposure": "200%"}},
     "config.yaml: backtest.max_exposure: moved to risk.max_exposure (the risk section owns every limit, for "
     "backtest and live alike)"),
    ({"backtest": {"max_risk_per_trade": "2%"}},
     "config.yaml: backtest.max_risk_per_trade: moved to risk.max_loss_per_trade (the risk section owns every "
     "limit, for backtest and live alike)"),
    ({"risk": {"daily_loss_action": "sell"}},
     "config.yaml: risk.daily_loss_action: must be one of 'block' or 'flatten' (got 'sell')"),
    ({"risk": {"max_position": "120%"}},
     "config.yaml: risk.max_position: must be at most max_exposure (100%) (got 120%)"),
    ({"strategies": {"grid": {"range_percentage": "150%"}}},
     "config.yaml: strategies.grid.range_percentage: must be < 100 (got '150%')"),
    ({"strategies": {"dca": {"take_profit_percentage": 0}}},
     "config.yaml: strategies.dca.take_profit_percentage: must be > 0 (got 0)"),
    ({"strategies": {"grid": {"grid_levels": "ten"}}},
     "config.yaml: strategies.grid.grid_levels: must be a whole number (got 'ten')"),
    ({"strategies": {"grid": {"grid_levels": 2.5}}},
     "config.yaml: strategies.grid.grid_levels: must be a whole number (got 2.5)"),
    ({"strategies": {"dca": {"safety_order_multiplier": "big"}}},
     "config.yaml: strategies.dca.safety_order_multiplier: must be a number (got 'big')"),
    ({"strategies": {"grid": {"enabled": "maybe"}}},
     "config.yaml: strategies.grid.enabled: must be true or false (got 'maybe')"),
    ({"strategies": {"grid": {"spacing": "log"}}},
     "config.yaml: strategies.grid.spacing: must be one of 'arithmetic' or 'geometric' (got 'log')"),
    ({"live": {"mode": "real"}}, "config.yaml: live.mode: must be one of 'paper' or 'live' (got 'real')"),
    ({"live": {"exchange": "Binance"}},
     "config.yaml: live.exchange: must be a lower-case ccxt exchange id like 'binance' (got 'Binance')"),
    ({"strategies": {"grid": {"pairs": ["BTCUSDT"]}}},
     "config.yaml: strategies.grid.pairs[0]: must be a trading pair like 'BTC/USDT' (BASE/QUOTE) (got 'BTCUSDT')"),
    ({"strategies": {"grid": {"pairs": "BTC/USDT"}}},
     "config.yaml: strategies.grid.pairs: must be a list (got 'BTC/USDT')"),
    ({"strategies": {"grid": {"pairs": []}}}, "config.yaml: strategies.grid.pairs: must list at least 1 item (got 0)"),
    ({"strategies": {"grid": {"pairs": ["BTC/USDT", "btc/usdt"]}}},
     "config.yaml: strategies.grid.pairs: lists 'BTC/USDT' twice; each pair may appear once"),
    ({"strategies": ["grid"]}, "config.yaml: strategies: must be a mapping of keys (got a list)"),
    ({"orchestrator": {"staging": {"stages": ["50%", "25%"]}}},
     "config.yaml: orchestrator.staging.stages: stages must increase (got 50%, 25%)"),
    ({"orchestrator": {"staging": {"stages": ["5%", "150%"]}}},
     "config.yaml: orchestrator.staging.stages[1]: must be at most 100% (got '150%')"),
    ({"orchestrator": {"deployment_stages": ["5%"]}},
     "config.yaml: orchestrator.deployment_stages: moved to orchestrator.staging.stages (with min_days, "
     "max_drawdown and max_error_rate beside it)"),
    ({"live": {"mode": "paperr"}}, "config.yaml: live.mode: must be one of 'paper' or 'live' (got 'paperr')"),
    (["grid"], "config.yaml: must be a mapping of keys (strategies, orchestrator, backtest, risk, database, live) "
               "(got a list)"),
    ({"live": {"api_key": "abc123"}},
     "config.yaml: live.api_key: secrets are not read from config files; remove this key and set "
     "TRADERAGENT_EXCHANGE_API_KEY (or TRADERAGENT_EXCHANGE_API_KEY_FILE naming a file) in the environment"),
    ({"live": {"secret": "abc123"}},
     "config.yaml: live.secret: secrets are not read from config files; remove this key and set "
     "TRADERAGENT_EXCHANGE_SECRET (or TRADERAGENT_EXCHANGE_SECRET_FILE naming a file) in the environment"),
    ({"database": {"password": "pw"}},
     "config.yaml: database.password: secrets are not read from config files; remove this key and set "
     "DATABASE_URL (or DATABASE_URL_FILE naming a file) in the environment"),
    ({"database": {"url": "postgresql://trader:hunter2@db:5432/traderagent"}},
     "config.yaml: database.url: contains a password; remove it here and set DATABASE_URL (or DATABASE_URL_FILE) "
     "in the environment"),
    # hybrid, regime, selector
    ({"strategies": {"hybrid": {"grid_exit": "sell"}}},
     "config.yaml: strategies.hybrid.grid_exit: must be one of 'close', 'keep' or 'handover' (got 'sell')"),
    ({"strategies": {"hybrid": {"grid_regimes": ["sideways"], "dca_regimes": ["downtrend", "sideways"]}}},
     "config.yaml: strategies.hybrid.dca_regimes: sideways also in grid_regimes; each regime has one machine"),
    ({"strategies": {"hybrid": {"timeframe": "4h"}}},
     "config.yaml: strategies.hybrid.regime.timeframe: must be a whole multiple of timeframe '4h' (got '1h')"),
    ({"strategies": {"hybrid": {"regime": {"adx_perod": 10}}}},
     "config.yaml: strategies.hybrid.regime.adx_perod: unknown key; did you mean 'adx_period'?"),
    ({"strategies": {"hybrid": {"grid": {"grid_levels": 1}}}},
     "config.yaml: strategies.hybrid.grid.grid_levels: must be >= 2 (got 1)"),
    ({"orchestrator": {"selector": {"routes": {"sideways": "gird"}}}},
     "config.yaml: orchestrator.selector.routes: unknown strategy 'gird'; routes name one of dca, grid, smc, "
     "trend_follower"),
    ({"orchestrator": {"selector": {"routes": {"sideways": "hybrid"}}}},
     "config.yaml: orchestrator.selector.routes: 'hybrid' switches by regime itself; route 'grid' and 'dca' instead"),
    ({"orchestrator": {"selector": {"signal_exit": "sell"}}},
     "config.yaml: orchestrator.selector.signal_exit: must be one of 'keep' or 'close' (got 'sell')"),
    ({"orchestrator": {"selector": {"regime": {"priority": ["sideways"]}}}},
     "config.yaml: orchestrator.selector.regime.priority: must list each of sideways, uptrend, downtrend, "
     "high_volatility exactly once (got sideways)"),
    ({"orchestrator": {"capital_allocation": {"hybrid": "60%", "grid": "50%"}}},
     "config.yaml: orchestrator.capital_allocation: allocations add up to 110% (grid 50%, hybrid 60%); "
     "the total must be at most 100%"),
]


@pytest.mark.parametrize(("mapping", "message"), BAD, ids=[m.split(": ", 2)[1] + ":" + m[-12:] for _, m in BAD])
def test_each_bad_value_gets_its_one_line_message(mapping, message):
    with pytest.raises(ConfigValidationError) as info:
        parse_config(mapping, source="config.yaml")
    assert str(info.value) == message
    assert info.value.problems == (message,)
    assert isinstance(info.value, ConfigError)


def test_secret_values_are_never_echoed():
    for mapping in ({"live": {"api_key": "abc123"}}, {"database": {"url": "postgresql://u:hunter2@h/db"}}):
        with pytest.raises(ConfigError) as info:
            parse_config(mapping)
        assert "abc123" not in str(info.value) and "hunter2" not in str(info.value)


def test_secret_under_an_unknown_section_is_named_as_a_secret():
    assert problems({"telegram": {"token": "x"}}) == [
        "config.yaml: telegram: unknown key; expected one of: strategies, orchestrator, backtest, risk, database, live",
        "config.yaml: telegram.token: secrets are not read from config files; remove this key and set "
        "TELEGRAM_BOT_TOKEN (or TELEGRAM_BOT_TOKEN_FILE naming a file) in the environment",
    ]


def test_database_url_without_password_is_allowed():
    assert parse_config({"database": {"url": "postgresql://postgres@127.0.0.1:5432/test"}}).database.url == \
        "postgresql://postgres@127.0.0.1:5432/test"


def test_several_problems_are_reported_together_under_a_summary_line():
    mapping = {"strategies": {"dca": {"max_safety_orders": -1}, "trend_follower": {"ema_fsat": 1}},
               "backtest": {"fees": "abc"}}
    with pytest.raises(ConfigValidationError) as info:
        parse_config(mapping, source="config.yaml")
    assert str(info.value).splitlines() == [
        "config.yaml: 3 problems",
        "config.yaml: strategies.dca.max_safety_orders: must be >= 0 (got -1)",
        "config.yaml: strategies.trend_follower.ema_fsat: unknown key; did you mean 'ema_fast'?",
        "config.yaml: backtest.fees: must be a percent like '2%', a fraction like 0.02 or basis points like '2bps' "
        "(got 'abc')",
    ]


def test_non_text_keys_are_named():
    assert problems({"strategies": {1: {}}}) == ["config.yaml: strategies: key 1 must be a name (quote it, or use "
                                                 "a word)"]


# ------------------------------------------------------------------------------------------------ files
def write(tmp_path, text, name="config.yaml"):
    (tmp_path / name).write_text(text)
    return tmp_path / name


def test_file_problems_name_the_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "strategies:\n  dca:\n    max_safety_orders: -1\n")
    with pytest.raises(ConfigError, match=r"^config\.yaml: strategies\.dca\.max_safety_orders: must be >= 0 "
                                          r"\(got -1\)$"):
        load_config("config.yaml")


@pytest.mark.parametrize(("text", "message"), [
    ("strategies:\n  grid:\n    grid_levels: 10\n   bad: [1, 2\n",
     "config.yaml: line 4, column 4: YAML syntax error: expected <block end>, but found '<block mapping start>'; "
     "check the indentation"),
    ("backtest: fees: 0.1%\n", "config.yaml: line 1, column 15: YAML syntax error: mapping values are not allowed "
                               "here"),
    ("strategies:\n  grid: {}\nstrategies:\n  dca: {}\n",
     "config.yaml: line 3, column 1: duplicate key 'strategies' (first at line 1); keep only one"),
    ("backtest:\n  fees: 0.1%\n  fees: 0.2%\n",
     "config.yaml: line 3, column 3: duplicate key 'fees' (first at line 2); keep only one"),
])
def test_yaml_errors_name_line_and_column(tmp_path, monkeypatch, text, message):
    monkeypatch.chdir(tmp_path)
    write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config("config.yaml")
    assert str(info.value) == message


def test_missing_file_and_directory_are_one_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as info:
        load_config("nope.yaml")
    assert str(info.value) == "nope.yaml: no such file"
    (tmp_path / "conf.d").mkdir()
    with pytest.raises(ConfigError) as info:
        load_config("conf.d")
    assert str(info.value) == "conf.d: is a directory, not a config file"


def test_non_utf8_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bin.yaml").write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ConfigError, match=r"^bin\.yaml: not a UTF-8 text file$"):
        load_config("bin.yaml")


def test_yaml_11_exponent_strings_still_read_as_numbers(tmp_path):
    # PyYAML reads `2e-4` (no dot) as a string; fraction and float fields accept it all the same.
    path = write(tmp_path, "backtest:\n  slippage: 2e-4\nstrategies:\n  dca:\n    safety_order_multiplier: 1e0\n")
    cfg = load_config(path)
    assert cfg.backtest.slippage == 0.0002 and cfg.strategies.dca.safety_order_multiplier == 1.0


# --------------------------------------------------------------------------------------------- immutability
def test_models_are_frozen_and_hashable():
    cfg = load_config()
    with pytest.raises(ValidationError, match="frozen"):
        cfg.backtest.fees = 0.0  # type: ignore[misc]
    with pytest.raises(ValidationError, match="frozen"):
        cfg.strategies.trend_follower.ema_fast = 5  # type: ignore[misc]
    with pytest.raises(AttributeError):
        cfg.strategies.grid.pairs.append("SOL/USDT")  # type: ignore[attr-defined]
    assert hash(cfg) == hash(load_config())


def test_replace_revalidates():
    t = load_config().strategies.trend_follower
    assert replace(t, ema_fast=5).ema_fast == 5 and t.ema_fast == 12
    assert replace(t, risk_per_trade="1%").risk_per_trade == 0.01
    with pytest.raises(ConfigValidationError) as info:
        replace(t, source="--set", prefix=("strategies", "trend_follower"), ema_fast=40)
    assert str(info.value) == ("--set: strategies.trend_follower.ema_fast: must be less than ema_slow "
                               "(got ema_fast 40, ema_slow 26)")


def test_validate_a_single_section_with_a_prefix():
    with pytest.raises(ConfigValidationError) as info:
        validate(TrendFollowerConfig, {"ema_slwo": 30}, "study.yaml", prefix=("params",))
    assert str(info.value) == "study.yaml: params.ema_slwo: unknown key; did you mean 'ema_slow'?"


# --------------------------------------------------------------------------------------------- search space
def test_search_space_of_trend_follower():
    assert search_space(TrendFollowerConfig) == {
        "ema_fast": {"type": "int", "low": 4, "high": 24},
        "ema_slow": {"type": "int", "low": 25, "high": 200},
        "trend_filter_timeframe": {"type": "categorical", "choices": [None, "4h", "1d"]},
        "trend_filter_ema": {"type": "int", "low": 20, "high": 200},
        "atr_period": {"type": "int", "low": 7, "high": 30},
        "atr_stop_mult": {"type": "float", "low": 1.0, "high": 5.0, "step": 0.25},
        "atr_target_mult": {"type": "float", "low": 1.0, "high": 8.0, "step": 0.25},
    }
    assert search_space(DcaConfig)["price_deviation"] == {"type": "float", "low": 0.005, "high": 0.05, "log": True}
    assert search_space(GridConfig)["spacing"] == {"type": "categorical", "choices": ["arithmetic", "geometric"]}


@pytest.mark.parametrize("name", list(STRATEGY_MODELS))
def test_every_search_bound_is_a_valid_value_of_its_field(name):
    model = STRATEGY_MODELS[name]
    space = search_space(model)
    assert space, f"{name} declares no search ranges"
    for field, spec in space.items():
        values = spec["choices"] if spec["type"] == "categorical" else [spec["low"], spec["high"]]
        for v in values:
            assert getattr(model(**{field: v}), field) == v


def test_ema_ranges_never_sample_fast_at_or_above_slow():
    space = search_space(TrendFollowerConfig)
    assert space["ema_fast"]["high"] < space["ema_slow"]["low"]


def test_malformed_search_specs_are_refused():
    class Both(BaseModel):
        x: float = Field(1.0, json_schema_extra={"search": {"low": 0.1, "high": 1.0, "step": 0.1, "log": True}})

    class Backwards(BaseModel):
        x: int = Field(1, json_schema_extra={"search": {"low": 5, "high": 1}})

    with pytest.raises(ValueError, match="step or log, not both"):
        search_space(Both)
    with pytest.raises(ValueError, match="low < high"):
        search_space(Backwards)


def test_strategy_models_match_the_strategies_section():
    assert list(STRATEGY_MODELS) == list(StrategiesConfig.model_fields) == ["grid", "dca", "smc", "trend_follower",
                                                                            "hybrid"]
    assert STRATEGY_MODELS["trend_follower"] is TrendFollowerConfig


# ------------------------------------------------------------------------------------------------- secrets
def test_secrets_from_environment_and_files(tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text("123:ABC\n")
    s = Secrets.from_env({"TRADERAGENT_EXCHANGE_API_KEY": "k3y", "TRADERAGENT_EXCHANGE_SECRET": "s3cret",
                          "TELEGRAM_BOT_TOKEN_FILE": str(token_file), "DATABASE_URL": ""})
    assert s.require("exchange_api_key") == "k3y" and s.require("exchange_secret") == "s3cret"
    assert s.require("telegram_bot_token") == "123:ABC"  # trailing newline of the file stripped
    assert s.database_url is None  # empty variable = unset
    assert "k3y" not in repr(s) and "s3cret" not in repr(s) and "123:ABC" not in repr(s) and "ABC" not in str(s)


def test_secret_errors_are_one_line(tmp_path):
    with pytest.raises(ConfigError, match=r"^DATABASE_URL is not set: export it, or set DATABASE_URL_FILE to a file "
                                          r"that holds it$"):
        Secrets.from_env({}).require("database_url")
    with pytest.raises(ConfigError, match=r"^TELEGRAM_BOT_TOKEN and TELEGRAM_BOT_TOKEN_FILE are both set; keep one$"):
        Secrets.from_env({"TELEGRAM_BOT_TOKEN": "a", "TELEGRAM_BOT_TOKEN_FILE": "/x"})
    missing = tmp_path / "missing"
    with pytest.raises(ConfigError, match=rf"^DATABASE_URL_FILE: cannot read {re.escape(str(missing))}: "
                                          r"No such file or directory$"):
        Secrets.from_env({"DATABASE_URL_FILE": str(missing)})
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(ConfigError, match=r"^DATABASE_URL_FILE: .*empty is empty$"):
        Secrets.from_env({"DATABASE_URL_FILE": str(tmp_path / "empty")})


def test_database_url_from_environment_wins():
    cfg = parse_config({"database": {"url": "sqlite:///local.db"}})
    assert database_url(cfg, Secrets.from_env({})) == "sqlite:///local.db"
    env = {"DATABASE_URL": "postgresql://u:pw@h/db"}
    assert database_url(cfg, Secrets.from_env(env)) == "postgresql://u:pw@h/db"
    assert database_url(AppConfig(), Secrets.from_env({})) is None


# ---------------------------------------------------------------------------------------------------- docs
def test_every_config_field_is_documented():
    doc = (ROOT / "docs" / "config.md").read_text(encoding="utf-8")
    models = [AppConfig, StrategiesConfig, OrchestratorConfig, BacktestConfig, RiskConfig, LiveConfig,
              SelectorConfig, RegimeConfig, *STRATEGY_MODELS.values()]
    missing = [f"{m.__name__}.{f}" for m in models for f in m.model_fields if f"`{f}`" not in doc]
    assert not missing, f"docs/config.md does not mention: {missing}"


# ------------------------------------------------------------------------------------------ grid and DCA
def test_grid_preset_fills_only_the_fields_not_written():
    from traderagent.config.models import GridPreset, grid_presets

    assert set(grid_presets()) == set(get_args(GridPreset)) == {"low", "medium", "high"}
    high = grid_presets()["high"]
    g = parse_config({"strategies": {"grid": {"preset": "high", "grid_levels": 7, "stop_mode": "none"}}}).strategies.grid
    assert (g.grid_levels, g.stop_mode) == (7, "none")  # written by hand: they win
    assert (g.range_mode, g.range_atr_mult, g.atr_hysteresis, g.adx_threshold) == (
        "atr", high["range_atr_mult"], high["atr_hysteresis"], high["adx_threshold"])
    assert g.model_fields_set == {"preset", "grid_levels", "stop_mode"}
    plain = GridConfig(grid_levels=7, stop_mode="none")  # no preset: the schema's defaults
    assert plain.range_mode == "percentage" and plain.adx_threshold == 30.0 and plain.atr_hysteresis == 0.0
    # changing the preset of a loaded section re-fills the preset's fields and keeps the hand-written ones
    low = replace(g, preset="low")
    assert (low.grid_levels, low.stop_mode, low.range_mode, low.range_percentage) == (
        7, "none", grid_presets()["low"]["range_mode"], grid_presets()["low"]["range_percentage"])
    assert replace(low, preset=None).range_percentage == GridConfig.model_fields["range_percentage"].default


def test_grid_and_dca_percent_fields_read_as_fractions():
    g = GridConfig(recenter_percentage="1.5%", stop_percentage=4, atr_hysteresis="50%")
    assert (g.recenter_fraction, g.stop_fraction, g.atr_hysteresis) == (0.015, 0.04, 0.5)
    d = DcaConfig(stop_percentage="12%", scale_out=[[1, "30%"], ["2%", 0.2]], max_cycle_drawdown="25%")
    assert d.stop_fraction == 0.12 and d.scale_out == ((1.0, 0.3), (2.0, 0.2)) and d.max_cycle_drawdown == 0.25
    assert validate(DcaConfig, d.model_dump(mode="json")) == d  # `config show` output loads back identically


GRID_DCA_BAD = [
    ({"grid": {"preset": "extreme"}},
     "strategies.grid.preset: must be one of 'low', 'medium' or 'high' (got 'extreme')"),
    ({"grid": {"adx_reactivate": 35}},
     "strategies.grid.adx_reactivate: must be at most adx_threshold (got adx_reactivate 35, adx_threshold 30)"),
    ({"grid": {"preset": "high", "adx_threshold": 20}},
     "strategies.grid.adx_reactivate: must be at most adx_threshold (got adx_reactivate 28, adx_threshold 20)"),
    ({"grid": {"stop_mode": "trailing"}},
     "strategies.grid.stop_mode: must be one of 'none', 'percentage' or 'atr' (got 'trailing')"),
    ({"grid": {"range_mode": "band"}}, "strategies.grid.range_mode: must be one of 'percentage' or 'atr' (got 'band')"),
    ({"grid": {"stop_percentage": 0}}, "strategies.grid.stop_percentage: must be > 0 (got 0)"),
    ({"grid": {"max_exposure": 50}},
     "strategies.grid.max_exposure: must be at most 100% (got 50 = 5000%); did you mean '50%'?"),
    ({"grid": {"reactivate_bars": 0}}, "strategies.grid.reactivate_bars: must be >= 1 (got 0)"),
    ({"grid": {"atr_period": 1}}, "strategies.grid.atr_period: must be >= 2 (got 1)"),
    ({"dca": {"ema_fast": 60}}, "strategies.dca.ema_fast: must be less than ema_slow (got ema_fast 60, ema_slow 50)"),
    ({"dca": {"entry": "dip"}}, "strategies.dca.entry: must be one of 'downtrend' or 'always' (got 'dip')"),
    ({"dca": {"stop_reference": "avg"}},
     "strategies.dca.stop_reference: must be one of 'first_entry' or 'average' (got 'avg')"),
    ({"dca": {"stop_percentage": 100}}, "strategies.dca.stop_percentage: must be < 100 (got 100)"),
    ({"dca": {"scale_out": [[1, "20%"], [2]]}},
     "strategies.dca.scale_out: step 2 must be [percentage, fraction], e.g. [1.5, '30%'] (got [2])"),
    ({"dca": {"scale_out": [[1, "60%"], [2, "50%"]]}},
     "strategies.dca.scale_out: fractions must add up to less than 100% (the take-profit sells the rest) "
     "(got 60% + 50%)"),
    ({"dca": {"scale_out": [[4, "20%"]]}},
     "strategies.dca.scale_out: percentages must be above 0, rise, and stay below take_profit_percentage 3 (got 4)"),
    ({"dca": {"scale_out": [[1, 0.1], [1.5, 0.1], [2, 0.1], [2.5, 0.1]]}},
     "strategies.dca.scale_out: must list at most 3 items (got 4)"),
    ({"dca": {"max_concurrent_cycles": 0}}, "strategies.dca.max_concurrent_cycles: must be >= 1 (got 0)"),
    ({"dca": {"max_cycle_drawdown": "-5%"}}, "strategies.dca.max_cycle_drawdown: must be at least 0% (got '-5%')"),
]


@pytest.mark.parametrize(("section", "message"), GRID_DCA_BAD, ids=[m.split(":")[0] for _, m in GRID_DCA_BAD])
def test_grid_and_dca_bad_values_get_one_line(section, message):
    with pytest.raises(ConfigValidationError) as info:
        parse_config({"strategies": section}, source="config.yaml")
    assert str(info.value) == f"config.yaml: {message}"
    assert info.value.problems == (f"config.yaml: {message}",)


# ------------------------------------------------------------------------------- hybrid, regime, selector
def test_hybrid_selector_and_regime_defaults_load():
    cfg = load_config()
    assert cfg.strategies.hybrid is None  # absent: not run
    sel = cfg.orchestrator.selector
    assert sel == SelectorConfig() and sel.routes == DEFAULT_ROUTES
    assert (sel.grid_exit, sel.dca_exit, sel.signal_exit) == ("handover", "keep", "keep")
    assert sel.regime == RegimeConfig() and (sel.regime.timeframe, sel.regime.adx_trend) == ("1h", 25.0)
    assert sel.regimes_of("grid") == ("sideways",) and sel.regimes_of("hybrid") == ()
    assert hash(sel) == hash(SelectorConfig())  # frozen models stay hashable although routes is a dict
    h = parse_config({"strategies": {"hybrid": {"pairs": ["BTC/USDT"]}},
                      "orchestrator": {"capital_allocation": {"hybrid": "40%"}}}).strategies.hybrid
    assert (h.enabled, h.pairs, h.timeframe, h.grid, h.dca) == (True, ("BTC/USDT",), "15m", None, None)
    assert (h.grid_regimes, h.dca_regimes) == (("sideways", "uptrend", "high_volatility"), ("downtrend",))


def test_yaml_sets_hybrid_regime_and_selector():
    cfg = parse_config({
        "strategies": {"grid": {"grid_levels": 7}, "hybrid": {"grid_exit": "close", "regime": {"timeframe": "4h"}}},
        "orchestrator": {"capital_allocation": {"hybrid": "40%", "grid": "30%"},
                         "selector": {"routes": {"sideways": "grid", "downtrend": "dca"}, "dca_exit": "close",
                                      "regime": {"confirmation_bars": 5}}},
    })
    assert cfg.strategies.hybrid.grid_exit == "close" and cfg.strategies.hybrid.regime.timeframe == "4h"
    assert cfg.orchestrator.capital_allocation.as_dict() == {"grid": 0.3, "hybrid": 0.4}
    sel = cfg.orchestrator.selector
    assert (sel.dca_exit, sel.regime.confirmation_bars, sel.regimes_of("trend_follower")) == ("close", 5, ())


def test_strategy_modules_reexport_the_config_models():
    from traderagent.strategies import hybrid, regime, regime_nb, selector

    assert hybrid.HybridConfig is HybridConfig and selector.SelectorConfig is SelectorConfig
    assert regime.RegimeConfig is RegimeConfig and selector.RegimeConfig is RegimeConfig
    assert get_args(regime.RegimeName) == regime_nb.REGIME_NAMES  # config names in the kernel's code order


def test_hybrid_params_from_app_take_the_files_grid_and_dca():
    from traderagent.strategies import hybrid, registry

    cfg = parse_config({"strategies": {"grid": {"grid_levels": 7}, "dca": {"max_safety_orders": 2},
                                       "hybrid": {"dca_exit": "close"}}})
    p = registry.get("hybrid").extra["params_from_app"](cfg)
    assert (p.dca_exit, p.grid.grid_levels, p.dca.max_safety_orders) == ("close", 7, 2)
    own = parse_config({"strategies": {"grid": {"grid_levels": 7}, "hybrid": {"grid": {"grid_levels": 9}}}})
    assert hybrid.params_from_app(own).grid.grid_levels == 9  # the hybrid's own section wins
    assert hybrid.params_from_app(parse_config({})) == HybridConfig()
