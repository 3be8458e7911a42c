"""The `traderagent` command line: thin subcommands over library functions.

Each command group lives in its own module with `register(subparsers)`; modules import nothing heavy
at top level (numba, vectorbt, ccxt, SQLAlchemy are imported inside the handlers) so `--help` is fast.

Exit codes: 0 ok; 2 bad input (one line on stderr, no traceback unless --debug), including a command whose
optional dependencies (an extra, see `traderagent.cli.extras`) are not installed; 1 internal error.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from traderagent import __version__
from traderagent.errors import UserError

#: Command-group modules under traderagent.cli, in the order `--help` lists them.
COMMAND_MODULES: tuple[str, ...] = ("data", "config", "backtest", "portfolio", "check", "optimize", "db", "runs",
                                    "report", "live")


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as one line and exit code 2 (like every other bad input)."""

    def error(self, message: str):  # noqa: D401 - argparse API
        raise UserError(f"{self.prog}: {message} (see --help)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="traderagent",
        description="Backtest-first research toolkit for crypto trading strategies.",
        epilog="Exit codes: 0 ok, 2 bad input, 1 internal error. Add --debug for tracebacks.",
    )
    parser.add_argument("--version", action="version", version=f"traderagent {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMAND_MODULES:
        importlib.import_module(f"traderagent.cli.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    debug = "--debug" in argv
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if not getattr(args, "func", None):
            parser.print_help()
            return 0 if not argv or argv == ["--debug"] else 2
        return int(args.func(args) or 0)
    except UserError as exc:
        if debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as exc:  # an optional dependency a command needs: say which extra brings it
        from traderagent.cli.extras import extra_of, install_hint

        extra = extra_of(exc.name)
        if debug or extra is None:
            if debug:
                raise
            print(f"internal error: {type(exc).__name__}: {exc} (run with --debug for the traceback)",
                  file=sys.stderr)
            return 1
        print(f"error: {exc.name} is not installed; this command needs the {extra} extra: {install_hint(extra)}",
              file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # internal error: one line, traceback with --debug
        if debug:
            raise
        print(f"internal error: {type(exc).__name__}: {exc} (run with --debug for the traceback)", file=sys.stderr)
        return 1
