"""Hybrid Grid + DCA (`--strategy hybrid`): the grid in charge in ranging markets, the DCA on a grid breakdown
(a confirmed downtrend), one account, explicit transitions. Kernel and rules: `hybrid_nb` (module docstring).

It is an order strategy with the same contract as the grid and the DCA (state machine over plain arrays, one
combined book of intents per bar, state saved and restored as bytes), so the live adapter can replay it. The
vectorized driver (`traderagent.backtest.orders`) and the live stepper run it through `SPEC.extra["machine"]`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from traderagent.config.models import HybridConfig as HybridConfig  # the params model, re-exported
from traderagent.core.costs import Costs
from traderagent.core.orders_nb import book_arrays, empty_fills
from traderagent.core.risk import kernel_risk
from traderagent.core.spec import LiveKernel, OrderMachine, order_spec
from traderagent.core.spec import outputs_matrix as _outputs_matrix
from traderagent.core.spec import window_replay as _window_replay
from traderagent.core.state import BookState, Guard, load_npz
from traderagent.data import timeframes
from traderagent.data.resample import align_indices
from traderagent.strategies import dca as dca_mod
from traderagent.strategies import grid as grid_mod
from traderagent.strategies import hybrid_nb as hnb
from traderagent.strategies import regime as rg
from traderagent.strategies.regime_nb import new_confirm_state
from traderagent.strategies.selector import regime_mask

_EXITS = {"close": hnb.CLOSE, "keep": hnb.KEEP, "handover": hnb.HANDOVER}


def params_from_app(cfg: Any, section: HybridConfig | None = None) -> HybridConfig:
    """Hybrid params inside a whole config: missing grid/dca come from strategies.grid / strategies.dca."""
    h = section if section is not None else (getattr(cfg.strategies, "hybrid", None) or HybridConfig())
    upd = {}
    if h.grid is None and cfg.strategies.grid is not None:
        upd["grid"] = cfg.strategies.grid
    if h.dca is None and cfg.strategies.dca is not None:
        upd["dca"] = cfg.strategies.dca
    return h.model_copy(update=upd) if upd else h


def single_machine(strategy: str, section: Any, selector: Any) -> HybridConfig:
    """The grid or the DCA alone, in charge only in the regimes the selector routes to it (a portfolio sleeve).

    Its transitions are the selector's (a grid cannot hand over without a DCA beside it: "handover" keeps);
    a DCA keeps its own entry rule (`entry`) on top of the regime."""
    regimes = selector.regimes_of(strategy)
    common = dict(timeframe=section.timeframe, regime=selector.regime, dca_exit=selector.dca_exit,
                  grid_exit="keep" if selector.grid_exit == "handover" else selector.grid_exit)
    if strategy == "grid":
        return HybridConfig(**common, grid_regimes=regimes, dca_regimes=(), grid=section)
    if strategy == "dca":
        return HybridConfig(**common, grid_regimes=(), dca_regimes=regimes, dca=section, dca_entry="regime_and_trigger")
    raise ValueError(f"single_machine: {strategy!r} is neither grid nor dca")


def kernel_params(p: HybridConfig) -> np.ndarray:
    r = np.zeros(1, dtype=hnb.HYB_PARAMS_DTYPE)
    r[0]["grid_mask"] = regime_mask(p.grid_regimes)
    r[0]["dca_mask"] = regime_mask(p.dca_regimes)
    r[0]["grid_exit"] = _EXITS[p.grid_exit]
    r[0]["dca_exit"] = _EXITS[p.dca_exit]
    r[0]["confirm"] = int(p.regime.confirmation_bars)
    return r


# ----------------------------------------------------------------------------------------------- state
@dataclass(eq=False)
class HybridState(BookState):
    """Grid state + DCA state + hybrid header + regime confirmation state + the combined book + the risk guard."""

    grid: grid_mod.GridState
    dca: dca_mod.DcaState
    hdr: np.ndarray  # HYB_STATE_DTYPE (1,)
    regime: np.ndarray  # CONFIRM_STATE_DTYPE (1,)
    book: np.ndarray  # the combined desired book
    summary: np.ndarray
    guard: Guard  # the risk guard of the one account, and the guarded combined book

    @classmethod
    def new(cls, params: HybridConfig, cash: float) -> HybridState:
        g, d = params.machines()
        gs = grid_mod.GridState.new(g, float(cash))  # all cash starts with the grid; it moves to whoever is in charge
        ds = dca_mod.DcaState.new(d, 0.0)
        book, summary = book_arrays(gs.book.shape[0] + ds.book.shape[0] + 1)
        return cls(gs, ds, np.zeros(1, dtype=hnb.HYB_STATE_DTYPE), new_confirm_state(), book, summary,
                   Guard.new(len(book)))

    def arrays(self) -> tuple[np.ndarray, ...]:
        return (*self.grid.arrays(), *self.dca.arrays(), self.hdr, self.regime, self.book, self.summary,
                *self.guard.arrays())

    def to_bytes(self) -> bytes:
        return self.savez(grid=np.frombuffer(self.grid.to_bytes(), np.uint8),
                          dca=np.frombuffer(self.dca.to_bytes(), np.uint8),
                          hdr=self.hdr, regime=self.regime, book=self.book, summary=self.summary,
                          guard=np.frombuffer(self.guard.to_bytes(), np.uint8))

    @classmethod
    def from_bytes(cls, data: bytes) -> HybridState:
        z = load_npz(data)
        return cls(grid_mod.GridState.from_bytes(z["grid"].tobytes()), dca_mod.DcaState.from_bytes(z["dca"].tobytes()),
                   z["hdr"], z["regime"], z["book"], z["summary"], Guard.from_bytes(z["guard"].tobytes()))


# ------------------------------------------------------------------------------------------------ runs
def features(bars: pd.DataFrame, params: HybridConfig) -> tuple[np.ndarray, ...]:
    """(open, high, low, close, ATR, grid ADX, EMA fast, EMA slow, DCA ADX, +DI, -DI, regime raw labels, regime
    candle open times, newest regime candle visible per bar); all causal."""
    return features_tf({params.timeframe: bars}, params)


def timeframes_of(params: HybridConfig) -> tuple[str, ...]:
    """The base timeframe, then the regime's (when it differs)."""
    base, reg = timeframes.normalize(params.timeframe), timeframes.normalize(params.regime.timeframe)
    return (base,) if reg == base else (base, reg)


