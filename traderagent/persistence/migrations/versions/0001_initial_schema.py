"""Initial schema: strategies, state, signals, orders, fills, positions, metrics, backtest runs, optimization results.

Revision ID: 0001
Revises:
Create Date: 2026-11-24 09:16:20.729035
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Column types, spelled out so a migration never changes when the models do.
MONEY = sa.Numeric(38, 18).with_variant(sa.String(48), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
UTC_DATETIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "backtest_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("strategy", sa.String(length=100), nullable=False),
        sa.Column("symbol", sa.String(length=40), nullable=False),
        sa.Column("timeframe", sa.String(length=8), nullable=False),
        sa.Column("start", UTC_DATETIME, nullable=False),
        sa.Column("end", UTC_DATETIME, nullable=False),
        sa.Column("params", JSON, nullable=False),
        sa.Column("initial_equity", sa.Double(), nullable=False),
        sa.Column("final_equity", sa.Double(), nullable=False),
        sa.Column("total_return", sa.Double(), nullable=True),
        sa.Column("sharpe", sa.Double(), nullable=True),
        sa.Column("max_drawdown", sa.Double(), nullable=True),
        sa.Column("n_trades", sa.Integer(), nullable=False),
        sa.Column("stats", JSON, nullable=False),
        sa.Column("integrity_ok", sa.Boolean(), nullable=False),
        sa.Column("integrity", JSON, nullable=False),
        sa.Column("trades", JSON, nullable=False),
        sa.Column("trades_sha256", sa.String(length=64), nullable=True),
        sa.Column("data_hash", sa.String(length=128), nullable=False),
        sa.Column("code_version", sa.String(length=64), nullable=False),
        sa.Column("meta", JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_backtest_runs")),
    )
    op.create_index(op.f("ix_backtest_runs_created_at"), "backtest_runs", ["created_at"], unique=False)
    op.create_index(op.f("ix_backtest_runs_strategy"), "backtest_runs", ["strategy"], unique=False)
    op.create_table(
        "optimization_results",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("study", sa.String(length=200), nullable=False),
        sa.Column("strategy", sa.String(length=100), nullable=False),
        sa.Column("symbol", sa.String(length=40), nullable=True),
        sa.Column("timeframe", sa.String(length=8), nullable=True),
        sa.Column("start", UTC_DATETIME, nullable=True),
        sa.Column("end", UTC_DATETIME, nullable=True),
        sa.Column("fold", sa.Integer(), nullable=True),
        sa.Column("n_trials", sa.Integer(), nullable=True),
        sa.Column("objective", sa.Double(), nullable=True),
        sa.Column("params", JSON, nullable=False),
        sa.Column("stats", JSON, nullable=False),
        sa.Column("integrity_ok", sa.Boolean(), nullable=True),
        sa.Column("integrity", JSON, nullable=False),
        sa.Column("data_hash", sa.String(length=128), nullable=False),
        sa.Column("code_version", sa.String(length=64), nullable=False),
        sa.Column("meta", JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_optimization_results")),
    )
    op.create_index(
        op.f("ix_optimization_results_created_at"), "optimization_results", ["created_at"], unique=False
    )
    op.create_index(op.f("ix_optimization_results_study"), "optimization_results", ["study"], unique=False)
    op.create_table(
        "strategies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=50), nullable=False),
        sa.Column("config", JSON, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("meta", JSON, nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
        sa.CheckConstraint(
            "status IN ('idle', 'active', 'paused', 'stopped')", name=op.f("ck_strategies_status")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_strategies")),
        sa.UniqueConstraint("name", name=op.f("uq_strategies_name")),
    )
    op.create_table(
        "orders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("client_order_id", sa.String(length=64), nullable=False),
        sa.Column("exchange_order_id", sa.String(length=128), nullable=True),
        sa.Column("strategy_id", sa.Integer(), nullable=False),
        sa.Column("exchange", sa.String(length=32), nullable=False),
        sa.Column("symbol", sa.String(length=40), nullable=False),
        sa.Column("side", sa.String(length=4), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("amount", MONEY, nullable=False),
        sa.Column("price", MONEY, nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("filled", MONEY, nullable=False),
        sa.Column("average_price", MONEY, nullable=True),
        sa.Column("fee", MONEY, nullable=False),
        sa.Column("fee_currency", sa.String(length=16), nullable=True),
        sa.Column("tag", sa.String(length=64), nullable=True),
        sa.Column("meta", JSON, nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
        sa.CheckConstraint("side IN ('buy', 'sell')", name=op.f("ck_orders_side")),
        sa.CheckConstraint(
            "status IN ('new', 'open', 'partially_filled', 'filled', 'canceled', 'rejected', 'expired')",
            name=op.f("ck_orders_status"),
        ),
        sa.CheckConstraint(
            "type IN ('market', 'limit', 'stop_market', 'stop_limit')", name=op.f("ck_orders_type")
        ),
        sa.ForeignKeyConstraint(
            ["strategy_id"],
            ["strategies.id"],
            name=op.f("fk_orders_strategy_id_strategies"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders")),
        sa.UniqueConstraint("client_order_id", name=op.f("uq_orders_client_order_id")),
    )
    op.create_index(
        op.f("ix_orders_exchange_exchange_order_id"),
        "orders",
        ["exchange", "exchange_order_id"],
        unique=False,
    )
    op.create_index(op.f("ix_orders_strategy_id_status"), "orders", ["strategy_id", "status"], unique=False)
    op.create_table(
        "performance_metrics",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("strategy_id", sa.Integer(), nullable=False),
        sa.Column("period", sa.String(length=16), nullable=False),
        sa.Column("period_start", UTC_DATETIME, nullable=False),
        sa.Column("period_end", UTC_DATETIME, nullable=False),
        sa.Column("equity_start", MONEY, nullable=False),
        sa.Column("equity_end", MONEY, nullable=False),
        sa.Column("pnl", MONEY, nullable=False),
        sa.Column("fees", MONEY, nullable=False),
        sa.Column("trades", sa.Integer(), nullable=False),
        sa.Column("win_rate", sa.Double(), nullable=True),
        sa.Column("sharpe", sa.Double(), nullable=True),
        sa.Column("max_drawdown", sa.Double(), nullable=True),
        sa.Column("extra", JSON, nullable=False),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["strategy_id"],
            ["strategies.id"],
            name=op.f("fk_performance_metrics_strategy_id_strategies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_performance_metrics")),
        sa.UniqueConstraint(
            "strategy_id",
            "period",
            "period_start",
            name=op.f("uq_performance_metrics_strategy_id_period_period_start"),
        ),
    )
    op.create_table(
        "positions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("strategy_id", sa.Integer(), nullable=False),
        sa.Column("symbol", sa.String(length=40), nullable=False),
        sa.Column("quantity", MONEY, nullable=False),
        sa.Column("average_price", MONEY, nullable=True),
        sa.Column("realized_pnl", MONEY, nullable=False),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["strategy_id"],
            ["strategies.id"],
            name=op.f("fk_positions_strategy_id_strategies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_positions")),
        sa.UniqueConstraint("strategy_id", "symbol", name=op.f("uq_positions_strategy_id_symbol")),
    )
    op.create_table(
        "signals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("strategy_id", sa.Integer(), nullable=False),
        sa.Column("symbol", sa.String(length=40), nullable=False),
        sa.Column("timeframe", sa.String(length=8), nullable=False),
        sa.Column("bar_time", UTC_DATETIME, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("price", MONEY, nullable=True),
        sa.Column("stop", MONEY, nullable=True),
        sa.Column("target", MONEY, nullable=True),
        sa.Column("size", sa.Double(), nullable=True),
        sa.Column("meta", JSON, nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["strategy_id"],
            ["strategies.id"],
            name=op.f("fk_signals_strategy_id_strategies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signals")),
        sa.UniqueConstraint(
            "strategy_id",
            "symbol",
            "timeframe",
            "bar_time",
            "kind",
            name=op.f("uq_signals_strategy_id_symbol_timeframe_bar_time_kind"),
        ),
    )
    op.create_table(
        "strategy_states",
        sa.Column("strategy_id", sa.Integer(), nullable=False),
        sa.Column("encoding", sa.String(length=8), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
        sa.CheckConstraint("encoding IN ('bytes', 'json')", name=op.f("ck_strategy_states_encoding")),
        sa.ForeignKeyConstraint(
            ["strategy_id"],
            ["strategies.id"],
            name=op.f("fk_strategy_states_strategy_id_strategies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("strategy_id", name=op.f("pk_strategy_states")),
    )
    op.create_table(
        "fills",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("trade_id", sa.String(length=128), nullable=True),
        sa.Column("time", UTC_DATETIME, nullable=False),
        sa.Column("price", MONEY, nullable=False),
        sa.Column("amount", MONEY, nullable=False),
        sa.Column("fee", MONEY, nullable=False),
        sa.Column("fee_currency", sa.String(length=16), nullable=True),
        sa.Column("liquidity", sa.String(length=8), nullable=True),
        sa.CheckConstraint(
            "liquidity IS NULL OR liquidity IN ('maker', 'taker')", name=op.f("ck_fills_liquidity")
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_fills_order_id_orders"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fills")),
        sa.UniqueConstraint("order_id", "trade_id", name=op.f("uq_fills_order_id_trade_id")),
    )


def downgrade() -> None:
    op.drop_table("fills")
    op.drop_table("strategy_states")
    op.drop_table("signals")
    op.drop_table("positions")
    op.drop_table("performance_metrics")
    op.drop_index(op.f("ix_orders_strategy_id_status"), table_name="orders")
    op.drop_index(op.f("ix_orders_exchange_exchange_order_id"), table_name="orders")
    op.drop_table("orders")
    op.drop_table("strategies")
    op.drop_index(op.f("ix_optimization_results_study"), table_name="optimization_results")
    op.drop_index(op.f("ix_optimization_results_created_at"), table_name="optimization_results")
    op.drop_table("optimization_results")
    op.drop_index(op.f("ix_backtest_runs_strategy"), table_name="backtest_runs")
    op.drop_index(op.f("ix_backtest_runs_created_at"), table_name="backtest_runs")
    op.drop_table("backtest_runs")
