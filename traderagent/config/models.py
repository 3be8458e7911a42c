"""The typed configuration: frozen pydantic models that reject unknown keys.

Defaults live here and only here. Each section is owned by its consumer (strategies, orchestrator,
backtest, risk, database, live). Strategy sections double as the strategies' params models: every
optimisable field declares its search range beside it in `json_schema_extra={"search": {...}}`
(`low`/`high`, optional `step` or `"log": true`, or `choices`), read by `search_space(model_cls)`.

Units: fraction fields (risk_*, allocations, fees, slippage, exposures, price_deviation) hold fractions
and accept `"2%"`, `0.02` and `"200bps"` alike; `*_percentage` fields hold percent numbers (5 = 5%) and
expose fractions through `<stem>_fraction` properties. See `units.py` and docs/config.md.

Cross-field problems are raised through `_check(...)` as one error carrying one (key, message) pair per
problem, so the loader prints one line per problem with its full dotted key.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Any, ClassVar, Literal, get_args
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, create_model, field_validator, model_validator

from traderagent.config.base import Section, StrategyConfig, _check, _unique  # noqa: F401 - re-exported
from traderagent.config.strategy_sections import (  # noqa: F401 - names used below and re-exported
    REGIME_NAMES,
    DcaConfig,
    GridConfig,
    GridPreset,
    HybridConfig,
    RegimeConfig,
    RegimeName,
    SmcConfig,
    TrendFollowerConfig,
    grid_presets,
)
from traderagent.config.units import (
    CostFraction,
    ExposureFraction,
    Pair,
    PositiveFraction,
    Timeframe,
    UnitFraction,
    fail,
    format_percent,
    show,
)


class StrategiesConfig(Section):
    """One optional section per strategy; the field names are the strategies' registry names."""

    grid: GridConfig | None = Field(None, description="grid strategy section")
    dca: DcaConfig | None = Field(None, description="DCA strategy section")
    smc: SmcConfig | None = Field(None, description="SMC strategy section")
    trend_follower: TrendFollowerConfig | None = Field(None, description="Trend-Follower strategy section")
    hybrid: HybridConfig | None = Field(None, description="Hybrid Grid + DCA section (switches by regime)")

    def configured(self) -> dict[str, StrategyConfig]:
        """Sections present in the file, enabled or not, in schema order."""
        return {name: s for name in type(self).model_fields if (s := getattr(self, name)) is not None}

    def enabled(self) -> dict[str, StrategyConfig]:
        """Sections present and enabled."""
        return {name: s for name, s in self.configured().items() if s.enabled}


def _section_model(annotation: Any) -> type[StrategyConfig]:
    return next(a for a in get_args(annotation) if isinstance(a, type) and issubclass(a, StrategyConfig))


#: Strategy name -> its params model (the section's class).
STRATEGY_MODELS: dict[str, type[StrategyConfig]] = {
    name: _section_model(info.annotation) for name, info in StrategiesConfig.model_fields.items()
}


# -------------------------------------------------------------------------------------------- orchestrator
class _AllocationBase(Section):
    """Capital per strategy as a fraction of total equity; keys are the strategy names."""

    unknown_key_noun: ClassVar[str] = "strategy"  # "unknown strategy; did you mean ...?"

    def as_dict(self) -> dict[str, float]:
        """The allocations that are set, by strategy name."""
        return {name: v for name in type(self).model_fields if (v := getattr(self, name)) is not None}

    @property
    def total(self) -> float:
        return float(sum((Decimal(repr(v)) for v in self.as_dict().values()), Decimal(0)))

    @model_validator(mode="after")
    def _at_most_all(self) -> _AllocationBase:
        parts = self.as_dict()
        total = sum((Decimal(repr(v)) for v in parts.values()), Decimal(0))
        if total > 1:
            listing = ", ".join(f"{k} {format_percent(v)}" for k, v in parts.items())
            raise fail(f"allocations add up to {format_percent(float(total))} ({listing}); the total must be at most 100%")
        return self


#: One optional fraction per strategy in StrategiesConfig (so an unknown strategy name is an unknown key).
CapitalAllocation = create_model(
    "CapitalAllocation",
    __base__=_AllocationBase,
    __module__=__name__,
    **{name: (UnitFraction | None, Field(None, description=f"share of capital for {name}"))
       for name in StrategiesConfig.model_fields},
)


