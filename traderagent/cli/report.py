"""`traderagent report site`: the static report site (index, one page per run and study, comparisons, docs, API)."""

from __future__ import annotations

import sys
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser("report", help="build the report site (static HTML for GitHub Pages)",
                       description="Report pages built from saved results.")
    cmds = p.add_subparsers(dest="report_command", metavar="SUBCOMMAND", required=True)
    site = cmds.add_parser(
        "site",
        help="static site: an index of every saved run and study, their pages, comparisons, docs and API docs",
        description=(
            "Reads the backtest and study JSON beside the reports (--reports) and the runs saved in the database, "
            "re-runs each backtest from its recorded inputs (its page is drawn only when the trades match the saved "
            "ones; otherwise from the saved record, and the page says why), and writes one folder that opens "
            "offline and publishes as it is (plotly.min.js once, at its root). The folder is replaced only once "
            "the new site is complete."
        ),
    )
    site.add_argument("--out", help="site folder (default reports/site); replaced as a whole")
    site.add_argument("--reports", help="folder with the reports' JSON (default reports/); 'none' to skip")
    site.add_argument("--database-url", metavar="URL",
                      help="database with saved runs (default: $DATABASE_URL, else the user's SQLite file if it exists)")
    site.add_argument("--no-database", action="store_true", help="do not read saved runs from a database")
    site.add_argument("--docs", help="folder of Markdown docs to publish (default: docs/ of a source checkout); "
                                     "'none' to skip")
    site.add_argument("--no-api", action="store_true", help="skip the API reference (pdoc)")
    site.add_argument("--portfolio", action="store_true",
                      help="also run the packaged config's portfolio and add its comparison page")
    site.add_argument("--quiet", action="store_true", help="only the summary line")
    site.set_defaults(func=run_site)


def _repo_dir(name: str) -> Path:
    from traderagent.data.sample import REPO_ROOT

    return REPO_ROOT / name if (REPO_ROOT / name).is_dir() else Path(name)


def _optional_dir(value: str | None, default: str) -> Path | None:
    if value is not None and value.lower() == "none":
        return None
    if value is None:
        path = _repo_dir(default)
        return path if path.is_dir() else None
    from traderagent.errors import UserError

    path = Path(value)
    if not path.is_dir():
        raise UserError(f"{value}: not a folder")
    return path


def run_site(args) -> int:
    from traderagent.report.site import PAGE_LIMIT, build

    out = Path(args.out) if args.out else _repo_dir("reports") / "site"
    reports = _optional_dir(args.reports, "reports")
    docs = _optional_dir(args.docs, "docs")

    def log(msg: str) -> None:
        if not args.quiet:
            print(msg, file=sys.stderr)

    summary = build(out, reports=reports, database_url=args.database_url, use_database=not args.no_database,
                    docs=docs, api=not args.no_api, portfolio=args.portfolio, log=log)
    name, size = summary.largest
    over = [p for p, b in summary.pages.items() if b >= PAGE_LIMIT]
    print(f"site: {len(summary.pages)} pages in {summary.out} (largest {size / 1e6:.2f} MB: {name}); "
          f"{summary.backtests} backtests ({summary.reproduced} re-run with matching trades), {summary.studies} studies")
    if over:
        print(f"warning: {len(over)} pages of {PAGE_LIMIT / 1e6:.1f} MB or more: {', '.join(over)}", file=sys.stderr)
    print(f"open {summary.out / 'index.html'}")
    return 0
