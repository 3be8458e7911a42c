"""Column types that behave the same on PostgreSQL and SQLite.

* `Money`: exact decimals. PostgreSQL stores NUMERIC(38, 18); SQLite has no exact decimal type (its NUMERIC
  affinity silently turns 0.1 into a binary float), so there the value is stored as canonical text with the
  same 18 decimal places. Both backends round half away from zero at the 18th decimal, reject more than 20
  integer digits, and return `decimal.Decimal`.
* `UTCDateTime`: timezone-aware UTC datetimes in and out. Naive datetimes are refused at bind time, so a
  local time can never be stored by accident.
* `JSONDoc`: JSON on SQLite, JSONB on PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import math
from decimal import ROUND_HALF_UP, Context, Decimal, InvalidOperation
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect

MONEY_PRECISION = 38
MONEY_SCALE = 18
_QUANTUM = Decimal(1).scaleb(-MONEY_SCALE)
_MAX_INTEGER_DIGITS = MONEY_PRECISION - MONEY_SCALE
_CONTEXT = Context(prec=MONEY_PRECISION + 2, rounding=ROUND_HALF_UP)  # the default 28 digits are too few


def to_decimal(value: Any, name: str = "value") -> Decimal:
    """A finite Decimal from int/str/Decimal/float (floats go through their shortest repr: 0.1 -> 0.1)."""
    if isinstance(value, Decimal):
        out = value
    elif isinstance(value, bool):
        raise ValueError(f"{name}: expected a number, got a bool")
    elif isinstance(value, int):
        out = Decimal(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{name}: {value!r} is not a finite number")
        out = Decimal(float.__repr__(value))  # shortest repr, also for numpy.float64 (a float subclass)
    elif isinstance(value, str) or type(value).__module__ == "numpy":
        try:
            out = Decimal(str(value))
        except InvalidOperation:
            raise ValueError(f"{name}: {value!r} is not a number") from None
    else:
        raise ValueError(f"{name}: expected a number, got {type(value).__name__}")
    if not out.is_finite():
        raise ValueError(f"{name}: {value!r} is not a finite number")
    return out


def quantize_money(value: Any, name: str = "value") -> Decimal:
    """Round to 18 decimals the way PostgreSQL NUMERIC(38, 18) does, and refuse values it would overflow."""
    d = to_decimal(value, name)
    if d.adjusted() < _MAX_INTEGER_DIGITS:
        d = d.quantize(_QUANTUM, context=_CONTEXT)
    if d.adjusted() >= _MAX_INTEGER_DIGITS:
        raise ValueError(f"{name}: {value} has more than {_MAX_INTEGER_DIGITS} integer digits")
    return d


class _DecimalText(sa.types.TypeDecorator[Decimal]):
    """SQLite storage of Money: fixed-point text, 18 decimals."""

    impl = sa.String(48)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else format(quantize_money(value), "f")

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        return None if value is None else Decimal(value)


class _DecimalNumeric(sa.types.TypeDecorator[Decimal]):
    """PostgreSQL storage of Money: NUMERIC(38, 18), values checked before they reach the server."""

    impl = sa.Numeric(MONEY_PRECISION, MONEY_SCALE, asdecimal=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Decimal | None:
        return None if value is None else quantize_money(value)


class Money(sa.types.TypeDecorator[Decimal]):
    """Exact decimal amount (price, quantity, fee, equity): NUMERIC(38,18) on PostgreSQL, text on SQLite."""

    impl = sa.Numeric(MONEY_PRECISION, MONEY_SCALE, asdecimal=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(_DecimalText())
        return dialect.type_descriptor(_DecimalNumeric())


class UTCDateTime(sa.types.TypeDecorator[dt.datetime]):
    """Aware UTC datetime: TIMESTAMP WITH TIME ZONE on PostgreSQL, ISO text (UTC, no offset) on SQLite."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if not isinstance(value, dt.datetime):
            raise ValueError(f"expected a datetime, got {type(value).__name__}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(
                f"naive datetime {value.isoformat()} refused: give a timezone-aware (UTC) datetime"
            )
        value = value.astimezone(dt.UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None or value.tzinfo is dt.UTC:
            return value
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


#: JSON document column: JSONB on PostgreSQL (indexable, compact), JSON text on SQLite.
JSONDoc = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
