"""TraderAgent: causal numba strategy kernels, vectorbt backtests, walk-forward research, a live adapter.

Importing the package is cheap on purpose: heavy modules (vectorbt, numba kernels, ccxt, SQLAlchemy)
are imported by the subpackages that need them, never here.
"""

__version__ = "0.1.0"

from traderagent._numba_cache import configure as _configure_numba_cache

_configure_numba_cache()
