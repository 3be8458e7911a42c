"""Units in configuration values: fractions, percents, basis points, timeframes, trading pairs.

Two kinds of number, one rule each (see docs/config.md):
  - fraction fields (risk_*, allocations, fees, slippage, exposures, price_deviation): stored as a fraction
    of 1. Written as a plain fraction (`0.005`), a percent string (`"0.5%"`) or basis points (`"50bps"`);
    all three give the identical float. A plain number above the field's maximum is never reinterpreted
    as a percent: it is rejected with a did-you-mean (`2` for a risk -> "did you mean '2%'?").
  - `*_percentage` fields (range_percentage, take_profit_percentage): stored as a percent number
    (`5` means 5%), `"5%"` is accepted too; code reads them as fractions via the model's
    `<stem>_fraction` property (`range_percentage` -> `range_fraction`).

The validators raise `PydanticCustomError("config", ...)` so the loader shows the message as is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer
from pydantic_core import PydanticCustomError

from traderagent.data import timeframes
from traderagent.errors import UserError

#: The error type of every message written here: the loader prints it without adding "(got ...)".
ERROR_TYPE = "config"

_NUMBER = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_PERCENT = re.compile(rf"^\s*({_NUMBER})\s*%\s*$")
_BPS = re.compile(rf"^\s*({_NUMBER})\s*bps?\s*$", re.IGNORECASE)
_PLAIN = re.compile(rf"^\s*({_NUMBER})\s*$")
_PAIR = re.compile(r"^[A-Z0-9]+/[A-Z0-9]+(?::[A-Z0-9]+)?$")


def fail(message: str) -> PydanticCustomError:
    """A validation error whose text is shown to the user as is."""
    return PydanticCustomError(ERROR_TYPE, "{detail}", {"detail": message})


def show(value: Any) -> str:
    """How a user's input is echoed in messages: numbers bare, strings quoted, containers by kind."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    return repr(str(value))


def format_percent(fraction: float) -> str:
    """0.005 -> '0.5%' exactly (no binary noise): the shortest repr of the float, times 100."""
    d = (Decimal(repr(float(fraction))) * 100).normalize()
    text = format(d, "f")
    return f"{text}%"


def parse_fraction_text(value: Any) -> float | None:
    """'0.5%' -> 0.005, '50bps' -> 0.005, 0.005 / '0.005' -> 0.005; None if `value` is not such a thing."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if not isinstance(value, str):
        return None
    for pattern, scale in ((_PERCENT, 100), (_BPS, 10_000), (_PLAIN, 1)):
        m = pattern.match(value)
        if m:
            try:
                return float(Decimal(m.group(1)) / scale)
            except InvalidOperation:  # pragma: no cover - the regex admits only valid decimals
                return None
    return None


@dataclass(frozen=True)
class FractionRule:
    """Bounds of a fraction field (`positive` excludes 0); its messages are written in percent."""

    high: float = 1.0
    positive: bool = False

    def __call__(self, value: Any) -> float:
        x = parse_fraction_text(value)
        if x is None or x != x or x in (float("inf"), float("-inf")):
            raise fail(
                f"must be a percent like '2%', a fraction like 0.02 or basis points like '2bps' (got {show(value)})"
            )
        if self.positive and x <= 0:
            raise fail(f"must be more than 0% (got {show(value)})")
        if x < 0:
            raise fail(f"must be at least 0% (got {show(value)})")
        if x > self.high:
            # A bare number is read as a fraction: say what it meant, and suggest the percent if that fits.
            bare = not isinstance(value, str) or _PLAIN.match(value) is not None
            got = f"{show(value)} = {format_percent(x)}" if bare else show(value)
            msg = f"must be at most {format_percent(self.high)} (got {got})"
            if bare and x / 100 <= self.high:
                text = value.strip() if isinstance(value, str) else repr(value)
                msg += f"; did you mean '{text}%'?"
            raise fail(msg)
        return x


def _fraction_type(rule: FractionRule) -> Any:
    return Annotated[
        float,
        BeforeValidator(rule, json_schema_input_type=float | str),
        PlainSerializer(format_percent, return_type=str, when_used="json"),
    ]


#: 0 <= x <= 100%: allocations, exposure caps expressed against equity.
UnitFraction = _fraction_type(FractionRule(1.0))
#: 0 < x <= 100%: risk per trade / per level, loss limits, price deviations.
PositiveFraction = _fraction_type(FractionRule(1.0, positive=True))
#: 0 <= x <= 2%: fees and slippage per side; a larger value is almost surely a percent written as a fraction.
CostFraction = _fraction_type(FractionRule(0.02))
#: 0 < x <= 1000%: exposure, which leverage may take above 100% of equity.
ExposureFraction = _fraction_type(FractionRule(10.0, positive=True))


def percent_to_fraction(percent: float) -> float:
    """5 -> 0.05, computed from the shortest decimal repr so it equals the fraction written as '5%'."""
    return float(Decimal(repr(float(percent))) / 100)


def parse_percent_number(value: Any) -> Any:
    """`*_percentage` fields: 5 and '5%' both give 5.0 (a percent number); other input passes to pydantic."""
    if isinstance(value, str):
        m = _PERCENT.match(value)
        if m:
            return float(Decimal(m.group(1)))
    return value


#: A percent number (5 means 5%); bounds come from the field's Field(gt=..., lt=...).
PercentNumber = Annotated[float, BeforeValidator(parse_percent_number, json_schema_input_type=float | str)]


def normalize_timeframe(value: Any) -> str:
    """'H1' -> '1h'; errors become a one-line config message."""
    try:
        return timeframes.normalize(value)
    except UserError as exc:
        raise fail(str(exc)) from None


#: A timeframe stored under its canonical name (`15m 1h 4h 1d`); aliases `M15 H1 H4 D1` are accepted.
Timeframe = Annotated[str, BeforeValidator(normalize_timeframe, json_schema_input_type=str)]


def normalize_pair(value: Any) -> str:
    """'btc/usdt' -> 'BTC/USDT'; anything that is not BASE/QUOTE (optionally ':SETTLE') is rejected."""
    if isinstance(value, str):
        text = value.strip().upper()
        if _PAIR.match(text):
            return text
    raise fail(f"must be a trading pair like 'BTC/USDT' (BASE/QUOTE) (got {show(value)})")


#: A ccxt-style market symbol, upper case: `BTC/USDT`, or `BTC/USDT:USDT` for a settled contract.
Pair = Annotated[str, BeforeValidator(normalize_pair, json_schema_input_type=str)]
