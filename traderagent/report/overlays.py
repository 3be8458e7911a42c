"""Strategy overlays on a backtest page: the strategy exposes plain chart data (`SPEC.overlay_data`), this module
picks the drawing for it. Strategies never import report/."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def _drawers() -> dict[str, Callable[..., Any]]:
    from traderagent.report.compare import hybrid_overlays
    from traderagent.report.orders_overlay import dca_overlays, grid_overlays
    from traderagent.report.smc_overlay import overlays as smc_overlays

    return {"grid": grid_overlays, "dca": dca_overlays, "hybrid": hybrid_overlays, "smc": smc_overlays}


def for_run(run: Any) -> tuple:
    """Overlay callables (fig, row) -> None for a finished run (`traderagent.backtest.runner.BacktestRun`)."""
    spec = run.spec
    if spec is None or spec.overlay_data is None:
        return ()
    draw = _drawers().get(spec.name)
    if draw is None:
        return ()
    data = spec.overlay_data(run.result, run.bars_by_tf, run.result.extra.get("params", run.params)
                             if hasattr(run.result, "extra") else run.params)
    return tuple(draw(data, run.result, run.bars))
