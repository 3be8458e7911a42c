"""Registry of strategies by name.

Entries name a module and are imported on first use, so listing strategies (or `--help`) stays cheap.
Each strategy module defines a module-level `SPEC: StrategySpec`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from traderagent.data import timeframes
from traderagent.errors import UserError

#: name -> module that defines SPEC. Add a line here when a strategy module is added.
_MODULES: dict[str, str] = {
    "trend_follower": "traderagent.strategies.trend_follower",
    "smc": "traderagent.strategies.smc",
    "grid": "traderagent.strategies.grid",
    "dca": "traderagent.strategies.dca",
    "hybrid": "traderagent.strategies.hybrid",
}


@dataclass(frozen=True)
class StrategySpec:
    """What the engine, the causality harness, the optimizer and the live runner need of a strategy.

    kind="signal": `signals(bars_by_tf, params) -> Signals` on the base timeframe.
    kind="order": `outputs(bars_by_tf, params) -> np.ndarray (n, k)` (per-bar outputs the harness compares)
    and `run(bars, params, timeframe, **engine_kwargs) -> BacktestResult`.
    """

    name: str
    kind: Literal["signal", "order"]
    params_model: type
    base_timeframe: Callable[[Any], str]
    timeframes: Callable[[Any], tuple[str, ...]]
    warmup_bars: Callable[[Any], int]
    signals: Callable[..., Any] | None = None
    outputs: Callable[..., Any] | None = None
    run: Callable[..., Any] | None = None
    description: str = ""
    extra: dict = field(default_factory=dict)


def order_spec(name: str, model: type, as_params: Callable[[Any], Any], outputs_matrix: Callable[..., Any],
               run: Callable[..., Any], warmup_bars: Callable[[Any], int], window_replay: Callable[..., Any],
               output_names: tuple[str, ...] | list[str], overlays: Callable[[Any], tuple] | None = None,
               description: str = "", **extra: Any) -> StrategySpec:
    """The SPEC of an order strategy stepped on one timeframe (`params.timeframe`).

    `as_params(p)` turns a params model, a dict or None into the model; `outputs_matrix(bars, params)`,
    `run(bars, params, timeframe, **engine_kwargs)`, `warmup_bars(params)` and `window_replay(bars, params, t,
    window)` take the model. `extra` gets output_names, overlays (if given), window_replay and `**extra`.
    """

    def tf(p: Any) -> str:
        return timeframes.normalize(as_params(p).timeframe)

    def outputs(bars_by_tf: dict, params: Any) -> Any:
        p = as_params(params)
        return outputs_matrix(bars_by_tf[p.timeframe], p)

    def run_(bars: Any, params: Any, timeframe: str, **kwargs: Any) -> Any:
        return run(bars, as_params(params), timeframe, **kwargs)

    ext: dict[str, Any] = {"output_names": list(output_names)}
    if overlays is not None:
        ext["overlays"] = overlays
    ext["window_replay"] = lambda bars, p, t, w: window_replay(bars, as_params(p), t, w)
    return StrategySpec(
        name=name, kind="order", params_model=model, base_timeframe=tf, timeframes=lambda p: (tf(p),),
        warmup_bars=lambda p: warmup_bars(as_params(p)), outputs=outputs, run=run_, description=description,
        extra={**ext, **extra},
    )


def names() -> list[str]:
    return list(_MODULES)


def register(name: str, module: str) -> None:
    """Register a strategy module under `name` (for plug-ins; built-ins are listed in _MODULES)."""
    _MODULES[name] = module


def get(name: str) -> StrategySpec:
    key = name.strip().lower().replace("-", "_")
    if key not in _MODULES:
        raise UserError(f"unknown strategy {name!r}; choose one of: {', '.join(sorted(_MODULES))}")
    spec = importlib.import_module(_MODULES[key]).SPEC
    assert spec.name == key, f"{_MODULES[key]}.SPEC is named {spec.name!r}, registered as {key!r}"
    return spec
