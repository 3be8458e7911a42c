"""The flags every command spells the same way, and what they share: output paths, progress, printing.

Vocabulary (README "Everyday commands"; docs/decisions.md "CLI"):
  --data PATH         a candle file, or a folder with one file per pair (BTC_USDT-15m.csv.gz, ...)
  --start / --end     first and last day, inclusive (YYYY-MM-DD, or an ISO-8601 time)
  --fees / --slippage costs per side, in the forms the config takes: 0.001, 0.1% or 10bps (at most 2%)
  --report PATH|none  the HTML page; by default a name no other run shares (under --json: no page)
  --json              one JSON object on stdout

Old spellings (`--data-dir`, `--since`, `--until`) still work and print one deprecation line.
Only the standard library is imported here (the command line answers `--help` in milliseconds).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from traderagent.errors import UserError

COST_FORMS = "0.001, 0.1%% or 10bps"


def cost(text: str) -> float:
    """argparse type of --fees/--slippage: the config's CostFraction rule (fraction, percent or bps; <= 2%)."""
    from pydantic_core import PydanticCustomError

    from traderagent.config.units import FractionRule

    try:
        return FractionRule(0.02)(text)
    except PydanticCustomError as exc:
        raise argparse.ArgumentTypeError(str(exc.message())) from None


def symbol(text: str) -> str:
    """argparse type of --symbol: BASE/QUOTE in upper case (`eth/usdt` is ETH/USDT)."""
    from pydantic_core import PydanticCustomError

    from traderagent.config.units import normalize_pair

    try:
        return normalize_pair(text)
    except PydanticCustomError as exc:
        raise argparse.ArgumentTypeError(str(exc.message())) from None


def add_symbol(p, default: str | None = "BTC/USDT", required: bool = False) -> None:
    p.add_argument("--symbol", type=symbol, default=default, required=required,
                   help="market, BASE/QUOTE, any case" + (f" (default {default})" if default else ""))


def add_data(p, folder_only: bool = False) -> None:
    if folder_only:
        p.add_argument("--data", metavar="DIR", help="folder with one candle file per pair (BTC_USDT-15m.csv.gz, "
                                                      "...); default: the candle store")
        add_deprecated(p, "--data-dir", "--data", metavar="DIR")
    else:
        p.add_argument("--data", metavar="PATH", help="candle file (CSV, CSV.gz, Parquet, freqtrade JSON/feather), "
                                                       "or a folder holding <BASE>_<QUOTE>-<tf>.* files; "
                                                       "default: the candle store")


def add_range(p, start_required: bool = False, what: str = "trading") -> None:
    p.add_argument("--start", required=start_required,
                   help=f"first {what} day, YYYY-MM-DD or ISO 8601 (UTC)"
                        + (" (indicators warm up on earlier data)" if what == "trading" else ""))
    p.add_argument("--end", help=f"last {what} day, inclusive (a time: that bar included); default: the last")


def add_costs(p, default_from: str = "the config's backtest section") -> None:
    p.add_argument("--fees", type=cost, metavar="COST",
                   help=f"fee per side: {COST_FORMS} (default: {default_from}; 0.1%%)")
    p.add_argument("--slippage", type=cost, metavar="COST",
                   help=f"adverse price move per fill: {COST_FORMS} (default: {default_from}; 2bps)")


def add_output(p, default_name: str) -> None:
    p.add_argument("--report", metavar="PATH",
                   help=f"HTML page to write ('none' for no page); default reports/{default_name}.html, a name "
                        "no other run shares; with --json no page unless --report is given")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout (fractions, not percents)")


class _Deprecated(argparse.Action):
    def __call__(self, parser, namespace, values, option_string=None):
        print(f"{parser.prog}: {option_string} is deprecated; use {self.metavar_new}", file=sys.stderr)
        setattr(namespace, self.dest, values)


def add_deprecated(p, old: str, new: str, **kwargs) -> None:
    """`old` keeps working as a hidden alias of `new`, with one deprecation line on stderr."""
    action = p.add_argument(old, dest=new.lstrip("-").replace("-", "_"), action=_Deprecated, help=argparse.SUPPRESS,
                            **kwargs)
    action.metavar_new = new


# ---------------------------------------------------------------------------------------------- outputs
def reports_dir() -> Path:
    """Where default report names go: $TRADERAGENT_REPORTS_DIR, else reports/ of a source checkout, else
    ./reports."""
    env = os.environ.get("TRADERAGENT_REPORTS_DIR")
    if env:
        return Path(env)
    from traderagent.data.paths import REPO_ROOT

    return REPO_ROOT / "reports" if (REPO_ROOT / "reports").is_dir() else Path("reports")


def wanted_report(args) -> Path | None | str:
    """What --report/--json ask for: a Path, None (no page), or "default" (a default name after the run)."""
    chosen = getattr(args, "report", None)
    if chosen is not None and chosen.strip().lower() == "none":
        return None
    if chosen:
        return Path(chosen)
    return None if getattr(args, "json", False) else "default"


