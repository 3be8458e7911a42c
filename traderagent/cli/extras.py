"""Optional dependency groups (pyproject.toml extras) and the one-line error when a command lacks its group.

A base install (`pip install traderagent`) backtests, reports, checks and runs portfolios. Commands that
need more say which extra to install instead of failing with ModuleNotFoundError:

    traderagent optimize ...   -> pip install 'traderagent[research]'
"""

from __future__ import annotations

import importlib.util

from traderagent.errors import UserError

#: extra -> the top-level modules it provides (what the code imports), in pyproject.toml's order.
EXTRAS: dict[str, tuple[str, ...]] = {
    "research": ("optuna",),
    "db": ("sqlalchemy", "alembic"),
    "exchange": ("ccxt",),
    "live": ("telegram", "prometheus_client"),
    "notebooks": ("jupytext", "nbclient", "ipykernel"),
}


class MissingExtra(UserError):
    """A command needs an optional dependency group that is not installed (exit 2)."""


def install_hint(extra: str) -> str:
    return f"pip install 'traderagent[{extra}]'"


def missing(extra: str) -> list[str]:
    """The modules of `extra` that cannot be imported here (looked up, not imported: cheap)."""
    out = []
    for name in EXTRAS[extra]:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):  # a module set to None in sys.modules, or a broken parent
            found = False
        if not found:
            out.append(name)
    return out


def require(extra: str, what: str) -> None:
    """Raise MissingExtra naming `what` (e.g. "`traderagent optimize`") when `extra` is not installed."""
    gone = missing(extra)
    if gone:
        raise MissingExtra(f"{what} needs the {extra} extra ({', '.join(gone)} not installed): "
                           f"{install_hint(extra)}")


def extra_of(module: str | None) -> str | None:
    """The extra that provides a (possibly dotted) module name, or None."""
    root = (module or "").split(".")[0]
    return next((extra for extra, mods in EXTRAS.items() if root in mods), None)
