"""Study files (`research/*.yaml`), optuna storage, and the worker loop that shares fold studies.

A study file names the strategy, the market, the date range, the folds, the objective, the trials and
the seed (`StudySpec`; unknown keys are errors). Each walk-forward fold is one optuna study called
`<name>.fold<k>` in the storage: a SQLite file by default (`<data dir>/optuna/<name>.db`), or any
SQLAlchemy URL. With a PostgreSQL URL, worker processes on any number of machines share the fold
studies: each worker runs trials until every fold has `trials` finished trials, so re-running a study
resumes it, and adding workers (`traderagent optimize STUDY --worker --storage URL`) speeds it up.

Each fold study records a fingerprint of everything that changes its trials' results (`study_fingerprint`):
the study file's definition (strategy, market, range, folds, objective, fixed params, search space), the
costs actually charged (the study's, else the config's), the config sections it uses (backtest and risk
settings, the strategy's params), the candle data's hash and the kernels' source code. Resuming a study after any of
them changed is refused in one line naming what changed (`--fresh` discards the old trials and starts over),
so old trials are never mixed with, or reported under, new settings.

Storage tuning (documented in docs/research.md): SQLite runs in WAL mode with `synchronous=NORMAL`
(a commit no longer waits for the disk; a power cut may lose the last trials, never corrupts the file);
PostgreSQL sessions set `synchronous_commit=off` (same trade). optuna writes ~15 rows per trial, so
this is what makes storage cheap enough for millisecond trials.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
from datetime import date
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from traderagent.config.units import CostFraction
from traderagent.errors import UserError

_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789_-.")


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)


class FoldsSpec(_Model):
    """How the date range is cut into walk-forward folds (see `optimize.folds`)."""

    n: int = Field(5, ge=1, le=100, description="number of folds (OOS windows)")
    scheme: Literal["rolling", "anchored"] = Field("rolling", description="rolling or anchored IS windows")
    in_sample_ratio: float = Field(3.0, gt=0, le=100, description="IS length / OOS length")
    purge: str = Field("1d", description="gap between each IS window and its OOS window, e.g. 1d, 12h, 0h")

    @field_validator("purge")
    @classmethod
    def _duration(cls, v: str) -> str:
        duration_seconds(v)
        return v


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([mhdw])\s*$")
_UNIT = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def duration_seconds(text: str) -> float:
    """Seconds of a duration written like 1d, 12h, 30m, 2w or 0h."""
    m = _DURATION.match(str(text))
    if not m:
        raise ValueError(f"{text!r} is not a duration; write e.g. 1d, 12h, 30m or 0h")
    return float(m.group(1)) * _UNIT[m.group(2)]


class MonteCarloSpec(_Model):
    runs: int = Field(1000, ge=10, le=100_000, description="resampled paths per method")
    block_days: int = Field(10, ge=1, le=365, description="block length of the daily-returns bootstrap")


class SensitivitySpec(_Model):
    points: int = Field(11, ge=2, le=101, description="values per parameter in the one-at-a-time curves")
    pairs: int = Field(3, ge=0, le=10, description="parameter pairs with an objective heatmap")
    grid: int = Field(10, ge=2, le=50, description="values per axis of each heatmap")


class StudySpec(_Model):
    """One research study: what to optimize, on what, how (a `research/*.yaml` file)."""

    name: str = Field(description="study name: lower case letters, digits, _ - . (names the optuna studies)")
    strategy: str = Field(description="registered strategy name, e.g. trend_follower")
    symbol: str = Field("BTC/USDT", description="market, BASE/QUOTE")
    timeframe: str | None = Field(None, description="strategy timeframe (default: the strategy config's)")
    data: str | None = Field(None, description="candle file (default: the store's file for the symbol)")
    config: str | None = Field(None, description="app config YAML for backtest settings and base params")
    start: date | None = Field(None, description="first day of the study range (earlier data warms up indicators)")
    end: date | None = Field(None, description="last day of the study range (inclusive)")
    objective: str = Field("sharpe", description="sharpe, sortino, calmar, profit_factor, total_return or cagr")
    min_trades: int = Field(10, ge=0, description="a trial with fewer IS trades cannot be selected")
    trials: int = Field(200, ge=1, le=1_000_000, description="optuna trials per fold")
    seed: int = Field(42, ge=0, description="seed of the samplers and the Monte Carlo")
    folds: FoldsSpec = Field(default_factory=FoldsSpec)
    params: dict[str, Any] = Field(default_factory=dict, description="fixed param values (not searched)")
    search: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="per-param search range overrides: {low, high, step|log} or {choices}")
    fees: CostFraction | None = Field(None, description="fee per side: 0.001, 0.1% or 10bps (default: the config's "
                                                         "backtest.fees)")
    slippage: CostFraction | None = Field(None, description="slippage per fill, same forms (default: the config's)")
    storage: str | None = Field(None, description="optuna storage URL (default: a SQLite file in the data dir)")
    startup_trials: int = Field(10, ge=1, description="random trials before TPE takes over")
    pbo_blocks: int = Field(16, ge=2, le=24, description="CSCV blocks (even)")
    monte_carlo: MonteCarloSpec = Field(default_factory=MonteCarloSpec)
    sensitivity: SensitivitySpec = Field(default_factory=SensitivitySpec)
    report: str | None = Field(None, description="HTML report path (default reports/optimize-<name>.html)")

    @field_validator("name")
    @classmethod
    def _slug(cls, v: str) -> str:
        if not v or set(v) - _NAME_CHARS:
            raise ValueError(f"{v!r} must be lower case letters, digits, _, - or . (it names files and studies)")
        return v

    @field_validator("pbo_blocks")
    @classmethod
    def _even(cls, v: int) -> int:
        if v % 2:
            raise ValueError(f"must be even (got {v})")
        return v

    @model_validator(mode="after")
    def _range(self) -> StudySpec:
        if self.start and self.end and self.end <= self.start:
            raise ValueError(f"end {self.end} must be after start {self.start}")
        return self


def load_study(path: str | Path) -> StudySpec:
    """Read and validate a study file; every problem is one line naming the file and the key."""
    from traderagent.config.loader import read_yaml, validate

    path = Path(path)
    return validate(StudySpec, read_yaml(path), str(path))


# ------------------------------------------------------------------------------------------- search space
def build_space(model_cls, fixed: dict, overrides: dict[str, dict], source: str = "study") -> dict[str, dict]:
    """The params model's declared ranges, minus fixed params, with the study's overrides applied."""
    from traderagent.config import search_space

    space = {k: v for k, v in search_space(model_cls).items() if k not in fixed}
    fields = model_cls.model_fields
    for key, raw in overrides.items():
        where = f"{source}: search.{key}"
        if key not in fields:
            raise UserError(f"{where}: {model_cls.__name__} has no field {key!r}; fields: {', '.join(fields)}")
        if key in fixed:
            raise UserError(f"{where}: {key} is also fixed under params; keep one")
        if not isinstance(raw, dict):
            raise UserError(f"{where}: must be a mapping like {{low: 5, high: 50}} or {{choices: [a, b]}}")
        if "choices" in raw:
            if set(raw) != {"choices"} or not isinstance(raw["choices"], list) or not raw["choices"]:
                raise UserError(f"{where}: choices takes a non-empty list and nothing else")
            space[key] = {"type": "categorical", "choices": list(raw["choices"])}
            continue
        base = dict(space.get(key, {}))
        if base.get("type") == "categorical":
            base = {}
        unknown = set(raw) - {"low", "high", "step", "log"}
        if unknown:
            raise UserError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}; use low, high, step, log or choices")
        merged = {**base, **raw}
        if "type" not in merged:
            ann = str(fields[key].annotation)
            merged["type"] = "int" if "int" in ann and "float" not in ann else "float"
        if not all(isinstance(merged.get(b), (int, float)) for b in ("low", "high")) or not merged["low"] < merged["high"]:
            raise UserError(f"{where}: needs numbers low < high (got {raw})")
        if merged.get("step") is not None and merged.get("log"):
            raise UserError(f"{where}: takes step or log, not both")
        space[key] = merged
    if not space:
        raise UserError(f"{source}: nothing to search: every optimisable param is fixed")
    return space


def suggest(trial, space: dict[str, dict]) -> dict[str, Any]:
    """Ask an optuna trial for one value per searched param."""
    out: dict[str, Any] = {}
    for name, d in space.items():
        if d["type"] == "categorical":
            out[name] = trial.suggest_categorical(name, d["choices"])
        elif d["type"] == "int":
            out[name] = trial.suggest_int(name, int(d["low"]), int(d["high"]), step=int(d.get("step") or 1),
                                          log=bool(d.get("log", False)))
        else:
            out[name] = trial.suggest_float(name, float(d["low"]), float(d["high"]), step=d.get("step"),
                                            log=bool(d.get("log", False)))
    return out


# ------------------------------------------------------------------------------------------------ storage
def default_storage(name: str) -> str:
    from traderagent.data.sample import data_dir

    return f"sqlite:///{data_dir() / 'optuna' / f'{name}.db'}"


def _sqlite_engine_kwargs(url: str) -> dict:
    import sqlite3

    from sqlalchemy.engine import make_url

    db = make_url(url).database
    if db and db != ":memory:":
        Path(db).parent.mkdir(parents=True, exist_ok=True)

    def creator():
        con = sqlite3.connect(db or ":memory:", timeout=60.0, check_same_thread=False)
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=NORMAL")
        return con

    return {"creator": creator}


def normalize_url(url: str) -> str:
    """postgresql:// and postgres:// use the installed psycopg 3 driver."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