def features_tf(bars_by_tf: dict, params: HybridConfig, cache: dict | None = None) -> tuple[np.ndarray, ...]:
    """`features` from candles by timeframe: the regime timeframe's candles when given (a live runner's trailing
    window), else resampled from the base candles (the one resample and alignment code either way). With a
    `cache`, the regime's raw labels are recomputed only when a regime candle closed."""
    bars = bars_by_tf[params.timeframe]
    g, d = params.machines()
    o, h, lo, c, atr, gadx = grid_mod.features(bars, g)
    _, _, _, _, ema_f, ema_s, dadx, pdi, mdi = dca_mod.features(bars, d)
    rtf = timeframes.normalize(params.regime.timeframe)
    rbars = bars_by_tf[rtf] if rtf in bars_by_tf else rg.regime_bars(bars, params.timeframe, params.regime)
    rbars = rbars.drop(columns="n_bars", errors="ignore")
    key = (len(rbars), rbars.index[0].value, rbars.index[-1].value) if len(rbars) else None
    if cache is not None and key is not None and cache.get("regime_key") == key:
        raw = cache["regime_raw"]
    else:
        raw = rg.run_kernel(rbars, params.regime)[1] if len(rbars) else np.zeros(0, dtype=np.int64)
        if cache is not None:
            cache["regime_key"], cache["regime_raw"] = key, raw
    rtimes = rbars.index.as_unit("ns").asi8.astype(np.int64)
    vis = align_indices(bars.index.as_unit("ns").asi8, params.timeframe, rtimes, params.regime.timeframe)
    return o, h, lo, c, atr, gadx, ema_f, ema_s, dadx, pdi, mdi, raw, rtimes, vis


def window_bars(params: HybridConfig) -> dict[str, int]:
    """Candles per timeframe a live window needs: the grid's and the DCA's indicators on the base timeframe, the
    regime's on its own (its confirmation state lives in the state, so only new regime candles are stepped)."""
    g, d = params.machines()
    base = timeframes.normalize(params.timeframe)
    rtf = timeframes.normalize(params.regime.timeframe)
    out = {base: max(grid_mod.warmup_bars(g), dca_mod.warmup_bars(d))}
    out[rtf] = max(out.get(rtf, 0), rg.indicator_bars(params.regime) + 2)
    return out


