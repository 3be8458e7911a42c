"""The strategy SPEC: what both drivers (the vectorized backtest and the live stepper) need of a strategy.

A strategy module defines `SPEC = StrategySpec(...)` (signal strategies) or `SPEC = order_spec(...)` (order
strategies). The SPEC holds functions only; it never imports an engine: the backtest (`traderagent.backtest`) and
the live runner (`traderagent.live`) import the SPEC and drive it.

Signal strategies: `signals(bars_by_tf, params) -> Signals` on the base index. Their stepper is the same function
on the trailing `warmup_bars` window (`traderagent.core.stepper.SignalStepper`).

Order strategies: a numba state machine behind four functions,
  features(bars, params) -> tuple of per-bar arrays (causal indicators),
  new_state(params, cash) -> state (plain numpy arrays; to_bytes / from_bytes),
  simulate(feats, params, costs, state, start, end, fills, n_fills, out, risk) -> (fills, n_fills, out): the
      vectorized driver's loop over bars (fills by the one intrabar rule, then the step at each close),
  kernel(params, costs) -> OrderKernel: the same machine one event at a time (on_fill, step), for the stepper.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from traderagent.data import timeframes


@dataclass(frozen=True)
class StrategySpec:
    """What the engines, the causality harness, the optimizer and the live runner need of a strategy.

    kind="signal": `signals(bars_by_tf, params) -> Signals` on the base timeframe.
    kind="order": see `order_spec`; `outputs(bars_by_tf, params) -> (n, k)` per-bar outputs (what the harness
    compares) and `window_replay(bars, params, t, window)` are derived from the machine's functions.
    `overlay_data(result, bars_by_tf, params) -> dict` is plain data a report may draw (levels, ladders, zones).
    """

    name: str
    kind: Literal["signal", "order"]
    params_model: type
    base_timeframe: Callable[[Any], str]
    timeframes: Callable[[Any], tuple[str, ...]]
    warmup_bars: Callable[[Any], int]
    signals: Callable[..., Any] | None = None
    outputs: Callable[..., Any] | None = None
    description: str = ""
    overlay_data: Callable[..., dict] | None = None
    window_bars: Callable[[Any], dict[str, int]] | None = None  # candles per timeframe a trailing window needs
    extra: dict = field(default_factory=dict)

    def windows(self, params: Any) -> dict[str, int]:
        """Candles of each timeframe the live stepper keeps: `window_bars`, else the base timeframe's
        `warmup_bars` and, for each higher timeframe, the candles those bars span (plus one)."""
        if self.window_bars is not None:
            return dict(self.window_bars(params))
        base = self.base_timeframe(params)
        warm = int(self.warmup_bars(params))
        out = {base: warm}
        for tf in self.timeframes(params):
            if tf != base:
                out[tf] = -(-warm * timeframes.seconds(base) // timeframes.seconds(tf)) + 1
        return out


@dataclass(frozen=True)
class LiveKernel:
    """An order strategy's state machine one event at a time: what the live stepper (`core.stepper.OrderStepper`)
    calls, the same numba functions the vectorized loop calls.

    kernel_params(params, costs) -> the numba params record(s) `kp` passed back to the other two;
    on_fill(state, kp, fills, nf, bar, tag, side, price, size, quote, open_) -> (fills, nf, cancel mask);
    close(state, kp, rp, bar, feats, j) -> None: the step at bar `bar`'s close on the window features' row j, then
        the risk guard (`rp`) turns the desired book into the guarded one;
    group(tag) -> the cancel group of an order (a fill's cancel mask cancels the rest of the bar's orders whose
        group it contains). Single machines have one group: 1.
    """

    kernel_params: Callable[..., Any]
    on_fill: Callable[..., tuple]
    close: Callable[..., None]
    group: Callable[[int], int] = lambda tag: 1


@dataclass(frozen=True)
class OrderMachine:
    """The functions of an order strategy's state machine (module docstring); params are the params model."""

    as_params: Callable[[Any], Any]
    features: Callable[..., tuple]
    new_state: Callable[[Any, float], Any]
    simulate: Callable[..., tuple]
    output_names: tuple[str, ...]
    kernel: Callable[..., Any] | None = None
    report_data: Callable[..., dict] | None = None  # (result, params, state, first) -> dict of plain data
    prepare: Callable[[Any], Any] | None = None  # params resolution before a run (the hybrid's machines)
    risk_exempt: Callable[..., dict] | None = None  # (outputs, fills, index) -> {trade: why} for the risk gate
    features_tf: Callable[..., tuple] | None = None  # (bars_by_tf, params) -> features, for several timeframes
    post_fills: Callable[[np.ndarray], None] | None = None  # in-place pass over a run's fills (trade renumbering)


