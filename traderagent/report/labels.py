"""Human labels for the keys the results carry (stats, integrity gates, trade columns, provenance).

Pages show `label(key)`; the JSON keeps the snake_case keys. A key without an entry reads as its words
("max_drawdown_duration_days" -> "Max drawdown duration days"), so a new key never shows as snake_case.
"""

from __future__ import annotations

LABELS: dict[str, str] = {
    # stats (traderagent.backtest.metrics)
    "total_return": "Total return",
    "cagr": "Annual growth (CAGR)",
    "sharpe": "Sharpe ratio (annualised)",
    "sortino": "Sortino ratio (annualised)",
    "max_drawdown": "Max drawdown",
    "max_drawdown_duration_days": "Longest drawdown (days)",
    "calmar": "Calmar ratio",
    "win_rate": "Winning trades",
    "profit_factor": "Profit factor",
    "expectancy": "Mean P&L per trade",
    "exposure": "Time in the market",
    "trades": "Trades",
    # integrity gates (traderagent.backtest.integrity.GATES and the order engine's)
    "ledger": "Trade P&L adds up to the equity change",
    "cash_exposure": "Cash never negative, exposure within leverage",
    "drawdown": "Drawdown between 0 and 100%",
    "no_trade_no_return": "No trades, no return",
    "fills_in_range": "Every fill within its bar's low–high",
    "no_lookahead": "No fill before the bar after its decision",
    "vectorbt_ledger": "Equity equals vectorbt's independent ledger",
    "spot_inventory": "Never sells more than it holds (spot)",
    # trades table
    "entry_time": "Entry (UTC)",
    "exit_time": "Exit (UTC)",
    "side": "Side",
    "entry_price": "Entry price",
    "exit_price": "Exit price",
    "size": "Size",
    "pnl": "P&L after fees",
    "fees": "Fees",
    "exit_reason": "Exit reason",
    "fills": "Fills",
    # provenance
    "data_file": "Candle file",
    "data_sha256": "Candle file SHA-256",
    "code_version": "Code version",
    "slippage": "Slippage per fill",
    "initial_equity": "Initial equity",
    "final_equity": "Final equity",
    # risk guard blocks
    "rule": "Rule",
    "action": "Action",
    "time": "Bar (UTC)",
    "refused": "What was refused",
}

#: Stats shown as percentages.
PCT_KEYS = frozenset({"total_return", "cagr", "max_drawdown", "win_rate", "exposure", "fees_rate"})


def label(key: str) -> str:
    """The page label of a result key."""
    if key in LABELS:
        return LABELS[key]
    words = str(key).replace("_", " ").strip()
    return words[:1].upper() + words[1:]
