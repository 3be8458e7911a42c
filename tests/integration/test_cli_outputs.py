"""What the commands write and where, bad output paths, missing extras, progress and the shared flag vocabulary:
all in real subprocesses, as a user runs them."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pty
import shutil
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

from traderagent.data.sample import REPO_ROOT, sample_path

ONE_MONTH = ["--start", "2026-02-01", "--end", "2026-02-28"]


def cli(*args: str, env: dict | None = None, cwd: Path | None = None, pre: str = "") -> subprocess.CompletedProcess:
    """`python -m traderagent ARGS` in a fresh process; `pre` is Python run first (to emulate a base install)."""
    full = {**os.environ, "PYTHONWARNINGS": "ignore", **(env or {})}
    cmd = [sys.executable, "-c", f"{pre}\nimport sys\nfrom traderagent.cli import main\nsys.exit(main(sys.argv[1:]))",
           *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=full, cwd=cwd or REPO_ROOT)


@pytest.fixture(scope="module")
def btc(btc_15m) -> str:
    return str(sample_path("BTC_USDT-15m.csv.gz"))


def backtest(btc: str, *extra: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return cli("backtest", "--strategy", "trend_follower", "--data", btc, *ONE_MONTH, *extra, env=env)


@contextlib.contextmanager
def read_only(folder: Path):
    """A folder this process cannot write into, even as root (chattr +i), else by permission bits."""
    if os.geteuid() == 0:
        if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(folder)]).returncode != 0:
            pytest.skip("running as root without chattr +i: cannot make a read-only folder here")
        try:
            yield folder
        finally:
            subprocess.run(["chattr", "-i", str(folder)], check=True)
    else:
        folder.chmod(0o555)
        try:
            yield folder
        finally:
            folder.chmod(0o755)


# ------------------------------------------------------------------------------------ default report names
def test_default_names_never_overwrite_a_different_run(btc, tmp_path):
    env = {"TRADERAGENT_REPORTS_DIR": str(tmp_path)}
    month = backtest(btc, env=env)
    day = cli("backtest", "--strategy", "trend_follower", "--data", btc, "--start", "2026-02-10", "--end",
              "2026-02-10", env=env)
    again = backtest(btc, env=env)
    costly = backtest(btc, "--fees", "0.2%", env=env)
    assert all(p.returncode == 0 for p in (month, day, again, costly)), [p.stderr for p in (month, day, costly)]
    paths = [Path(p.stdout.splitlines()[-1].removeprefix("report: ")) for p in (month, day, again, costly)]
    assert paths[0] == paths[2]  # the same run keeps its name (re-running replaces it with itself)
    assert len({paths[0], paths[1], paths[3]}) == 3  # a one-day run or other costs never replace it
    assert paths[0].name.startswith("trend_follower-BTC_USDT-1h-20260201-20260228-")
    assert sorted(p.name for p in tmp_path.glob("*.html")) == sorted({p.name for p in paths})


def test_symbol_case_makes_one_file(btc, tmp_path):
    env = {"TRADERAGENT_REPORTS_DIR": str(tmp_path)}
    lower, upper = (backtest(btc, "--symbol", s, env=env) for s in ("btc/usdt", "BTC/USDT"))
    assert lower.returncode == upper.returncode == 0
    assert lower.stdout == upper.stdout and "on BTC/USDT" in lower.stdout
    assert [p.name.split("-")[1] for p in tmp_path.glob("*.html")] == ["BTC_USDT"]


def test_json_writes_no_page_unless_asked(btc, tmp_path):
    env = {"TRADERAGENT_REPORTS_DIR": str(tmp_path / "reports")}
    quiet = backtest(btc, "--json", env=env)
    assert quiet.returncode == 0 and "report" not in json.loads(quiet.stdout)
    assert not (tmp_path / "reports").exists()
    asked = backtest(btc, "--json", "--report", str(tmp_path / "asked.html"), env=env)
    assert json.loads(asked.stdout)["report"] == str(tmp_path / "asked.html") and (tmp_path / "asked.html").is_file()


# ------------------------------------------------------------------------------------------ bad outputs
def _one_line_exit_2(p: subprocess.CompletedProcess, needle: str) -> None:
    lines = p.stderr.strip().splitlines()
    assert p.returncode == 2, (p.returncode, p.stderr)
    assert len(lines) == 1 and needle in lines[0], p.stderr


def test_a_folder_as_report_fails_before_the_run(btc, tmp_path):
    p = cli("backtest", "--strategy", "trend_follower", "--data", btc, "--report", str(tmp_path), cwd=tmp_path)
    _one_line_exit_2(p, f"--report {tmp_path} is a folder")
    assert p.stdout == "" and sorted(os.listdir(tmp_path)) == []  # no run, no reports.part, no plotly.min.js


def test_a_read_only_folder_fails_before_the_run(btc, tmp_path):
    target = tmp_path / "locked"
    target.mkdir()
    with read_only(target):
        p = backtest(btc, "--report", str(target / "run.html"))
        _one_line_exit_2(p, f"--report {target / 'run.html'}: cannot write in {target}")
        assert p.stdout == ""
        default = backtest(btc, env={"TRADERAGENT_REPORTS_DIR": str(target)})
        _one_line_exit_2(default, f"the reports folder {target}: cannot write in {target}")
    assert os.listdir(target) == []


def test_a_failing_write_still_prints_the_results_first(btc, tmp_path):
    """The path passes the check but the page cannot be written (its temp file's name is taken by a folder)."""
    (tmp_path / "run.html.part").mkdir()
    p = backtest(btc, "--report", str(tmp_path / "run.html"))
    _one_line_exit_2(p, f"could not write {tmp_path / 'run.html'}")
    assert p.stdout.startswith("trend_follower on BTC/USDT 1h") and "integrity: ok" in p.stdout
    as_json = backtest(btc, "--report", str(tmp_path / "run.html"), "--json")
    assert as_json.returncode == 2 and json.loads(as_json.stdout)["stats"]["trades"] >= 0


def test_unknown_compare_strategy_exits_2_before_the_run():
    p = cli("portfolio", "--compare", "hybrid,no_such_strategy", "--report", "none")
    _one_line_exit_2(p, "--compare: unknown strategy 'no_such_strategy'; choose from dca, grid, hybrid")
    assert p.stdout == ""


def test_sample_dir_pointing_nowhere_is_an_error(tmp_path):
    p = cli("data", "sample", "--no-download", env={"TRADERAGENT_SAMPLE_DIR": str(tmp_path / "nowhere"),
                                                    "TRADERAGENT_DATA_DIR": str(tmp_path / "store")})
    _one_line_exit_2(p, f"TRADERAGENT_SAMPLE_DIR={tmp_path / 'nowhere'} is not a folder")
    assert not (tmp_path / "store").exists()
    (tmp_path / "empty").mkdir()
    p = cli("data", "sample", "--no-download", env={"TRADERAGENT_SAMPLE_DIR": str(tmp_path / "empty"),
                                                    "TRADERAGENT_DATA_DIR": str(tmp_path / "store")})
    _one_line_exit_2(p, f"TRADERAGENT_SAMPLE_DIR={tmp_path / 'empty'} has no BTC_USDT-15m.csv.gz")


# ------------------------------------------------------------------------------------------------ extras
@pytest.mark.parametrize(("absent", "args", "extra"), [
    (("optuna",), ["optimize", "research/trend_follower.yaml"], "research"),
    (("sqlalchemy", "alembic"), ["runs", "list"], "db"),
    (("sqlalchemy", "alembic"), ["db", "current"], "db"),
    (("ccxt",), ["data", "download", "--symbol", "BTC/USDT", "--timeframe", "15m", "--start", "2024-01-01"],
     "exchange"),
    (("sqlalchemy", "alembic"), ["backtest", "--strategy", "trend_follower", "--save"], "db"),
])
def test_a_missing_extra_names_what_to_install(absent, args, extra):
    """A base install (the extra's modules made unimportable in a fresh process) gets one line and exit 2."""
    pre = "import sys\n" + "".join(f"sys.modules[{m!r}] = None\n" for m in absent)
    p = cli(*args, pre=pre)
    _one_line_exit_2(p, f"needs the {extra} extra")
    assert p.stderr.strip().endswith(f"pip install 'traderagent[{extra}]'") and p.stdout == ""


# ------------------------------------------------------------------------------------- vocabulary, docs
def test_old_flag_spellings_still_work_with_one_deprecation_line(tmp_path):
    p = cli("data", "download", "--symbol", "BTC/USDT", "--timeframe", "15m", "--since", "soon")
    assert p.returncode == 2
    assert p.stderr.splitlines() == ["traderagent data download: --since is deprecated; use --start",
                                     "error: --start 'soon' is not a date; use YYYY-MM-DD or ISO 8601 like "
                                     "2024-01-01T00:00:00Z"]
    q = cli("portfolio", "--data-dir", str(tmp_path), "--compare", "none", "--report", "none")
    assert q.stderr.splitlines()[0] == "traderagent portfolio: --data-dir is deprecated; use --data"
    assert "no candle file for" in q.stderr.splitlines()[-1] and q.returncode == 2


def test_readme_config_check_example_works_as_written(tmp_path):
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    assert "traderagent config show > my.yaml" in readme and "traderagent config check my.yaml" in readme
    shown = cli("config", "show", cwd=tmp_path)
    (tmp_path / "my.yaml").write_text(shown.stdout, encoding="utf-8")
    checked = cli("config", "check", "my.yaml", cwd=tmp_path)
    assert checked.returncode == 0 and checked.stdout.startswith("my.yaml: ok")


def test_make_help_prints_the_sample_variable():
    if shutil.which("make") is None:
        pytest.skip("make not installed")
    out = subprocess.run(["make", "-s", "help"], cwd=REPO_ROOT, capture_output=True, text=True, check=True).stdout
    line = next(x for x in out.splitlines() if x.strip().startswith("make sample"))
    assert "$TRADERAGENT_SAMPLE_DIR" in line and "$$" not in line


def test_tidy_prints_floats_as_written():
    from traderagent.cli.options import tidy

    assert tidy({"a": 0.1 + 0.2, "b": [0.35000000000000003, 3], "c": True, "d": None}) == {
        "a": 0.3, "b": [0.35, 3], "c": True, "d": None}
    assert json.dumps(tidy(0.1 + 0.2)) == "0.3"


# -------------------------------------------------------------------------------------------- progress
def _on_a_terminal(args: list[str]) -> tuple[int, str]:
    """Run the CLI with stdout and stderr on a pseudo-terminal; (exit code, everything it printed)."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))  # a window, as terminals have
    proc = subprocess.Popen([sys.executable, "-m", "traderagent", *args], stdout=follower, stderr=follower,
                            stdin=subprocess.DEVNULL, cwd=REPO_ROOT)
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(leader)
    return proc.wait(timeout=600), b"".join(chunks).decode(errors="replace")


def test_progress_bars_only_on_a_terminal(btc):
    args = ["check", "--strategy", "trend_follower", "--data", btc, "--points", "6"]
    code, seen = _on_a_terminal(args)
    assert code == 0 and "replays" in seen and "6/6" in seen  # the tqdm bar, on stderr
    piped = cli(*args)
    assert piped.returncode == 0 and piped.stderr == "" and "verdict         ok" in piped.stdout


def test_optimize_bar_counts_every_fold_with_several_workers(btc, tmp_path):
    """Two workers split three folds; the one bar (in the parent) still counts every fold's trials."""
    study = tmp_path / "bar.yaml"
    study.write_text("name: tf_bar\nstrategy: trend_follower\ntimeframe: 1h\nstart: 2025-01-01\nend: 2025-12-31\n"
                     "trials: 8\nfolds: {n: 3, in_sample_ratio: 2}\nsensitivity: {points: 2, pairs: 0}\n"
                     "monte_carlo: {runs: 20}\nreport: none\n", encoding="utf-8")
    code, seen = _on_a_terminal(["optimize", str(study), "--workers", "2", "--storage",
                                 f"sqlite:///{tmp_path / 'bar.db'}"])
    assert code == 0, seen[-500:]
    assert "f1 8/8 f2 8/8 f3 8/8" in seen and "24/24" in seen
    assert all(f"fold {k}: IS" in seen for k in (1, 2, 3))
