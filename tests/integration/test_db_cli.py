"""`traderagent db ...` and `traderagent runs ...` end to end: output, exit codes, one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from integration.pg import db_url, pg_database  # noqa: F401  (fixtures)

from traderagent.cli import main
from traderagent.persistence import Repository
from traderagent.persistence.migrate import head_revision

RESULT = {
    "strategy": "trend_follower", "symbol": "BTC/USDT", "timeframe": "4h", "start": "2024-01-01T00:00:00+00:00",
    "end": "2024-12-31T20:00:00+00:00", "params": {"fast": 21, "slow": 55}, "initial_equity": 10000.0,
    "final_equity": 11234.5,
    "stats": {"total_return": 0.12345, "cagr": 0.1236, "sharpe": 1.42, "sortino": 2.01, "max_drawdown": 0.0875,
              "win_rate": 0.45, "profit_factor": 1.6, "expectancy": 12.3, "exposure": 0.38, "trades": 2},
    "integrity": {"ok": False, "checks": {"pnl_matches_equity": {"ok": True, "detail": "diff 0.0"},
                                          "no_negative_cash": {"ok": False, "detail": "cash -3.2 at bar 17"}},
                  "flags": ["too good: check for lookahead"]},
    "trades": [{"entry_time": "2024-02-01T00:00:00+00:00", "pnl": 812.5}, {"entry_time": "2024-05-02T08:00:00+00:00",
                                                                           "pnl": 422.0}],
    "trades_sha256": "c0ffee" * 10 + "abcd",
}  # fmt: skip


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_upgrade_current_downgrade(db_url: str, capsys):  # noqa: F811
    head = head_revision()
    code, out, _ = run(capsys, "db", "current", "--database-url", db_url)
    assert code == 0 and "revision none (empty database)" in out
    code, out, _ = run(capsys, "db", "upgrade", "--database-url", db_url)
    assert code == 0 and out.strip().endswith(f"schema empty -> {head}")
    code, out, _ = run(capsys, "db", "current", "--database-url", db_url)
    assert code == 0 and f"revision {head} (up to date)" in out
    code, out, _ = run(capsys, "db", "downgrade", "base", "--database-url", db_url)
    assert code == 0 and out.strip().endswith(f"schema {head} -> empty")


def test_backup_and_restore_commands(db_url: str, tmp_path: Path, capsys, monkeypatch):  # noqa: F811
    monkeypatch.setenv("DATABASE_URL", db_url)  # the environment variable is used without --database-url
    with Repository() as repo:
        repo.upsert_strategy("grid-1", "grid")
        repo.save_backtest_run(RESULT, data_hash="sha256:abc", code_version="0.1.0")
    code, out, _ = run(capsys, "db", "backup", str(tmp_path / "db.backup"))
    assert code == 0 and "written to" in out and (tmp_path / "db.backup").stat().st_size > 0
    with Repository() as repo:
        repo.upsert_strategy("grid-2", "grid")
    code, out, _ = run(capsys, "db", "restore", str(tmp_path / "db.backup"))
    assert code == 0 and "backtest_runs 1" in out and "strategies 1" in out


def test_runs_list_and_show(db_url: str, capsys):  # noqa: F811
    with Repository(db_url) as repo:
        run_id = repo.save_backtest_run(RESULT, data_hash="sha256:abc", code_version="0.1.0+g123")
        opt_id = repo.save_optimization_result(
            {"study": "tf-btc-4h", "strategy": "trend_follower", "fold": 2, "n_trials": 50, "objective": 1.3,
             "params": {"fast": 21}, "stats": {"sharpe": 1.3, "total_return": 0.2, "trades": 31},
             "integrity": {"ok": True}},
            data_hash="sha256:abc", code_version="0.1.0+g123",
        )  # fmt: skip
    code, out, _ = run(capsys, "runs", "list", "--database-url", db_url)
    lines = out.splitlines()
    assert code == 0 and lines[0].split()[:3] == ["ID", "SAVED", "(UTC)"]
    bt = next(line for line in lines if line.startswith(f"bt-{run_id} "))
    for cell in ("trend_follower", "BTC/USDT", "4h", "2024-01-01..2024-12-31", "12.35%", "1.420", "8.75%", "FLAGGED"):
        assert cell in bt
    opt = next(line for line in lines if line.startswith(f"opt-{opt_id} "))
    assert "tf-btc-4h fold 2" in opt and "20.00%" in opt and " ok " in opt
    code, out, _ = run(capsys, "runs", "show", f"bt-{run_id}", "--database-url", db_url)
    assert code == 0
    assert "integrity: FAILED; no_negative_cash: cash -3.2 at bar 17; flag: too good: check for lookahead" in out
    assert "trades: 2 stored, sha256 c0ffee" in out and '"slow": 55' in out and "equity: 10,000.00 -> 11,234.50" in out
    code, out, _ = run(capsys, "runs", "show", str(run_id), "--json", "--trades", "--database-url", db_url)
    shown = json.loads(out)
    assert shown["trades"] == RESULT["trades"] and shown["stats"] == RESULT["stats"]
    code, out, _ = run(capsys, "runs", "show", f"opt-{opt_id}", "--database-url", db_url)
    assert "study: tf-btc-4h, fold 2, trials 50, objective 1.300" in out


def test_runs_errors_are_one_line(db_url: str, capsys):  # noqa: F811
    code, _, err = run(capsys, "runs", "show", "bt-99", "--database-url", db_url)
    assert code == 2 and err == "error: no saved run bt-99; `traderagent runs list` shows the saved runs\n"
    code, _, err = run(capsys, "runs", "show", "latest", "--database-url", db_url)
    assert code == 2 and err.count("\n") == 1 and "run id 'latest' is not valid: use bt-N or opt-N" in err
    code, out, _ = run(capsys, "runs", "list", "--database-url", db_url)
    assert code == 0 and out.startswith("no saved runs")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://trader@db.example.com:54x2/prod", "port '54x2' of host 'db.example.com' is not a number"),
        ("postgresql://trader:s3cret@db.example.com:70000/prod", "port 70000 of host 'db.example.com' is out of range"),
        ("mysql://trader@db.example.com:3306/prod", "unsupported database driver 'mysql'"),
        ("not a url", "'not a url' is not a database URL"),
    ],
)
def test_malformed_database_url_is_one_line_exit_2(url: str, expected: str, capsys, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", url)
    code, out, err = run(capsys, "db", "current")
    assert code == 2 and out == "" and err.count("\n") == 1
    assert err.startswith("error: DATABASE_URL ") and expected in err
    assert "s3cret" not in err  # passwords are masked


def test_unreachable_server_names_host_and_port(capsys):
    code, _, err = run(capsys, "runs", "list", "--database-url", "postgresql://postgres@127.0.0.1:1/test")
    assert code == 2 and err.count("\n") == 1
    assert err.startswith("error: cannot connect to PostgreSQL at 127.0.0.1:1 (database 'test', user 'postgres')")
    assert "Connection refused" in err


def test_default_database_is_a_sqlite_file_in_the_user_data_dir(tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["XDG_DATA_HOME"] = str(tmp_path)  # platformdirs' user data dir on Linux
    proc = subprocess.run([sys.executable, "-m", "traderagent", "db", "upgrade"], capture_output=True, text=True,
                          env=env, timeout=120)  # fmt: skip
    path = tmp_path / "traderagent" / "traderagent.db"
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"SQLite at {path}: schema empty -> {head_revision()}") and path.is_file()


def test_unwritable_sqlite_location_is_one_line(capsys):
    code, _, err = run(capsys, "runs", "list", "--database-url", "sqlite:////proc/traderagent/x.db")
    assert code == 2 and err.count("\n") == 1
    assert err.startswith("error: cannot create folder /proc/traderagent for SQLite at /proc/traderagent/x.db")
