"""Registry of strategies by name.

Entries name a module and are imported on first use, so listing strategies (or `--help`) stays cheap.
Each strategy module defines a module-level `SPEC: StrategySpec` (`traderagent.core.spec`).
"""

from __future__ import annotations

import importlib

from traderagent.core.spec import StrategySpec
from traderagent.errors import UserError

#: name -> module that defines SPEC. Add a line here when a strategy module is added.
_MODULES: dict[str, str] = {
    "trend_follower": "traderagent.strategies.trend_follower",
    "smc": "traderagent.strategies.smc",
    "grid": "traderagent.strategies.grid",
    "dca": "traderagent.strategies.dca",
    "hybrid": "traderagent.strategies.hybrid",
}


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
