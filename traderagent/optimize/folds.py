"""Walk-forward folds: in-sample (IS) windows to optimize on, out-of-sample (OOS) windows to judge on.

Bars are positions on the study's base timeframe; every window is half-open `[start, end)`.
The trading range `[first, n)` is cut into one IS block followed by `n_folds` equal OOS blocks:

    first                                                                         n
    |---------- IS (fold 0) ----------|gap|OOS 0|OOS 1|OOS 2| ... |OOS n_folds-1|

* OOS windows tile the end of the range back to back, so the stitched OOS equity is continuous.
* Fold k's IS window ends `purge` bars before its OOS window starts (the purge/embargo gap): no IS bar
  is closer than `purge` bars to the OOS data, and IS trades are closed before the gap (every evaluated
  window ends flat, see `objective.py`), so nothing the optimizer saw overlaps what it is judged on.
* `rolling`: every IS window has the same length (`in_sample_ratio` x the OOS length, plus the
  remainder of the division) and slides forward by one OOS length per fold.
  `anchored`: every IS window starts at `first` and grows by one OOS length per fold.
* Bars before `first` are history only (indicators warm up on them); no window trades there.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

import pandas as pd

from traderagent.errors import UserError

Scheme = Literal["rolling", "anchored"]

#: Fewest bars an OOS window may have (the engine needs 2 bars, a flat close needs 3).
MIN_OOS_BARS = 10


@dataclass(frozen=True)
class Fold:
    """One walk-forward fold: IS `[is_start, is_end)`, then `purge` bars, then OOS `[oos_start, oos_end)`."""

    k: int
    is_start: int
    is_end: int
    oos_start: int
    oos_end: int

    @property
    def is_bars(self) -> int:
        return self.is_end - self.is_start

    @property
    def oos_bars(self) -> int:
        return self.oos_end - self.oos_start

    @property
    def gap(self) -> int:
        return self.oos_start - self.is_end

    def as_dict(self, index: pd.DatetimeIndex | None = None) -> dict:
        """Bar positions plus, given the bar index, the windows' first bar and end times (ISO UTC)."""
        out: dict = asdict(self)
        if index is not None:
            step = index[1] - index[0] if len(index) > 1 else pd.Timedelta(0)

            def end_time(pos: int) -> pd.Timestamp:  # open time of the bar after the window
                return index[pos] if pos < len(index) else index[-1] + step

            out.update(is_from=index[self.is_start], is_to=end_time(self.is_end),
                       oos_from=index[self.oos_start], oos_to=end_time(self.oos_end))
        return out


def make_folds(
    n: int,
    n_folds: int,
    scheme: Scheme = "rolling",
    in_sample_ratio: float = 3.0,
    purge: int = 0,
    first: int = 0,
) -> list[Fold]:
    """Walk-forward folds over bars `[first, n)` (see the module docstring for the layout)."""
    if scheme not in ("rolling", "anchored"):
        raise UserError(f"folds.scheme: {scheme!r} is not a fold scheme; use rolling or anchored")
    if not (isinstance(n_folds, int) and n_folds >= 1):
        raise UserError(f"folds.n: {n_folds!r} must be a whole number >= 1")
    if not in_sample_ratio > 0:
        raise UserError(f"folds.in_sample_ratio: {in_sample_ratio!r} must be > 0 (IS length / OOS length)")
    if purge < 0:
        raise UserError(f"folds.purge: {purge} bars must be >= 0")
    total = n - first
    oos = int((total - purge) // (n_folds + in_sample_ratio))
    is_len = total - purge - n_folds * oos
    if oos < MIN_OOS_BARS or is_len < MIN_OOS_BARS:
        raise UserError(
            f"folds: {n_folds} folds with in_sample_ratio {in_sample_ratio:g} and a purge of {purge} bars need at "
            f"least {int((n_folds + in_sample_ratio) * MIN_OOS_BARS) + purge} bars; the study range has {total}: "
            "use fewer folds, a smaller ratio or a longer date range"
        )
    folds = []
    for k in range(n_folds):
        oos_start = first + is_len + purge + k * oos
        is_end = oos_start - purge
        is_start = first if scheme == "anchored" else first + k * oos
        folds.append(Fold(k, is_start, is_end, oos_start, oos_start + oos))
    check_folds(folds, n, purge, first)
    return folds


def check_folds(folds: list[Fold], n: int, purge: int, first: int = 0) -> None:
    """Raise AssertionError unless the folds keep the walk-forward invariants (also what the tests pin)."""
    prev_end = None
    for f in folds:
        assert first <= f.is_start < f.is_end, f"fold {f.k}: empty or misplaced IS window"
        assert f.oos_start - f.is_end >= purge, f"fold {f.k}: IS ends {f.gap} bars before OOS, purge is {purge}"
        assert f.oos_start < f.oos_end <= n, f"fold {f.k}: OOS window outside the data"
        assert prev_end is None or f.oos_start == prev_end, f"fold {f.k}: OOS windows must be back to back"
        prev_end = f.oos_end
    assert prev_end == n, "the last OOS window must end at the last bar"
