"""SMC: Smart Money Concepts top-down strategy on causal primitives (rules and defaults: docs/smc_strategy.md).

Timeframe roles, from the shortest of `params.timeframes` up: entry (M15), zone (H1), structure (H4), bias
(D1); with fewer than four timeframes the longest one fills the missing roles. Every timeframe's SMC state
comes from `traderagent.indicators.smc.compute_arrays` on its own candles and reaches the entry index only
through `traderagent.data.resample.align_indices` (completed candles only). Decision at bar t's close:
  - a trigger on bar t: an entry-timeframe CHoCH, or a sweep of a swing low/high that closes back inside;
  - the leg being reversed, (a, t] with a = the newest confirmed entry swing high (long) before t, traded into
    an active zone-timeframe order block or FVG of the trade's direction (zone state as of bar t-1);
  - net confluence score >= confluence_threshold: bias + structure + premium/discount count +1 when they
    agree, -1 when they oppose; the zone, a CHoCH trigger and a sweep in the leg count +1 each (max 6);
  - stop beyond the leg's extreme or the zone's far edge, whichever is farther, plus stop_buffer_atr ATRs;
    target at target_r R, extended to the nearest opposing zone-timeframe liquidity when that lies beyond;
    risk = risk_per_trade. No signal exits: positions end at their stop or target.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd

from traderagent.core.signals import Signals
from traderagent.core.spec import StrategySpec
from traderagent.data import timeframes
from traderagent.data.resample import align_indices
from traderagent.indicators import smc as smc_ind
from traderagent.indicators import smc_nb as prim
from traderagent.indicators.memory import memory_bars
from traderagent.indicators.nb import atr_1d_nb
from traderagent.strategies import smc_zones
from traderagent.strategies.smc_nb import FACTOR_NAMES, smc_signals_1d_nb

ROLES = ("entry", "zone", "structure", "bias")
#: Bars of its own timeframe a structure reading (trend, dealing range) is assumed to depend on, in swing
#: lengths: see docs/smc_strategy.md#windows (measured 0 rewritten readings with this margin).
STRUCTURE_MEMORY_SWINGS = 30


class Decisions(NamedTuple):
    """Signals plus the per-bar confluence factors (n, 2, 7): [:, 0] long, [:, 1] short; FACTOR_NAMES."""

    signals: Signals
    factors: np.ndarray


def roles(params) -> dict[str, str]:
    """Timeframe of each role (canonical names)."""
    return {k: timeframes.normalize(v) for k, v in params.roles.items()}


def base_timeframe(params) -> str:
    return timeframes.normalize(params.entry_timeframe)


def strategy_timeframes(params) -> tuple[str, ...]:
    r = roles(params)
    out = [r["entry"]]
    for role in ROLES[1:]:
        if r[role] not in out:
            out.append(r[role])
    return tuple(out)


def settings(params) -> smc_ind.SMCSettings:
    """The primitives' settings, the same on every timeframe."""
    return smc_ind.SMCSettings(swing_length=int(params.swing_length), break_on=params.break_on,
                               ob_mitigation=params.zone_mitigation, fvg_mitigation=params.zone_mitigation,
                               max_age=int(params.max_age))


def warmup_bars(params) -> int:
    """Entry bars a trailing window needs so that its last decision equals the full-history one."""
    r = roles(params)
    base = r["entry"]
    ratio = {role: timeframes.check_multiple(base, tf) if tf != base else 1 for role, tf in r.items()}
    L = int(params.swing_length)
    structure = STRUCTURE_MEMORY_SWINGS * L + 2
    zones = int(params.max_age) + structure  # a zone lives max_age bars; its break needs the swing before it
    atr_mem = memory_bars(1.0 / params.atr_period) + 2
    need = max(zones * ratio["entry"] + atr_mem, zones * ratio["zone"],
               (structure + 1) * ratio["structure"], (structure + 1) * ratio["bias"])
    return int(need + max(ratio.values()))


def window_bars(params) -> dict[str, int]:
    """Candles of each timeframe a live window needs (the same memories as `warmup_bars`, counted on each role's
    own timeframe, so the live stepper never recomputes 300 days of 15m bars to read a daily trend)."""
    r = roles(params)
    L = int(params.swing_length)
    structure = STRUCTURE_MEMORY_SWINGS * L + 2
    zones = int(params.max_age) + structure
    atr_mem = memory_bars(1.0 / params.atr_period) + 2
    need = {"entry": zones + atr_mem, "zone": zones, "structure": structure + 1, "bias": structure + 1}
    out: dict[str, int] = {}
    for role, tf in r.items():
        out[tf] = max(out.get(tf, 0), need[role] + 2)
    return out


