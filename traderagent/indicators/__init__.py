"""Technical indicators: numba kernels in `nb` (for other kernels), pandas wrappers in `api`.

Numba code calls `traderagent.indicators.nb.<name>_1d_nb` on float64 arrays; everything else uses the
wrappers re-exported here, which take Series/DataFrames and keep their index.
"""

from traderagent.indicators.api import (
    adx,
    atr,
    bbands,
    ema,
    percentile_rank,
    rsi,
    sma,
    true_range,
    volume_mean,
    volume_ratio,
)

__all__ = [
    "adx",
    "atr",
    "bbands",
    "ema",
    "percentile_rank",
    "rsi",
    "sma",
    "true_range",
    "volume_mean",
    "volume_ratio",
]
