"""Golden files: stats and the hash of every trade of default strategies on the bundled data, and determinism.

Regenerate only with `tests/golden/regenerate.py`, and explain the change in the commit.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from regenerate import CASES, golden_record  # noqa: I001 - sibling module (tests/golden is on sys.path)

HERE = Path(__file__).resolve().parent


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden(name, btc_15m):
    want = json.loads((HERE / f"{name}.json").read_text())
    got = golden_record(CASES[name])
    assert got["data_sha256"] == want["data_sha256"], "the bundled sample changed; the golden file no longer applies"
    assert got["integrity_ok"] is True
    assert (got["n_trades"], got["start"], got["end"]) == (want["n_trades"], want["start"], want["end"])
    for key, value in want["stats"].items():
        assert got["stats"][key] == pytest.approx(value, rel=1e-9, abs=1e-12), key
    assert got["final_equity"] == pytest.approx(want["final_equity"], rel=1e-9)
    assert got["trades_sha256"] == want["trades_sha256"]


def test_determinism():
    """Two runs of the same backtest give the same trades, to the bit."""
    a = golden_record(CASES["trend_follower_btc_1h"])
    b = golden_record(CASES["trend_follower_btc_1h"])
    assert a == b
