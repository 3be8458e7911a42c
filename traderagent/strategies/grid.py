"""Grid strategy: the numba params record, presets, state that saves and restores, and the runs over bars.

The params model is the config section `GridConfig` (every default and check lives in the schema);
`grid_params` applies a preset and overrides to it.

The state machine itself is `grid_nb` (numba); the order engine and the intrabar fill rule are
`traderagent.core.orders_nb`; booking, integrity gates and the result are `traderagent.backtest.orders`.
See docs/grid_dca.md for the rules in prose.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from traderagent.config.models import GridConfig, grid_presets
from traderagent.config.validation import validate
from traderagent.core.costs import Costs
from traderagent.core.orders_nb import book_arrays, empty_fills
from traderagent.core.risk import kernel_risk
from traderagent.core.signals import ohlc_arrays
from traderagent.core.spec import LiveKernel, OrderMachine, order_spec
from traderagent.core.spec import outputs_matrix as _outputs_matrix
from traderagent.core.spec import window_replay as _window_replay
from traderagent.core.state import BookState, Guard, load_npz
from traderagent.errors import ConfigError
from traderagent.indicators.memory import memory_bars
from traderagent.indicators.nb import adx_1d_nb, atr_1d_nb
from traderagent.strategies import grid_nb as gnb

_STOP_MODES = ("none", "percentage", "atr")


def kernel_params(p: GridConfig, costs: Costs) -> np.ndarray:
    """The numba params record (1-element GRID_PARAMS_DTYPE array) of a grid section with the run's costs."""
    r = np.zeros(1, dtype=gnb.GRID_PARAMS_DTYPE)
    v = r[0]
    v["n_levels"] = int(p.grid_levels)
    v["geometric"] = int(p.spacing == "geometric")
    v["range_mode"] = int(p.range_mode == "atr")
    v["range_fraction"] = p.range_fraction
    v["range_atr_mult"] = float(p.range_atr_mult)
    v["atr_hysteresis"] = float(p.atr_hysteresis)
    v["recenter"] = int(p.recenter)
    v["recenter_threshold"] = p.recenter_fraction
    v["level_fraction"] = float(p.risk_per_level)
    v["max_exposure"] = float(p.max_exposure)
    v["stop_mode"] = _STOP_MODES.index(p.stop_mode)
    v["stop_fraction"] = p.stop_fraction
    v["stop_atr_mult"] = float(p.stop_atr_mult)
    v["adx_filter"] = int(p.adx_filter)
    v["adx_threshold"] = float(p.adx_threshold)
    v["adx_reactivate"] = float(p.adx_reactivate)
    v["reactivate_bars"] = int(p.reactivate_bars)
    v["stop_cooldown_bars"] = int(p.stop_cooldown_bars)
    v["fees"] = float(costs.fees)
    v["slippage"] = float(costs.slippage)
    return r


def presets() -> dict[str, dict]:
    """The packaged presets by name (low, medium, high volatility): GridConfig field -> value."""
    return grid_presets()


def grid_params(section: GridConfig | None = None, preset: str | None = None, **overrides: Any) -> GridConfig:
    """The grid's params: a config section with a preset and keyword overrides applied (all validated).

    Every default comes from the schema (GridConfig). A preset, named here or in the section, fills the fields
    that neither the section (its explicitly set fields) nor the overrides set. Bad values raise ConfigError.
    """
    if section is not None and preset is None and not overrides:
        return section
    data = {} if section is None else {k: getattr(section, k) for k in section.model_fields_set}
    if preset is not None:
        data["preset"] = preset
    data.update(overrides)
    return validate(GridConfig, data, source="grid params", prefix=("strategies", "grid"))


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


def density_levels(params: GridConfig, price: float, costs: Costs, margin: float = 0.5,
                   atr: float | None = None) -> int:
    """grid_levels for `params`' range around `price` so each cycle clears round-trip fees by `margin`."""
    if params.range_mode == "atr":
        if atr is None or not atr > 0:
            raise ConfigError("grid density: an ATR value is needed for range_mode 'atr'")
        lower, upper = price - params.range_atr_mult * atr, price + params.range_atr_mult * atr
    else:
        r = params.range_fraction
        lower, upper = price * (1 - r), price * (1 + r)
    return max_levels_for_fees(lower, upper, params.spacing == "geometric", costs.fees, margin)


# ----------------------------------------------------------------------------------------------- state
@dataclass(eq=False)
class GridState(BookState):
    """The grid's complete state: plain numpy arrays, so it saves to bytes and restores anywhere."""

    hdr: np.ndarray  # GRID_STATE_DTYPE, shape (1,)
    slots: np.ndarray  # SLOT_DTYPE, shape (n_levels - 1,)
    levels: np.ndarray  # float64, shape (n_levels,)
    book: np.ndarray  # INTENT_DTYPE: the desired book
    summary: np.ndarray  # BOOK_SUMMARY_DTYPE, shape (1,)
    guard: Guard  # the risk guard's state and the guarded book

    @classmethod
    def new(cls, params: GridConfig, cash: float) -> GridState:
        n = int(params.grid_levels)
        hdr = np.zeros(1, dtype=gnb.GRID_STATE_DTYPE)
        hdr[0]["cash"] = float(cash)
        hdr[0]["bar"] = -1
        slots = np.zeros(n - 1, dtype=gnb.SLOT_DTYPE)
        slots["trade"] = -1
        book, summary = book_arrays(2 * n + 4)
        return cls(hdr, slots, np.full(n, np.nan), book, summary, Guard.new(len(book)))

    def copy(self) -> GridState:
        return GridState.from_bytes(self.to_bytes())

    def arrays(self) -> tuple[np.ndarray, ...]:
        return self.hdr, self.slots, self.levels, self.book, self.summary, *self.guard.arrays()

    def to_bytes(self) -> bytes:
        return self.savez(hdr=self.hdr, slots=self.slots, levels=self.levels, book=self.book, summary=self.summary,
                          guard=np.frombuffer(self.guard.to_bytes(), np.uint8))

    @classmethod
    def from_bytes(cls, data: bytes) -> GridState:
        z = load_npz(data)
        return cls(z["hdr"], z["slots"], z["levels"], z["book"], z["summary"], Guard.from_bytes(z["guard"].tobytes()))


