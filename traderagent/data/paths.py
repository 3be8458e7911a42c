"""Where things live on disk: the source checkout (if any) and the candle store."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def data_dir() -> Path:
    """The candle store: $TRADERAGENT_DATA_DIR, else `data/` of a source checkout, else the user data dir."""
    env = os.environ.get("TRADERAGENT_DATA_DIR")
    if env:
        return Path(env)
    if (REPO_ROOT / "data" / "README.md").exists():
        return REPO_ROOT / "data"
    from platformdirs import user_data_dir

    return Path(user_data_dir("traderagent")) / "candles"
