"""Grid strategy: params, presets, state that saves and restores, and the runs over bars.

The state machine itself is `grid_nb` (numba); the order engine and the intrabar fill rule are
`traderagent.backtest.orders_nb`; booking, integrity gates and the result are `traderagent.backtest.orders`.
See docs/grid_dca.md for the rules in prose.
"""

from __future__ import annotations

import io
import math
from dataclasses import asdict, dataclass, fields, replace
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np
import pandas as pd
import yaml

from traderagent.backtest.costs import Costs
from traderagent.backtest.orders_nb import book_arrays, empty_fills, same_arrays
from traderagent.config.units import percent_to_fraction
from traderagent.data import timeframes
from traderagent.errors import ConfigError
from traderagent.indicators.nb import adx_1d_nb, atr_1d_nb
from traderagent.strategies import grid_nb as gnb
from traderagent.strategies.registry import StrategySpec

PRESETS_FILE = "grid_presets.yaml"
_CHOICES = {"spacing": ("arithmetic", "geometric"), "range_mode": ("percentage", "atr"),
            "stop_mode": ("none", "percentage", "atr")}
#: Exponential averages converge to 1e-12 relative after this many multiples of their period.
_MEMORY_PERIODS = 28


@dataclass(frozen=True)
class GridParams:
    """Every knob of the grid (see grid_presets.yaml for the meaning of each); units as in docs/config.md."""

    timeframe: str
    spacing: str
    grid_levels: int
    range_mode: str
    range_percentage: float
    range_atr_mult: float
    atr_period: int
    atr_hysteresis: float
    recenter: bool
    recenter_percentage: float
    risk_per_level: float
    max_exposure: float
    stop_mode: str
    stop_percentage: float
    stop_atr_mult: float
    adx_filter: bool
    adx_period: int
    adx_threshold: float
    adx_reactivate: float
    reactivate_bars: int
    stop_cooldown_bars: int

    def __post_init__(self) -> None:
        for key, allowed in _CHOICES.items():
            if getattr(self, key) not in allowed:
                raise ConfigError(f"grid: {key} must be one of {', '.join(allowed)} (got {getattr(self, key)!r})")
        if not 2 <= int(self.grid_levels) <= 500:
            raise ConfigError(f"grid: grid_levels must be in [2, 500] (got {self.grid_levels})")
        for key in ("range_percentage", "risk_per_level", "max_exposure", "range_atr_mult"):
            if not getattr(self, key) > 0:
                raise ConfigError(f"grid: {key} must be > 0 (got {getattr(self, key)})")
        if self.range_mode == "percentage" and not self.range_percentage < 100:
            raise ConfigError(f"grid: range_percentage must be < 100 (got {self.range_percentage})")
        if self.adx_filter and not self.adx_reactivate <= self.adx_threshold:
            raise ConfigError("grid: adx_reactivate must be <= adx_threshold (hysteresis), e.g. 25 and 30")
        for key in ("atr_period", "adx_period"):
            if int(getattr(self, key)) < 2:
                raise ConfigError(f"grid: {key} must be >= 2 (got {getattr(self, key)})")

    def record(self, costs: Costs) -> np.ndarray:
        """The numba params record (1-element GRID_PARAMS_DTYPE array) with the run's costs."""
        r = np.zeros(1, dtype=gnb.GRID_PARAMS_DTYPE)[0:1]
        v = r[0]
        v["n_levels"] = int(self.grid_levels)
        v["geometric"] = int(self.spacing == "geometric")
        v["range_mode"] = int(self.range_mode == "atr")
        v["range_fraction"] = percent_to_fraction(self.range_percentage)
        v["range_atr_mult"] = float(self.range_atr_mult)
        v["atr_hysteresis"] = float(self.atr_hysteresis)
        v["recenter"] = int(bool(self.recenter))
        v["recenter_threshold"] = percent_to_fraction(self.recenter_percentage)
        v["level_fraction"] = float(self.risk_per_level)
        v["max_exposure"] = float(self.max_exposure)
        v["stop_mode"] = _CHOICES["stop_mode"].index(self.stop_mode)
        v["stop_fraction"] = percent_to_fraction(self.stop_percentage)
        v["stop_atr_mult"] = float(self.stop_atr_mult)
        v["adx_filter"] = int(bool(self.adx_filter))
        v["adx_threshold"] = float(self.adx_threshold)
        v["adx_reactivate"] = float(self.adx_reactivate)
        v["reactivate_bars"] = int(self.reactivate_bars)
        v["stop_cooldown_bars"] = int(self.stop_cooldown_bars)
        v["fees"] = float(costs.fees)
        v["slippage"] = float(costs.slippage)
        return r

    def model_dump(self, mode: str = "python") -> dict:
        return asdict(self)


