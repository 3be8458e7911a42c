"""DCA strategy: the numba params record, state that saves and restores, and the runs over bars.

The params model is the config section `DcaConfig` (every default and check lives in the schema).

The state machine is `dca_nb` (numba); fills follow `traderagent.core.orders_nb`'s intrabar rule;
booking, gates and the result come from `traderagent.backtest.orders`. See docs/grid_dca.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from traderagent.config.models import DcaConfig
from traderagent.config.units import percent_to_fraction
from traderagent.config.validation import validate
from traderagent.core.costs import Costs
from traderagent.core.orders_nb import book_arrays, empty_fills
from traderagent.core.records import Reason
from traderagent.core.risk import kernel_risk
from traderagent.core.signals import ohlc_arrays
from traderagent.core.spec import LiveKernel, OrderMachine, order_spec
from traderagent.core.spec import outputs_matrix as _outputs_matrix
from traderagent.core.spec import window_replay as _window_replay
from traderagent.core.state import BookState, Guard, grow, load_npz
from traderagent.indicators.memory import memory_bars
from traderagent.indicators.nb import adx_1d_nb, ema_1d_nb
from traderagent.strategies import dca_nb as dnb


def kernel_params(p: DcaConfig, costs: Costs) -> np.ndarray:
    """The numba params record (1-element DCA_PARAMS_DTYPE array) of a DCA section with the run's costs."""
    r = np.zeros(1, dtype=dnb.DCA_PARAMS_DTYPE)
    v = r[0]
    v["entry_mode"] = int(p.entry == "always")
    v["adx_min"] = float(p.adx_min)
    v["require_di"] = int(p.require_minus_di)
    v["base_fraction"] = float(p.base_order_size)
    v["capital_fraction"] = float(p.capital_per_sequence)
    v["max_position_fraction"] = float(p.max_position)
    v["max_safety"] = int(p.max_safety_orders)
    v["safety_mult"] = float(p.safety_order_multiplier)
    v["step"] = float(p.price_deviation)
    v["step_scale"] = float(p.step_scale)
    v["tp"] = p.take_profit_fraction
    v["n_scale"] = len(p.scale_out)
    for i, (pct, frac) in enumerate(p.scale_out):
        v["scale_pct"][i] = percent_to_fraction(pct)
        v["scale_frac"][i] = float(frac)
    v["stop_fraction"] = p.stop_fraction
    v["stop_ref"] = int(p.stop_reference == "average")
    v["max_cycle_drawdown"] = float(p.max_cycle_drawdown)
    v["cooldown_bars"] = int(p.cooldown_bars)
    v["fees"] = float(costs.fees)
    v["slippage"] = float(costs.slippage)
    return r


def dca_params(section: DcaConfig | None = None, **overrides: Any) -> DcaConfig:
    """The DCA params: a config section (DcaConfig, defaults from the schema) with keyword overrides, validated.

    Bad values raise ConfigError with the config's one-line messages."""
    if section is not None and not overrides:
        return section
    data = {} if section is None else {k: getattr(section, k) for k in section.model_fields_set}
    data.update(overrides)
    return validate(DcaConfig, data, source="dca params", prefix=("strategies", "dca"))


def ladder_table(params: DcaConfig, first_price: float) -> pd.DataFrame:
    """The safety ladder laid after a base fill at `first_price` (before the capital caps): k, drop, price, quote
    per unit of base quote."""
    rows = []
    for k in range(1, int(params.max_safety_orders) + 1):
        d = float(dnb.safety_deviation_nb(k, float(params.price_deviation), float(params.step_scale)))
        rows.append({"k": k, "drop": d, "price": first_price * (1 - d),
                     "quote_per_base": float(params.safety_order_multiplier) ** k})
    return pd.DataFrame(rows, columns=["k", "drop", "price", "quote_per_base"])


