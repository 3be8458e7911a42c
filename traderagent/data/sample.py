"""The bundled sample ("the bundled data"): real Binance spot candles used by the demo, tests and benchmarks.

The candles come from third-party public repositories, so the project never commits them. `data/` is a
git-ignored store, filled by `ensure_sample()` from:
  1. the folder named by $TRADERAGENT_SAMPLE_DIR, when it is set: then the only source (a variable that
     names no folder, or a folder without a sample file, is an error, never a silent fallback);
  2. otherwise `../shared/data` beside the checkout (how CI and developers' machines have it),
  3. else a download of the same markets through ccxt (what a user with internet gets).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from traderagent.data.paths import REPO_ROOT as REPO_ROOT  # re-exported
from traderagent.data.paths import data_dir as data_dir  # re-exported
from traderagent.errors import DataError


@dataclass(frozen=True)
class SampleFile:
    name: str
    exchange: str
    symbol: str
    timeframe: str
    since: str  # first candle open time (UTC, ISO)
    until: str  # open time after the last candle (UTC, ISO)


SAMPLE_FILES = (
    SampleFile("BTC_USDT-15m.csv.gz", "binance", "BTC/USDT", "15m", "2023-01-01", "2026-04-10T16:45:00"),
    SampleFile("ETH_USDT-15m.csv.gz", "binance", "ETH/USDT", "15m", "2023-01-01", "2026-04-10T16:45:00"),
    SampleFile("BTC_USDT-1m.csv.gz", "binance", "BTC/USDT", "1m", "2025-06-02", "2025-06-30"),
)


def source_dirs() -> list[Path]:
    """Folders that may hold the sample: $TRADERAGENT_SAMPLE_DIR alone when set (it must be a folder), else
    `../shared/data`."""
    env = os.environ.get("TRADERAGENT_SAMPLE_DIR")
    if env:
        if not Path(env).is_dir():
            raise DataError(f"TRADERAGENT_SAMPLE_DIR={env} is not a folder; point it at the folder holding "
                            f"{SAMPLE_FILES[0].name} (or unset it to use ../shared/data or a download)")
        return [Path(env)]
    return [REPO_ROOT.parent / "shared" / "data"]


def sample_path(name: str) -> Path:
    """Path of one sample file in the store (it may not exist yet; see `ensure_sample`)."""
    return data_dir() / name


def ensure_sample(dest: Path | None = None, download: bool = True, log=print) -> list[Path]:
    """Make sure every sample file is in the store; returns their paths."""
    dest = Path(dest) if dest else data_dir()
    sources = source_dirs()  # checks $TRADERAGENT_SAMPLE_DIR before anything is written
    explicit = bool(os.environ.get("TRADERAGENT_SAMPLE_DIR"))
    dest.mkdir(parents=True, exist_ok=True)
    paths = []
    for spec in SAMPLE_FILES:
        target = dest / spec.name
        if not target.exists():
            src = next((d / spec.name for d in sources if (d / spec.name).is_file()), None)
            if src is None and explicit:
                raise DataError(f"TRADERAGENT_SAMPLE_DIR={sources[0]} has no {spec.name}; copy the sample there "
                                "or unset the variable to use ../shared/data or a download")
            if src is not None:
                tmp = target.with_suffix(target.suffix + ".part")
                shutil.copyfile(src, tmp)
                tmp.replace(target)
                log(f"sample: {spec.name} <- {src}")
            elif download:
                log(f"sample: {spec.name} not found locally; downloading from {spec.exchange}")
                _download(spec, target)
            else:
                raise DataError(
                    f"sample file {spec.name} not found in {', '.join(map(str, sources))}; "
                    "set TRADERAGENT_SAMPLE_DIR or run `traderagent data sample` with internet access"
                )
        paths.append(target)
    return paths


def _download(spec: SampleFile, target: Path) -> None:
    from traderagent.data.download import download_to_file

    download_to_file(spec.exchange, spec.symbol, spec.timeframe, since=spec.since, until=spec.until, path=target)