def warmup_bars(params: HybridConfig) -> int:
    """Base bars for every indicator (grid, DCA, and the regime's on its timeframe) to converge."""
    g, d = params.machines()
    ratio = timeframes.check_multiple(params.timeframe, params.regime.timeframe)
    return max(grid_mod.warmup_bars(g), dca_mod.warmup_bars(d), (rg.indicator_bars(params.regime) + 2) * ratio)


def compact_trades(fills: np.ndarray) -> None:
    """Renumber trade ids 0.. by first appearance (a handover folds grid cycles into one DCA cycle: no gaps)."""
    if not len(fills):
        return
    ids, first = np.unique(fills["trade"], return_index=True)
    order = ids[np.argsort(first)]
    remap = np.empty(int(ids.max()) + 1, dtype=np.int64)
    remap[order] = np.arange(len(order))
    fills["trade"] = remap[fills["trade"]]


def simulate(feats: tuple[np.ndarray, ...], params: HybridConfig, costs: Costs, state: HybridState, start: int = 0,
             end: int | None = None, fills: np.ndarray | None = None, n_fills: int = 0, out: np.ndarray | None = None,
             risk=None, days: np.ndarray | None = None, compact: bool = True) -> tuple[np.ndarray, int, np.ndarray]:
    """Step the kernel over bars start..end-1, mutating `state`; returns (fills, n_fills, out).

    `risk` is the risk section (RiskConfig; None: guard off) and `days` the bars' UTC day numbers."""
    g, d = params.machines()
    o, h, lo, c, atr, gadx, ema_f, ema_s, dadx, pdi, mdi, raw, rtimes, vis = feats
    n = len(c)
    end = n if end is None else end
    fills = empty_fills() if fills is None else fills
    out = np.full((n, hnb.N_OUT), np.nan) if out is None else out
    rp, days = kernel_risk(risk, costs, days, n)
    nxt = int(np.searchsorted(rtimes, state.regime[0]["last_time"], side="right"))
    gs, ds = state.grid, state.dca
    fills, nf, ds.log, ds.n_log, state.guard.log = hnb.simulate_hybrid_nb(
        o, h, lo, c, atr, gadx, ema_f, ema_s, dadx, pdi, mdi, raw, rtimes, vis, days, nxt, kernel_params(params)[0],
        grid_mod.kernel_params(g, costs)[0], dca_mod.kernel_params(d, costs)[0], state.hdr[0], state.regime[0],
        gs.hdr[0], gs.slots, gs.levels, gs.book, gs.summary[0], ds.hdr[0], ds.ladder, ds.book, ds.summary[0],
        state.book, state.summary[0], rp, *state.guard.args(), start, end, fills, n_fills, ds.log, ds.n_log, out)
    if compact:
        compact_trades(fills[:nf])
    return fills, nf, out


def risk_exempt(outputs: np.ndarray, fills: np.ndarray, index: pd.DatetimeIndex) -> dict[int, str]:
    """Trades a handover re-priced (the grid's units moved under the DCA's stop): the risk gate names them instead
    of holding them to the loss limit their first stop was sized for. `outputs` are the run's per-bar outputs."""
    handover = np.flatnonzero(np.diff(np.r_[0.0, outputs[:, hnb.OUTPUT_NAMES.index("handovers")]]) > 0)
    out: dict[int, str] = {}
    if not len(fills):
        return out
    n_trades = int(fills["trade"].max()) + 1
    for b in handover:
        upto = fills[fills["bar"] <= b]
        net = np.bincount(upto["trade"], weights=upto["side"] * upto["size"], minlength=n_trades)
        bought = np.bincount(upto["trade"], weights=np.where(upto["side"] > 0, upto["size"], 0.0), minlength=n_trades)
        for t in np.flatnonzero(net > 1e-9 * np.maximum(bought, 1e-300)):  # open at the handover: the DCA's new cycle
            out[int(t)] = f"handover at {index[b]:%Y-%m-%d %H:%M}"
    return out


def outputs_matrix(bars: pd.DataFrame, params: HybridConfig, costs: Costs = Costs(),  # noqa: B008
                   initial_equity: float = 10_000.0) -> np.ndarray:
    """Per-bar outputs (n, len(OUTPUT_NAMES)) of a fresh run over all `bars` (for the causality harness)."""
    return _outputs_matrix(MACHINE, bars, params, costs, initial_equity)


