"""The causality harness: every registered strategy must pass it (tests and `traderagent check`).

Two replays, at many random bars t:
  - no lookahead: outputs at t computed on data cut after t equal the outputs at t on the full data;
  - window sufficiency: outputs computed on only the trailing `warmup_bars` ending at t give the same
    last row (the live adapter relies on this when it replays a kernel on a trailing window). For order
    strategies the window run starts from the state saved before the window, restored from bytes.
A "reading" is one output value at one bar; a rewritten reading is one that differs between the two
runs (floats compared to `rtol` relative, NaN equal to NaN, booleans exactly). The verdict is the count
of rewritten readings, which must be 0, and the first offender.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from traderagent.core.signals import Signals
from traderagent.data.resample import bars_by_timeframe
from traderagent.strategies.registry import StrategySpec


@dataclass
class Offender:
    replay: str  # "prefix" or "window"
    output: str
    bar: int
    time: str
    full: float
    replayed: float


@dataclass
class CheckReport:
    strategy: str
    bars: int
    warmup_bars: int
    prefix_points: int = 0
    window_points: int = 0
    readings: int = 0
    rewritten_prefix: int = 0
    rewritten_window: int = 0
    first: Offender | None = None
    outputs: list[str] = field(default_factory=list)

    @property
    def rewritten(self) -> int:
        return self.rewritten_prefix + self.rewritten_window

    @property
    def ok(self) -> bool:
        return self.rewritten == 0 and self.prefix_points > 0

    def to_dict(self) -> dict:
        d = asdict(self)
        d["rewritten"] = self.rewritten
        d["ok"] = self.ok
        return d


def output_names(spec: StrategySpec) -> list[str]:
    if spec.kind == "signal":
        return list(Signals._fields)
    return list(spec.extra.get("output_names", []))


def outputs(spec: StrategySpec, bars: pd.DataFrame, params) -> np.ndarray:
    """Per-bar outputs (n, k) of a strategy on base bars (already at the strategy's base timeframe)."""
    bbt = bars_by_timeframe(bars, spec.base_timeframe(params), spec.timeframes(params))
    if spec.kind == "signal":
        return spec.signals(bbt, params).as_matrix()
    return np.asarray(spec.outputs(bbt, params), dtype=np.float64)


def window_row(spec: StrategySpec, bars: pd.DataFrame, params, t: int, warm: int) -> np.ndarray:
    """Outputs at bar t as the live adapter would compute them from a trailing window.

    Signal strategies are pure functions of the window. Order strategies carry state (inventory, open
    cycles) that no window can rebuild; for them the live runner restores the state saved `warm` bars ago
    and replays the window, which is what `spec.extra["window_replay"]` does.
    """
    replay = spec.extra.get("window_replay")
    if replay is not None:
        return np.asarray(replay(bars, params, t, warm), dtype=np.float64)
    return outputs(spec, bars.iloc[t + 1 - warm : t + 1], params)[-1]


def _mismatch(a: np.ndarray, b: np.ndarray, rtol: float) -> np.ndarray:
    both_nan = np.isnan(a) & np.isnan(b)
    with np.errstate(invalid="ignore"):
        close = np.abs(a - b) <= rtol * np.maximum(np.abs(a), np.abs(b))
    return ~(both_nan | close | (a == b))


def check_causality(spec: StrategySpec, bars: pd.DataFrame, params, points: int = 50, seed: int = 0,
                    rtol: float = 1e-9, progress=None) -> CheckReport:
    """Replay `spec` at `points` random bars (each for prefix and, where possible, window) and count rewrites."""
    n = len(bars)
    warm = int(spec.warmup_bars(params))
    names = output_names(spec)
    report = CheckReport(strategy=spec.name, bars=n, warmup_bars=warm, outputs=names)
    if n < 2:
        return report
    full = outputs(spec, bars, params)
    rng = np.random.default_rng(seed)
    lo = min(max(warm - 1, 1), n - 1)
    pool = np.arange(lo, n)
    ts = np.sort(rng.choice(pool, size=min(points, len(pool)), replace=False))
    index = bars.index
    for i, t in enumerate(ts):
        replays = [("prefix", outputs(spec, bars.iloc[: t + 1], params)[t])]
        report.prefix_points += 1
        if t + 1 >= warm:
            replays.append(("window", window_row(spec, bars, params, int(t), warm)))
            report.window_points += 1
        for kind, row in replays:
            bad = _mismatch(full[t], row, rtol)
            report.readings += row.shape[0]
            count = int(bad.sum())
            if kind == "prefix":
                report.rewritten_prefix += count
            else:
                report.rewritten_window += count
            if count and report.first is None:
                j = int(np.flatnonzero(bad)[0])
                report.first = Offender(kind, names[j] if j < len(names) else str(j), int(t),
                                        index[t].isoformat(), float(full[t, j]), float(row[j]))
        if progress is not None:
            progress(i + 1, len(ts))
    return report
