"""SMC chart data: the zones, structure breaks and sweeps an SMC chart shows, as plain DataFrames.

Zone-timeframe order blocks and FVGs (from the close of the candle that confirmed them to mitigation or expiry),
structure-timeframe BOS/CHoCH (from the broken swing to the breaking candle) and entry-timeframe liquidity sweeps.
Every item is placed at the time it became known (a candle's close), never earlier. `traderagent.report.smc_overlay`
draws them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from traderagent.data import timeframes
from traderagent.indicators import smc as smc_ind

#: Days of zones, breaks and sweeps a chart shows (the page plots up to ~115k bars; a few hundred shapes per kind).
OVERLAY_DAYS = 90


def _close_times(times: pd.Series | pd.DatetimeIndex, tf: str):
    return times + pd.Timedelta(timeframes.nanos(tf), unit="ns")


def zones(bars: pd.DataFrame, tf: str, s: smc_ind.SMCSettings, since: pd.Timestamp, until: pd.Timestamp) -> pd.DataFrame:
    """Order blocks and FVGs active at some time in [since, until]: kind, direction, top, bottom, start, end
    (start = close of the confirming candle; end = close of the mitigating candle, expiry, or `until`)."""
    ev = smc_ind.events(bars, s, kinds=("order_block", "fvg"))
    if ev.empty:
        return pd.DataFrame(columns=["kind", "direction", "top", "bottom", "start", "end"])
    idx = bars.index
    n = len(idx)
    end_idx = ev["mitigated_idx"].to_numpy()
    if s.max_age:
        expiry = ev["confirm_idx"].to_numpy() + s.max_age
        end_idx = np.where((end_idx < 0) | (end_idx > expiry), expiry, end_idx)
    end = pd.Series(pd.NaT, index=ev.index, dtype=f"datetime64[ns, {idx.tz}]")
    known = (end_idx >= 0) & (end_idx < n)
    end[known] = _close_times(idx[end_idx[known]], tf)
    out = pd.DataFrame({
        "kind": ev["kind"], "direction": ev["direction"], "top": ev["top"], "bottom": ev["bottom"],
        "start": _close_times(ev["confirm_time"], tf), "end": end.fillna(until).clip(upper=until),
    })
    return out[(out["end"] >= since) & (out["start"] <= until)].reset_index(drop=True)


def breaks(bars: pd.DataFrame, tf: str, s: smc_ind.SMCSettings, since, until) -> pd.DataFrame:
    """BOS/CHoCH confirmed in [since, until]: kind, direction, level, swing (anchor time), time (break close)."""
    ev = smc_ind.structure(bars, s)
    out = pd.DataFrame({"kind": ev["kind"], "direction": ev["direction"], "level": ev["level"],
                        "swing": ev["anchor_time"], "time": _close_times(ev["confirm_time"], tf)})
    return out[(out["time"] >= since) & (out["time"] <= until)].reset_index(drop=True)


def sweeps(bars: pd.DataFrame, tf: str, s: smc_ind.SMCSettings, since, until) -> pd.DataFrame:
    """Liquidity sweeps in [since, until]: side (+1 high, -1 low), level, time (sweeping candle's close), equal."""
    ev = smc_ind.events(bars, s, kinds=("sweep_high", "sweep_low"))
    out = pd.DataFrame({"side": ev["direction"], "level": ev["level"],
                        "time": _close_times(ev["confirm_time"], tf), "equal": ev["equal"]})
    return out[(out["time"] >= since) & (out["time"] <= until)].reset_index(drop=True)
