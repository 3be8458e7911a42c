"""Live runner: the strategies' own ledgers, equity per bar, the paper exchange (its state, every client order
id it ever accepted), take-profit orders, brackets pending on their parent.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-05 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_DATETIME = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
OLD_TYPES = "type IN ('market', 'limit', 'stop_market', 'stop_limit')"
NEW_TYPES = "type IN ('market', 'limit', 'stop_market', 'stop_limit', 'take_profit')"
OLD_STATUSES = "status IN ('new', 'open', 'partially_filled', 'filled', 'canceled', 'rejected', 'expired')"
NEW_STATUSES = "status IN ('new', 'pending', 'open', 'partially_filled', 'filled', 'canceled', 'rejected', 'expired')"


def upgrade() -> None:
    op.create_table(
        "ledger_fills",
        sa.Column("strategy_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("bar", sa.Integer(), nullable=False),
        sa.Column("bar_time", UTC_DATETIME, nullable=False),
        sa.Column("trade", sa.Integer(), nullable=False),
        sa.Column("side", sa.SmallInteger(), nullable=False),
        sa.Column("price", sa.Double(), nullable=False),
        sa.Column("size", sa.Double(), nullable=False),
        sa.Column("fee", sa.Double(), nullable=False),
        sa.Column("reason", sa.SmallInteger(), nullable=False),
        sa.Column("decided_bar", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["strategy_id"], ["strategies.id"],
                                name=op.f("fk_ledger_fills_strategy_id_strategies"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("strategy_id", "seq", name=op.f("pk_ledger_fills")),
    )
    op.create_table(
        "equity_bars",
        sa.Column("strategy_id", sa.Integer(), nullable=False),
        sa.Column("bar", sa.Integer(), nullable=False),
        sa.Column("bar_time", UTC_DATETIME, nullable=False),
        sa.Column("cash", sa.Double(), nullable=False),
        sa.Column("position", sa.Double(), nullable=False),
        sa.Column("equity", sa.Double(), nullable=False),
        sa.ForeignKeyConstraint(["strategy_id"], ["strategies.id"],
                                name=op.f("fk_equity_bars_strategy_id_strategies"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("strategy_id", "bar", name=op.f("pk_equity_bars")),
    )
    op.create_table(
        "paper_exchanges",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("bar_time", UTC_DATETIME, nullable=True),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_paper_exchanges")),
    )
    op.create_table(
        "paper_orders_sent",
        sa.Column("exchange", sa.String(length=64), nullable=False),
        sa.Column("client_order_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("exchange", "client_order_id", name=op.f("pk_paper_orders_sent")),
    )
    op.create_table(
        "live_commands",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("instance", sa.String(length=100), nullable=True),
        sa.Column("command", sa.String(length=32), nullable=False),
        sa.Column("args", JSON, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("result", JSON, nullable=False),
        sa.Column("done_at", UTC_DATETIME, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_live_commands")),
    )
    op.create_index(op.f("ix_live_commands_status"), "live_commands", ["status"], unique=False)
    with op.batch_alter_table("orders") as batch:
        batch.drop_constraint(op.f("ck_orders_type"), type_="check")
        batch.create_check_constraint(op.f("ck_orders_type"), NEW_TYPES)
        batch.drop_constraint(op.f("ck_orders_status"), type_="check")
        batch.create_check_constraint(op.f("ck_orders_status"), NEW_STATUSES)


def downgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.drop_constraint(op.f("ck_orders_type"), type_="check")
        batch.create_check_constraint(op.f("ck_orders_type"), OLD_TYPES)
        batch.drop_constraint(op.f("ck_orders_status"), type_="check")
        batch.create_check_constraint(op.f("ck_orders_status"), OLD_STATUSES)
    op.drop_index(op.f("ix_live_commands_status"), table_name="live_commands")
    op.drop_table("live_commands")
    op.drop_table("paper_orders_sent")
    op.drop_table("paper_exchanges")
    op.drop_table("equity_bars")
    op.drop_table("ledger_fills")