# ------------------------------------------------------------------------------------------------ runs
def features(bars: pd.DataFrame, params: GridConfig) -> tuple[np.ndarray, ...]:
    """(open, high, low, close, ATR, ADX) as float arrays; indicators are causal (value at t uses bars <= t)."""
    o, h, lo, c = ohlc_arrays(bars)
    atr = atr_1d_nb(h, lo, c, int(params.atr_period))
    if params.adx_filter:
        adx = adx_1d_nb(h, lo, c, int(params.adx_period))[0]
    else:
        adx = np.full(len(c), np.nan)
    return o, h, lo, c, atr, adx


def warmup_bars(params: GridConfig) -> int:
    """Bars for the indicators (ATR, ADX: two Wilder smoothings) to reproduce their full-history values bit for bit."""
    return max(memory_bars(1.0 / int(params.atr_period)), 2 * memory_bars(1.0 / int(params.adx_period))) + 2


def simulate(feats: tuple[np.ndarray, ...], params: GridConfig, costs: Costs, state: GridState,
             start: int = 0, end: int | None = None, fills: np.ndarray | None = None, n_fills: int = 0,
             out: np.ndarray | None = None, risk=None, days: np.ndarray | None = None,
             compact: bool = True) -> tuple[np.ndarray, int, np.ndarray]:
    """Step the kernel over bars start..end-1 of `feats`, mutating `state`; returns (fills, n_fills, out).

    `risk` is the risk section (RiskConfig; None: guard off) and `days` the bars' UTC day numbers."""
    o, h, lo, c, atr, adx = feats
    n = len(c)
    end = n if end is None else end
    fills = empty_fills() if fills is None else fills
    out = np.full((n, gnb.N_OUT), np.nan) if out is None else out
    rp, days = kernel_risk(risk, costs, days, n)
    fills, nf, state.guard.log = gnb.simulate_grid_nb(
        o, h, lo, c, atr, adx, days, kernel_params(params, costs)[0], state.hdr[0], state.slots, state.levels,
        state.book, state.summary[0], rp, *state.guard.args(), start, end, fills, n_fills, out)
    return fills, nf, out


def outputs_matrix(bars: pd.DataFrame, params: GridConfig, costs: Costs = Costs(),  # noqa: B008
                   initial_equity: float = 10_000.0) -> np.ndarray:
    """Per-bar outputs (n, len(OUTPUT_NAMES)) of a fresh run over all `bars` (for the causality harness)."""
    return _outputs_matrix(MACHINE, bars, params, costs, initial_equity)


def window_replay(bars: pd.DataFrame, params: GridConfig, t: int, window: int, costs: Costs = Costs(),  # noqa: B008
                  initial_equity: float = 10_000.0) -> np.ndarray:
    """Outputs at bar t from the state saved `window` bars earlier plus a trailing window (core.spec.window_replay)."""
    return _window_replay(MACHINE, warmup_bars, bars, params, t, window, costs, initial_equity)


def levels_matrix(result: Any, params: GridConfig | None = None) -> np.ndarray:
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


# ------------------------------------------------------------------------------------------ registry
def _as_params(params: Any) -> GridConfig:
    return params if isinstance(params, GridConfig) else grid_params(**dict(params or {}))


def overlay_data(result: Any, bars_by_tf: dict, params: GridConfig) -> dict:
    """Plain data a chart draws: the level prices per bar and the grid stop while a grid rests."""
    status = result.outputs["status"].to_numpy()
    resting = np.isin(status, (gnb.ACTIVE, gnb.PAUSED))
    return {"levels": levels_matrix(result, params),
            "stop": np.where(resting, result.outputs["stop"].to_numpy(float), np.nan)}


def _live_on_fill(state: GridState, kp, fills, nf, bar, tag, side, price, size, quote, open_):
    fills, nf, cancel = gnb.grid_on_fill_nb(state.hdr[0], state.slots, state.levels, kp, fills, nf, bar, tag, side,
                                            price, size, quote)
    return fills, nf, 1 if cancel else 0


def _live_close(state: GridState, kp, rp, bar: int, feats: tuple, j: int) -> None:
    g = state.guard
    _, _, _, c, atr, adx = feats
    g.log = gnb.grid_close_nb(state.hdr[0], state.slots, state.levels, state.book, state.summary[0], kp, g.book,
                              g.summary[0], rp, g.risk[0], g.log, bar, c[j], atr[j], adx[j])


LIVE = LiveKernel(kernel_params=lambda p, costs: kernel_params(p, costs)[0], on_fill=_live_on_fill,
                  close=_live_close)

MACHINE = OrderMachine(as_params=_as_params, features=features, new_state=GridState.new, simulate=simulate,
                       output_names=gnb.OUTPUT_NAMES, kernel=LIVE)

SPEC = order_spec(
    "grid", GridConfig, MACHINE, warmup_bars, overlay_data=overlay_data,
    description="Grid: buy levels below, sell levels above, counter-order one level away; ADX pause, grid stop",
)
