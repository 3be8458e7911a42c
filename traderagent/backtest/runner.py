"""Compose one backtest from user-level inputs: strategy name, candle file or store, config, dates, costs.

This is what the CLI, notebooks and the optimizer call; it owns no trading logic (the strategy kernel
decides, `engine.run_signals` / the order engine fill and book, `integrity` checks).
"""

from __future__ import annotations

import hashlib
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from traderagent import __version__
from traderagent.data import timeframes
from traderagent.data.resample import bars_by_timeframe, resample
from traderagent.errors import UserError


@dataclass
class BacktestRun:
    """A finished backtest: the engine's result, the bars it ran on, its JSON form and provenance."""

    result: object  # traderagent.backtest.result.BacktestResult
    bars: pd.DataFrame
    json: dict
    meta: dict = field(default_factory=dict)
    spec: object = None
    params: object = None
    bars_by_tf: dict = field(default_factory=dict)


def code_version() -> str:
    """Package version plus the git commit of a source checkout (with '+dirty' for local changes)."""
    root = Path(__file__).resolve().parents[2]
    try:
        sha = subprocess.run(["git", "-C", str(root), "rev-parse", "--short=12", "HEAD"], capture_output=True,
                             text=True, timeout=5).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        sha, dirty = "", ""
    return f"{__version__}+g{sha}{'.dirty' if dirty else ''}" if sha else __version__


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def default_data_path(symbol: str) -> Path:
    """The store file for `symbol` at the lowest timeframe available (the bundled sample is 15m)."""
    from traderagent.data import store

    for tf in ("15m", "5m", "1m", "30m", "1h", "4h", "1d"):  # the base the product is built around first
        found = store.find(symbol, tf)
        if found is not None:
            return found
    raise UserError(
        f"no candles for {symbol} in the store ({store.exchange_dir()}); pass --data FILE or run "
        f"`traderagent data download --symbol {symbol} --timeframe 15m --since 2024-01-01`"
    )


def read_base(data: str | Path | None, symbol: str) -> tuple[pd.DataFrame, str, Path]:
    """Candles from `data` (any format the data layer reads) or the store; returns (bars, base timeframe, path)."""
    from traderagent.data.io import infer_timeframe, read_candles

    path = Path(data) if data else default_data_path(symbol)
    bars = read_candles(path)
    return bars, infer_timeframe(bars), path


def to_timeframe(bars: pd.DataFrame, base_tf: str, tf: str) -> pd.DataFrame:
    tf = timeframes.normalize(tf)
    if timeframes.seconds(tf) < timeframes.seconds(base_tf):
        raise UserError(f"timeframe {tf} is finer than the data's {base_tf}; use a file with {tf} or finer candles")
    return bars if tf == base_tf else resample(bars, base_tf, tf).drop(columns="n_bars")


def params_for(spec, config_path=None, timeframe: str | None = None, overrides: dict | None = None):
    """The strategy's params: its config section (packaged default or `config_path`) plus overrides."""
    from traderagent.config import load_config

    cfg = load_config(config_path)
    hook = spec.extra.get("params_from_app")  # strategies built from other sections (the hybrid)
    section = hook(cfg) if hook is not None else getattr(cfg.strategies, spec.name, None)
    if section is None:
        section = spec.params_model()
    upd = dict(overrides or {})
    if timeframe and "timeframe" in spec.params_model.model_fields:
        upd["timeframe"] = timeframes.normalize(timeframe)
    if upd:
        from traderagent.config import replace

        section = replace(section, source=str(config_path or "overrides"), prefix=("strategies", spec.name), **upd)
    return cfg, section


def load_strategy_inputs(name: str, data=None, config=None, symbol: str = "BTC/USDT", timeframe=None):
    """(spec, params, bars at the strategy's base timeframe, data description) for harness-style callers."""
    from traderagent.strategies import registry

    spec = registry.get(name)
    _, params = params_for(spec, config, timeframe)
    base, base_tf, path = read_base(data, symbol)
    bars = to_timeframe(base, base_tf, spec.base_timeframe(params))
    return spec, params, bars, str(path)


