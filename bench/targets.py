"""How a benchmark states its targets: one line each, met or MISSED with by how much (bench/run.py collects
the MISSED lines into its summary, so `make bench` never fails a target silently)."""

from __future__ import annotations

MISSED = "TARGET MISSED"


def verdict(name: str, value: float, target: float, unit: str = "s", lower_is_better: bool = True) -> tuple[bool, str]:
    """(met, line): e.g. "target backtest ratio: 0.74 <= 1 (met)" or
    "TARGET MISSED backtest ratio: 1.21 > 1 by 0.21 (+21%)"."""
    met = value <= target if lower_is_better else value >= target
    op = ("<=" if met else ">") if lower_is_better else (">=" if met else "<")
    shown = f"{value:.3g}{unit} {op} {target:g}{unit}"
    if met:
        return True, f"target {name}: {shown} (met)"
    gap = abs(value - target)
    pct = f" ({gap / target:+.0%})" if target else ""
    pct = pct.replace("+-", "-") if not lower_is_better else pct
    return False, f"{MISSED} {name}: {shown} by {gap:.3g}{unit}{pct}"
