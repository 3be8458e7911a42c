"""Turn research results (numpy scalars, pandas timestamps, inf/NaN) into JSON that PostgreSQL accepts.

JSON has no Infinity or NaN (and JSONB rejects them), so non-finite floats become the strings "inf", "-inf"
and "nan"; `restore_floats` turns them back for the numeric fields that may hold them (e.g. profit_factor).
"""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal
from typing import Any

_NONFINITE = {"inf": math.inf, "-inf": -math.inf, "nan": math.nan}


def jsonable(value: Any) -> Any:
    """A JSON-safe copy: dicts (string keys), lists, str, int, finite floats, bool, None."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    if value is None or isinstance(value, bool | str | int):
        return value
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if type(value).__module__.split(".")[0] in ("numpy", "pandas"):
        if hasattr(value, "isoformat"):  # pandas Timestamp
            return value.isoformat()
        if hasattr(value, "tolist"):  # numpy scalar or array
            return jsonable(value.tolist())
    raise TypeError(f"cannot store {type(value).__name__} value {value!r} as JSON")


def restore_floats(values: dict[str, Any]) -> dict[str, Any]:
    """Undo `jsonable` for a flat dict of numbers: "inf"/"-inf"/"nan" back to floats."""
    return {k: _NONFINITE.get(v, v) if isinstance(v, str) else v for k, v in values.items()}


def finite_or_none(value: Any) -> float | None:
    """A float for a numeric column, None for missing or non-finite values (SQLite stores NaN as NULL)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None
