"""Typed, frozen, validated configuration (see docs/config.md).

    from traderagent.config import load_config, search_space, TrendFollowerConfig
    cfg = load_config("config.yaml")          # None -> the packaged default.yaml
    cfg.strategies.enabled()                   # {"grid": GridConfig(...), ...}
    cfg.orchestrator.capital_allocation.as_dict()
    search_space(TrendFollowerConfig)          # {"ema_fast": {"type": "int", "low": 4, "high": 24}, ...}
    secrets = Secrets.from_env()               # API keys / tokens / DATABASE_URL, never from YAML
"""

from traderagent.config.loader import (
    DEFAULT_NAME,
    SECRET_ENV,
    ConfigValidationError,
    Secrets,
    database_url,
    default_config_path,
    load_config,
    parse_config,
    replace,
    validate,
)
from traderagent.config.models import (
    STRATEGY_MODELS,
    AppConfig,
    BacktestConfig,
    CapitalAllocation,
    DatabaseConfig,
    DcaConfig,
    GridConfig,
    LiveConfig,
    OrchestratorConfig,
    RiskConfig,
    SmcConfig,
    StrategiesConfig,
    StrategyConfig,
    TrendFollowerConfig,
    search_space,
)
from traderagent.errors import ConfigError

__all__ = [
    "DEFAULT_NAME",
    "SECRET_ENV",
    "STRATEGY_MODELS",
    "AppConfig",
    "BacktestConfig",
    "CapitalAllocation",
    "ConfigError",
    "ConfigValidationError",
    "DatabaseConfig",
    "DcaConfig",
    "GridConfig",
    "LiveConfig",
    "OrchestratorConfig",
    "RiskConfig",
    "Secrets",
    "SmcConfig",
    "StrategiesConfig",
    "StrategyConfig",
    "TrendFollowerConfig",
    "database_url",
    "default_config_path",
    "load_config",
    "parse_config",
    "replace",
    "search_space",
    "validate",
]
