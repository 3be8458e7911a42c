"""Saved research: backtest runs and optimization results, listed and shown by `traderagent runs`.

Run ids are `bt-N` for backtests and `opt-N` for optimization results (a bare `N` means `bt-N`).
Keys of a result that have no column of their own are kept in `meta`, so nothing a result carries is lost.
"""

from __future__ import annotations

import datetime as dt
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from traderagent.persistence.errors import DatabaseError, NotFoundError
from traderagent.persistence.jsonutil import finite_or_none, jsonable, restore_floats
from traderagent.persistence.models import BacktestRun, OptimizationResult

BACKTEST_KEYS = ("strategy", "symbol", "timeframe", "start", "end", "params", "initial_equity", "final_equity",
                 "stats", "integrity")  # fmt: skip
BACKTEST_OPTIONAL = ("trades", "trades_sha256")
OPTIMIZATION_KEYS = ("study", "strategy", "params", "stats")
OPTIMIZATION_OPTIONAL = ("symbol", "timeframe", "start", "end", "fold", "n_trials", "objective", "integrity")
_ID = re.compile(r"^(?:(bt|opt)-)?(\d+)$")


@dataclass(frozen=True)
class RunSummary:
    """One line of `traderagent runs list`."""

    run_id: str
    kind: str
    created_at: dt.datetime
    strategy: str
    symbol: str | None
    timeframe: str | None
    start: dt.datetime | None
    end: dt.datetime | None
    total_return: float | None
    sharpe: float | None
    max_drawdown: float | None
    trades: int | None
    integrity_ok: bool | None
    label: str  # study name for optimizations, "" for backtests


def default_code_version() -> str:
    """`<package version>+g<commit>` in a git checkout (with `.dirty` if it has changes), else the version."""
    from traderagent import __version__

    root = Path(__file__).resolve().parents[2]
    try:
        sha = subprocess.run(["git", "-C", str(root), "rev-parse", "--short=12", "HEAD"], capture_output=True,
                             text=True, timeout=5, check=True).stdout.strip()  # fmt: skip
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5, check=True).stdout.strip()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return __version__
    return f"{__version__}+g{sha}{'.dirty' if dirty else ''}" if sha else __version__


def files_hash(*paths: str | Path) -> str:
    """`sha256:<hex>` over the bytes of the given files (e.g. the candle files a run used), in the order given."""
    import hashlib

    digest = hashlib.sha256()
    for path in paths:
        with Path(path).open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    return f"sha256:{digest.hexdigest()}"


def parse_time(value: Any, key: str) -> dt.datetime:
    """An aware UTC datetime from an ISO string, datetime or pandas Timestamp (naive means UTC)."""
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"result key {key!r}: {value!r} is not an ISO timestamp") from None
    if hasattr(value, "to_pydatetime"):
        value = value.to_pydatetime()
    if not isinstance(value, dt.datetime):
        raise ValueError(f"result key {key!r}: expected a timestamp, got {type(value).__name__}")
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def _require(result: Mapping[str, Any], keys: tuple[str, ...], what: str) -> None:
    missing = [k for k in keys if k not in result]
    if missing:
        raise ValueError(f"{what} result is missing key(s) {', '.join(map(repr, missing))}")


def _extra(
    result: Mapping[str, Any], known: tuple[str, ...], meta: Mapping[str, Any] | None
) -> dict[str, Any]:
    extra = {k: v for k, v in result.items() if k not in known}
    return jsonable({**extra, **(meta or {})})


def save_backtest_run(
    session: Session,
    result: Mapping[str, Any],
    *,
    data_hash: str,
    code_version: str | None = None,
    meta: Mapping[str, Any] | None = None,
) -> int:
    """Store a backtest result (the backtest's JSON dict); returns the run's numeric id (shown as bt-N)."""
    _require(result, BACKTEST_KEYS, "backtest")
    stats, integrity = dict(result["stats"]), dict(result["integrity"])
    if "ok" not in integrity:
        raise ValueError("backtest result key 'integrity' has no 'ok' verdict")
    n_trades = stats.get("trades", len(result.get("trades") or []))
    row = BacktestRun(
        strategy=str(result["strategy"]),
        symbol=str(result["symbol"]),
        timeframe=str(result["timeframe"]),
        start=parse_time(result["start"], "start"),
        end=parse_time(result["end"], "end"),
        params=jsonable(dict(result["params"])),
        initial_equity=float(result["initial_equity"]),
        final_equity=float(result["final_equity"]),
        total_return=finite_or_none(stats.get("total_return")),
        sharpe=finite_or_none(stats.get("sharpe")),
        max_drawdown=finite_or_none(stats.get("max_drawdown")),
        n_trades=int(n_trades),
        stats=jsonable(stats),
        integrity_ok=bool(integrity["ok"]),
        integrity=jsonable(integrity),
        trades=jsonable(list(result.get("trades") or [])),
        trades_sha256=result.get("trades_sha256"),
        data_hash=_hash(data_hash),
        code_version=code_version or default_code_version(),
        meta=_extra(result, BACKTEST_KEYS + BACKTEST_OPTIONAL, meta),
    )
    session.add(row)
    session.flush()
    return row.id