def _complete(bars: pd.DataFrame, tf: str, base_tf: str) -> pd.DataFrame:
    """Drop a first higher-timeframe candle built from fewer base bars than its period holds (a window that
    starts inside it would otherwise see a different candle than the full history)."""
    if tf == base_tf or "n_bars" not in bars.columns or not len(bars):
        return bars
    if int(bars["n_bars"].iat[0]) < timeframes.check_multiple(base_tf, tf):
        return bars.iloc[1:]
    return bars


def _ohlc(bars: pd.DataFrame) -> tuple[np.ndarray, ...]:
    return tuple(bars[c].to_numpy(np.float64) for c in ("open", "high", "low", "close"))


#: Entry-timeframe state columns the kernel reads (computed without the zone primitives it does not need).
ENTRY_COLUMNS = ("choch", "sweep_high", "sweep_low", "swing_high_idx", "swing_low_idx")


def entry_state(open_, high, low, close, s: smc_ind.SMCSettings) -> dict[str, np.ndarray]:
    """ENTRY_COLUMNS of `smc.compute_arrays` (same kernels, same arguments), skipping OBs, FVGs and zones."""
    _, high, low, close = (np.require(a, np.float64, ["C", "W"]) for a in (open_, high, low, close))
    L = s.swing_length
    is_sh, is_sl = prim.find_swings_1d_nb(high, low, L, L)
    _, sh_i, _, sl_i = prim.last_swings_1d_nb(high, low, is_sh, is_sl, L)
    st = prim.detect_structure_1d_nb(high, low, close, is_sh, is_sl, L, getattr(prim.BreakOn, s.break_on))
    liq = prim.detect_liquidity_1d_nb(high, low, close, is_sh, is_sl, L, s.eq_tolerance, s.max_age)
    return {"choch": st[2], "sweep_high": liq[0], "sweep_low": liq[3], "swing_high_idx": sh_i, "swing_low_idx": sl_i}


def timeframe_states(bars_by_tf: dict, params, cache: dict | None = None) -> dict[str, tuple[pd.DatetimeIndex, dict]]:
    """tf -> (index of the candles used, SMC state arrays) for every timeframe the strategy reads (the entry
    timeframe alone, when it has no other role, gets only ENTRY_COLUMNS). With a `cache` (a live stepper's), a
    higher timeframe whose window did not change since the last call is not recomputed."""
    base_tf = base_timeframe(params)
    s = settings(params)
    higher_roles = {tf for role, tf in roles(params).items() if role != "entry"}
    out = {}
    for tf in strategy_timeframes(params):
        bars = _complete(bars_by_tf[tf], tf, base_tf)
        key = (tf, len(bars), bars.index[0].value, bars.index[-1].value) if len(bars) and tf != base_tf else None
        if cache is not None and key is not None and key in cache:
            out[tf] = cache[key]
            continue
        if tf == base_tf and tf not in higher_roles:
            out[tf] = (bars.index, entry_state(*_ohlc(bars), s))
        else:
            out[tf] = (bars.index, smc_ind.compute_arrays(*_ohlc(bars), s)[0])
        if cache is not None and key is not None:
            for old in [k for k in cache if k[0] == tf]:
                del cache[old]
            cache[key] = out[tf]
    return out


def _aligned(base_index: pd.DatetimeIndex, base_tf: str, index: pd.DatetimeIndex, tf: str) -> np.ndarray:
    """Positions into `tf` rows seen by each base bar at its close (-1: none complete yet)."""
    return align_indices(base_index.as_unit("ns").asi8, base_tf, index.as_unit("ns").asi8, tf)


