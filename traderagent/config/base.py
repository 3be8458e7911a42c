"""Base classes of the config models: `Section` (frozen, unknown keys rejected) and `StrategyConfig`.

Cross-field problems are raised through `_check(...)` as one error carrying one (key, message) pair per
problem, so the loader prints one line per problem with its full dotted key.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

from traderagent.config.units import (
    ERROR_TYPE,
    Pair,
    fail,
    show,
)


def _check(problems: list[tuple[str, str]]) -> None:
    """Raise one validation error listing (relative dotted key, message) problems; no-op if none."""
    if problems:
        detail = "; ".join(f"{key}: {msg}" if key else msg for key, msg in problems)
        raise PydanticCustomError(ERROR_TYPE, "{detail}", {"detail": detail, "problems": tuple(problems)})


class Section(BaseModel):
    """Base of every config model: immutable, unknown keys rejected, defaults validated too."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)


def _unique(values: tuple, what: str) -> tuple:
    seen = [v for i, v in enumerate(values) if v in values[:i]]
    if seen:
        raise fail(f"lists {show(seen[0])} twice; each {what} may appear once")
    return values


# ---------------------------------------------------------------------------------------------- strategies
class StrategyConfig(Section):
    """Fields every strategy section has."""

    enabled: bool = Field(True, description="run this strategy (a section that is absent is not run either)")
    pairs: tuple[Pair, ...] = Field(
        ("BTC/USDT", "ETH/USDT"), min_length=1, description="markets it trades, BASE/QUOTE"
    )

    @field_validator("pairs")
    @classmethod
    def _unique_pairs(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        return _unique(v, "pair")


#: Grid presets by market volatility (`grid_presets.yaml`): each fills the GridConfig fields not set explicitly.
