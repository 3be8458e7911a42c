"""Persistence errors. All are `UserError`s: the CLI prints their one line and exits 2."""

from __future__ import annotations

from traderagent.errors import UserError


class DatabaseError(UserError):
    """Base class of the database errors a user or an operator can act on."""


class DatabaseURLError(DatabaseError):
    """DATABASE_URL / --database-url cannot be parsed or names an unsupported backend."""


class DatabaseUnreachable(DatabaseError):
    """The database server cannot be reached (down, wrong host or port, refused credentials)."""


class SchemaError(DatabaseError):
    """The database schema is not at the revision this code expects (run `traderagent db upgrade`)."""


class NotFoundError(DatabaseError):
    """A strategy, run or order that was asked for by name or id does not exist."""


class DuplicateOrderError(DatabaseError):
    """The client order id is already taken (rejected by the database's unique constraint)."""

    def __init__(self, client_order_id: str | None, message: str | None = None):
        super().__init__(
            message or f"client order id {client_order_id!r} already exists; an order is never placed twice"
        )
        self.client_order_id = client_order_id


class BackupError(DatabaseError):
    """A backup or restore could not be made (missing tool, wrong file, tool failure)."""


class StaleStateError(DatabaseError):
    """A strategy state save expected another version than the stored one (two runners on one strategy?)."""