def window_replay(bars: pd.DataFrame, params: HybridConfig, t: int, window: int, costs: Costs = Costs(),  # noqa: B008
                  initial_equity: float = 10_000.0) -> np.ndarray:
    """Outputs at bar t from the state saved `window` bars earlier plus a trailing window (core.spec.window_replay)."""
    return _window_replay(MACHINE, warmup_bars, bars, params, t, window, costs, initial_equity)


def summary(result: Any, params: HybridConfig, state: HybridState, first: int) -> dict:
    """Switch counts and costs, bars with each machine in charge: plain data for reports (`result.extra`)."""
    h = result.state.hdr[0]
    o = result.outputs
    mode = o["mode"].to_numpy()
    return {"switches": int(h["switches"]), "handovers": int(h["handovers"]), "closes": int(h["closes"]),
            "switch_fees": float(h["switch_fees"]), "switch_slippage": float(h["switch_slippage"]),
            "bars_in_charge": {"none": int((mode == hnb.NONE).sum()), "grid": int((mode == hnb.GRID).sum()),
                               "dca": int((mode == hnb.DCA).sum())}}


# ------------------------------------------------------------------------------------------ registry
def _as_params(params: Any) -> HybridConfig:
    return params if isinstance(params, HybridConfig) else HybridConfig(**dict(params or {}))


def overlay_data(result: Any, bars_by_tf: dict, params: HybridConfig) -> dict:
    """Plain data a chart draws: the machine in charge per bar (hybrid_nb.NONE, GRID, DCA)."""
    return {"mode": result.outputs["mode"].to_numpy()}


def _live_params(p: HybridConfig, costs: Costs) -> tuple:
    g, d = p.machines()
    return kernel_params(p)[0], grid_mod.kernel_params(g, costs)[0], dca_mod.kernel_params(d, costs)[0]


def _live_on_fill(state: HybridState, kp, fills, nf, bar, tag, side, price, size, quote, open_):
    hp, gp, dp = kp
    gs, ds = state.grid, state.dca
    fills, nf, ds.log, ds.n_log, cancel = hnb.hybrid_on_fill_nb(
        state.hdr[0], gs.hdr[0], gs.slots, gs.levels, gp, ds.hdr[0], ds.ladder, dp, fills, nf, ds.log, ds.n_log, bar,
        tag, side, price, size, quote, open_)
    return fills, nf, cancel


def _live_close(state: HybridState, kp, rp, bar: int, feats: tuple, j: int, fills=None, nf: int = 0) -> None:
    """The close of bar `bar`; `fills[:nf]` is the instance's ledger so far (a handover relabels its fills there,
    as the vectorized run does)."""
    hp, gp, dp = kp
    gs, ds, g = state.grid, state.dca, state.guard
    o, h, lo, c, atr, gadx, ema_f, ema_s, dadx, pdi, mdi, raw, rtimes, vis = feats
    nxt = int(np.searchsorted(rtimes, state.regime[0]["last_time"], side="right"))
    fills = empty_fills(1) if fills is None else fills
    _, ds.log, ds.n_log, g.log = hnb.hybrid_bar_close_nb(
        state.hdr[0], hp, state.regime[0], raw, rtimes, nxt, int(vis[j]), gs.hdr[0], gs.slots, gs.levels, gs.book,
        gs.summary[0], gp, ds.hdr[0], ds.ladder, ds.book, ds.summary[0], dp, state.book, state.summary[0], rp,
        g.risk[0], g.book, g.summary[0], g.log, fills, nf, ds.log, ds.n_log, bar, c[j], atr[j], gadx[j], ema_f[j],
        ema_s[j], dadx[j], pdi[j], mdi[j])


LIVE = LiveKernel(kernel_params=_live_params, on_fill=_live_on_fill, close=_live_close,
                  group=lambda tag: int(hnb.group_of_nb(tag)))

MACHINE = OrderMachine(as_params=_as_params, features=features, new_state=HybridState.new, simulate=simulate,
                       output_names=hnb.OUTPUT_NAMES, report_data=summary, prepare=lambda p: p.resolved(),
                       risk_exempt=risk_exempt, kernel=LIVE, features_tf=features_tf, post_fills=compact_trades)

SPEC = order_spec(
    "hybrid", HybridConfig, MACHINE, warmup_bars, overlay_data=overlay_data, timeframes_of=timeframes_of,
    window_bars=lambda p: window_bars(_as_params(p).resolved()),
    description="Hybrid: grid in ranging markets, DCA on a confirmed downtrend (handover of the grid's inventory), "
                "one account, switching costs paid",
    params_from_app=params_from_app,
)
