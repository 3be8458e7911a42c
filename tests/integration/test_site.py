"""`traderagent report site` end to end on the bundled data, and every page opened in headless Chromium.

The inputs are real runs: backtests written beside their reports (one on the whole 3.3 years of BTC 15m with
thousands of trades: the heaviest page), one saved in a throwaway SQLite database (a DCA year the risk guard
blocked dozens of times), one whose candle file is gone (drawn from its saved record), a short walk-forward study
(as JSON beside its page and in the database) and the portfolio. Screenshots go to $TRADERAGENT_SCREENSHOTS (else a temp folder).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from integration.browser import Tab, chromium, require_browser, visit

from traderagent.cli import main
from traderagent.report.site import PAGE_LIMIT

ROOT = Path(__file__).resolve().parents[2]
STUDY = {
    "name": "tf_site", "strategy": "trend_follower", "symbol": "BTC/USDT", "timeframe": "1h",
    "start": "2024-05-01", "end": "2025-04-30", "objective": "sharpe", "min_trades": 5, "trials": 8, "seed": 7,
    "folds": {"n": 3, "scheme": "rolling", "in_sample_ratio": 2, "purge": "1d"},
    "monte_carlo": {"runs": 100, "block_days": 5}, "sensitivity": {"points": 3, "pairs": 1, "grid": 3},
    "pbo_blocks": 8,
}
def _cli(*args: str) -> None:
    assert main(list(args)) == 0, args


@pytest.fixture(scope="module")
def site(tmp_path_factory, btc_15m, eth_15m):
    """The site built from real runs; returns its folder, the inputs and the build's stdout."""
    tmp = tmp_path_factory.mktemp("site")
    reports, db = tmp / "reports", f"sqlite:///{tmp / 'runs.db'}"
    data = ROOT / "data"
    _cli("backtest", "--strategy", "grid", "--data", str(data / "BTC_USDT-15m.csv.gz"),
         "--report", str(reports / "grid-full.html"))
    _cli("backtest", "--strategy", "trend_follower", "--data", str(data / "BTC_USDT-15m.csv.gz"), "--start",
         "2025-01-01", "--end", "2025-06-30", "--report", str(reports / "tf-btc.html"))
    _cli("backtest", "--strategy", "trend_follower", "--symbol", "ETH/USDT", "--data", str(data / "ETH_USDT-15m.csv.gz"),
         "--start", "2025-01-01", "--end", "2025-06-30", "--report", str(reports / "tf-eth.html"))
    gone = tmp / "moved" / "BTC_USDT-15m.csv.gz"  # a run whose candle file is no longer there
    gone.parent.mkdir()
    shutil.copyfile(data / "BTC_USDT-15m.csv.gz", gone)
    _cli("backtest", "--strategy", "trend_follower", "--data", str(gone), "--start", "2025-07-01", "--end",
         "2025-09-30", "--report", str(reports / "tf-gone.html"))
    gone.unlink()
    _cli("backtest", "--strategy", "dca", "--data", str(data / "BTC_USDT-15m.csv.gz"), "--start", "2025-01-01",
         "--report", "none", "--save", "--database-url", db)
    study = tmp / "tf_site.yaml"
    study.write_text(yaml.safe_dump(STUDY), encoding="utf-8")
    mp = pytest.MonkeyPatch()
    mp.setenv("DATABASE_URL", db)  # `optimize --save` writes to the default database
    try:
        _cli("optimize", str(study), "--storage", f"sqlite:///{tmp / 'optuna.db'}", "--report",
             str(reports / "optimize-tf_site.html"), "--quiet", "--save")
    finally:
        mp.undo()
    summary_only = json.loads((reports / "optimize-tf_site.json").read_text())  # a study without its page
    (reports / "optimize-tf_copy.json").write_text(json.dumps({**summary_only, "study": "tf_copy"}))
    out = tmp / "site"
    t0 = time.perf_counter()
    proc = subprocess.run([str(ROOT / ".venv" / "bin" / "traderagent"), "report", "site", "--out", str(out),
                           "--reports", str(reports), "--database-url", db, "--docs", str(ROOT / "docs"),
                           "--portfolio"], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr
    return {"out": out, "reports": reports, "db": db, "stdout": proc.stdout, "stderr": proc.stderr,
            "seconds": time.perf_counter() - t0}


def test_index_lists_every_run_and_study(site):
    out = site["out"]
    html = (out / "index.html").read_text(encoding="utf-8")
    runs = sorted(p.name for p in out.glob("run-*.html"))
    studies = sorted(p.name for p in out.glob("study-*.html"))
    assert len(runs) == 5  # grid, tf BTC, tf ETH, the moved one, dca from the database
    assert studies == ["study-tf_copy.html", "study-tf_site.html"]
    for name in runs + studies + ["compare-BTC_USDT.html", "compare-studies.html", "compare-portfolio.html",
                                  "docs/guide.html", "docs/strategies.html", "api/traderagent.html"]:
        assert (out / name).is_file(), name
        assert f"href='{name}'" in html, name
    assert "database bt-1" in html and "database opt-1" in html and "optimize-tf_site.json" in html
    assert len(list(out.rglob("plotly.min.js"))) == 1  # once per site, at its root
    assert "5 backtests (4 re-run with matching trades), 2 studies" in site["stdout"]


def test_every_page_is_under_the_limit(site):
    sizes = {p.relative_to(site["out"]).as_posix(): p.stat().st_size for p in site["out"].rglob("*.html")}
    assert len(sizes) > 60
    over = {k: v for k, v in sizes.items() if v >= PAGE_LIMIT}
    assert not over, over
    grid = next(k for k in sizes if k.startswith("run-grid-"))
    full = json.loads((site["out"] / grid).with_suffix(".json").read_text())
    assert len(full["equity"]["value"]) > 100_000 and len(full["trades"]) > 1000  # the page draws 115k bars light


def test_run_pages_say_how_they_were_drawn(site):
    out = site["out"]
    eth = (next(out.glob("run-trend_follower-ETH_USDT-*.html"))).read_text(encoding="utf-8")
    assert "the trades match the saved ones" in eth
    assert "The risk guard refused nothing in this run" in eth
    dca_page = next(out.glob("run-dca-*.html"))
    dca, events = dca_page.read_text(encoding="utf-8"), json.loads(dca_page.with_suffix(".json").read_text())["risk_events"]
    assert len(events) > 10  # real blocks of the risk guard, as the run recorded them
    n = sum(e["rule"] == "max_loss_per_trade" for e in events)
    assert f'"name":"risk guard ({len(events)} blocks)"' in dca and f"max_loss_per_trade (refused): {n}" in dca
    gone = (next(out.glob("run-trend_follower-BTC_USDT-1h-20250701-*.html"))).read_text(encoding="utf-8")
    assert "as it was saved" in gone and "is not here" in gone
    assert "Buy and hold" in eth and "buy and hold equity" in eth  # beside the strategy: stats and line
    assert "total_return" not in eth.split("<h2>Trades")[0].split("Plotly.newPlot")[0]  # labels, not keys
    copy = (out / "study-tf_copy.html").read_text(encoding="utf-8")
    assert "summary of the saved result" in copy


def test_risk_blocks_in_words():
    from traderagent.report.backtest import refused_text, risk_events, risk_html

    e = {"time": "2025-01-02T03:00:00+00:00", "rule": "max_loss_per_trade", "action": "refused", "side": 1,
         "orders": 3, "amount": 6412.5, "bars": 570}
    assert refused_text(e) == "3 buy orders refused, 6,412.50 notional, 570 bars in a row"
    assert refused_text({**e, "action": "reached", "amount": 0.0566}) == \
        "daily loss of 5.66% reached: no new positions until the next UTC day"
    assert refused_text({"rule": "max_exposure", "time": "2025-01-01", "refused": "long entry 0.3 ETH"}) == \
        "long entry 0.3 ETH"  # a list of {rule, time, what was refused} reads as it is
    assert risk_events({"risk_events": [e]}) == [e] and risk_events({"risk_blocks": [e]}) == [e]
    assert risk_events({}) is None and risk_html(None) == ""  # results from before the risk guard


def test_every_page_opens_in_chromium_without_errors_or_empty_charts(site):
    require_browser()
    out = site["out"]
    shots = Path(os.environ.get("TRADERAGENT_SCREENSHOTS") or out.parent / "screenshots")
    pages = sorted(out.rglob("*.html"))
    shoot = ("index.html", "run-grid-", "run-dca-", "study-tf_site.html", "compare-portfolio.html")
    problems, charts = [], 0
    t0 = time.perf_counter()
    with chromium() as browser:
        tab = Tab(browser)
        for path in pages:
            rel = path.relative_to(out).as_posix()
            shot = shots / f"{rel}.png" if rel.startswith(shoot) else None
            v = tab.visit(path, screenshot=shot)
            problems += [f"{rel}: {e}" for e in v.errors]
            for c in v.charts:
                charts += 1
                if not (c["drawn"] and c["traces"] and c["points"] and c["marks"]):
                    problems.append(f"{rel}: empty chart {c}")
            if v.no_plotly_note:
                problems.append(f"{rel}: says plotly.js did not load")
    seconds = time.perf_counter() - t0
    print(f"\nchromium: {len(pages)} pages, {charts} charts, {len(problems)} problems, {seconds:.1f} s; "
          f"screenshots in {shots}")
    assert not problems, "\n".join(problems)
    assert charts >= 15
    assert (shots / "index.html.png").is_file() and any(shots.glob("run-grid-*.png"))
    assert (shots / "study-tf_site.html.png").is_file()


def test_a_page_without_its_plotly_says_so(site, tmp_path):
    require_browser()
    page = next(site["out"].glob("run-grid-*.html"))
    lonely = tmp_path / page.name
    shutil.copyfile(page, lonely)  # no plotly.min.js beside it
    with chromium() as browser:
        v = visit(browser, lonely, wait_charts=False)
    assert v.no_plotly_note and "charts on this page are drawn by plotly.js" in v.text and "did not load" in v.text
    assert not [e for e in v.errors if e.startswith("uncaught")]  # a note, not a script error
    assert v.charts and not any(c["drawn"] for c in v.charts)


def test_bad_input_is_one_line_and_writes_nothing(site, tmp_path, capsys):
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "broken.json").write_text("{not json", encoding="utf-8")
    out = tmp_path / "out"
    assert main(["report", "site", "--out", str(out), "--reports", str(reports), "--no-database",
                 "--docs", "none", "--no-api"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "broken.json" in err[0] and not out.exists()
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine", encoding="utf-8")
    (reports / "broken.json").unlink()
    assert main(["report", "site", "--out", str(busy), "--reports", str(reports), "--no-database",
                 "--docs", "none", "--no-api"]) == 2
    assert "not empty" in capsys.readouterr().err and sorted(p.name for p in busy.iterdir()) == ["notes.txt"]


def test_rebuild_replaces_the_site(site, tmp_path):
    """A second build over a site replaces it as a whole (pages of runs no longer saved disappear)."""
    out = tmp_path / "again"
    reports = tmp_path / "reports"
    reports.mkdir()
    shutil.copyfile(site["reports"] / "tf-btc.json", reports / "tf-btc.json")
    args = ["report", "site", "--out", str(out), "--reports", str(reports), "--no-database", "--docs", "none",
            "--no-api", "--quiet"]
    assert main(args) == 0 and len(list(out.glob("run-*.html"))) == 1
    (reports / "tf-btc.json").unlink()
    assert main(args) == 0 and not list(out.glob("run-*.html")) and (out / "index.html").is_file()


def test_the_workflow_builds_the_site_with_the_tested_command():
    workflow = ROOT / ".github" / "workflows" / "site.yml"
    proc = subprocess.run([str(ROOT / ".venv" / "bin" / "check-jsonschema"), "--builtin-schema",
                           "vendor.github-workflows", str(workflow)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    wf = yaml.safe_load(workflow.read_text(encoding="utf-8"))
    on = wf.get("on", wf.get(True))  # YAML 1.1 reads the key `on` as True
    assert on["push"]["branches"] == ["main"]
    steps = wf["jobs"]["build"]["steps"]
    assert any(str(s.get("run", "")).startswith("make site") for s in steps)
    assert any(str(s.get("uses", "")).startswith("actions/upload-pages-artifact") for s in steps)
    assert any(str(s.get("uses", "")).startswith("actions/deploy-pages") for s in wf["jobs"]["deploy"]["steps"])
    recipe = subprocess.run(["make", "-n", "site", "SITE=site"], cwd=ROOT, capture_output=True, text=True,
                            timeout=120).stdout
    assert "-m traderagent report site --out site" in recipe  # the command the tests above run
    for study in sorted((ROOT / "research").glob("*.yaml")):
        assert study.name in recipe or "research/*.yaml" in recipe


def test_the_empty_chart_check_catches_empty_charts(tmp_path):
    """The browser check itself: a figure without traces, or with traces without points, counts as empty."""
    import plotly.graph_objects as go

    from traderagent.report.html import figure_div, write_page

    require_browser()
    figs = [go.Figure(), go.Figure(go.Scatter(x=[], y=[])), go.Figure(go.Scatter(x=[1, 2, 3], y=[3, 1, 2]))]
    page = write_page(tmp_path / "charts.html", "charts", "".join(figure_div(f) for f in figs))
    with chromium() as browser:
        v = visit(browser, page)
    ok = [bool(c["drawn"] and c["traces"] and c["points"] and c["marks"]) for c in v.charts]
    assert ok == [False, False, True] and not v.errors