def default_risk() -> Any:
    """The risk section a run gets when none is given: the schema's defaults (every run has a guard)."""
    from traderagent.config.models import RiskConfig

    return RiskConfig()


def outputs_matrix(m: OrderMachine, bars: Any, params: Any, costs: Any = None, initial_equity: float = 10_000.0,
                   risk: Any = "default") -> np.ndarray:
    """Per-bar outputs (n, len(output_names)) of a fresh run over all `bars`, risk guard on (the causality harness)."""
    from traderagent.core.costs import Costs
    from traderagent.core.risk import day_numbers

    risk = default_risk() if risk == "default" else risk
    state = m.new_state(params, initial_equity)
    return m.simulate(m.features(bars, params), params, costs or Costs(), state, risk=risk,
                      days=day_numbers(bars.index))[2]


def window_replay(m: OrderMachine, warmup_bars: Callable[[Any], int], bars: Any, params: Any, t: int, window: int,
                  costs: Any = None, initial_equity: float = 10_000.0) -> np.ndarray:
    """Outputs at bar t from the state saved after bar t - window, restored from bytes, plus the bars up to t.

    The indicators are recomputed on only the `warmup_bars` bars before the window and the window itself, as the
    live runner does after a restart: window sufficiency for a stateful strategy (docs/grid_dca.md).
    """
    from traderagent.core.costs import Costs
    from traderagent.core.risk import day_numbers

    costs = costs or Costs()
    risk = default_risk()
    s = t - window
    state = m.new_state(params, initial_equity)
    head = bars.iloc[: s + 1]
    m.simulate(m.features(head, params), params, costs, state, 0, s + 1, risk=risk, days=day_numbers(head.index),
               compact=False)
    state = type(state).from_bytes(state.to_bytes())
    lo = max(0, s + 1 - warmup_bars(params))
    sub = bars.iloc[lo: t + 1]
    return m.simulate(m.features(sub, params), params, costs, state, s + 1 - lo, len(sub), risk=risk,
                      days=day_numbers(sub.index), compact=False)[2][-1]


def order_spec(name: str, model: type, machine: OrderMachine, warmup_bars: Callable[[Any], int],
               description: str = "", overlay_data: Callable[..., dict] | None = None,
               timeframes_of: Callable[[Any], tuple[str, ...]] | None = None,
               window_bars: Callable[[Any], dict[str, int]] | None = None, **extra: Any) -> StrategySpec:
    """The SPEC of an order strategy stepped on one timeframe (`params.timeframe`).

    Every callable of the SPEC accepts a params model, a dict or None (`machine.as_params` turns them into the
    model). `extra` holds the machine (`extra["machine"]`), `output_names`, `window_replay` and `**extra`.
    """
    as_params = machine.as_params

    def tf(p: Any) -> str:
        return timeframes.normalize(as_params(p).timeframe)

    def outputs(bars_by_tf: dict, params: Any) -> Any:
        p = as_params(params)
        return outputs_matrix(machine, bars_by_tf[p.timeframe], p)

    def replay(bars: Any, p: Any, t: int, w: int) -> Any:
        p = as_params(p)
        return window_replay(machine, warmup_bars, bars, p, t, w)

    ext: dict[str, Any] = {"machine": machine, "output_names": list(machine.output_names), "window_replay": replay}
    return StrategySpec(
        name=name, kind="order", params_model=model, base_timeframe=tf,
        timeframes=(lambda p: timeframes_of(as_params(p))) if timeframes_of else (lambda p: (tf(p),)),
        warmup_bars=lambda p: warmup_bars(as_params(p)), outputs=outputs, description=description,
        overlay_data=overlay_data, window_bars=window_bars, extra={**ext, **extra},
    )
