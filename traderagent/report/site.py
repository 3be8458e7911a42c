"""The report site (`traderagent report site`): a static site of every saved run and study, ready for GitHub Pages.

Sources, read before anything is written (a bad one stops the build with one line naming it):
- the JSON beside the reports (`reports/*.json`): backtest runs (`report.backtest.render` writes one beside each
  page) and walk-forward studies (`traderagent optimize` writes one beside each study page);
- the database's saved runs (`backtest --save` as bt-N, `optimize --save` as opt-N): `--database-url`, else
  $DATABASE_URL, else the default SQLite file when it exists (the site never creates a database).

Pages: an index, one page per backtest and per study, comparison pages (the backtests of each market side by
side with buy-and-hold, the studies side by side, optionally the portfolio), the docs and the API docs.
plotly.min.js sits once at the site's root and every chart page loads it from there.

A backtest page is drawn from a fresh run of the recorded inputs (strategy, params, candle file, period, costs)
whose trades must hash to the recorded `trades_sha256`: the page then shows exactly the saved run, with its
price chart and overlays. When that is not possible (candle file gone or changed, code changed the trades),
the page shows what was saved (stats, trades, the equity curve or the P&L at each exit) and says why.
A study page is the page `optimize` rendered beside its JSON when that page comes from this renderer,
else a summary drawn from the JSON or the database record.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from traderagent.errors import UserError
from traderagent.report.html import GENERATOR

BACKTEST_KEYS = ("strategy", "symbol", "timeframe", "start", "end", "params", "initial_equity", "final_equity",
                 "stats", "integrity", "trades")
STUDY_KEYS = ("study", "strategy", "folds", "oos", "verdict")
META_KEYS = ("data_file", "data_sha256", "code_version", "fees", "slippage")
PAGE_LIMIT = 1_500_000  # bytes; `build` reports the largest page and the test holds every page under this


@dataclass
class Item:
    """One run or study of the site: its document (normalised JSON) and where it came from."""

    kind: str  # "backtest" | "study"
    doc: dict
    sources: list[str]
    folder: Path | None = None  # for JSON sources: the folder the paths in the document are relative to
    page: Path | None = None  # a study page rendered beside its JSON
    slug: str = ""
    status: str = ""  # backtests: "reproduced" or why not
    extra: dict = field(default_factory=dict)  # filled while building (equity, buy-and-hold, ...)

    @property
    def key(self) -> tuple:
        d = self.doc
        if self.kind == "backtest":
            return ("backtest", d["strategy"], d["symbol"], d["timeframe"], d["start"], d["end"], d.get("trades_sha256"))
        ret = (d.get("oos") or {}).get("stats", {}).get("total_return")
        return ("study", d["study"], d["start"], d["end"], None if ret is None else round(float(ret), 10))


# ------------------------------------------------------------------------------------------------- sources
def _iso(value) -> str | None:
    if value is None:
        return None
    from traderagent.backtest.result import iso_utc

    return iso_utc(value)


def read_reports(folder: Path, log: Callable[[str], None]) -> list[Item]:
    """Backtests and studies from the JSON files in `folder` (other JSON files are skipped, said so)."""
    items = []
    for path in sorted(Path(folder).glob("*.json")):
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise UserError(f"{path}: not a readable JSON file ({exc}); remove it or fix it") from None
        if isinstance(doc, dict) and doc.get("kind") == "backtest":
            missing = [k for k in BACKTEST_KEYS if k not in doc]
            if missing:
                raise UserError(f"{path}: backtest run JSON without {', '.join(missing)}")
            items.append(Item("backtest", doc, [path.name], folder=path.parent))
        elif isinstance(doc, dict) and all(k in doc for k in STUDY_KEYS):
            page = path.with_suffix(".html")
            items.append(Item("study", {"kind": "study", **doc}, [path.name], folder=path.parent,
                              page=page if page.is_file() else None))
        else:
            log(f"site: skipped {path}: neither a backtest run nor a study result")
    return items


def database_url_for(explicit: str | None) -> str | None:
    """The database to read: explicit, else $DATABASE_URL, else the default SQLite file if it exists."""
    if explicit:
        return explicit
    if os.environ.get("DATABASE_URL") or os.environ.get("DATABASE_URL_FILE"):
        return None  # persistence resolves it (and reports a bad one)
    from traderagent.persistence.engine import default_sqlite_path

    path = default_sqlite_path()
    return f"sqlite:///{path}" if path.is_file() else ""


def _db_backtest(run: dict) -> dict:
    meta = dict(run.get("meta") or {})
    extra = {k: v for k, v in meta.items() if k not in META_KEYS}  # result keys without a column (risk_blocks)
    digest = str(run.get("data_hash") or "").removeprefix("sha256:")
    return {
        "kind": "backtest", **{k: run.get(k) for k in ("strategy", "symbol", "timeframe", "params", "initial_equity",
                                                        "final_equity", "stats", "integrity", "trades_sha256")},
        "start": _iso(run["start"]), "end": _iso(run["end"]), "trades": run.get("trades") or [], **extra,
        "meta": {"data_file": meta.get("data_file"), "data_sha256": digest or None,
                 "code_version": run.get("code_version"),
                 **{k: meta[k] for k in ("fees", "slippage") if k in meta}},
    }


def _db_study(run: dict) -> dict:
    meta = dict(run.get("meta") or {})
    return {
        "kind": "study", "study": run["study"], "strategy": run["strategy"], "symbol": run.get("symbol"),
        "timeframe": run.get("timeframe"), "start": _iso(run.get("start")), "end": _iso(run.get("end")),
        "objective": None, "verdict": meta.get("verdict") or {"level": "unknown", "summary": "", "lines": []},
        "oos": {"stats": run.get("stats") or {}, "integrity": run.get("integrity") or {}},
        "wfe": meta.get("wfe") or {}, "dsr": meta.get("dsr") or {}, "pbo": meta.get("pbo") or {},
        "final_params": run.get("params") or {}, "folds": meta.get("folds") or [],
        "info": {"trials_per_fold": run.get("n_trials"), "code_version": run.get("code_version"),
                 "data_sha256": run.get("data_hash")},
    }


def read_database(url: str | None, log: Callable[[str], None]) -> list[Item]:
    """Every saved backtest (bt-N) and optimization result (opt-N) in the database."""
    from traderagent.persistence import Repository

    items = []
    with Repository(url, auto_migrate=False, label="--database-url") as repo:
        summaries = repo.list_runs(kind="all", limit=100_000)
        for s in summaries:
            run = repo.get_run(s.run_id)
            if run["kind"] == "backtest":
                items.append(Item("backtest", _db_backtest(run), [f"database {s.run_id}"]))
            else:
                items.append(Item("study", _db_study(run), [f"database {s.run_id}"]))
    log(f"site: {len(items)} saved runs in the database")
    return items


def merge(items: list[Item]) -> list[Item]:
    """One item per run or study (the same run saved as JSON and in the database lists both sources)."""
    out: dict[tuple, Item] = {}
    for it in items:
        have = out.get(it.key)
        if have is None:
            out[it.key] = it
        else:
            have.sources += it.sources
            if have.folder is None and it.folder is not None:  # prefer the JSON document (it has more)
                it.sources = have.sources
                out[it.key] = it
    return list(out.values())


def collect(reports: Path | None, database_url: str | None, use_database: bool,
            log: Callable[[str], None] = print) -> list[Item]:
    """Every run and study the site shows (bad input raises UserError before anything is written)."""
    items: list[Item] = []
    if reports is not None:
        if not Path(reports).is_dir():
            raise UserError(f"--reports {reports}: not a folder")
        items += read_reports(Path(reports), log)
    if use_database:
        url = database_url_for(database_url)
        if url != "":
            items += read_database(url, log)
    items = merge(items)
    _assign_slugs(items)
    return items


def _slug_text(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in str(text)).strip("_")


def _assign_slugs(items: list[Item]) -> None:
    seen: dict[str, int] = {}
    for it in items:
        d = it.doc
        if it.kind == "backtest":
            base = (f"run-{_slug_text(d['strategy'])}-{_slug_text(d['symbol'])}-{d['timeframe']}-"
                    f"{d['start'][:10].replace('-', '')}-{d['end'][:10].replace('-', '')}")
        else:
            base = f"study-{_slug_text(d['study'])}"
        n = seen.get(base, 0)
        seen[base] = n + 1
        it.slug = base if n == 0 else f"{base}-{n + 1}"


# --------------------------------------------------------------------------------------------------- build
@dataclass
class SiteSummary:
    out: Path
    pages: dict[str, int]  # relative path -> bytes
    backtests: int
    studies: int
    reproduced: int

    @property
    def largest(self) -> tuple[str, int]:
        return max(self.pages.items(), key=lambda kv: kv[1]) if self.pages else ("", 0)


def _prepare_out(out: Path) -> Path:
    """A fresh staging folder beside `out`; refuses to replace a folder that is not a site built here."""
    out = Path(out)
    if out.exists():
        if not out.is_dir():
            raise UserError(f"--out {out}: exists and is not a folder")
        index = out / "index.html"
        is_site = index.is_file() and GENERATOR in index.read_text(encoding="utf-8", errors="replace")[:2000]
        if any(out.iterdir()) and not is_site:
            raise UserError(f"--out {out}: folder is not empty and holds no site built by traderagent; "
                            "choose an empty or new folder")
    if not os.access(out.parent if out.parent.exists() else Path.cwd(), os.W_OK):
        raise UserError(f"--out {out}: cannot write in {out.parent}")
    stage = out.with_name(f".{out.name}.part")
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir(parents=True)
    return stage


def _publish(stage: Path, out: Path) -> None:
    old = out.with_name(f".{out.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if out.exists():
        out.rename(old)
    stage.rename(out)
    shutil.rmtree(old, ignore_errors=True)


def build(out: Path, reports: Path | None = None, database_url: str | None = None, use_database: bool = True,
          docs: Path | None = None, api: bool = True, portfolio: bool = False,
          log: Callable[[str], None] = print) -> SiteSummary:
    """Build the site into `out` (replaced as a whole once the new site is complete); see the module docstring."""
    from traderagent.report import site_pages as sp
    from traderagent.report.html import ensure_plotlyjs

    items = collect(reports, database_url, use_database, log)
    out = Path(out)
    stage = _prepare_out(out)
    links = [("Runs and studies", "index.html")]
    if docs is not None:
        links += [("User guide", "docs/guide.html"), ("Strategy reference", "docs/strategies.html"),
                  ("All docs", "docs/index.html")]
    if api:
        links.append(("API", "api/traderagent.html"))
    nav = sp.nav_html(links)
    try:
        ensure_plotlyjs(stage)
        (stage / ".nojekyll").write_text("", encoding="utf-8")  # GitHub Pages: serve the files as they are
        for it in items:
            if it.kind == "backtest":
                sp.backtest_page(it, stage, nav, log)
            else:
                sp.study_page(it, stage, nav, log)
        comparisons = sp.comparison_pages(items, stage, nav)
        if portfolio:
            comparisons.append(sp.portfolio_page(stage, nav, log))
        doc_links = []
        if docs is not None:
            from traderagent.report.docs_site import build_docs

            doc_links = build_docs(Path(docs), stage / "docs", sp.nav_html(links, "../"), log)
        if api:
            from traderagent.report.docs_site import build_api

            if build_api(stage / "api", log):
                doc_links.append(("API reference, generated from the docstrings (pdoc)", "api/traderagent.html"))
        sp.index_page(items, comparisons, doc_links, stage, nav)
        pages = {str(p.relative_to(stage)): p.stat().st_size for p in sorted(stage.rglob("*.html"))}
        _publish(stage, out)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    n_bt = sum(it.kind == "backtest" for it in items)
    reproduced = sum(it.kind == "backtest" and it.status == "reproduced" for it in items)
    return SiteSummary(out=out, pages=pages, backtests=n_bt, studies=len(items) - n_bt, reproduced=reproduced)

