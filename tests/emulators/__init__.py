"""Local HTTP emulators of exchange APIs, so tests run real clients (ccxt) over real HTTP without internet.

Import as `from emulators.binance import BinanceEmulator` (tests/ is on sys.path through tests/conftest.py).
"""
