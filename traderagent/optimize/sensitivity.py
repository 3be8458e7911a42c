"""Sensitivity of the objective around an optimum: one-at-a-time curves and heatmaps for pairs of params.

A robust optimum sits on a plateau: nudging a parameter changes the objective a little. A spike that
collapses one step away is a fitted accident. `score_fn(values) -> (value, valid)` is any objective over
a full set of searched values (the walk-forward passes the last fold's IS objective); invalid points
(too few trades, params the model rejects) come back as NaN so the plots show holes, not penalties.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

ScoreFn = Callable[[dict[str, Any]], tuple[float, bool]]


def grid_values(dist: dict, points: int) -> list:
    """`points` values spread over a search range (its step respected, ints unique), or every choice."""
    if dist["type"] == "categorical":
        return list(dist["choices"])
    lo, hi = float(dist["low"]), float(dist["high"])
    if dist.get("log"):
        raw = np.geomspace(lo, hi, points)
    else:
        raw = np.linspace(lo, hi, points)
    step = dist.get("step")
    if step:
        raw = lo + np.round((raw - lo) / float(step)) * float(step)
    if dist["type"] == "int":
        return sorted({int(round(v)) for v in raw})
    return sorted({float(round(v, 12)) for v in raw})


def axis(dist: dict, points: int, at: Any) -> list:
    """`grid_values` plus the optimum's own value, so every curve and heatmap passes through it."""
    xs = grid_values(dist, points)
    if dist["type"] != "categorical" and at is not None and at not in xs:
        xs = sorted([*xs, at])
    return xs


def _eval(score_fn: ScoreFn, values: dict) -> float:
    value, valid = score_fn(values)
    return float(value) if valid else math.nan


def one_at_a_time(score_fn: ScoreFn, optimum: dict[str, Any], space: dict[str, dict], points: int = 11) -> dict:
    """For each searched param: the objective along its range with the others at the optimum.

    Returns {param: {"x": [...], "y": [...], "at": optimum value, "spread": max - min of finite y}}.
    """
    out = {}
    for name, dist in space.items():
        xs = axis(dist, points, optimum.get(name))
        ys = [_eval(score_fn, {**optimum, name: x}) for x in xs]
        finite = [y for y in ys if math.isfinite(y)]
        out[name] = {"x": xs, "y": ys, "at": optimum.get(name),
                     "spread": (max(finite) - min(finite)) if len(finite) > 1 else math.nan}
    return out


def top_pairs(curves: dict, space: dict[str, dict], n_pairs: int) -> list[tuple[str, str]]:
    """Pairs of the numeric params whose one-at-a-time curves move the objective most."""
    numeric = [p for p in curves if space[p]["type"] != "categorical" and math.isfinite(curves[p]["spread"])]
    numeric.sort(key=lambda p: -curves[p]["spread"])
    pairs = []
    top = numeric[: max(2, math.ceil((1 + math.sqrt(1 + 8 * n_pairs)) / 2))]
    for i in range(len(top)):
        for j in range(i + 1, len(top)):
            pairs.append((top[i], top[j]))
    return pairs[:n_pairs]


def heatmap(score_fn: ScoreFn, optimum: dict[str, Any], space: dict[str, dict], x: str, y: str,
            grid: int = 10) -> dict:
    """Objective over a grid of (x, y) values with the other params at the optimum: {"x", "y", "z"[y][x]}."""
    xs = axis(space[x], grid, optimum.get(x))
    ys = axis(space[y], grid, optimum.get(y))
    z = [[_eval(score_fn, {**optimum, x: xv, y: yv}) for xv in xs] for yv in ys]
    return {"x_param": x, "y_param": y, "x": xs, "y": ys, "z": z, "at": [optimum.get(x), optimum.get(y)]}


def sensitivity(score_fn: ScoreFn, optimum: dict[str, Any], space: dict[str, dict], points: int = 11,
                pairs: int = 3, grid: int = 10) -> dict:
    """One-at-a-time curves for every searched param and heatmaps for the `pairs` most influential pairs."""
    curves = one_at_a_time(score_fn, optimum, space, points)
    maps = [heatmap(score_fn, optimum, space, a, b, grid) for a, b in top_pairs(curves, space, pairs)]
    return {"optimum": optimum, "value": _eval(score_fn, optimum), "curves": curves, "heatmaps": maps}
