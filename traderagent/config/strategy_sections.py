"""Strategy sections of the config, which double as the strategies' params models (grid, DCA, SMC,
Trend-Follower, regime, hybrid). Each optimisable field declares its search range beside it.
Re-exported by `traderagent.config.models`; see that module for units and conventions.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from typing import Any, Literal, get_args

from pydantic import Field, field_validator, model_validator

from traderagent.config.base import Section, StrategyConfig, _check, _unique
from traderagent.config.units import (
    PercentNumber,
    PositiveFraction,
    Timeframe,
    UnitFraction,
    fail,
    format_percent,
    percent_to_fraction,
    show,
)
from traderagent.data import timeframes

GridPreset = Literal["low", "medium", "high"]
#: At most this many partial take-profits per DCA cycle (the kernel's `dca_nb.MAX_SCALE`).
DCA_MAX_SCALE_OUT = 3


@lru_cache(maxsize=1)
def grid_presets() -> dict[str, dict[str, Any]]:
    """The packaged grid presets by name (low, medium, high): GridConfig field -> value, read on first use."""
    import yaml

    text = resources.files("traderagent.config").joinpath("grid_presets.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


class GridConfig(StrategyConfig):
    """Grid: limit orders at levels spread around the price, within a range (docs/grid_dca.md).

    `preset` fills every field the section does not set explicitly from `grid_presets.yaml`; without a preset
    the defaults below apply. `model_fields_set` keeps only the explicitly set fields (the preset's are not).
    """

    preset: GridPreset | None = Field(
        None, description="volatility preset (low, medium, high) filling every field not set explicitly; null = the defaults",
    )
    timeframe: Timeframe = Field("15m", description="bar timeframe the grid is stepped on")
    range_percentage: PercentNumber = Field(
        5.0, gt=0, lt=100, description="range of the grid in percent of the centre price, each side (5 = ±5%)",
        json_schema_extra={"search": {"low": 1.0, "high": 20.0, "step": 0.5}},
    )
    grid_levels: int = Field(
        10, ge=2, le=500, description="number of price levels in the range",
        json_schema_extra={"search": {"low": 4, "high": 40}},
    )
    risk_per_level: PositiveFraction = Field(0.005, description="fraction of equity committed at each level")
    spacing: Literal["arithmetic", "geometric"] = Field(
        "arithmetic", description="equal price steps or equal percent steps between levels",
        json_schema_extra={"search": {"choices": ["arithmetic", "geometric"]}},
    )
    recenter: bool = Field(True, description="re-centre the grid on the price when it leaves the range")
    range_mode: Literal["percentage", "atr"] = Field(
        "percentage", description="range from range_percentage of the price, or range_atr_mult ATRs each side",
        json_schema_extra={"search": {"choices": ["percentage", "atr"]}},
    )
    range_atr_mult: float = Field(
        8.0, gt=0, le=100, description="range each side in ATRs (range_mode atr)",
        json_schema_extra={"search": {"low": 2.0, "high": 20.0, "step": 0.5}},
    )
    atr_period: int = Field(
        14, ge=2, le=500, description="ATR period (bars, Wilder) of the ATR range and the ATR stop",
        json_schema_extra={"search": {"low": 7, "high": 30}},
    )
    atr_hysteresis: UnitFraction = Field(
        0.0, description="rebuild an ATR grid when ATR moves more than this from its value at the build; 0 = never",
        json_schema_extra={"search": {"low": 0.0, "high": 1.0, "step": 0.05}},
    )
    recenter_percentage: PercentNumber = Field(
        2.0, ge=0, le=100, description="re-centre when a close is beyond the range by this percent (2 = 2%)",
        json_schema_extra={"search": {"low": 0.0, "high": 5.0, "step": 0.5}},
    )
    max_exposure: PositiveFraction = Field(
        0.5, description="cap on held cost plus armed buy orders, as a fraction of equity at the build",
    )
    stop_mode: Literal["none", "percentage", "atr"] = Field(
        "percentage", description="grid stop below the lowest level: none, stop_percentage, or stop_atr_mult ATRs",
        json_schema_extra={"search": {"choices": ["none", "percentage", "atr"]}},
    )
    stop_percentage: PercentNumber = Field(
        5.0, gt=0, lt=100, description="grid stop this percent below the lowest level (stop_mode percentage)",
        json_schema_extra={"search": {"low": 1.0, "high": 15.0, "step": 0.5}},
    )
    stop_atr_mult: float = Field(
        4.0, gt=0, le=100, description="grid stop this many ATRs below the lowest level (stop_mode atr)",
        json_schema_extra={"search": {"low": 1.0, "high": 10.0, "step": 0.5}},
    )
    adx_filter: bool = Field(
        True, description="withdraw the buy levels while the market trends (ADX above adx_threshold)",
        json_schema_extra={"search": {"choices": [True, False]}},
    )
    adx_period: int = Field(
        14, ge=2, le=500, description="ADX period (bars, Wilder) of the trend filter",
        json_schema_extra={"search": {"low": 7, "high": 30}},
    )
    adx_threshold: float = Field(
        30.0, gt=0, le=100, description="ADX above this at a close pauses buying",
        json_schema_extra={"search": {"low": 25.0, "high": 45.0, "step": 1.0}},
    )
    adx_reactivate: float = Field(
        25.0, gt=0, le=100, description="ADX below this for reactivate_bars closes resumes or rebuilds the grid",
        json_schema_extra={"search": {"low": 15.0, "high": 25.0, "step": 1.0}},
    )
    reactivate_bars: int = Field(
        8, ge=1, le=10_000, description="consecutive calm closes needed before the grid (re)builds or resumes",
        json_schema_extra={"search": {"low": 1, "high": 32}},
    )
    stop_cooldown_bars: int = Field(
        96, ge=0, le=100_000, description="closes after a grid stop before the grid is rebuilt",
        json_schema_extra={"search": {"low": 0, "high": 384}},
    )

    @model_validator(mode="wrap")
    @classmethod
    def _fill_from_preset(cls, data: Any, handler: Any) -> GridConfig:
        name = data.get("preset") if isinstance(data, dict) else None
        if not (isinstance(name, str) and name in grid_presets()):
            return handler(data)  # no preset, or a bad name that the field itself reports
        explicit = set(data) & set(cls.model_fields)
        model = handler({**grid_presets()[name], **data})
        object.__setattr__(model, "__pydantic_fields_set__", explicit)  # the preset's values were not set by hand
        return model

    @model_validator(mode="after")
    def _cross(self) -> GridConfig:
        problems = []
        if self.adx_reactivate > self.adx_threshold:
            problems.append(("adx_reactivate", f"must be at most adx_threshold (got adx_reactivate "
                                               f"{self.adx_reactivate:g}, adx_threshold {self.adx_threshold:g})"))
        _check(problems)
        return self

    @property
    def range_fraction(self) -> float:
        """range_percentage as a fraction (5 -> 0.05)."""
        return percent_to_fraction(self.range_percentage)

    @property
    def recenter_fraction(self) -> float:
        """recenter_percentage as a fraction (2 -> 0.02)."""
        return percent_to_fraction(self.recenter_percentage)

    @property
    def stop_fraction(self) -> float:
        """stop_percentage as a fraction (5 -> 0.05)."""
        return percent_to_fraction(self.stop_percentage)


class DcaConfig(StrategyConfig):
    """DCA: a base order, then safety orders at growing drops, one take-profit on the average price."""

    timeframe: Timeframe = Field("15m", description="bar timeframe the DCA state machine is stepped on")
    base_order_size: PositiveFraction = Field(0.04, description="first order, as a fraction of the sleeve's equity")
    max_safety_orders: int = Field(
        5, ge=0, le=50, description="safety orders after the base order",
        json_schema_extra={"search": {"low": 0, "high": 10}},
    )
    safety_order_multiplier: float = Field(
        1.5, ge=1.0, le=5.0, description="each safety order's size = previous size times this",
        json_schema_extra={"search": {"low": 1.0, "high": 2.5, "step": 0.1}},
    )
    take_profit_percentage: PercentNumber = Field(
        3.0, gt=0, le=100, description="take profit in percent above the average entry price (3 = 3%)",
        json_schema_extra={"search": {"low": 0.5, "high": 10.0, "step": 0.25}},
    )
    price_deviation: PositiveFraction = Field(
        0.015, description="price drop from the base order that triggers the first safety order",
        json_schema_extra={"search": {"low": 0.005, "high": 0.05, "log": True}},
    )
    step_scale: float = Field(
        1.0, ge=1.0, le=5.0, description="each further safety order's drop = previous drop times this",
        json_schema_extra={"search": {"low": 1.0, "high": 2.0, "step": 0.1}},
    )
    entry: Literal["downtrend", "always"] = Field(
        "downtrend", description="start a cycle on a downtrend trigger (EMAs, ADX, -DI) or whenever idle",
        json_schema_extra={"search": {"choices": ["downtrend", "always"]}},
    )
    ema_fast: int = Field(
        20, ge=2, le=500, description="fast EMA period of the trigger (bars); must be below ema_slow",
        json_schema_extra={"search": {"low": 5, "high": 30}},
    )
    ema_slow: int = Field(
        50, ge=3, le=1000, description="slow EMA period of the trigger (bars)",
        json_schema_extra={"search": {"low": 40, "high": 200}},
    )
    adx_period: int = Field(
        14, ge=2, le=500, description="ADX / DI period of the trigger (bars, Wilder)",
        json_schema_extra={"search": {"low": 7, "high": 30}},
    )
    adx_min: float = Field(
        20.0, ge=0, le=100, description="the trigger needs ADX at least this",
        json_schema_extra={"search": {"low": 10.0, "high": 35.0, "step": 1.0}},
    )
    require_minus_di: bool = Field(
        True, description="the trigger also needs -DI above +DI",
        json_schema_extra={"search": {"choices": [True, False]}},
    )
    capital_per_sequence: PositiveFraction = Field(
        1.0, description="fraction of equity one cycle may spend (base, safety orders and their fees)",
    )
    max_position: PositiveFraction = Field(1.0, description="cap on the cycle's position cost, fraction of equity")
    scale_out: tuple[tuple[PercentNumber, PositiveFraction], ...] = Field(
        (), max_length=DCA_MAX_SCALE_OUT,
        description="partial take-profits: up to 3 [percent above the average, fraction of the position then held]",
    )
    stop_percentage: PercentNumber = Field(
        15.0, ge=0, lt=100, description="emergency stop this percent below the stop reference; 0 = none",
        json_schema_extra={"search": {"low": 5.0, "high": 40.0, "step": 2.5}},
    )
    stop_reference: Literal["first_entry", "average"] = Field(
        "first_entry", description="stop below the first fill (fixed) or below the average (moves down when averaging)",
        json_schema_extra={"search": {"choices": ["first_entry", "average"]}},
    )
    max_cycle_drawdown: UnitFraction = Field(
        0.0, description="stop a cycle when its loss (exit costs included) reaches this fraction of the capital per "
                        "sequence, at most risk.max_loss_per_trade of equity; 0 = none",
    )
    max_concurrent_cycles: int = Field(
        3, ge=1, le=1000, description="cycles open at once across the section's pairs",
    )
    cooldown_bars: int = Field(
        96, ge=0, le=100_000, description="bars after a stop before a new cycle may start",
        json_schema_extra={"search": {"low": 0, "high": 384}},
    )

    @field_validator("scale_out", mode="before")
    @classmethod
    def _scale_out_pairs(cls, v: Any) -> Any:
        if isinstance(v, list | tuple):
            for i, step in enumerate(v):
                if not (isinstance(step, list | tuple) and len(step) == 2):
                    got = repr(list(step)) if isinstance(step, list | tuple) else show(step)
                    raise fail(f"step {i + 1} must be [percentage, fraction], e.g. [1.5, '30%'] (got {got})")
        return v

    @model_validator(mode="after")
    def _cross(self) -> DcaConfig:
        problems = []
        if self.ema_fast >= self.ema_slow:
            problems.append(
                ("ema_fast", f"must be less than ema_slow (got ema_fast {self.ema_fast}, ema_slow {self.ema_slow})")
            )
        pcts = [p for p, _ in self.scale_out]
        fracs = [f for _, f in self.scale_out]
        if sum(fracs) >= 1:
            problems.append(("scale_out", "fractions must add up to less than 100% (the take-profit sells the rest) "
                                          f"(got {' + '.join(format_percent(f) for f in fracs)})"))
        if pcts and (pcts != sorted(set(pcts)) or pcts[0] <= 0 or pcts[-1] >= self.take_profit_percentage):
            problems.append(("scale_out", "percentages must be above 0, rise, and stay below take_profit_percentage "
                                          f"{self.take_profit_percentage:g} (got {', '.join(f'{p:g}' for p in pcts)})"))
        _check(problems)
        return self

    @property
    def take_profit_fraction(self) -> float:
        """take_profit_percentage as a fraction (3 -> 0.03)."""
        return percent_to_fraction(self.take_profit_percentage)

    @property
    def stop_fraction(self) -> float:
        """stop_percentage as a fraction (15 -> 0.15)."""
        return percent_to_fraction(self.stop_percentage)


class SmcConfig(StrategyConfig):
    """Smart Money Concepts: D1 bias, H4 structure, H1 zones, M15 trigger, scored by confluence (docs/smc_strategy.md)."""

    timeframes: tuple[Timeframe, ...] = Field(
        ("1d", "4h", "1h", "15m"), min_length=1, max_length=4,
        description="timeframes read; from the shortest up: entry, zones, structure, bias (the longest fills missing roles)",
    )
    confluence_threshold: int = Field(
        3, ge=1, le=6, description="net confluence score (agreeing minus contradicting factors, at most 6) needed to enter",
        json_schema_extra={"search": {"low": 2, "high": 5}},
    )
    swing_length: int = Field(
        10, ge=2, le=200, description="bars on each side that confirm a swing high/low (on every timeframe)",
        json_schema_extra={"search": {"low": 3, "high": 50}},
    )
    risk_per_trade: PositiveFraction = Field(0.02, description="fraction of equity lost at the stop")
    target_r: float = Field(
        2.0, gt=0, le=20, description="take profit at this multiple of the stop distance (R)",
        json_schema_extra={"search": {"low": 1.0, "high": 5.0, "step": 0.25}},
    )
    liquidity_target: bool = Field(
        True, description="extend the target to the nearest opposing zone-timeframe liquidity when it lies beyond target_r",
        json_schema_extra={"search": {"choices": [True, False]}},
    )
    break_on: Literal["close", "wick"] = Field(
        "close", description="what must go beyond a swing to break structure: a candle close or a wick",
        json_schema_extra={"search": {"choices": ["close", "wick"]}},
    )
    zone_mitigation: Literal["touch", "wick", "close"] = Field(
        "touch", description="when an order block / FVG stops being a zone: first touch, wick through, close through",
        json_schema_extra={"search": {"choices": ["touch", "wick", "close"]}},
    )
    max_age: int = Field(
        200, ge=10, le=5000, description="zones, liquidity levels and setup legs expire after this many bars of their timeframe",
        json_schema_extra={"search": {"low": 50, "high": 800}},
    )
    stop_buffer_atr: float = Field(
        0.25, ge=0, le=10, description="stop this many entry-timeframe ATRs beyond the zone or swing",
        json_schema_extra={"search": {"low": 0.0, "high": 1.0, "step": 0.05}},
    )
    atr_period: int = Field(
        14, ge=1, le=500, description="ATR period (entry-timeframe bars, Wilder) for the stop buffer",
    )

    @field_validator("timeframes")
    @classmethod
    def _unique_timeframes(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        _unique(v, "timeframe")
        base = min(v, key=timeframes.seconds)
        for tf in v:
            if timeframes.seconds(tf) % timeframes.seconds(base):
                raise fail(f"{tf!r} is not a whole multiple of the entry timeframe {base!r}")
        return v

    @property
    def entry_timeframe(self) -> str:
        """The shortest of `timeframes`: the base the signals are computed on."""
        return min(self.timeframes, key=timeframes.seconds)

    @property
    def roles(self) -> dict[str, str]:
        """Timeframe of each role, from the shortest up: entry, zone, structure, bias (the longest fills gaps)."""
        tfs = sorted(self.timeframes, key=timeframes.seconds)
        pick = [tfs[min(i, len(tfs) - 1)] for i in range(4)]
        return dict(zip(("entry", "zone", "structure", "bias"), pick, strict=True))


class TrendFollowerConfig(StrategyConfig):
    """Trend-Follower: EMA fast/slow cross, optional higher-timeframe trend filter, ATR stop/target."""

    timeframe: Timeframe = Field("1h", description="bar timeframe of the EMAs and the ATR")
    ema_fast: int = Field(
        12, ge=2, le=500, description="fast EMA period (bars); must be below ema_slow",
        json_schema_extra={"search": {"low": 4, "high": 24}},
    )
    ema_slow: int = Field(
        26, ge=3, le=1000, description="slow EMA period (bars)",
        json_schema_extra={"search": {"low": 25, "high": 200}},
    )
    trend_filter_timeframe: Timeframe | None = Field(
        None, description="higher timeframe whose close must be above (long) / below (short) its EMA; null = off",
        json_schema_extra={"search": {"choices": [None, "4h", "1d"]}},
    )
    trend_filter_ema: int = Field(
        50, ge=2, le=1000, description="EMA period of the trend filter, in filter-timeframe bars",
        json_schema_extra={"search": {"low": 20, "high": 200}},
    )
    atr_period: int = Field(
        14, ge=1, le=500, description="ATR period (bars, Wilder smoothing)",
        json_schema_extra={"search": {"low": 7, "high": 30}},
    )
    atr_stop_mult: float = Field(
        2.0, gt=0, le=50, description="stop distance in ATRs",
        json_schema_extra={"search": {"low": 1.0, "high": 5.0, "step": 0.25}},
    )
    atr_target_mult: float | None = Field(
        3.0, gt=0, le=100, description="target distance in ATRs; null = no target (exit on the opposite cross)",
        json_schema_extra={"search": {"low": 1.0, "high": 8.0, "step": 0.25}},
    )
    risk_per_trade: PositiveFraction = Field(0.02, description="fraction of equity lost at the stop")

    @model_validator(mode="after")
    def _cross(self) -> TrendFollowerConfig:
        problems = []
        if self.ema_fast >= self.ema_slow:
            problems.append(
                ("ema_fast", f"must be less than ema_slow (got ema_fast {self.ema_fast}, ema_slow {self.ema_slow})")
            )
        ftf = self.trend_filter_timeframe
        if ftf is not None:
            base, higher = timeframes.seconds(self.timeframe), timeframes.seconds(ftf)
            if higher <= base or higher % base:
                problems.append((
                    "trend_filter_timeframe",
                    f"must be a higher timeframe than timeframe {self.timeframe!r} and a whole multiple of it "
                    f"(got {ftf!r})",
                ))
        _check(problems)
        return self


# ------------------------------------------------------------------------------------ regime and hybrid
#: The four market regimes in code order (the kernel's `regime_nb.REGIME_NAMES`; a test keeps them equal).
RegimeName = Literal["sideways", "uptrend", "downtrend", "high_volatility"]
REGIME_NAMES: tuple[str, ...] = get_args(RegimeName)


class RegimeConfig(Section):
    """Regime detector: ADX with ±DI, Bollinger bandwidth as a rolling percentile, volume vs its average.

    Periods are in bars of `timeframe`. Defaults are textbook values (ADX 14 / 25, Bollinger 20 / 2), not fitted.
    Owned by its consumers: `strategies.hybrid.regime` (the hybrid's switch) and `orchestrator.selector.regime`
    (the portfolio's routing and per-regime report).
    """

    timeframe: Timeframe = Field("1h", description="bar timeframe the regime is computed on")
    adx_period: int = Field(
        14, ge=2, le=200, description="ADX / DI period (Wilder)",
        json_schema_extra={"search": {"low": 7, "high": 30}},
    )
    adx_trend: float = Field(
        25.0, gt=0, lt=100, description="ADX at or above this is a trend (up if +DI > -DI, down if -DI > +DI)",
        json_schema_extra={"search": {"low": 15.0, "high": 40.0, "step": 1.0}},
    )
    bb_period: int = Field(
        20, ge=2, le=500, description="Bollinger period (bars)",
        json_schema_extra={"search": {"low": 10, "high": 50}},
    )
    bb_nbdev: float = Field(2.0, gt=0, le=10, description="Bollinger width in standard deviations")
    bandwidth_window: int = Field(
        720, ge=10, le=20_000, description="bars over which the bandwidth's percentile rank is taken",
        json_schema_extra={"search": {"low": 100, "high": 2000}},
    )
    high_vol_percentile: float = Field(
        0.9, gt=0, le=1, description="bandwidth rank (share of the window at or below it) for high volatility",
        json_schema_extra={"search": {"low": 0.7, "high": 0.99}},
    )
    volume_period: int = Field(
        24, ge=2, le=5000, description="bars of the volume average that relative volume is measured against",
        json_schema_extra={"search": {"low": 12, "high": 168}},
    )
    volume_smooth: int = Field(3, ge=1, le=100, description="bars averaged for the current volume")
    high_vol_volume_ratio: float = Field(
        1.5, gt=0, le=100, description="relative volume at or above this (with a high bandwidth) is high volatility",
        json_schema_extra={"search": {"low": 1.0, "high": 3.0, "step": 0.1}},
    )
    confirmation_bars: int = Field(
        3, ge=1, le=500, description="bars a new regime must be seen in a row before it takes effect",
        json_schema_extra={"search": {"low": 1, "high": 12}},
    )
    priority: tuple[RegimeName, ...] = Field(
        ("high_volatility", "downtrend", "uptrend", "sideways"),
        description="which regime wins when several conditions hold on one bar (first wins); all four, once each",
    )

    @field_validator("priority")
    @classmethod
    def _permutation(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if sorted(v) != sorted(REGIME_NAMES):
            raise fail(f"must list each of {', '.join(REGIME_NAMES)} exactly once (got {', '.join(v) or 'nothing'})")
        return v

    def priority_codes(self) -> Any:
        """`priority` as regime codes (int64 array), as the kernel takes it."""
        import numpy as np

        return np.array([REGIME_NAMES.index(r) for r in self.priority], dtype=np.int64)


class HybridConfig(StrategyConfig):
    """Hybrid Grid + DCA (docs/regime.md). `grid` / `dca` left out: the config's strategies.grid / strategies.dca
    when run from a config (backtest, portfolio), else their schema defaults; either way stepped on `timeframe`."""

    timeframe: Timeframe = Field("15m", description="bar timeframe both machines are stepped on")
    regime: RegimeConfig = Field(default_factory=RegimeConfig, description="the regime detector of the switch")
    grid_regimes: tuple[RegimeName, ...] = Field(
        ("sideways", "uptrend", "high_volatility"), description="regimes in which the grid is in charge",
    )
    dca_regimes: tuple[RegimeName, ...] = Field(("downtrend",), description="regimes in which the DCA is in charge")
    grid_exit: Literal["close", "keep", "handover"] = Field(
        "handover", description="open grid when the DCA takes over: sell, keep its sells and stop, or hand to DCA",
        json_schema_extra={"search": {"choices": ["close", "keep", "handover"]}},
    )
    dca_exit: Literal["keep", "close"] = Field(
        "keep", description="open DCA cycle when its regimes end: run to take-profit/stop, or sell at the next open",
        json_schema_extra={"search": {"choices": ["keep", "close"]}},
    )
    dca_entry: Literal["regime", "regime_and_trigger"] = Field(
        "regime", description="DCA cycles start whenever it is in charge, or only when its own trigger agrees",
    )
    grid: GridConfig | None = Field(None, description="grid params (null: strategies.grid or the defaults)")
    dca: DcaConfig | None = Field(None, description="DCA params (null: strategies.dca or the defaults)")

    @model_validator(mode="after")
    def _cross(self) -> HybridConfig:
        problems = []
        both = sorted(set(self.grid_regimes) & set(self.dca_regimes))
        if both:
            problems.append(("dca_regimes", f"{', '.join(both)} also in grid_regimes; each regime has one machine"))
        for key in ("grid_regimes", "dca_regimes"):
            v = getattr(self, key)
            if len(set(v)) != len(v):
                problems.append((key, "lists a regime twice"))
        base, reg = timeframes.seconds(self.timeframe), timeframes.seconds(self.regime.timeframe)
        if reg < base or reg % base:
            problems.append(("regime.timeframe", f"must be a whole multiple of timeframe {self.timeframe!r} "
                                                 f"(got {self.regime.timeframe!r})"))
        _check(problems)
        return self

    def machines(self) -> tuple[GridConfig, DcaConfig]:
        """The effective grid and DCA params (timeframe set to the hybrid's, DCA entry per dca_entry)."""
        from traderagent.config.validation import replace

        g = self.grid if self.grid is not None else GridConfig()
        d = self.dca if self.dca is not None else DcaConfig()
        if g.timeframe != self.timeframe:
            g = replace(g, "hybrid", ("strategies", "hybrid", "grid"), timeframe=self.timeframe)
        changes: dict[str, Any] = {}
        if d.timeframe != self.timeframe:
            changes["timeframe"] = self.timeframe
        if self.dca_entry == "regime" and d.entry != "always":
            changes["entry"] = "always"
        if changes:
            d = replace(d, "hybrid", ("strategies", "hybrid", "dca"), **changes)
        return g, d

    def resolved(self) -> HybridConfig:
        """This config with `grid` and `dca` filled in (what a run reports as its params)."""
        g, d = self.machines()
        return self.model_copy(update={"grid": g, "dca": d})