#: Errors two workers get when both create optuna's tables at the same moment (retried).
_CREATE_RACE = ("alembic_version", "already exists", "duplicate key", "UniqueViolation", "database is locked")


def open_storage(url: str):
    """An optuna storage for `url`: 'memory' (one process only), a SQLite file or any SQLAlchemy URL."""
    import optuna

    if url in ("memory", ":memory:"):
        return optuna.storages.InMemoryStorage()
    url = normalize_url(url)
    kwargs: dict[str, Any] = {}
    if url.startswith("sqlite"):
        kwargs = _sqlite_engine_kwargs(url)
    elif url.startswith("postgresql"):
        kwargs = {"connect_args": {"options": "-c synchronous_commit=off"}}
        if "options=" in url:
            from sqlalchemy.engine import make_url

            own = make_url(url).query.get("options")
            kwargs["connect_args"]["options"] = f"{own} -c synchronous_commit=off"
    for attempt in range(3):
        try:
            return optuna.storages.RDBStorage(url, engine_kwargs=kwargs)
        except Exception as exc:  # bad URL, server down, missing driver: one line
            msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            if attempt < 2 and any(x in msg for x in _CREATE_RACE):  # another worker is creating the tables
                time.sleep(1.0 + attempt)
                continue
            raise UserError(f"optuna storage {redact(url)}: {msg}") from None
    raise AssertionError("unreachable")


