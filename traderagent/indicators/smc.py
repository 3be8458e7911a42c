"""Smart Money Concepts: thin pandas wrappers over the causal kernels in `smc_nb`.

Two views of the same computation, both free of lookahead:
  - `state(bars)`: one row per bar, every column "as known at the close of that bar" (see STATE_COLUMNS);
    align a higher timeframe's state onto the base index with `traderagent.data.resample.align`.
  - `events(bars)`: one row per event with `anchor_*` (the bar it describes) and `confirm_*` (the first bar
    at whose close it is knowable; times are bar open times, the project's candle key). Signals may only use
    an event at t if `confirm_idx <= t`; `mitigated_*` is filled only once mitigation happened.
Per-primitive wrappers (`swings`, `structure`, `order_blocks`, `fair_value_gaps`, `liquidity`) return the
events of one primitive; `premium_discount` returns its per-bar frame. Definitions: docs/smc.md.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import pandas as pd

from traderagent.errors import ConfigError, DataError
from traderagent.indicators import smc_nb

_MITIGATION = {"touch": smc_nb.Mitigation.touch, "wick": smc_nb.Mitigation.wick, "close": smc_nb.Mitigation.close}
_BREAK_ON = {"close": smc_nb.BreakOn.close, "wick": smc_nb.BreakOn.wick}

#: Per-bar columns of `state()` / keys of `state_arrays()`; every value at t uses bars 0..t only.
STATE_COLUMNS = {
    "swing_high": "price of the newest confirmed swing high (NaN before the first)",
    "swing_high_idx": "its anchor bar position (-1 before the first)",
    "swing_low": "price of the newest confirmed swing low",
    "swing_low_idx": "its anchor bar position",
    "trend": "+1/-1 direction of the newest BOS/CHoCH, 0 before the first break",
    "bos": "+1/-1 on a bar that breaks structure in the trend's direction (or the first break), else 0",
    "choch": "+1/-1 on a bar that breaks structure against the prior trend, else 0",
    "break_level": "the swing level broken on this bar (NaN if none)",
    "bull_ob_top": "nearest active bullish order block (highest top): top",
    "bull_ob_bottom": "its bottom",
    "bull_ob_idx": "its anchor bar position (-1 if none)",
    "n_bull_ob": "number of active bullish order blocks",
    "bear_ob_top": "nearest active bearish order block (lowest bottom): top",
    "bear_ob_bottom": "its bottom",
    "bear_ob_idx": "its anchor bar position",
    "n_bear_ob": "number of active bearish order blocks",
    "bull_fvg_top": "nearest active bullish fair value gap (highest top): top",
    "bull_fvg_bottom": "its bottom",
    "bull_fvg_idx": "its anchor (middle candle) position",
    "n_bull_fvg": "number of active bullish FVGs",
    "bear_fvg_top": "nearest active bearish FVG (lowest bottom): top",
    "bear_fvg_bottom": "its bottom",
    "bear_fvg_idx": "its anchor position",
    "n_bear_fvg": "number of active bearish FVGs",
    "bull_zone_top": "nearest active bullish zone of either kind (OB or FVG, higher top; OB on ties): top",
    "bull_zone_bottom": "its bottom",
    "bear_zone_top": "nearest active bearish zone of either kind (lower bottom; OB on ties): top",
    "bear_zone_bottom": "its bottom",
    "sweep_high": "True if this bar's high took a live swing high and closed back below it",
    "sweep_high_level": "the highest level swept on this bar (NaN if none)",
    "sweep_high_eq": "True if that level was part of an equal-highs pair",
    "sweep_low": "True if this bar's low took a live swing low and closed back above it",
    "sweep_low_level": "the lowest level swept on this bar",
    "sweep_low_eq": "True if that level was part of an equal-lows pair",
    "liq_high": "nearest live (untaken) swing-high level above",
    "liq_low": "nearest live swing-low level below",
    "eqh": "nearest live equal-highs level",
    "eql": "nearest live equal-lows level",
    "range_high": "dealing range top: newest swing high extended by later highs",
    "range_low": "dealing range bottom: newest swing low extended by later lows",
    "pd_position": "(close - range_low) / (range_high - range_low): >0.5 premium, <0.5 discount",
}

EVENT_COLUMNS = (
    "kind", "direction", "anchor_idx", "confirm_idx", "anchor_time", "confirm_time",
    "level", "top", "bottom", "mitigated_idx", "mitigated_time", "ref_idx", "equal",
)


@dataclass(frozen=True)
class SMCSettings:
    """Parameters of the SMC primitives (defaults are conventional, not fitted to any data)."""

    swing_length: int = 5  # fractal bars on each side; a swing is confirmed swing_length bars after it
    break_on: str = "close"  # "close" or "wick": what must go strictly beyond a swing to break structure
    ob_mitigation: str = "close"  # "touch", "wick" (wick beyond far edge) or "close" (close beyond far edge)
    fvg_mitigation: str = "close"
    displacement_atr: float = 0.0  # an OB needs a break candle body >= this * ATR (0 = every break)
    atr_period: int = 14
    fvg_min_size: float = 0.0  # ignore gaps smaller than this fraction of price
    eq_tolerance: float = 0.001  # equal highs/lows: levels within this fraction of price
    max_age: int = 0  # OB/FVG zones and liquidity levels expire this many bars after confirmation (0 = never)

    def __post_init__(self) -> None:
        def bad(key: str, why: str) -> ConfigError:
            return ConfigError(f"smc setting {key}={getattr(self, key)!r}: {why}")

        if not isinstance(self.swing_length, int) or self.swing_length < 1:
            raise bad("swing_length", "use an integer >= 1")
        if self.break_on not in _BREAK_ON:
            raise bad("break_on", "use 'close' or 'wick'")
        for key in ("ob_mitigation", "fvg_mitigation"):
            if getattr(self, key) not in _MITIGATION:
                raise bad(key, "use 'touch', 'wick' or 'close'")
        if not self.displacement_atr >= 0:
            raise bad("displacement_atr", "use a number >= 0 (0 disables the filter)")
        if not isinstance(self.atr_period, int) or self.atr_period < 1:
            raise bad("atr_period", "use an integer >= 1")
        if not self.fvg_min_size >= 0:
            raise bad("fvg_min_size", "use a fraction >= 0")
        if not 0 <= self.eq_tolerance < 1:
            raise bad("eq_tolerance", "use a fraction in [0, 1), e.g. 0.001")
        if not isinstance(self.max_age, int) or self.max_age < 0:
            raise bad("max_age", "use an integer number of bars >= 0 (0 = zones and levels never expire)")


def _settings(settings: SMCSettings | None, overrides: dict) -> SMCSettings:
    base = settings or SMCSettings()
    known = {f.name for f in fields(SMCSettings)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ConfigError(f"unknown smc setting {unknown[0]!r}: use one of {', '.join(sorted(known))}")
    if not overrides:
        return base
    return SMCSettings(**{**{f.name: getattr(base, f.name) for f in fields(SMCSettings)}, **overrides})


def _ohlc(bars: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    missing = [c for c in ("open", "high", "low", "close") if c not in bars.columns]
    if missing:
        raise DataError(f"smc: candles need columns open/high/low/close (missing {', '.join(missing)})")
    arrs = tuple(bars[c].to_numpy(np.float64) for c in ("open", "high", "low", "close"))
    for name, a in zip(("open", "high", "low", "close"), arrs, strict=True):
        bad = np.flatnonzero(~np.isfinite(a))
        if bad.size:
            raise DataError(
                f"smc: column {name} has a missing/non-finite value at row {bars.index[bad[0]]}; "
                "drop or repair incomplete candles first"
            )
    return arrs  # type: ignore[return-value]


def _atr(high: np.ndarray, low: np.ndarray, close: np.ndarray, s: SMCSettings) -> np.ndarray:
    if s.displacement_atr <= 0:
        return np.full(close.shape[0], np.nan)
    from traderagent.indicators.nb import atr_1d_nb

    return atr_1d_nb(high, low, close, s.atr_period)


def compute_arrays(open_, high, low, close, settings: SMCSettings | None = None, **overrides):
    """Run every primitive on float64 arrays. Returns (state, raw): `state` maps STATE_COLUMNS to n-length
    arrays; `raw` holds the kernels' event arrays (see `events` for the tidy frame)."""
    s = _settings(settings, overrides)
    # one array type for every caller (pandas 3 hands out read-only views): one numba compilation
    open_, high, low, close = (np.require(a, np.float64, ["C", "W"]) for a in (open_, high, low, close))
    L = s.swing_length
    is_sh, is_sl = smc_nb.find_swings_1d_nb(high, low, L, L)
    sh, sh_i, sl, sl_i = smc_nb.last_swings_1d_nb(high, low, is_sh, is_sl, L)
    st = smc_nb.detect_structure_1d_nb(high, low, close, is_sh, is_sl, L, _BREAK_ON[s.break_on])
    trend, bos, choch, brk_level, b_an, b_cf, b_dir, b_kind, b_lv = st
    ob = smc_nb.detect_order_blocks_1d_nb(open_, high, low, close, b_an, b_cf, b_dir,
                                          _atr(high, low, close, s), s.displacement_atr)
    ob_tr = smc_nb.track_zones_1d_nb(high, low, close, *ob, _MITIGATION[s.ob_mitigation], s.max_age)
    fvg = smc_nb.detect_fvg_1d_nb(open_, high, low, close, s.fvg_min_size)
    fvg_tr = smc_nb.track_zones_1d_nb(high, low, close, *fvg, _MITIGATION[s.fvg_mitigation], s.max_age)
    liq = smc_nb.detect_liquidity_1d_nb(high, low, close, is_sh, is_sl, L, s.eq_tolerance, s.max_age)
    rh, rl, pos = smc_nb.compute_premium_discount_1d_nb(high, low, close, sh_i, sl_i)
    state = {
        "swing_high": sh, "swing_high_idx": sh_i, "swing_low": sl, "swing_low_idx": sl_i,
        "trend": trend, "bos": bos, "choch": choch, "break_level": brk_level,
    }
    for prefix, tr in (("ob", ob_tr), ("fvg", fvg_tr)):
        _, bt, bb, ba, nb_, st_, sb, sa, ns = tr
        state.update({
            f"bull_{prefix}_top": bt, f"bull_{prefix}_bottom": bb, f"bull_{prefix}_idx": ba,
            f"n_bull_{prefix}": nb_, f"bear_{prefix}_top": st_, f"bear_{prefix}_bottom": sb,
            f"bear_{prefix}_idx": sa, f"n_bear_{prefix}": ns,
        })
    bull_fvg = ~(state["bull_fvg_top"] <= state["bull_ob_top"]) & ~np.isnan(state["bull_fvg_top"])
    bear_fvg = ~(state["bear_fvg_bottom"] >= state["bear_ob_bottom"]) & ~np.isnan(state["bear_fvg_bottom"])
    state.update({
        "bull_zone_top": np.where(bull_fvg, state["bull_fvg_top"], state["bull_ob_top"]),
        "bull_zone_bottom": np.where(bull_fvg, state["bull_fvg_bottom"], state["bull_ob_bottom"]),
        "bear_zone_top": np.where(bear_fvg, state["bear_fvg_top"], state["bear_ob_top"]),
        "bear_zone_bottom": np.where(bear_fvg, state["bear_fvg_bottom"], state["bear_ob_bottom"]),
    })
    names = ("sweep_high", "sweep_high_level", "sweep_high_eq", "sweep_low", "sweep_low_level",
             "sweep_low_eq", "liq_high", "liq_low", "eqh", "eql")
    state.update(dict(zip(names, liq[:10], strict=True)))
    state.update({"range_high": rh, "range_low": rl, "pd_position": pos})
    raw = {
        "is_swing_high": is_sh, "is_swing_low": is_sl,
        "structure": (b_an, b_cf, b_dir, b_kind, b_lv),
        "ob": ob, "ob_mitigated": ob_tr[0], "fvg": fvg, "fvg_mitigated": fvg_tr[0],
        "sweeps": liq[10:15], "equal": liq[15:21],
    }
    return {k: state[k] for k in STATE_COLUMNS}, raw


