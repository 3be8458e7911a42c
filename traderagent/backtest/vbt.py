"""Importing vectorbt without paying for integrations we never use.

`import vectorbt` imports ccxt (every exchange class, ~2 s here) and python-telegram-bot when they are installed,
only to offer `vbt.CCXTData` type hints and `vbt.TelegramBot`. Both imports sit in `try/except ImportError` blocks,
so hiding the two packages while vectorbt loads skips them; they import normally afterwards (CCXTData imports
ccxt again inside its methods). Every module that needs vectorbt calls `load()` instead of importing it.
"""

from __future__ import annotations

import sys

_SKIPPED = ("ccxt", "telegram", "binance")


def load():
    """Return the vectorbt module, importing it without its ccxt/telegram integrations on first use."""
    if "vectorbt" in sys.modules:
        return sys.modules["vectorbt"]
    hidden = [name for name in _SKIPPED if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # makes `import name` raise ImportError for the duration
    try:
        import vectorbt
    finally:
        for name in hidden:
            if sys.modules.get(name, 0) is None:
                del sys.modules[name]
    return vectorbt