def close_storage(storage) -> None:
    """Release a storage's database connections (before forking workers, and when done)."""
    engine = getattr(storage, "engine", None)
    if engine is not None:
        engine.dispose()


def redact(url: str) -> str:
    """The URL without its password."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - only for messages
        return url


def fold_study_name(name: str, k: int) -> str:
    return f"{name}.fold{k}"


#: Packages and modules whose source decides a trial's result (the "code" part of a study's fingerprint).
KERNEL_SOURCES = ("indicators", "strategies", "backtest", "core", "data/resample.py", "optimize/objective.py",
                  "optimize/nb.py", "optimize/folds.py")
#: What each fingerprint part covers, for the message that refuses a stale resume.
FINGERPRINT_PARTS = {
    "study": "study definition (strategy, market, range, folds, objective, fixed params, search space)",
    "costs": "costs (fees/slippage)",
    "config": "config (backtest and risk settings or the strategy's params)",
    "data": "candle data",
    "code": "kernel code",
}


def kernel_source_hash() -> str:
    """SHA-256 (16 hex) of the source files in KERNEL_SOURCES: changes whenever the code that computes
    signals, fills, ledgers or objectives changes (comments included: conservative by design)."""
    root = Path(__file__).resolve().parents[1]
    files: list[Path] = []
    for item in KERNEL_SOURCES:
        path = root / item
        files += sorted(path.rglob("*.py")) if path.is_dir() else [path] if path.is_file() else []
    h = hashlib.sha256()
    for f in files:
        h.update(f.relative_to(root).as_posix().encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def _digest(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def study_fingerprint(spec: StudySpec, space: dict, timeframe: str, costs: dict, config: dict,
                      data_sha256: str, code: str | None = None) -> tuple[str, dict[str, str]]:
    """(hash, {part: hash}) of everything that makes trials comparable; not trials, seed, storage, report or
    the Monte Carlo/sensitivity settings (they change the analysis, which is recomputed on every run)."""
    study = spec.model_dump(mode="json", include={"strategy", "symbol", "start", "end", "objective", "min_trades",
                                                   "folds", "params"})
    study.update(space=space, timeframe=timeframe)
    parts = {"study": _digest(study), "costs": _digest(costs), "config": _digest(config), "data": data_sha256[:16],
             "code": code or kernel_source_hash()}
    return _digest(parts), parts


def stale_study_message(name: str, where: str, source: str, have: dict | None, want: dict[str, str]) -> str:
    """One line refusing to resume a study whose trials were made under other settings."""
    changed = [FINGERPRINT_PARTS[k] for k in want if (have or {}).get(k) != want[k]] if have else []
    what = ", ".join(changed) if changed else "settings (it predates per-part fingerprints)"
    return (f"study {name!r} in {where} holds trials made with other {what}; resuming would mix them: "
            f"run with --fresh to discard them and start over, or rename `name:` in {source}")


def purge_bars(spec: StudySpec, timeframe: str) -> int:
    from traderagent.data import timeframes

    return math.ceil(duration_seconds(spec.folds.purge) / timeframes.seconds(timeframe))