def save_optimization_result(
    session: Session,
    result: Mapping[str, Any],
    *,
    data_hash: str,
    code_version: str | None = None,
    meta: Mapping[str, Any] | None = None,
) -> int:
    """Store an optimization outcome; returns its numeric id (shown as opt-N). See docs/persistence.md."""
    _require(result, OPTIMIZATION_KEYS, "optimization")
    integrity = dict(result.get("integrity") or {})
    row = OptimizationResult(
        study=str(result["study"]),
        strategy=str(result["strategy"]),
        symbol=result.get("symbol"),
        timeframe=result.get("timeframe"),
        start=None if result.get("start") is None else parse_time(result["start"], "start"),
        end=None if result.get("end") is None else parse_time(result["end"], "end"),
        fold=None if result.get("fold") is None else int(result["fold"]),
        n_trials=None if result.get("n_trials") is None else int(result["n_trials"]),
        objective=finite_or_none(result.get("objective")),
        params=jsonable(dict(result["params"])),
        stats=jsonable(dict(result["stats"])),
        integrity_ok=None if "ok" not in integrity else bool(integrity["ok"]),
        integrity=jsonable(integrity),
        data_hash=_hash(data_hash),
        code_version=code_version or default_code_version(),
        meta=_extra(result, OPTIMIZATION_KEYS + OPTIMIZATION_OPTIONAL, meta),
    )
    session.add(row)
    session.flush()
    return row.id


def _hash(data_hash: str) -> str:
    if not isinstance(data_hash, str) or not data_hash.strip():
        raise ValueError("data_hash must be a non-empty string identifying the candles the run used")
    return data_hash.strip()


def parse_run_id(run_id: str | int) -> tuple[str, int]:
    """('bt', N) or ('opt', N) from 'bt-N', 'opt-N' or 'N'."""
    match = _ID.match(str(run_id).strip().lower())
    if not match:
        raise DatabaseError(
            f"run id {run_id!r} is not valid: use bt-N or opt-N as shown by `traderagent runs list`"
        )
    return match.group(1) or "bt", int(match.group(2))


def _bt_summary(r: BacktestRun) -> RunSummary:
    return RunSummary(f"bt-{r.id}", "backtest", r.created_at, r.strategy, r.symbol, r.timeframe, r.start, r.end,
                      r.total_return, r.sharpe, r.max_drawdown, r.n_trades, r.integrity_ok, "")  # fmt: skip


def _opt_summary(r: OptimizationResult) -> RunSummary:
    stats = restore_floats(r.stats)
    trades = stats.get("trades")
    return RunSummary(f"opt-{r.id}", "optimization", r.created_at, r.strategy, r.symbol, r.timeframe, r.start,
                      r.end, finite_or_none(stats.get("total_return")), finite_or_none(stats.get("sharpe")),
                      finite_or_none(stats.get("max_drawdown")), None if trades is None else int(trades),
                      r.integrity_ok, r.study + ("" if r.fold is None else f" fold {r.fold}"))  # fmt: skip


def list_runs(
    session: Session, *, kind: str = "all", strategy: str | None = None, limit: int = 50
) -> list[RunSummary]:
    """The newest saved runs first (backtests and/or optimization results)."""
    if kind not in ("all", "backtest", "optimization"):
        raise DatabaseError(f"run kind {kind!r} is not one of all, backtest, optimization")
    out: list[RunSummary] = []
    if kind in ("all", "backtest"):
        q = sa.select(BacktestRun).order_by(BacktestRun.created_at.desc(), BacktestRun.id.desc()).limit(limit)
        if strategy:
            q = q.where(BacktestRun.strategy == strategy)
        out += [_bt_summary(r) for r in session.scalars(q)]
    if kind in ("all", "optimization"):
        q2 = sa.select(OptimizationResult).order_by(
            OptimizationResult.created_at.desc(), OptimizationResult.id.desc()
        )
        if strategy:
            q2 = q2.where(OptimizationResult.strategy == strategy)
        out += [_opt_summary(r) for r in session.scalars(q2.limit(limit))]
    out.sort(key=lambda s: s.created_at, reverse=True)
    return out[:limit]


def get_run(session: Session, run_id: str | int) -> dict[str, Any]:
    """Everything stored about one run, as plain data (stats with inf/NaN restored)."""
    kind, num = parse_run_id(run_id)
    model = BacktestRun if kind == "bt" else OptimizationResult
    row = session.get(model, num)
    if row is None:
        raise NotFoundError(f"no saved run {kind}-{num}; `traderagent runs list` shows the saved runs")
    data = {c.key: getattr(row, c.key) for c in sa.inspect(model).column_attrs}
    data["stats"] = restore_floats(data["stats"])
    data["run_id"] = f"{kind}-{num}"
    data["kind"] = "backtest" if kind == "bt" else "optimization"
    return data