def _slice(bars: pd.DataFrame, start, end) -> tuple[pd.DataFrame, pd.Timestamp | None]:
    """Bars up to `end` (a date means the whole day, inclusive) and the first trading time `start`."""
    try:
        if end is not None:
            end_ts = pd.Timestamp(end, tz="UTC")
            date_only = len(str(end)) <= 10
            bars = bars[bars.index < end_ts + pd.Timedelta(days=1)] if date_only else bars[bars.index <= end_ts]
        start_ts = pd.Timestamp(start, tz="UTC") if start is not None else None
    except (ValueError, TypeError) as exc:
        raise UserError(f"bad date: {exc}; use YYYY-MM-DD or an ISO-8601 time") from None
    return bars, start_ts


def run_prepared(spec, params, base: pd.DataFrame, base_tf: str, cfg, start=None, end=None, costs=None,
                 initial_equity: float | None = None, signal_filter=None):
    """One strategy on in-memory base candles: the single composition path behind `run_backtest`, the portfolio
    and the optimizer's full runs. Signals are computed on all data up to `end` (so indicators are warm at
    `start`) and trading starts at `start`; the result always carries the integrity verdict.

    `signal_filter(bars, timeframe, signals) -> signals` may gate a signal strategy (the regime selector does).
    Returns (result, traded bars, bars by timeframe, timeframe).
    """
    from traderagent.core.costs import Costs

    bt = cfg.backtest
    costs = costs or Costs(fees=bt.fees, slippage=bt.slippage)
    equity0 = float(initial_equity if initial_equity is not None else bt.initial_equity)
    tf = spec.base_timeframe(params)
    bars_all = to_timeframe(base, base_tf, tf)
    bars_all, start_ts = _slice(bars_all, start, end)
    first = 0 if start_ts is None else int(bars_all.index.searchsorted(start_ts))
    if first >= len(bars_all) - 1:
        raise UserError(f"{spec.name}: no bars to trade between {start or 'the start'} and {end or 'the end'} "
                        f"at {tf}; the data spans {base.index[0]:%Y-%m-%d} to {base.index[-1]:%Y-%m-%d}")
    bbt = bars_by_timeframe(bars_all, tf, spec.timeframes(params))
    if spec.kind == "signal":
        from traderagent.backtest.engine import run_signals
        from traderagent.core.signals import Signals

        sig = spec.signals(bbt, params)
        if signal_filter is not None:
            sig = signal_filter(bars_all, tf, sig)
        sig = Signals(*(a[first:] for a in sig))
        result = run_signals(bars_all.iloc[first:], sig, tf, costs=costs, initial_equity=equity0, risk=cfg.risk,
                             leverage=bt.leverage, allow_short=bt.allow_short)
    else:
        from traderagent.backtest.orders import run_order

        result = run_order(spec, bars_all, params, tf, costs=costs, initial_equity=equity0, first=first,
                           risk=cfg.risk)
    return result, bars_all.iloc[first:], bbt, tf


def run_backtest(strategy: str, symbol: str = "BTC/USDT", timeframe: str | None = None, data=None, config=None,
                 start=None, end=None, fees: float | None = None, slippage: float | None = None,
                 overrides: dict | None = None, initial_equity: float | None = None) -> BacktestRun:
    """Run one strategy on one market from a candle file (or the store); see `run_prepared`."""
    from traderagent.core.costs import Costs
    from traderagent.strategies import registry

    spec = registry.get(strategy)
    cfg, params = params_for(spec, config, timeframe, overrides)
    base, base_tf, path = read_base(data, symbol)
    bt = cfg.backtest
    costs = Costs(fees=bt.fees if fees is None else fees, slippage=bt.slippage if slippage is None else slippage)
    result, bars, bbt, tf = run_prepared(spec, params, base, base_tf, cfg, start, end, costs, initial_equity)
    used = getattr(result, "settings", {}).get("params")  # order strategies: the params after preset resolution
    js = result.to_json_dict(strategy=spec.name, symbol=symbol, timeframe=tf,
                             params=used if used is not None else params.model_dump(mode="json"))
    meta = {"data_file": str(path), "data_sha256": file_sha256(path), "code_version": code_version(),
            "fees": costs.fees, "slippage": costs.slippage}
    return BacktestRun(result=result, bars=bars, json=js, meta=meta, spec=spec, params=params, bars_by_tf=bbt)