@lru_cache(maxsize=1)
def presets() -> dict[str, dict]:
    """The packaged presets by name (low, medium, high volatility)."""
    text = resources.files("traderagent.config").joinpath(PRESETS_FILE).read_text(encoding="utf-8")
    return yaml.safe_load(text)


def grid_params(section: Any = None, preset: str | None = None, **overrides: Any) -> GridParams:
    """GridParams from a preset, a config section (GridConfig) and keyword overrides, in rising priority.

    Without a preset, fields the section defines take the section's value (its defaults included) and the
    others come from the "medium" preset. With a preset, only the section's explicitly set fields override it.
    """
    name = preset or getattr(section, "preset", None)
    table = presets()
    if name is not None and name not in table:
        raise ConfigError(f"grid: unknown preset {name!r}; choose one of {', '.join(table)}")
    values: dict[str, Any] = {"timeframe": "15m", **table[name or "medium"]}
    if section is not None:
        model_fields = getattr(type(section), "model_fields", {})
        explicit = getattr(section, "model_fields_set", set())
        for f in fields(GridParams):
            if f.name in model_fields and (name is None or f.name in explicit):
                values[f.name] = getattr(section, f.name)
    values.update(overrides)
    unknown = set(values) - {f.name for f in fields(GridParams)}
    if unknown:
        raise ConfigError(f"grid: unknown parameter(s) {', '.join(sorted(unknown))}")
    values["timeframe"] = timeframes.normalize(values["timeframe"])
    return GridParams(**values)


def max_levels_for_fees(lower: float, upper: float, geometric: bool, fees: float, margin: float) -> int:
    """Most levels in [lower, upper] such that every cycle's gross profit >= (1 + margin) x its round-trip fees.

    A cycle buys q at p_k and sells at p_k+1: gross q (p_k+1 - p_k), fees `fees` x q (p_k + p_k+1). With
    a = (1 + margin) fees the condition is p_k+1 / p_k >= (1 + a) / (1 - a) (geometric: every slot alike)
    and, for equal steps, step >= 2 a upper / (1 + a) (the top slot is the tightest). Returns >= 2 (a grid
    of 2 levels may still fail the condition: then no grid in that range clears its fees).
    """
    a = (1.0 + margin) * fees
    if not (0 <= a < 1 and upper > lower > 0):
        raise ConfigError(f"grid density: need 0 < lower < upper and fees x (1 + margin) < 1 (got {a})")
    if a == 0:
        return 500
    if geometric:
        n = math.floor(math.log(upper / lower) / math.log((1 + a) / (1 - a)) + 1e-12) + 1
    else:
        n = math.floor((upper - lower) / (2 * a * upper / (1 + a)) + 1e-12) + 1
    return int(min(max(n, 2), 500))


def density_levels(params: GridParams, price: float, costs: Costs, margin: float = 0.5,
                   atr: float | None = None) -> int:
    """grid_levels for `params`' range around `price` so each cycle clears round-trip fees by `margin`."""
    if params.range_mode == "atr":
        if atr is None or not atr > 0:
            raise ConfigError("grid density: an ATR value is needed for range_mode 'atr'")
        lower, upper = price - params.range_atr_mult * atr, price + params.range_atr_mult * atr
    else:
        r = percent_to_fraction(params.range_percentage)
        lower, upper = price * (1 - r), price * (1 + r)
    return max_levels_for_fees(lower, upper, params.spacing == "geometric", costs.fees, margin)