# ----------------------------------------------------------------------------------------------- state
@dataclass(eq=False)
class DcaState(BookState):
    """The DCA machine's complete state: plain numpy arrays (save to bytes, restore anywhere)."""

    hdr: np.ndarray
    ladder: np.ndarray
    book: np.ndarray  # the desired book
    summary: np.ndarray
    log: np.ndarray  # ladder log (report data); rows beyond n_log are unused
    n_log: int = 0
    guard: Guard | None = None  # the risk guard's state and the guarded book

    @classmethod
    def new(cls, params: DcaConfig, cash: float) -> DcaState:
        hdr = np.zeros(1, dtype=dnb.DCA_STATE_DTYPE)
        h = hdr[0]
        h["cash"] = float(cash)
        h["bar"] = -1
        h["trade"] = -1
        h["avg"] = np.nan
        h["tp_price"] = np.nan
        h["stop_price"] = np.nan
        ladder = np.zeros(max(int(params.max_safety_orders), 1), dtype=dnb.LADDER_DTYPE)
        book, summary = book_arrays(max(int(params.max_safety_orders), 1) + dnb.MAX_SCALE + 3)
        return cls(hdr, ladder, book, summary, np.empty(64, dtype=dnb.LADDER_LOG_DTYPE), 0, Guard.new(len(book)))

    def arrays(self) -> tuple[np.ndarray, ...]:
        return self.hdr, self.ladder, self.book, self.summary, self.log[: self.n_log], *self.guard.arrays()

    def copy(self) -> DcaState:
        return DcaState.from_bytes(self.to_bytes())

    def to_bytes(self) -> bytes:
        return self.savez(hdr=self.hdr, ladder=self.ladder, book=self.book, summary=self.summary,
                          log=self.log[: self.n_log], guard=np.frombuffer(self.guard.to_bytes(), np.uint8))

    @classmethod
    def from_bytes(cls, data: bytes) -> DcaState:
        z = load_npz(data)
        return cls(z["hdr"], z["ladder"], z["book"], z["summary"], grow(z["log"]), len(z["log"]),
                   Guard.from_bytes(z["guard"].tobytes()))


# ------------------------------------------------------------------------------------------------ runs
def features(bars: pd.DataFrame, params: DcaConfig) -> tuple[np.ndarray, ...]:
    """(open, high, low, close, EMA fast, EMA slow, ADX, +DI, -DI), all causal."""
    o, h, lo, c = ohlc_arrays(bars)
    fast = ema_1d_nb(c, int(params.ema_fast))
    slow = ema_1d_nb(c, int(params.ema_slow))
    adx, pdi, mdi = adx_1d_nb(h, lo, c, int(params.adx_period))
    return o, h, lo, c, fast, slow, adx, pdi, mdi


def warmup_bars(params: DcaConfig) -> int:
    """Bars for the EMAs and ADX (two Wilder smoothings) to reproduce their full-history values bit for bit."""
    ema = memory_bars(2 / (int(params.ema_slow) + 1))
    return max(ema, 2 * memory_bars(1.0 / int(params.adx_period))) + 2


def simulate(feats: tuple[np.ndarray, ...], params: DcaConfig, costs: Costs, state: DcaState, start: int = 0,
             end: int | None = None, fills: np.ndarray | None = None, n_fills: int = 0,
             out: np.ndarray | None = None, risk=None, days: np.ndarray | None = None,
             compact: bool = True) -> tuple[np.ndarray, int, np.ndarray]:
    """Step the kernel over bars start..end-1, mutating `state`; returns (fills, n_fills, out).

    `risk` is the risk section (RiskConfig; None: guard off) and `days` the bars' UTC day numbers."""
    n = len(feats[3])
    end = n if end is None else end
    fills = empty_fills() if fills is None else fills
    out = np.full((n, dnb.N_OUT), np.nan) if out is None else out
    rp, days = kernel_risk(risk, costs, days, n)
    fills, nf, state.log, state.n_log, state.guard.log = dnb.simulate_dca_nb(
        *feats, days, kernel_params(params, costs)[0], state.hdr[0], state.ladder, state.book, state.summary[0], rp,
        *state.guard.args(), start, end, fills, n_fills, state.log, state.n_log, out)
    return fills, nf, out


def outputs_matrix(bars: pd.DataFrame, params: DcaConfig, costs: Costs = Costs(),  # noqa: B008
                   initial_equity: float = 10_000.0) -> np.ndarray:
    """Per-bar outputs (n, len(OUTPUT_NAMES)) of a fresh run over all `bars` (for the causality harness)."""
    return _outputs_matrix(MACHINE, bars, params, costs, initial_equity)


def window_replay(bars: pd.DataFrame, params: DcaConfig, t: int, window: int, costs: Costs = Costs(),  # noqa: B008
                  initial_equity: float = 10_000.0) -> np.ndarray:
    """Outputs at bar t from the state saved `window` bars earlier plus a trailing window (core.spec.window_replay)."""
    return _window_replay(MACHINE, warmup_bars, bars, params, t, window, costs, initial_equity)


