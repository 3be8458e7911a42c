"""Alembic environment for TraderAgent (configured programmatically by traderagent.persistence.migrate).

The version table is `traderagent_alembic_version`, so optuna's own `alembic_version` in the same database
never clashes, and autogenerate only looks at this app's tables.
"""

from __future__ import annotations

from alembic import context

from traderagent.persistence.migrate import configure_context

configure_context(context)
with context.begin_transaction():
    context.run_migrations()