def state_arrays(bars: pd.DataFrame, settings: SMCSettings | None = None, **overrides) -> dict[str, np.ndarray]:
    """Per-bar as-of arrays (keys: STATE_COLUMNS) for a candle frame."""
    return compute_arrays(*_ohlc(bars), settings, **overrides)[0]


def state(bars: pd.DataFrame, settings: SMCSettings | None = None, **overrides) -> pd.DataFrame:
    """Per-bar as-of frame on the candles' index (columns: STATE_COLUMNS)."""
    return pd.DataFrame(state_arrays(bars, settings, **overrides), index=bars.index, copy=False)


def _frame(index: pd.DatetimeIndex, kind, direction, anchor, confirm, level=None, top=None, bottom=None,
           mitigated=None, ref=None, equal=None) -> pd.DataFrame:
    k = len(anchor)
    nan = np.full(k, np.nan)
    mit = np.full(k, -1, dtype=np.int64) if mitigated is None else np.asarray(mitigated, dtype=np.int64)

    def times(idx: np.ndarray) -> pd.DatetimeIndex:
        if k == 0:
            return index[:0]
        return index[np.clip(idx, 0, None)].where(idx >= 0)

    anchor = np.asarray(anchor, dtype=np.int64)
    confirm = np.asarray(confirm, dtype=np.int64)
    return pd.DataFrame({
        "kind": np.full(k, kind, dtype=object) if isinstance(kind, str) else np.asarray(kind, dtype=object),
        "direction": np.asarray(direction, dtype=np.int8),
        "anchor_idx": anchor,
        "confirm_idx": confirm,
        "anchor_time": times(anchor),
        "confirm_time": times(confirm),
        "level": nan if level is None else np.asarray(level, dtype=np.float64),
        "top": nan if top is None else np.asarray(top, dtype=np.float64),
        "bottom": nan if bottom is None else np.asarray(bottom, dtype=np.float64),
        "mitigated_idx": mit,
        "mitigated_time": times(mit),
        "ref_idx": np.full(k, -1, dtype=np.int64) if ref is None else np.asarray(ref, dtype=np.int64),
        "equal": np.zeros(k, dtype=bool) if equal is None else np.asarray(equal, dtype=bool),
    }, columns=list(EVENT_COLUMNS))


