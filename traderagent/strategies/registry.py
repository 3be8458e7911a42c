"""Registry of strategies by name.

Entries name a module and are imported on first use, so listing strategies (or `--help`) stays cheap.
Each strategy module defines a module-level `SPEC: StrategySpec`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

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
