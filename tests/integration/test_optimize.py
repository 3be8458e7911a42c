"""Walk-forward optimization end to end on the bundled BTC candles: CLI, JSON, report, determinism, resume."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from traderagent.cli import main
from traderagent.errors import UserError

ROOT = Path(__file__).resolve().parents[2]

SHORT = {
    "name": "tf_short", "strategy": "trend_follower", "symbol": "BTC/USDT", "timeframe": "1h",
    "start": "2024-05-01", "end": "2025-04-30", "objective": "sharpe", "min_trades": 5, "trials": 24, "seed": 7,
    "folds": {"n": 3, "scheme": "rolling", "in_sample_ratio": 2, "purge": "1d"},
    "search": {"trend_filter_timeframe": {"choices": [None, "4h"]}},
    "monte_carlo": {"runs": 200, "block_days": 5},
    "sensitivity": {"points": 4, "pairs": 1, "grid": 3}, "pbo_blocks": 8,
}


def _study(tmp_path: Path, **changes) -> Path:
    spec = {**SHORT, **changes}
    path = tmp_path / f"{spec['name']}.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def short_run(tmp_path_factory, btc_15m):
    tmp = tmp_path_factory.mktemp("opt")
    study = _study(tmp)
    report = tmp / "site" / "study.html"
    code = main(["optimize", str(study), "--storage", f"sqlite:///{tmp / 'optuna.db'}", "--report", str(report),
                 "--quiet"])
    assert code == 0
    return {"tmp": tmp, "study": study, "report": report, "js": json.loads(report.with_suffix(".json").read_text())}


def test_short_study_end_to_end(short_run):
    js, report = short_run["js"], short_run["report"]
    folds = js["folds"]
    assert len(folds) == 3 and all(f["n_trials"] == 24 for f in folds)
    # OOS windows are back to back and the stitched run covers exactly them
    assert [f["oos_from"] for f in folds[1:]] == [f["oos_to"] for f in folds[:-1]]
    assert js["start"] == folds[0]["oos_from"]
    for f in folds:
        assert f["is_to"] < f["oos_from"]  # IS ends before OOS ...
        gap = pd.Timestamp(f["oos_from"]) - pd.Timestamp(f["is_to"])
        assert gap == pd.Timedelta(days=1)  # ... by the purge gap
    # the stitched OOS compounds the folds' OOS returns, and every gate passed
    growth = math.prod(1 + f["oos_stats"]["total_return"] for f in folds)
    assert js["oos"]["final_equity"] == pytest.approx(js["oos"]["initial_equity"] * growth, rel=1e-9)
    assert js["oos"]["integrity"]["ok"] and all(f["oos_integrity_ok"] for f in folds)
    assert js["oos"]["trades"] == sum(f["oos_stats"]["trades"] for f in folds)
    # selection respects the minimum-trades rule; WFE is what the docs say it is
    for f in folds:
        if f["best_trial"] is not None:
            assert f["is_stats"]["trades"] >= SHORT["min_trades"]
            assert f["is_objective"] == pytest.approx(f["is_stats"]["sharpe"])
    chosen = [f for f in folds if f["best_trial"] is not None]
    is_cagr = np.mean([f["is_stats"]["cagr"] for f in chosen])
    if is_cagr > 0:
        assert js["wfe"]["wfe"] == pytest.approx(js["oos"]["stats"]["cagr"] / is_cagr)
    for key in ("dsr", "psr"):
        assert 0.0 <= js["dsr"][key] <= 1.0
    assert 0.0 <= js["pbo"]["pbo"] <= 1.0
    assert js["dsr"]["n_trials"] == sum(f["n_configs"] for f in folds) <= 72
    assert js["verdict"]["level"] in ("robust", "inconclusive", "likely overfit")
    bands = js["monte_carlo"]["bootstrap"]["final_return"]
    assert bands["p5"] <= bands["p50"] <= bands["p95"]
    assert set(js["sensitivity"]["curves"]) == {"ema_fast", "ema_slow", "trend_filter_timeframe",
                                                 "trend_filter_ema", "atr_period", "atr_stop_mult", "atr_target_mult"}
    html = report.read_text(encoding="utf-8")
    for needle in ("Walk-forward study tf_short", "Folds", "Monte Carlo", "Sensitivity", "Optimization history",
                   "Deflated Sharpe ratio", js["verdict"]["summary"]):
        assert needle in html
    assert (report.parent / "plotly.min.js").exists()


def test_oos_trades_stay_inside_their_fold(short_run):
    """Every window ends flat: no OOS trade is open across a fold boundary."""
    from traderagent.optimize.walkforward import prepare

    ctx = prepare(short_run["study"], f"sqlite:///{short_run['tmp'] / 'optuna.db'}")
    from traderagent.optimize.analysis import analyze

    res = analyze(ctx, SHORT["trials"])
    t = res.stitched.trades
    ends = pd.DatetimeIndex([pd.Timestamp(f.times["oos_to"]) for f in res.folds]).as_unit("ns").asi8
    which = np.searchsorted(ends, pd.DatetimeIndex(t["entry_time"]).as_unit("ns").asi8, side="right")
    which_exit = np.searchsorted(ends, pd.DatetimeIndex(t["exit_time"]).as_unit("ns").asi8, side="right")
    np.testing.assert_array_equal(which, which_exit)
    assert (t["exit_reason"] != "end").all() or len(t) == 0
    # re-analysis of the same storage gives the same numbers (nothing new was run)
    assert res.to_json()["oos"] == short_run["js"]["oos"]


def _trials(ctx) -> list:
    from traderagent.optimize.walkforward import fold_study

    return [[(t.params, t.value) for t in fold_study(ctx, k).get_trials(deepcopy=False)]
            for k in range(len(ctx.folds))]


def test_same_seed_same_trials_other_seed_other_trials(tmp_path, btc_15m):
    from traderagent.optimize.walkforward import prepare, run_study, run_worker

    study = _study(tmp_path, trials=14, folds={"n": 2, "in_sample_ratio": 2})
    runs = []
    for seed, name in ((7, "a"), (7, "b"), (8, "c")):
        ctx = prepare(_study(tmp_path, name=f"tf_{name}", seed=seed, trials=14, folds={"n": 2, "in_sample_ratio": 2}),
                      "memory")
        run_worker(ctx)
        runs.append(_trials(ctx))
    assert study.exists()
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]
    assert all(len(fold) == 14 for fold in runs[0])
    # two local workers own one fold each, seeded by the fold: the same trials as one worker
    two = _study(tmp_path, name="tf_two", seed=7, trials=14, folds={"n": 2, "in_sample_ratio": 2})
    url = f"sqlite:///{tmp_path / 'two.db'}"
    run_study(two, storage=url, workers=2, analyze=False)
    assert _trials(prepare(two, url)) == runs[0]


def test_rerun_resumes_and_refuses_a_changed_study(tmp_path, btc_15m):
    from traderagent.optimize.walkforward import fold_study, prepare, run_worker

    url = f"sqlite:///{tmp_path / 'resume.db'}"
    study = _study(tmp_path, folds={"n": 2, "in_sample_ratio": 2})
    ctx = prepare(study, url)
    first = run_worker(ctx, trials=6)
    before = _trials(ctx)
    ctx = prepare(study, url)
    more = run_worker(ctx, trials=10)
    after = _trials(prepare(study, url))
    assert first["trials"] == 12 and more["trials"] == 8
    assert [fold[:6] for fold in after] == before and all(len(fold) == 10 for fold in after)
    assert run_worker(prepare(study, url), trials=10)["trials"] == 0  # complete: nothing to do
    changed = prepare(_study(tmp_path, objective="sortino", folds={"n": 2, "in_sample_ratio": 2}), url)
    with pytest.raises(UserError, match="holds trials made with other study definition"):
        fold_study(changed, 0)


STALE = [
    ("costs (fees/slippage)", {"fees": "0.2%"}, None, None),
    ("costs (fees/slippage)", {}, "backtest:\n  fees: 0.15%\n", None),  # a new default fee in the config
    ("config (backtest and risk settings or the strategy's params)", {}, "risk:\n  max_loss_per_trade: 2%\n", None),
    ("config (backtest and risk settings or the strategy's params)", {}, "strategies:\n  trend_follower:\n    atr_period: 21\n",
     None),
    ("kernel code", {}, None, "0123456789abcdef"),
]


@pytest.mark.parametrize(("what", "changes", "config", "code"), STALE,
                         ids=["study fees", "config default fee", "config risk cap", "config params", "kernel code"])
def test_resuming_a_stale_study_is_refused_in_one_line(tmp_path, capsys, monkeypatch, btc_15m, what, changes, config,
                                                       code):
    """Trials made under other costs, config or code are never resumed (nor reported under the new settings)."""
    from traderagent.optimize import study as study_mod

    url = f"sqlite:///{tmp_path / 'stale.db'}"
    base = {"name": "tf_stale", "trials": 3, "folds": {"n": 2, "in_sample_ratio": 2}, "report": "none",
            "sensitivity": {"points": 2, "pairs": 0}, "monte_carlo": {"runs": 20}}
    if config is not None:
        (tmp_path / "app.yaml").write_text("{}\n", encoding="utf-8")
        base["config"] = str(tmp_path / "app.yaml")
    assert main(["optimize", str(_study(tmp_path, **base)), "--storage", url, "--quiet"]) == 0
    capsys.readouterr()
    if config is not None:
        (tmp_path / "app.yaml").write_text(config, encoding="utf-8")
    if code is not None:
        monkeypatch.setattr(study_mod, "kernel_source_hash", lambda: code)
    stale = _study(tmp_path, **{**base, **changes})
    assert main(["optimize", str(stale), "--storage", url, "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"holds trials made with other {what}; resuming would mix them" in err[0], err
    assert "--fresh" in err[0]
    # --fresh discards them, says so, and runs the study anew under the new settings
    assert main(["optimize", str(stale), "--storage", url, "--quiet", "--fresh", "--json"]) == 0
    out = capsys.readouterr()
    assert "starting study 'tf_stale' afresh" in out.err and "discarded 6 earlier trials" in out.err
    js = json.loads(out.out)
    assert all(f["n_trials"] == 3 for f in js["folds"])
    if "fees" in changes:
        assert js["info"]["fees"] == 0.002


def test_two_local_workers_split_the_folds(tmp_path, btc_15m):
    from optuna.trial import TrialState

    from traderagent.optimize.walkforward import fold_study, prepare, run_study

    url = f"sqlite:///{tmp_path / 'two.db'}"
    study = _study(tmp_path, trials=12, folds={"n": 2, "in_sample_ratio": 2})
    timings = run_study(study, storage=url, workers=2, analyze=False)
    assert [t["worker"] for t in timings] == [0, 1] and all(t["trials"] > 0 for t in timings)
    ctx = prepare(study, url)
    for k in range(2):
        done = fold_study(ctx, k).get_trials(states=(TrialState.COMPLETE, TrialState.PRUNED))
        assert len(done) == 12  # each worker owns one fold
        assert len({t.number for t in done}) == len(done)
    workers = {t.user_attrs["worker"].split("-")[0] for k in range(2) for t in fold_study(ctx, k).trials}
    assert workers == {"0", "1"}


@pytest.mark.parametrize("change,needle", [
    ({"objective": "sharp"}, "objective: 'sharp' is unknown"),
    ({"folds": {"n": 3, "purge": "soon"}}, "folds.purge"),
    ({"colour": "red"}, "colour"),
    ({"params": {"ema_fast": 300}}, "params.ema_fast"),
    ({"search": {"ema_fats": {"low": 1, "high": 5}}}, "search.ema_fats"),
    ({"strategy": "smc", "search": {}}, "timeframe: '1h' does not set smc's timeframe"),
    ({"strategy": "nope"}, "unknown strategy 'nope'"),
])
def test_bad_study_files_are_one_line_errors(tmp_path, capsys, change, needle, btc_15m):
    code = main(["optimize", str(_study(tmp_path, **change)), "--storage", "memory", "--quiet", "--report", "none"])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert needle in err and len(err.splitlines()) == 1, err


def test_worker_subcommand_in_a_real_process(tmp_path, btc_15m):
    url = f"sqlite:///{tmp_path / 'w.db'}"
    study = _study(tmp_path, trials=5, folds={"n": 2, "in_sample_ratio": 2})
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-m", "traderagent", "optimize", str(study), "--worker", "--storage", url,
                          "--json", "--quiet"], capture_output=True, text=True, timeout=300, env=env, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    timing = json.loads(out.stdout.strip().splitlines()[-1])
    assert timing["trials"] == 10 and timing["eval"] > 0  # a joining worker helps with every fold
    assert timing["worker"].startswith("x-")


def test_order_strategy_study_chains_the_fold_runs(tmp_path, btc_15m):
    """Grid (an order strategy): each trial runs its own engine; the stitched OOS chains the folds' runs."""
    from traderagent.optimize.walkforward import run_study

    study = _study(tmp_path, name="grid_short", strategy="grid", trials=5, start="2024-09-01", end="2025-02-28",
                   folds={"n": 2, "in_sample_ratio": 2}, search={"grid_levels": {"low": 6, "high": 12}},
                   sensitivity={"points": 2, "pairs": 0})
    yaml_spec = yaml.safe_load(study.read_text())
    yaml_spec.pop("timeframe")  # the grid's timeframe comes from its params (15m)
    study.write_text(yaml.safe_dump(yaml_spec), encoding="utf-8")
    res = run_study(study, storage="memory")
    js = res.to_json()
    assert js["timeframe"] == "15m" and len(js["folds"]) == 2
    growth = math.prod(1 + f["oos_stats"]["total_return"] for f in js["folds"])
    assert res.stitched.final_equity == pytest.approx(res.stitched.initial_equity * growth, rel=1e-9)
    assert js["oos"]["integrity"]["ok"]
    assert js["oos"]["trades"] == sum(f["oos_stats"]["trades"] for f in js["folds"])
    assert all(6 <= f["best_values"]["grid_levels"] <= 12 for f in js["folds"] if f["best_values"])


def test_save_stores_the_result_in_the_app_database(tmp_path, capsys, monkeypatch, btc_15m):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'app.db'}")
    study = _study(tmp_path, name="tf_save", trials=4, folds={"n": 2, "in_sample_ratio": 2},
                   sensitivity={"points": 2, "pairs": 0}, monte_carlo={"runs": 20})
    code = main(["optimize", str(study), "--storage", "memory", "--report", str(tmp_path / "r.html"), "--save",
                 "--json", "--quiet"])
    js = json.loads(capsys.readouterr().out)
    assert code == 0 and js["saved_as"] == "opt-1"
    assert main(["runs", "list"]) == 0
    listing = capsys.readouterr().out
    assert "opt-1" in listing and "tf_save" in listing
