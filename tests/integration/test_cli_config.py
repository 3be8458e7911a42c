"""`traderagent config check|show` end to end, as a user runs it: exit codes, stdout, one-line stderr."""

from __future__ import annotations

import subprocess
import sys

import yaml

from traderagent.config import default_config_path, load_config, parse_config


def run(*args: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "traderagent", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=60)


def test_check_the_plans_file_exits_0_with_a_summary(tmp_path):
    (tmp_path / "plan.yaml").write_text(default_config_path().read_text(encoding="utf-8"))
    r = run("config", "check", "plan.yaml", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    assert r.stdout.splitlines() == [
        "plan.yaml: ok",
        "strategies   grid 30%, dca 25%, smc 25%, trend_follower 20%",
        "capital      100% allocated, at most 4 strategies at once",
        "backtest     equity 10000, fees 0.1% per side, slippage 0.02% per fill, leverage 1x, long only",
        "risk         max loss per trade 3%, daily loss limit 5% (block), max exposure 100%, max position 100%",
        "live         paper on binance: BTC/USDT, ETH/USDT (15m bars)",
    ]


def test_check_lists_disabled_and_unallocated_strategies(tmp_path):
    (tmp_path / "c.yaml").write_text(
        "strategies:\n  trend_follower: {}\n  grid:\n    enabled: false\n"
        "backtest:\n  fees: 0.075%\n  slippage: 5bps\n  allow_short: true\n"
    )
    r = run("config", "check", "c.yaml", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[1] == "strategies   trend_follower (no allocation); disabled: grid"
    assert lines[3] == ("backtest     equity 10000, fees 0.075% per side, slippage 0.05% per fill, leverage 1x, "
                        "long and short")


def test_bad_value_exits_2_with_one_line_and_no_traceback(tmp_path):
    (tmp_path / "config.yaml").write_text("strategies:\n  dca:\n    max_safety_orders: -1\n")
    r = run("config", "check", "config.yaml", cwd=tmp_path)
    assert r.returncode == 2
    assert r.stdout == ""
    assert r.stderr == "error: config.yaml: strategies.dca.max_safety_orders: must be >= 0 (got -1)\n"


def test_unknown_key_gets_a_suggestion(tmp_path):
    (tmp_path / "config.yaml").write_text("strategies:\n  trend_follower:\n    ema_fsat: 10\n")
    r = run("config", "check", "config.yaml", cwd=tmp_path)
    assert r.returncode == 2
    assert r.stderr == "error: config.yaml: strategies.trend_follower.ema_fsat: unknown key; did you mean 'ema_fast'?\n"


def test_several_problems_print_a_summary_then_one_line_each(tmp_path):
    (tmp_path / "config.yaml").write_text(
        "strategies:\n  trend_follower:\n    ema_fast: 30\n    ema_slow: 20\n"
        "orchestrator:\n  capital_allocation:\n    grid: 70%\n    dca: 40%\n"
        "live:\n  api_key: abc123\n"
    )
    r = run("config", "check", "config.yaml", cwd=tmp_path)
    assert r.returncode == 2
    assert r.stderr.splitlines() == [
        "error: config.yaml: 3 problems",
        "config.yaml: strategies.trend_follower.ema_fast: must be less than ema_slow (got ema_fast 30, ema_slow 20)",
        "config.yaml: orchestrator.capital_allocation: allocations add up to 110% (grid 70%, dca 40%); "
        "the total must be at most 100%",
        "config.yaml: live.api_key: secrets are not read from config files; remove this key and set "
        "TRADERAGENT_EXCHANGE_API_KEY (or TRADERAGENT_EXCHANGE_API_KEY_FILE naming a file) in the environment",
    ]
    assert "abc123" not in r.stderr and "Traceback" not in r.stderr


def test_yaml_syntax_error_and_missing_file_exit_2(tmp_path):
    (tmp_path / "broken.yaml").write_text("backtest: fees: 0.1%\n")
    r = run("config", "check", "broken.yaml", cwd=tmp_path)
    assert (r.returncode, r.stderr) == (
        2, "error: broken.yaml: line 1, column 15: YAML syntax error: mapping values are not allowed here\n")
    r = run("config", "check", "absent.yaml", cwd=tmp_path)
    assert (r.returncode, r.stderr) == (2, "error: absent.yaml: no such file\n")


def test_check_without_a_file_is_a_usage_error(tmp_path):
    r = run("config", "check", cwd=tmp_path)
    assert r.returncode == 2
    assert r.stderr == "error: traderagent config check: the following arguments are required: FILE (see --help)\n"


def test_show_prints_the_resolved_config_that_loads_back_identically(tmp_path):
    r = run("config", "show", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    shown = yaml.safe_load(r.stdout)
    assert shown["backtest"] == {"initial_equity": 10000.0, "fees": "0.1%", "slippage": "0.02%",
                                 "leverage": 1.0,
                                 "allow_short": False}
    assert shown["strategies"]["smc"]["timeframes"] == ["1d", "4h", "1h", "15m"]
    assert shown["strategies"]["trend_follower"]["atr_period"] == 14
    assert parse_config(shown) == load_config()


def test_show_of_a_file_fills_defaults_and_bad_file_exits_2(tmp_path):
    (tmp_path / "c.yaml").write_text("backtest:\n  fees: 0.05%\n")
    r = run("config", "show", "c.yaml", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    shown = yaml.safe_load(r.stdout)
    assert shown["backtest"]["fees"] == "0.05%" and shown["risk"]["max_loss_per_trade"] == "3%"
    (tmp_path / "bad.yaml").write_text("backtest:\n  fees: 0.1\n")
    r = run("config", "show", "bad.yaml", cwd=tmp_path)
    assert (r.returncode, r.stdout) == (2, "")
    assert r.stderr == "error: bad.yaml: backtest.fees: must be at most 2% (got 0.1 = 10%); did you mean '0.1%'?\n"
