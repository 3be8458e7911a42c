"""`traderagent live run`: the example config paper-trades the bundled BTC and ETH candles through the whole
service (orchestrator, six instances on two markets and two timeframes, staged capital, the risk guard, the
database), is controlled from another process through the database, resumes after SIGKILL to the trades of an
uninterrupted run, and refuses a bad config in one line without writing anything."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "live" / "config.yaml"
WINDOW = ("2025-06-01", "2025-06-07")


def cli(*args: str, env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "traderagent", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, env={**os.environ, **(env or {})})


@pytest.fixture(scope="module")
def replay_dir(tmp_path_factory, btc_15m, eth_15m) -> Path:
    """The bundled 15m candles of both markets (links, not copies), as `--replay` takes them."""
    from traderagent.data.sample import sample_path

    d = tmp_path_factory.mktemp("candles")
    for name in ("BTC_USDT-15m.csv.gz", "ETH_USDT-15m.csv.gz"):
        (d / name).symlink_to(sample_path(name))
    return d


def run_args(replay: Path, url: str, *more: str) -> list[str]:
    return ["live", "run", "--config", str(EXAMPLE), "--replay", str(replay), "--start", WINDOW[0], "--end",
            WINDOW[1], "--database-url", url, "--json", *more]


def ledgers(url: str) -> dict[str, bytes]:
    from traderagent.persistence.live import LiveStore

    store = LiveStore(url)
    try:
        return {i["name"]: store.load_instance(i["name"])["ledger"].tobytes() for i in store.instances()}
    finally:
        store.close()


@pytest.fixture(scope="module")
def uninterrupted(replay_dir, tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('ref') / 'live.db'}"
    r = cli(*run_args(replay_dir, url))
    assert r.returncode == 0, r.stderr[-3000:]
    return url, json.loads(r.stdout)


def test_the_example_config_paper_trades_both_markets(uninterrupted):
    url, out = uninterrupted
    inst = out["instances"]
    assert sorted(inst) == sorted(["grid-btcusdt", "grid-ethusdt", "dca-btcusdt", "dca-ethusdt", "smc-btcusdt",
                                   "trend_follower-btcusdt"])
    assert out["bars"] == 2 * 7 * 96 and out["stopped_by"] == "end of data" and not out["resumed"]
    assert all(i["state"] == "active" and i["stage_share"] == 0.05 for i in inst.values())
    assert out["events"].get("entry", 0) > 0 and out["events"].get("order_error", 0) == 0
    assert inst["trend_follower-btcusdt"]["last_bar"] == "2025-06-07T23:00:00+00:00"  # its hourly bars
    assert inst["grid-ethusdt"]["last_bar"] == "2025-06-07T23:45:00+00:00"
    status = json.loads(cli("live", "status", "--database-url", url, "--json").stdout)
    assert {s["instance"]: s["equity"] for s in status["instances"]} == {k: v["equity"] for k, v in inst.items()}
    pnl = json.loads(cli("live", "pnl", "--database-url", url, "--json").stdout)
    assert pnl["since_start"] == pytest.approx(sum(v["equity"] for v in inst.values()) - 0.05 * 100_000 * 1.0)
    human = cli("live", "status", "--database-url", url)
    assert human.returncode == 0 and "grid-btcusdt" in human.stdout and "5%" in human.stdout


@pytest.mark.parametrize("point, n", [("after_commit", 700), ("mid_send", 2), ("after_exchange_fills", 1100)])
def test_a_killed_run_resumes_to_the_uninterrupted_trades(point, n, uninterrupted, replay_dir, tmp_path):
    ref_url, _ = uninterrupted
    url = f"sqlite:///{tmp_path / 'live.db'}"
    first = cli(*run_args(replay_dir, url), env={"TRADERAGENT_KILL_AT": f"{point}:{n}"})
    assert first.returncode == -9, f"not killed at {point}:{n}: {first.returncode} {first.stderr[-2000:]}"
    again = cli(*run_args(replay_dir, url))
    assert again.returncode == 0, again.stderr[-3000:]
    out = json.loads(again.stdout)
    assert out["resumed"] and 0 < out["bars"] < 2 * 7 * 96
    assert ledgers(url) == ledgers(ref_url)
    assert out["events"].get("order_error", 0) == 0  # no order sent twice (the paper exchange refuses a reused id)


def test_commands_from_another_process_are_carried_out_at_the_next_candle(replay_dir, tmp_path):
    url = f"sqlite:///{tmp_path / 'live.db'}"
    first = cli(*run_args(replay_dir, url, "--max-bars", "20"))
    assert first.returncode == 0, first.stderr[-2000:]
    q = json.loads(cli("live", "pause", "dca-ethusdt", "--database-url", url, "--json").stdout)
    assert q["command"] == "pause" and q["queued"]
    stop = cli("live", "stop", "grid-btcusdt", "--flatten", "--database-url", url)
    assert stop.returncode == 0 and "queued" in stop.stdout
    bad = cli("live", "pause", "nope-btcusdt", "--database-url", url)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "unknown instance 'nope-btcusdt'" in bad.stderr
    again = cli(*run_args(replay_dir, url, "--max-bars", "20"))
    assert again.returncode == 0, again.stderr[-2000:]
    inst = json.loads(again.stdout)["instances"]
    assert inst["dca-ethusdt"]["state"] == "paused" and inst["grid-btcusdt"]["state"] == "stopped"
    assert inst["grid-btcusdt"]["open_orders"] == 0 and not inst["grid-btcusdt"]["position"]
    assert inst["smc-btcusdt"]["state"] == "active"
    back = cli("live", "resume", "dca-ethusdt", "--database-url", url, "--json")
    assert back.returncode == 0
    cli(*run_args(replay_dir, url, "--max-bars", "2"))
    status = json.loads(cli("live", "status", "--database-url", url, "--json").stdout)["instances"]
    assert {s["instance"]: s["state"] for s in status}["dca-ethusdt"] == "active"


BAD = [
    ({"strategies": {"grid_bot": {"enabled": True}}}, "grid_bot"),
    ({"strategies": {"grid": {"pairs": ["BTC/USDT", "SOL/USDT"]}}}, "SOL/USDT not in live.symbols"),
    ({"orchestrator": {"capital_allocation": {"grid": "60%", "dca": "50%"}}}, "100%"),
    ({"live": {"mode": "papr"}}, "live.mode"),
    ({"live": {"mode": "live"}}, "TRADERAGENT_EXCHANGE_API_KEY"),
    ({"orchestrator": {"staging": {"stages": ["5%", "150%"]}}}, "orchestrator.staging.stages"),
]


@pytest.mark.parametrize("patch, says", BAD, ids=["unknown-strategy", "pair-not-watched", "allocation-over-100",
                                                  "mode-typo", "live-without-keys", "stage-over-100"])
def test_a_bad_config_is_one_line_exit_2_and_nothing_written(patch, says, replay_dir, tmp_path):
    cfg = yaml.safe_load(EXAMPLE.read_text())
    for section, values in patch.items():
        for k, v in values.items():
            if isinstance(v, dict) and isinstance(cfg.get(section, {}).get(k), dict):
                cfg[section][k].update(v)
            else:
                cfg.setdefault(section, {})[k] = v
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    db = tmp_path / "live.db"
    env = {k: "" for k in ("TRADERAGENT_EXCHANGE_API_KEY", "TRADERAGENT_EXCHANGE_SECRET")}
    r = cli("live", "run", "--config", str(path), "--replay", str(replay_dir), "--database-url", f"sqlite:///{db}",
            env=env)
    assert r.returncode == 2, r.stderr[-2000:]
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("error: ") and says in r.stderr, r.stderr
    assert not db.exists()
    assert r.stdout == ""