def _event_frames(bars: pd.DataFrame, high: np.ndarray, low: np.ndarray, raw: dict, L: int) -> list:
    idx = bars.index
    out = []
    for kind, flags, price, d in (("swing_high", raw["is_swing_high"], high, 1),
                                  ("swing_low", raw["is_swing_low"], low, -1)):
        a = np.flatnonzero(flags)
        out.append(_frame(idx, kind, np.full(a.size, d), a, a + L, level=price[a]))
    an, cf, dr, kd, lv = raw["structure"]
    kinds = np.where(kd == smc_nb.StructureKind.choch, "choch", "bos")
    out.append(_frame(idx, kinds, dr, an, cf, level=lv))
    an, cf, dr, tp, bt = raw["ob"]
    out.append(_frame(idx, "order_block", dr, an, cf, top=tp, bottom=bt, mitigated=raw["ob_mitigated"]))
    an, cf, dr, tp, bt = raw["fvg"]
    out.append(_frame(idx, "fvg", dr, an, cf, top=tp, bottom=bt, mitigated=raw["fvg_mitigated"]))
    an, cf, sd, lv, eq = raw["sweeps"]
    out.append(_frame(idx, np.where(sd > 0, "sweep_high", "sweep_low"), sd, an, cf, level=lv, equal=eq))
    an, cf, sd, ref, tp, bt = raw["equal"]
    out.append(_frame(idx, np.where(sd > 0, "equal_highs", "equal_lows"), sd, an, cf,
                      level=np.where(sd > 0, tp, bt), top=tp, bottom=bt, ref=ref, equal=np.ones(len(an), bool)))
    return out