#: Strategy in charge per regime by default (the plan's routing).
DEFAULT_ROUTES: dict[str, str] = {"sideways": "grid", "uptrend": "trend_follower", "downtrend": "dca",
                                  "high_volatility": "smc"}
#: Strategies the selector cannot route: the hybrid switches grid and DCA by regime itself.
UNROUTABLE = frozenset({"hybrid"})


class SelectorConfig(Section):
    """Regime routing of the portfolio's strategies (`traderagent.strategies.selector`, docs/regime.md); used by
    `traderagent portfolio --adaptive`. Its `regime` also splits the portfolio report by regime."""

    regime: RegimeConfig = Field(default_factory=RegimeConfig, description="the regime detector")
    routes: dict[RegimeName, str] = Field(
        default_factory=lambda: dict(DEFAULT_ROUTES),
        description="strategy in charge per regime (a regime left out: no strategy takes new positions)",
    )
    grid_exit: Literal["close", "keep", "handover"] = Field(
        "handover", description="open grid when its regimes end: sell, keep its sells and stop, or hand to DCA",
        json_schema_extra={"search": {"choices": ["close", "keep", "handover"]}},
    )
    dca_exit: Literal["keep", "close"] = Field(
        "keep", description="open DCA cycle when the downtrend ends: run to take-profit/stop, or sell",
        json_schema_extra={"search": {"choices": ["keep", "close"]}},
    )
    signal_exit: Literal["keep", "close"] = Field(
        "keep", description="open signal-strategy position when its regime ends: keep, or exit at the next open",
        json_schema_extra={"search": {"choices": ["keep", "close"]}},
    )

    @field_validator("routes")
    @classmethod
    def _strategy_names(cls, v: dict[str, str]) -> dict[str, str]:
        known = set(STRATEGY_MODELS) - UNROUTABLE
        bad = sorted(s for s in v.values() if s not in known)
        if bad and bad[0] in UNROUTABLE:
            raise fail(f"{bad[0]!r} switches by regime itself; route 'grid' and 'dca' instead")
        if bad:
            raise fail(f"unknown strategy {bad[0]!r}; routes name one of {', '.join(sorted(known))}")
        return v

    def __hash__(self) -> int:  # frozen models are hashable; `routes` is a dict, hashed as its items
        return hash(tuple((k, tuple(v.items()) if isinstance(v, dict) else v) for k, v in self.__dict__.items()))

    def regimes_of(self, strategy: str) -> tuple[str, ...]:
        """The regimes in which `strategy` is in charge, in code order."""
        return tuple(r for r in REGIME_NAMES if self.routes.get(r) == strategy)


class StagingConfig(Section):
    """Staged capital: an instance trades a growing share of its allocation, one stage at a time, each gated on how
    the previous one went (docs/live.md). `stages: [1.0]` deploys everything at once (what a parity replay uses)."""

    stages: tuple[PositiveFraction, ...] = Field(
        (0.05, 0.25, 1.0), min_length=1, description="shares of the allocation, increasing; the first is the start")
    min_days: int = Field(14, ge=0, le=365, description="UTC days at a stage, without a breach, before the next")
    max_drawdown: PositiveFraction = Field(
        0.10, description="a breach: the instance's drawdown since the stage began exceeds this")
    max_error_rate: UnitFraction = Field(
        0.05, description="a breach: rejected or failed orders over orders sent at this stage exceed this")

    @field_validator("stages")
    @classmethod
    def _increasing(cls, v: tuple[float, ...]) -> tuple[float, ...]:
        if any(b <= a for a, b in zip(v, v[1:], strict=False)):
            raise fail(f"stages must increase (got {', '.join(format_percent(x) for x in v)})")
        return v


class OrchestratorConfig(Section):
    """Which strategies run together and with how much capital."""

    max_concurrent_strategies: int = Field(4, ge=1, le=100, description="strategies active at the same time")
    capital_allocation: CapitalAllocation = Field(  # type: ignore[valid-type]
        default_factory=CapitalAllocation, description="share of equity per strategy; total at most 100%"
    )
    staging: StagingConfig = Field(default_factory=StagingConfig, description="staged capital deployment (live)")
    adaptive: bool = Field(
        False, description="route the instances by market regime with `selector` (as `portfolio --adaptive`)")
    selector: SelectorConfig = Field(
        default_factory=SelectorConfig, description="regime routing of the sleeves (portfolio --adaptive)"
    )

    @model_validator(mode="before")
    @classmethod
    def _moved(cls, data: Any) -> Any:
        if isinstance(data, dict) and "deployment_stages" in data:
            _check([("deployment_stages", "moved to orchestrator.staging.stages (with min_days, max_drawdown and "
                                          "max_error_rate beside it)")])
        return data


