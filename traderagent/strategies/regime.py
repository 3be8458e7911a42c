"""Market regime detector: params, per-bar labels, alignment onto a faster clock, distribution and per-regime
performance. The kernels are `regime_nb` (definitions in its docstring and in docs/regime.md).

    from traderagent.strategies.regime import RegimeConfig, regime_frame, regime_on_base
    frame = regime_frame(bars_1h, RegimeConfig())          # columns regime, raw, adx, plus_di, ...
    codes = regime_on_base(bars_15m, "15m", RegimeConfig())  # regime per 15m bar (completed 1h candles only)

The regime is not a trading strategy (it is not in the registry); `SPEC` lets the causality harness check it
(`check_causality(regime.SPEC, bars, params)`).
"""

from __future__ import annotations

import io
import math

import numpy as np
import pandas as pd

# the params model is the config's (strategies.hybrid.regime, orchestrator.selector.regime), re-exported here
from traderagent.config.models import RegimeConfig as RegimeConfig
from traderagent.config.models import RegimeName as RegimeName
from traderagent.data import timeframes
from traderagent.data.resample import align_indices, resample
from traderagent.indicators.memory import memory_bars
from traderagent.strategies import regime_nb as rnb
from traderagent.strategies.regime_nb import REGIME_NAMES, Regime
from traderagent.strategies.registry import StrategySpec


def indicator_bars(params: RegimeConfig) -> int:
    """Bars after which every input of the raw label equals its full-history value (bit for bit for ADX)."""
    adx = 2 * memory_bars(1.0 / params.adx_period) + 2 * params.adx_period
    rank = params.bb_period + params.bandwidth_window - 1
    return max(adx, rank, params.volume_period)


def warmup_bars(params: RegimeConfig) -> int:
    """Trailing bars for a fresh run to reproduce the full-history regime: the indicators, plus room for one run
    of `confirmation_bars` agreeing labels (an assumption, not a bound: docs/regime.md; `window_replay` from a
    saved state is exact)."""
    return indicator_bars(params) + max(200, 20 * params.confirmation_bars)


# ------------------------------------------------------------------------------------------------ state
def state_to_bytes(state: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, state, allow_pickle=False)
    return buf.getvalue()


def state_from_bytes(data: bytes) -> np.ndarray:
    return np.load(io.BytesIO(data), allow_pickle=False).copy()


# ------------------------------------------------------------------------------------------------- runs
def _arrays(bars: pd.DataFrame) -> tuple[np.ndarray, ...]:
    return tuple(bars[k].to_numpy(np.float64) for k in ("high", "low", "close", "volume"))


def run_kernel(bars: pd.DataFrame, params: RegimeConfig, state: np.ndarray | None = None,
               start: int | None = None) -> tuple[np.ndarray, ...]:
    """The kernel's 7 outputs over `bars`. `state` (CONFIRM_STATE_DTYPE, shape (1,)) is stepped in place from
    bar `start` (default: the first bar after the state's `last_time`)."""
    state = rnb.new_confirm_state() if state is None else state
    times = bars.index.as_unit("ns").asi8
    if start is None:
        start = int(np.searchsorted(times, state[0]["last_time"], side="right"))
    p = params
    return rnb.regime_1d_nb(*_arrays(bars), int(p.adx_period), float(p.adx_trend), int(p.bb_period),
                            float(p.bb_nbdev), int(p.bandwidth_window), float(p.high_vol_percentile),
                            int(p.volume_smooth), int(p.volume_period), float(p.high_vol_volume_ratio),
                            p.priority_codes(), int(p.confirmation_bars), state[0], times, int(start))


def regime_frame(bars: pd.DataFrame, params: RegimeConfig | None = None) -> pd.DataFrame:
    """Per bar of `bars` (at the regime's timeframe): regime and raw codes (-1 unknown, 0 sideways, 1 uptrend,
    2 downtrend, 3 high volatility) and the indicator values behind them."""
    out = run_kernel(bars, params or RegimeConfig())
    return pd.DataFrame(dict(zip(rnb.OUTPUT_NAMES, out, strict=True)), index=bars.index)


def outputs_matrix(bars: pd.DataFrame, params: RegimeConfig) -> np.ndarray:
    return np.column_stack([np.asarray(a, dtype=np.float64) for a in run_kernel(bars, params)])


def window_replay(bars: pd.DataFrame, params: RegimeConfig, t: int, window: int) -> np.ndarray:
    """Outputs at bar t from the state saved after bar t - window (through bytes) plus the indicators recomputed
    on the `indicator_bars` before the window and the window: what the live runner does after a restart."""
    s = t - window
    state = rnb.new_confirm_state()
    run_kernel(bars.iloc[: s + 1], params, state, 0)
    state = state_from_bytes(state_to_bytes(state))
    lo = max(0, s + 1 - indicator_bars(params))
    out = run_kernel(bars.iloc[lo: t + 1], params, state)
    return np.array([float(a[-1]) for a in out])