EVENT_KINDS = ("swing_high", "swing_low", "bos", "choch", "order_block", "fvg",
               "sweep_high", "sweep_low", "equal_highs", "equal_lows")


def events(bars: pd.DataFrame, settings: SMCSettings | None = None, kinds=None, **overrides) -> pd.DataFrame:
    """All SMC events (columns: EVENT_COLUMNS), sorted by confirmation then anchor.

    direction: +1 bullish / -1 bearish (swings, equal levels and sweeps: +1 high side, -1 low side).
    level: swing price, broken level (bos/choch), swept level, or the pool level of an equal pair.
    top/bottom: zone edges (order_block, fvg, equal pair). mitigated_*: first bar that mitigated the zone
    by the settings' rule (-1 / NaT while still active). ref_idx: the first swing of an equal pair.
    """
    s = _settings(settings, overrides)
    o, h, lo, c = _ohlc(bars)
    _, raw = compute_arrays(o, h, lo, c, s)
    frames = _event_frames(bars, h, lo, raw, s.swing_length)
    out = pd.concat([f for f in frames if len(f)] or frames[:1], ignore_index=True)
    if kinds is not None:
        bad = sorted(set(kinds) - set(EVENT_KINDS))
        if bad:
            raise ConfigError(f"unknown smc event kind {bad[0]!r}: use one of {', '.join(EVENT_KINDS)}")
        out = out[out["kind"].isin(list(kinds))]
    return out.sort_values(["confirm_idx", "anchor_idx", "kind"], kind="stable").reset_index(drop=True)