# ------------------------------------------------------------------------------------------ backtest, risk
class BacktestConfig(Section):
    """Backtest engine settings. Costs are on by default and always shown in reports. Risk limits are the `risk`
    section's (one owner per limit, shared with the live runner)."""

    initial_equity: float = Field(10_000.0, gt=0, description="starting equity in the quote currency")
    fees: CostFraction = Field(0.001, description="fee per side as a fraction of the traded notional (0.1%)")
    slippage: CostFraction = Field(0.0002, description="adverse price move per fill (2 bps)")
    leverage: float = Field(1.0, ge=1.0, le=125.0, description="1 = spot (no borrowing)")
    allow_short: bool = Field(False, description="take short entries (needs a venue that allows shorting)")

    @model_validator(mode="before")
    @classmethod
    def _moved_keys(cls, data: Any) -> Any:
        if isinstance(data, dict):
            _check([(key, f"moved to risk.{new} (the risk section owns every limit, for backtest and live alike)")
                    for key, new in MOVED_TO_RISK.items() if key in data])
        return data


#: Keys the backtest section no longer has -> their key in the risk section.
MOVED_TO_RISK = {"max_risk_per_trade": "max_loss_per_trade", "max_exposure": "max_exposure"}


class RiskConfig(Section):
    """Risk guard limits, enforced by the same code in backtest and live."""

    max_loss_per_trade: PositiveFraction = Field(
        0.03, description="equity a stop-out may lose, fees and slippage included (entries are sized to it)")
    daily_loss_limit: UnitFraction = Field(
        0.05, description="no new positions for the rest of the UTC day once its loss reaches this; 0 = none")
    daily_loss_action: Literal["block", "flatten"] = Field(
        "block", description="when the daily loss limit is reached: block new positions, or also close the open "
                             "ones at the next bar's open")
    max_exposure: ExposureFraction = Field(1.0, description="total position notional / equity, at every fill")
    max_position: ExposureFraction = Field(1.0, description="one position's notional / equity, at every fill")

    @model_validator(mode="after")
    def _position_vs_exposure(self) -> RiskConfig:
        if self.max_position > self.max_exposure:
            _check([("max_position", f"must be at most max_exposure ({format_percent(self.max_exposure)}) "
                                     f"(got {format_percent(self.max_position)})")])
        return self