# ----------------------------------------------------------------------------------------------- state
@dataclass
class GridState:
    """The grid's complete state: plain numpy arrays, so it saves to bytes and restores anywhere."""

    hdr: np.ndarray  # GRID_STATE_DTYPE, shape (1,)
    slots: np.ndarray  # SLOT_DTYPE, shape (n_levels - 1,)
    levels: np.ndarray  # float64, shape (n_levels,)
    book: np.ndarray  # INTENT_DTYPE
    summary: np.ndarray  # BOOK_SUMMARY_DTYPE, shape (1,)

    @classmethod
    def new(cls, params: GridParams, cash: float) -> GridState:
        n = int(params.grid_levels)
        hdr = np.zeros(1, dtype=gnb.GRID_STATE_DTYPE)
        hdr[0]["cash"] = float(cash)
        hdr[0]["bar"] = -1
        slots = np.zeros(n - 1, dtype=gnb.SLOT_DTYPE)
        slots["trade"] = -1
        book, summary = book_arrays(2 * n + 4)
        return cls(hdr, slots, np.full(n, np.nan), book, summary)

    def copy(self) -> GridState:
        return GridState(*(a.copy() for a in self.arrays()))

    def arrays(self) -> tuple[np.ndarray, ...]:
        return self.hdr, self.slots, self.levels, self.book, self.summary

    def to_bytes(self) -> bytes:
        buf = io.BytesIO()
        np.savez(buf, hdr=self.hdr, slots=self.slots, levels=self.levels, book=self.book, summary=self.summary)
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> GridState:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            return cls(z["hdr"].copy(), z["slots"].copy(), z["levels"].copy(), z["book"].copy(),
                       z["summary"].copy())

    def intents(self) -> np.ndarray:
        """The desired book after the last step (INTENT_DTYPE rows)."""
        return self.book[: int(self.summary[0]["n"])].copy()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, GridState):
            return NotImplemented
        return all(same_arrays(a, b) for a, b in zip(self.arrays(), other.arrays(), strict=True))


# ------------------------------------------------------------------------------------------------ runs
def features(bars: pd.DataFrame, params: GridParams) -> tuple[np.ndarray, ...]:
    """(open, high, low, close, ATR, ADX) as float arrays; indicators are causal (value at t uses bars <= t)."""
    o, h, lo, c = (bars[k].to_numpy(np.float64) for k in ("open", "high", "low", "close"))
    atr = atr_1d_nb(h, lo, c, int(params.atr_period))
    if params.adx_filter:
        adx = adx_1d_nb(h, lo, c, int(params.adx_period))[0]
    else:
        adx = np.full(len(c), np.nan)
    return o, h, lo, c, atr, adx


def warmup_bars(params: GridParams) -> int:
    """Bars for the indicators (ATR, ADX) to converge to 1e-12 of their full-history values."""
    return _MEMORY_PERIODS * max(int(params.atr_period), 2 * int(params.adx_period)) + 2


def simulate(feats: tuple[np.ndarray, ...], params: GridParams, costs: Costs, state: GridState,
             start: int = 0, end: int | None = None, fills: np.ndarray | None = None, n_fills: int = 0,
             out: np.ndarray | None = None) -> tuple[np.ndarray, int, np.ndarray]:
    """Step the kernel over bars start..end-1 of `feats`, mutating `state`; returns (fills, n_fills, out)."""
    o, h, lo, c, atr, adx = feats
    n = len(c)
    end = n if end is None else end
    fills = empty_fills() if fills is None else fills
    out = np.full((n, gnb.N_OUT), np.nan) if out is None else out
    fills, nf = gnb.simulate_grid_nb(o, h, lo, c, atr, adx, params.record(costs)[0], state.hdr[0], state.slots,
                                     state.levels, state.book, state.summary[0], start, end, fills, n_fills, out)
    return fills, nf, out