def swings(bars: pd.DataFrame, settings: SMCSettings | None = None, **overrides) -> pd.DataFrame:
    """Confirmed fractal swing highs/lows (confirm = anchor + swing_length)."""
    return events(bars, settings, ("swing_high", "swing_low"), **overrides)


def structure(bars: pd.DataFrame, settings: SMCSettings | None = None, **overrides) -> pd.DataFrame:
    """BOS / CHoCH events: anchor = broken swing, confirm = breaking bar, level = broken price."""
    return events(bars, settings, ("bos", "choch"), **overrides)


def order_blocks(bars: pd.DataFrame, settings: SMCSettings | None = None, **overrides) -> pd.DataFrame:
    """Order blocks: anchor = OB candle, confirm = the structure break, top/bottom, mitigated_*."""
    return events(bars, settings, ("order_block",), **overrides)


def fair_value_gaps(bars: pd.DataFrame, settings: SMCSettings | None = None, **overrides) -> pd.DataFrame:
    """Fair value gaps: anchor = middle candle, confirm = third candle, top/bottom, mitigated_*."""
    return events(bars, settings, ("fvg",), **overrides)


def liquidity(bars: pd.DataFrame, settings: SMCSettings | None = None, **overrides) -> pd.DataFrame:
    """Equal highs/lows pairs and sweeps of swing liquidity."""
    return events(bars, settings, ("equal_highs", "equal_lows", "sweep_high", "sweep_low"), **overrides)


def premium_discount(bars: pd.DataFrame, settings: SMCSettings | None = None, **overrides) -> pd.DataFrame:
    """Per-bar dealing range (range_high, range_low) and position in it (pd_position, 0 = bottom, 1 = top)."""
    st = state(bars, settings, **overrides)
    return st[["range_high", "range_low", "pd_position"]]