def _take(values: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """values[idx] as float64, NaN where idx < 0."""
    if not len(values):
        return np.full(idx.shape[0], np.nan)
    out = np.asarray(values, dtype=np.float64)[np.clip(idx, 0, None)]
    out[idx < 0] = np.nan
    return out


#: Names of the kernel's array inputs, in `smc_signals_1d_nb` order (what `kernel_inputs` returns).
INPUT_NAMES = ("high", "low", "close", "atr", "choch", "sweep_high", "sweep_low", "swing_high_idx",
               "swing_low_idx", "bias", "structure", "pd_position", "bull_zone_top_prev", "bull_zone_bottom_prev",
               "bear_zone_top_prev", "bear_zone_bottom_prev", "liq_high", "liq_low")


def kernel_inputs(bars_by_tf: dict, params, cache: dict | None = None) -> dict[str, np.ndarray]:
    """The arrays the decision kernel reads, on the entry index: entry candles and state, higher-timeframe
    readings as of each bar's close (zones as of the previous bar's close: `_prev`), via `align_indices`."""
    r = roles(params)
    base_tf = r["entry"]
    bars = bars_by_tf[base_tf]
    states = timeframe_states(bars_by_tf, params, cache)
    _, st = states[base_tf]
    _, h, lo, c = _ohlc(bars)
    aligned: dict[tuple[str, int], np.ndarray] = {}

    def at(role: str, col: str, lag: int = 0) -> np.ndarray:
        tf = r[role]
        index, state = states[tf]
        if (tf, 0) not in aligned:
            aligned[(tf, 0)] = _aligned(bars.index, base_tf, index, tf)
        if (tf, lag) not in aligned:
            idx = aligned[(tf, 0)]
            aligned[(tf, lag)] = np.r_[np.full(min(lag, len(idx)), -1, dtype=np.int64), idx[:len(idx) - lag]]
        return _take(state[col], aligned[(tf, lag)])

    out = {"high": h, "low": lo, "close": c,
           "atr": atr_1d_nb(h, lo, c, int(params.atr_period)) if len(c) else c.copy()}
    for col in ("choch", "sweep_high", "sweep_low", "swing_high_idx", "swing_low_idx"):
        out[col] = st[col]
    out["bias"] = at("bias", "trend")
    out["structure"] = at("structure", "trend")
    out["pd_position"] = at("structure", "pd_position")
    for col in ("bull_zone_top", "bull_zone_bottom", "bear_zone_top", "bear_zone_bottom"):
        out[f"{col}_prev"] = at("zone", col, lag=1)
    out["liq_high"] = at("zone", "liq_high")
    out["liq_low"] = at("zone", "liq_low")
    return out


def decide(bars_by_tf: dict, params, cache: dict | None = None) -> Decisions:
    """Signals and the confluence factors behind them (what `signals` returns, plus the diagnostics)."""
    x = kernel_inputs(bars_by_tf, params, cache)
    out = smc_signals_1d_nb(
        *(x[k] for k in INPUT_NAMES),
        int(params.confluence_threshold), float(params.target_r), bool(params.liquidity_target),
        float(params.stop_buffer_atr), int(params.max_age), float(params.risk_per_trade),
    )
    return Decisions(Signals(*out[:7]), out[7])


def signals(bars_by_tf: dict, params, cache: dict | None = None) -> Signals:
    """The pure decision function: bars by timeframe (base = the entry timeframe) -> Signals on the base index."""
    return decide(bars_by_tf, params, cache).signals


def factor_frame(bars_by_tf: dict, params) -> pd.DataFrame:
    """Per-bar confluence factors as a frame: long_<factor> and short_<factor> columns (FACTOR_NAMES)."""
    dec = decide(bars_by_tf, params)
    index = bars_by_tf[base_timeframe(params)].index
    cols = {f"{side}_{name}": dec.factors[:, k, j]
            for k, side in enumerate(("long", "short")) for j, name in enumerate(FACTOR_NAMES)}
    return pd.DataFrame(cols, index=index)


def _params_model():
    from traderagent.config.models import SmcConfig

    return SmcConfig


def chart_data(bars_by_tf: dict, params, until: pd.Timestamp, days: int = smc_zones.OVERLAY_DAYS) -> dict:
    """The zones, breaks and sweeps an SMC chart shows for the `days` before `until`, by the strategy's roles."""
    r = roles(params)
    s = settings(params)
    base = r["entry"]
    since = until - pd.Timedelta(days=days)

    def frame(tf: str) -> pd.DataFrame:
        return _complete(bars_by_tf[tf], tf, base)

    return {
        "zones": smc_zones.zones(frame(r["zone"]), r["zone"], s, since, until),
        "breaks": smc_zones.breaks(frame(r["structure"]), r["structure"], s, since, until),
        "sweeps": smc_zones.sweeps(frame(base), base, s, since, until),
        "roles": r, "since": since, "days": days,
    }


def overlay_data(result, bars_by_tf: dict, params) -> dict:
    """Plain chart data of a finished run: zones, breaks and sweeps of its last days (`chart_data`)."""
    if not len(result.index):
        return {}
    until = result.index[-1] + pd.Timedelta(timeframes.nanos(result.timeframe), unit="ns")
    return chart_data(bars_by_tf, params, until)


SPEC = StrategySpec(
    name="smc",
    kind="signal",
    params_model=_params_model(),
    base_timeframe=base_timeframe,
    timeframes=strategy_timeframes,
    warmup_bars=warmup_bars,
    signals=signals,
    window_bars=window_bars,
    extra={"cacheable": True},
    description="Smart Money Concepts: D1 bias, H4 structure, H1 order blocks/FVGs, M15 CHoCH or sweep trigger",
    overlay_data=overlay_data,
)