def regime_bars(base: pd.DataFrame, base_tf: str, params: RegimeConfig) -> pd.DataFrame:
    """The candles the regime is computed on: `base` resampled to params.timeframe (completed candles only)."""
    tf = timeframes.normalize(params.timeframe)
    base_tf = timeframes.normalize(base_tf)
    return base if tf == base_tf else resample(base, base_tf, tf).drop(columns="n_bars")


def regime_on_base(base: pd.DataFrame, base_tf: str, params: RegimeConfig | None = None) -> pd.Series:
    """Regime code per bar of `base`: the regime of the newest regime-timeframe candle complete at the bar's
    close (`resample.align_indices`), -1 before the first one. Named "regime", on base.index."""
    params = params or RegimeConfig()
    rbars = regime_bars(base, base_tf, params)
    codes = run_kernel(rbars, params)[0]
    idx = align_indices(base.index.as_unit("ns").asi8, timeframes.normalize(base_tf),
                        rbars.index.as_unit("ns").asi8, timeframes.normalize(params.timeframe))
    out = np.where(idx >= 0, codes[np.clip(idx, 0, None)] if len(codes) else Regime.unknown, Regime.unknown)
    return pd.Series(out.astype(np.int64), index=base.index, name="regime")


# ------------------------------------------------------------------------------------------ summaries
def name_of(code: int) -> str:
    return REGIME_NAMES[code] if 0 <= code < len(REGIME_NAMES) else "unknown"


def distribution(codes: np.ndarray | pd.Series) -> dict[str, float]:
    """Share of bars per regime (unknown included), in code order; shares sum to 1."""
    c = np.asarray(codes)
    n = max(len(c), 1)
    return {name_of(k): float((c == k).sum() / n) for k in (*range(len(REGIME_NAMES)), Regime.unknown)}


def spells(codes: np.ndarray | pd.Series) -> dict[str, dict[str, float]]:
    """Per regime: number of spells (maximal runs) and their mean length in bars."""
    c = np.asarray(codes)
    out: dict[str, dict[str, float]] = {}
    if not len(c):
        return out
    starts = np.flatnonzero(np.r_[True, c[1:] != c[:-1]])
    lengths = np.diff(np.r_[starts, len(c)])
    for k in (*range(len(REGIME_NAMES)), Regime.unknown):
        sel = c[starts] == k
        out[name_of(k)] = {"spells": int(sel.sum()), "mean_bars": float(lengths[sel].mean()) if sel.any() else 0.0}
    return out


def per_regime_returns(equity: np.ndarray, codes: np.ndarray, initial: float, bars_per_year: float) -> list[dict]:
    """Performance of an equity curve split by the regime known at the start of each bar's return.

    Bar t's return equity[t] / equity[t-1] - 1 (equity[-1] = `initial`) is attributed to the regime at bar t-1's
    close (what a strategy could act on), so nothing here looks ahead. Per regime: bars, share, compounded
    return, mean return per bar annualised (x bars_per_year) and the share of positive bars.
    """
    eq = np.asarray(equity, dtype=np.float64)
    c = np.asarray(codes)
    prev = np.r_[initial, eq[:-1]]
    r = eq / prev - 1.0
    lab = np.r_[Regime.unknown, c[:-1]]
    rows = []
    for k in (*range(len(REGIME_NAMES)), Regime.unknown):
        sel = lab == k
        m = int(sel.sum())
        rows.append({
            "regime": name_of(k), "bars": m, "share": m / max(len(r), 1),
            "return": float(np.prod(1.0 + r[sel]) - 1.0) if m else 0.0,
            "annualised_mean": float(r[sel].mean() * bars_per_year) if m else math.nan,
            "up_bars": float((r[sel] > 0).mean()) if m else math.nan,
        })
    return rows


# ------------------------------------------------------------------------------------------ harness
def _as_params(p) -> RegimeConfig:
    return p if isinstance(p, RegimeConfig) else RegimeConfig()


SPEC = StrategySpec(
    name="regime",
    kind="order",
    params_model=RegimeConfig,
    base_timeframe=lambda p: timeframes.normalize(_as_params(p).timeframe),
    timeframes=lambda p: (timeframes.normalize(_as_params(p).timeframe),),
    warmup_bars=lambda p: warmup_bars(_as_params(p)),
    outputs=lambda bbt, p: outputs_matrix(bbt[timeframes.normalize(_as_params(p).timeframe)], _as_params(p)),
    description="market regime per bar (not a trading strategy; checked by the harness)",
    extra={"output_names": list(rnb.OUTPUT_NAMES),
           "window_replay": lambda bars, p, t, w: window_replay(bars, _as_params(p), t, w)},
)