def outputs_matrix(bars: pd.DataFrame, params: GridParams, costs: Costs = Costs(),  # noqa: B008
                   initial_equity: float = 10_000.0) -> np.ndarray:
    """Per-bar outputs (n, len(OUTPUT_NAMES)) of a fresh run over all `bars` (for the causality harness)."""
    feats = features(bars, params)
    state = GridState.new(params, initial_equity)
    return simulate(feats, params, costs, state)[2]


def window_replay(bars: pd.DataFrame, params: GridParams, t: int, window: int, costs: Costs = Costs(),  # noqa: B008
                  initial_equity: float = 10_000.0) -> np.ndarray:
    """Outputs at bar t from the state saved after bar t - window, restored from bytes, plus bars up to t.

    The indicators are recomputed on only the `warmup_bars` bars before the window and the window itself,
    as the live runner would: this is window sufficiency for a stateful strategy (docs/grid_dca.md).
    """
    s = t - window
    feats = features(bars.iloc[: s + 1], params)
    state = GridState.new(params, initial_equity)
    simulate(feats, params, costs, state, 0, s + 1)
    state = GridState.from_bytes(state.to_bytes())
    lo_bar = max(0, s + 1 - warmup_bars(params))
    sub = bars.iloc[lo_bar: t + 1]
    feats2 = features(sub, params)
    out = simulate(feats2, params, costs, state, s + 1 - lo_bar, len(sub))[2]
    return out[-1]


def levels_matrix(result: Any, params: GridParams | None = None) -> np.ndarray:
    """(n, grid_levels) price of each level per bar after its close (NaN while no grid rests), for the report."""
    params = result.extra["params"] if params is None else params
    o = result.outputs
    lower, upper = o["lower"].to_numpy(), o["upper"].to_numpy()
    built = np.isin(o["status"].to_numpy(), (gnb.ACTIVE, gnb.PAUSED))  # levels resting (buys withdrawn if paused)
    n = int(params.grid_levels)
    frac = np.arange(n) / (n - 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        if params.spacing == "geometric":
            lv = lower[:, None] * (upper / lower)[:, None] ** frac[None, :]
        else:
            lv = lower[:, None] + (upper - lower)[:, None] * frac[None, :]
    lv[~(built & (lower > 0))] = np.nan
    return lv


def run_grid(bars: pd.DataFrame, params: GridParams, timeframe: str, costs: Costs = Costs(),  # noqa: B008
             initial_equity: float = 10_000.0, first: int = 0):
    """Backtest the grid on `bars`: indicators on all bars, trading from bar `first`; -> OrderBacktestResult."""
    from traderagent.backtest import orders

    return orders.run_order_strategy(
        "grid", bars, params, timeframe, costs, initial_equity, first,
        features=features, new_state=GridState.new, simulate=simulate, output_names=gnb.OUTPUT_NAMES,
    )


def with_overrides(params: GridParams, **changes: Any) -> GridParams:
    return replace(params, **changes)


# ------------------------------------------------------------------------------------------ registry
def _params_model():
    from traderagent.config.models import GridConfig

    return GridConfig


def _as_params(params: Any) -> GridParams:
    return params if isinstance(params, GridParams) else grid_params(params)


def _outputs(bars_by_tf: dict, params: Any) -> np.ndarray:
    p = _as_params(params)
    return outputs_matrix(bars_by_tf[p.timeframe], p)


def _run(bars: pd.DataFrame, params: Any, timeframe: str, **kwargs: Any):
    return run_grid(bars, _as_params(params), timeframe, **kwargs)


SPEC = StrategySpec(
    name="grid",
    kind="order",
    params_model=_params_model(),
    base_timeframe=lambda p: timeframes.normalize(_as_params(p).timeframe),
    timeframes=lambda p: (timeframes.normalize(_as_params(p).timeframe),),
    warmup_bars=lambda p: warmup_bars(_as_params(p)),
    outputs=_outputs,
    run=_run,
    description="Grid: buy levels below, sell levels above, counter-order one level away; ADX pause, grid stop",
    extra={"output_names": list(gnb.OUTPUT_NAMES), "window_replay": lambda bars, p, t, w: window_replay(
        bars, _as_params(p), t, w)},
)