def checked_report(args) -> Path | None | str:
    """`wanted_report(args)`, after making sure it can be written (before the run, exit 2 otherwise): the
    path given, or for a default name the reports folder."""
    wanted = wanted_report(args)
    if isinstance(wanted, Path):
        check_writable(wanted)
    elif wanted == "default":
        folder = reports_dir()
        check_writable(folder / "report.html", f"the reports folder {folder}",
                       hint="; pass --report PATH or set TRADERAGENT_REPORTS_DIR")
    return wanted


def check_writable(path: Path, label: str | None = None, hint: str = "") -> None:
    """Fail (UserError, exit 2) before any work if `path` cannot be written: a folder, a file in a missing
    parent that cannot be made, or a place this process may not write. Probes with a temp file (as root,
    permission bits say nothing), which is removed: nothing is left behind. `label` names it in messages
    (default "--report PATH")."""
    path = Path(path)
    label = label or f"--report {path}"
    if path.is_dir():
        raise UserError(f"{label} is a folder; give a file name, e.g. {path / 'run.html'}")
    if path.exists() and not os.access(path, os.W_OK):
        raise UserError(f"{label}: the file is not writable{hint}")
    import tempfile

    parent = path.parent
    while not parent.exists():
        if parent == parent.parent:
            break
        parent = parent.parent
    if not parent.is_dir():
        raise UserError(f"{label}: {parent} is not a folder{hint}")
    try:
        fd, probe = tempfile.mkstemp(prefix=".traderagent-probe-", dir=parent)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise UserError(f"{label}: cannot write in {parent} ({exc.strerror or exc}){hint}") from None


def run_fingerprint(parts: dict[str, Any]) -> str:
    """8 hex digits naming a run by its inputs and results (equal runs, equal names)."""
    import hashlib
    import json

    text = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def default_report(stem: str, parts: dict[str, Any]) -> Path:
    """reports/<stem>-<fingerprint>.html: runs that differ in anything get different files."""
    return reports_dir() / f"{stem}-{run_fingerprint(parts)}.html"


def day(iso: str) -> str:
    """'2024-01-31T15:00:00Z' -> '20240131' (for file names)."""
    return iso[:10].replace("-", "")


def write_failed(path: Path, exc: OSError) -> UserError:
    return UserError(f"could not write {path}: {exc.strerror or exc} (the results above are complete)")


# ------------------------------------------------------------------------------------------ progress/print
def progress_on(quiet: bool = False) -> bool:
    """Progress bars only for a person watching: stdout and stderr both terminals, and not --json/--quiet."""
    return not quiet and sys.stdout.isatty() and sys.stderr.isatty()


def bar(total: int | None, desc: str, unit: str, enabled: bool, initial: int = 0):
    """A tqdm bar on stderr (disabled: a no-op object with the same methods)."""
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, disable=not enabled, initial=initial,
                dynamic_ncols=True, leave=False)


def tidy(value: Any) -> Any:
    """Floats as people write them (0.35, not 0.35000000000000003): 12 significant digits, recursively."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, float):
        return float(f"{value:.12g}") if value == value and abs(value) != float("inf") else value
    if isinstance(value, dict):
        return {k: tidy(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [tidy(v) for v in value]
    return value


def start_numba() -> None:
    """Import numba and load its CPU target without the imports it makes only to probe for optional tools.

    numba's first compile or cache load imports `numba.np.arraymath`, whose import-time `_check_blas()` imports
    `scipy.linalg.cython_blas` (0.15-0.2 s) just to set `_HAVE_BLAS`; `import numba` imports `coverage` when it
    is installed (a dev environment; 0.07 s) to report jitted lines to a running measurement. Both are hidden
    while numba loads, then `_HAVE_BLAS` is set from an import-free lookup. Behaviour is unchanged: functions
    that use BLAS call numba's `ensure_blas()` when they compile, which imports scipy.linalg then, and under a
    coverage run `coverage` is already imported, so it is not hidden. Call it before importing the kernels.
    """
    import importlib.util

    if "numba.np.arraymath" in sys.modules:
        return
    hide = [name for name in ("scipy.linalg",) if name not in sys.modules]
    if "numba" not in sys.modules and "coverage" not in sys.modules:
        hide.append("coverage")
    for name in hide:
        sys.modules[name] = None  # type: ignore[assignment]  # importing it raises ImportError meanwhile
    try:
        from numba.core.registry import cpu_target

        cpu_target.target_context.refresh()
    finally:
        for name in hide:
            if sys.modules.get(name, 0) is None:
                del sys.modules[name]
    from numba.np import arraymath

    arraymath._HAVE_BLAS = importlib.util.find_spec("scipy.linalg") is not None