def ladders(result: Any, params: DcaConfig, state: DcaState, first: int) -> dict:
    """Per cycle: its safety ladder (k, price, quote, placed, filled): plain data for reports (`result.extra`)."""
    log = state.log[: state.n_log]
    fills = result.fills
    out = []
    for trade in np.unique(log["trade"]):
        rows = log[log["trade"] == trade]
        tf = fills[fills["trade"] == trade]
        n_safety = int(((tf["side"] > 0) & (tf["reason"] == Reason.limit)).sum())  # they fill top down
        out.append({
            "trade": int(trade),
            "start_time": result.index[int(rows["bar"][0]) - first],
            "end_time": result.index[int(tf["bar"][-1])] if len(tf) else None,
            "base_price": float(tf["price"][0]) if len(tf) else None,
            "safety": [{"k": int(r["k"]), "price": float(r["price"]), "quote": float(r["quote"]),
                        "placed": bool(r["placed"]), "filled": int(r["k"]) <= n_safety}
                       for r in rows],
        })
    return {"ladders": out}


def run_dca_multi(bars_by_symbol: dict[str, pd.DataFrame], params: DcaConfig, costs: Costs = Costs(),  # noqa: B008
                  equity_per_symbol: float = 10_000.0) -> tuple[np.ndarray, dict[str, pd.DataFrame]]:
    """Several symbols on their common bars with at most `max_concurrent_cycles` cycles open at once.

    Returns (active cycles per bar, per-symbol outputs frames). Each symbol has its own cash.
    """
    names = list(bars_by_symbol)
    index = bars_by_symbol[names[0]].index
    for k in names[1:]:
        index = index.intersection(bars_by_symbol[k].index)
    feats = [features(bars_by_symbol[k].loc[index], params) for k in names]
    stacked = [np.ascontiguousarray(np.column_stack([f[j] for f in feats])) for j in range(9)]
    states = [DcaState.new(params, equity_per_symbol) for _ in names]
    hdrs = np.concatenate([s.hdr for s in states])
    ladders = np.stack([s.ladder for s in states])
    books = np.stack([s.book for s in states])
    summaries = np.concatenate([s.summary for s in states])
    out = np.full((len(index), len(names), dnb.N_OUT), np.nan)
    active = dnb.simulate_dca_multi_nb(*stacked, kernel_params(params, costs)[0], hdrs, ladders, books, summaries,
                                       int(params.max_concurrent_cycles), out)
    frames = {k: pd.DataFrame(out[:, j, :], index=index, columns=list(dnb.OUTPUT_NAMES)) for j, k in enumerate(names)}
    return active, frames


# ------------------------------------------------------------------------------------------ registry
def _as_params(params: Any) -> DcaConfig:
    return params if isinstance(params, DcaConfig) else dca_params(**dict(params or {}))


def overlay_data(result: Any, bars_by_tf: dict, params: DcaConfig) -> dict:
    """Plain data a chart draws: the ladders per cycle, the average entry, take-profit and stop lines."""
    out = result.outputs
    return {"ladders": result.extra.get("ladders", []), "avg": out["avg_price"].to_numpy(float),
            "tp": out["tp_price"].to_numpy(float), "stop": out["stop_price"].to_numpy(float)}


def _live_on_fill(state: DcaState, kp, fills, nf, bar, tag, side, price, size, quote, open_):
    fills, nf, state.log, state.n_log, cancel = dnb.dca_on_fill_nb(state.hdr[0], state.ladder, kp, fills, nf,
                                                                   state.log, state.n_log, bar, tag, price, size,
                                                                   quote)
    return fills, nf, 1 if cancel else 0


def _live_close(state: DcaState, kp, rp, bar: int, feats: tuple, j: int) -> None:
    g = state.guard
    _, _, _, c, ema_f, ema_s, adx, pdi, mdi = feats
    g.log = dnb.dca_close_nb(state.hdr[0], state.ladder, state.book, state.summary[0], kp, g.book, g.summary[0], rp,
                             g.risk[0], g.log, bar, c[j], ema_f[j], ema_s[j], adx[j], pdi[j], mdi[j], 1)


LIVE = LiveKernel(kernel_params=lambda p, costs: kernel_params(p, costs)[0], on_fill=_live_on_fill,
                  close=_live_close)

MACHINE = OrderMachine(as_params=_as_params, features=features, new_state=DcaState.new, simulate=simulate,
                       output_names=dnb.OUTPUT_NAMES, report_data=ladders, kernel=LIVE)

SPEC = order_spec(
    "dca", DcaConfig, MACHINE, warmup_bars, overlay_data=overlay_data,
    description="DCA: base order on a downtrend trigger, safety ladder, take-profit from the average, stops",
)