# --------------------------------------------------------------------------------------- database, live
class DatabaseConfig(Section):
    """Where live state and reports are persisted. A URL with a password belongs in DATABASE_URL."""

    url: str | None = Field(
        None, description="SQLAlchemy URL without a password; DATABASE_URL (or DATABASE_URL_FILE) overrides it"
    )

    @field_validator("url")
    @classmethod
    def _no_password(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                has_password = urlsplit(v).password is not None
            except ValueError:
                has_password = False
            if has_password:
                raise fail("contains a password; remove it here and set DATABASE_URL (or DATABASE_URL_FILE) "
                           "in the environment")
        return v


class LiveConfig(Section):
    """The live/paper runner. API keys and tokens come from the environment (see `Secrets`)."""

    exchange: str = Field("binance", description="ccxt exchange id, lower case")
    mode: Literal["paper", "live"] = Field("paper", description="paper fills by the backtest's rule; live sends orders")
    symbols: tuple[Pair, ...] = Field(("BTC/USDT", "ETH/USDT"), min_length=1, description="markets to watch")
    timeframe: Timeframe = Field("15m", description="base bar the runner wakes on")
    poll_seconds: float = Field(10.0, gt=0, le=3600, description="polling interval when websockets are unavailable")
    telegram_chat_ids: tuple[int, ...] = Field((), description="chats allowed to control the bot; empty = nobody")
    account: str = Field("ta", pattern=r"^[A-Za-z0-9_-]{1,6}$",
                         description="this account's name in client order ids (1-6 of A-Z a-z 0-9 _ -)")
    paper_balance: float = Field(10_000.0, gt=0, description="the paper exchange's starting quote balance")
    stale_bars: int = Field(2, ge=1, le=100, description="no closed candle for more bars than this: data is stale")

    @field_validator("exchange", mode="before")
    @classmethod
    def _exchange_id(cls, v: Any) -> Any:
        if not isinstance(v, str) or not v or not (v.isascii() and v.replace("_", "").isalnum() and v == v.lower()):
            raise fail(f"must be a lower-case ccxt exchange id like 'binance' (got {show(v)})")
        return v

    @field_validator("symbols")
    @classmethod
    def _unique_symbols(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        return _unique(v, "symbol")

    # metrics and health endpoints (traderagent.obs; docs/operations.md)
    metrics_host: str = Field("127.0.0.1", min_length=1,
                              description="address of /metrics, /health and /ready (0.0.0.0 in a container)")
    metrics_port: int = Field(9108, ge=0, le=65535, description="port of /metrics, /health and /ready; 0 = off")
    health_max_silence_seconds: float = Field(
        120.0, gt=0, le=86400, description="/health answers 503 when the loop has not iterated for this long")

    @model_validator(mode="after")
    def _health_outlasts_polling(self) -> LiveConfig:
        if self.health_max_silence_seconds < 2 * self.poll_seconds:
            _check([("health_max_silence_seconds", f"must be at least twice poll_seconds "
                                                   f"({2 * self.poll_seconds:g}), or /health fails between polls "
                                                   f"(got {self.health_max_silence_seconds:g})")])
        return self


# ------------------------------------------------------------------------------------------------- the app
class AppConfig(Section):
    """The whole configuration file."""

    strategies: StrategiesConfig = Field(default_factory=StrategiesConfig, description="strategy sections")
    orchestrator: OrchestratorConfig = Field(default_factory=OrchestratorConfig, description="capital and lifecycle")
    backtest: BacktestConfig = Field(default_factory=BacktestConfig, description="backtest engine")
    risk: RiskConfig = Field(default_factory=RiskConfig, description="risk guard")
    database: DatabaseConfig = Field(default_factory=DatabaseConfig, description="persistence")
    live: LiveConfig = Field(default_factory=LiveConfig, description="live/paper runner")

    @model_validator(mode="after")
    def _exposure_within_leverage(self) -> AppConfig:
        if self.risk.max_exposure > self.backtest.leverage:
            _check([("risk.max_exposure", f"{format_percent(self.risk.max_exposure)} of equity needs "
                                          f"backtest.leverage of at least {self.risk.max_exposure:g} "
                                          f"(got {self.backtest.leverage:g})")])
        return self


# ------------------------------------------------------------------------------------------------- helpers
def search_space(model_cls: type[BaseModel]) -> dict[str, dict[str, Any]]:
    """Optimization ranges declared beside the fields: {field: {"type": "int"|"float", "low", "high",
    ["step"], ["log"]} or {"type": "categorical", "choices": [...]}}, in field order."""
    out: dict[str, dict[str, Any]] = {}
    for name, info in model_cls.model_fields.items():
        extra = info.json_schema_extra
        if not isinstance(extra, dict) or "search" not in extra:
            continue
        raw = dict(extra["search"])  # type: ignore[arg-type]
        where = f"{model_cls.__name__}.{name}"
        if "choices" in raw:
            choices = list(raw.pop("choices"))
            if raw or not choices:
                raise ValueError(f"{where}: a 'choices' search takes nothing else and at least one choice")
            out[name] = {"type": "categorical", "choices": choices}
            continue
        unknown = set(raw) - {"low", "high", "step", "log"}
        if unknown or "low" not in raw or "high" not in raw:
            raise ValueError(f"{where}: search needs low and high (optional step or log), got {sorted(extra['search'])}")
        kinds = {a for a in (info.annotation, *get_args(info.annotation)) if a in (int, float)}
        kind = "int" if kinds == {int} else "float"
        if not raw["low"] < raw["high"] or (raw.get("step") is not None and raw["step"] <= 0):
            raise ValueError(f"{where}: search needs low < high and a positive step")
        if raw.get("log") and raw.get("step") is not None:
            raise ValueError(f"{where}: search takes step or log, not both")
        out[name] = {"type": kind, **raw}
    return out

