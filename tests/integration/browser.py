"""Headless Chromium (Debian's /usr/bin/chromium) driven by playwright, for tests that open real pages.

`playwright install` cannot download browsers here, so the launch names Debian's binary. Under CI=true a missing
browser or playwright fails the run (`.ci/run` installs chromium when missing); elsewhere the test is skipped.
The flags keep Chromium quiet on a closed network (no background networking, no component updates) and let it
run as root without a sandbox; playwright gives every launch a fresh profile.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
CHROMIUM = os.environ.get("TRADERAGENT_CHROMIUM", "/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]

#: Runs in the page once its scripts ran: for every plotly chart, whether plotly drew it and what it drew.
CHARTS_JS = """() => [...document.querySelectorAll('.plotly-graph-div')].map(gd => {
  const drawn = gd.classList.contains('js-plotly-plot');
  const full = gd._fullData || [];
  const points = full.filter(t => t.visible === true)
    .map(t => t._length || (t.z ? t.z.length : 0) || (t.x ? t.x.length : 0) || (t.y ? t.y.length : 0))
    .reduce((a, b) => a + b, 0);
  const marks = gd.querySelectorAll('.scatterlayer path.js-line, .scatterlayer path.point, .barlayer path, ' +
                                    '.boxlayer path, .heatmaplayer image, .ohlclayer path').length;
  return {id: gd.id, drawn, traces: full.length, points, marks};
})"""


def require_browser() -> None:
    """Fail (under CI) or skip (elsewhere) when playwright or Chromium is missing."""
    problem = None
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        problem = "playwright is not installed (it is in the dev extra)"
    if problem is None and not (Path(CHROMIUM).is_file() or shutil.which("chromium")):
        problem = f"Chromium not found at {CHROMIUM} (apt-get install -y chromium)"
    if problem:
        if IN_CI:
            pytest.fail(problem + " (CI=true: the browser test is never skipped)", pytrace=False)
        pytest.skip(problem)


@dataclass
class Visit:
    """What one page did in the browser."""

    url: str
    errors: list[str] = field(default_factory=list)  # console errors and uncaught exceptions
    charts: list[dict] = field(default_factory=list)
    text: str = ""
    no_plotly_note: bool = False  # the page's "plotly.js did not load" note is showing


class Tab:
    """One browser tab reused for many pages (a fresh tab per page costs more than the page itself)."""

    def __init__(self, browser):
        self.page = browser.new_page(viewport={"width": 1400, "height": 1000})
        self.current: Visit | None = None
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda e: self.current and self.current.errors.append(f"uncaught: {e}"))

    def _console(self, m) -> None:
        if m.type == "error" and self.current is not None:
            self.current.errors.append(f"console.{m.type}: {m.text}")

    def visit(self, path: Path, screenshot: Path | None = None, wait_charts: bool = True) -> Visit:
        """Open a local page, wait until plotly drew every chart, collect console errors and the charts."""
        v = self.current = Visit(url=path.resolve().as_uri())
        page = self.page
        page.goto(v.url, wait_until="load")
        if wait_charts:
            page.wait_for_function("() => [...document.querySelectorAll('.plotly-graph-div')]"
                                   ".every(d => d.classList.contains('js-plotly-plot'))", timeout=30_000)
        v.charts = page.evaluate(CHARTS_JS)
        v.text = page.inner_text("body")
        v.no_plotly_note = page.evaluate("() => !!document.getElementById('no-plotly')")
        if screenshot is not None:
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(screenshot), full_page=True)
        page.goto("about:blank")  # late console messages of this page still land in its Visit
        self.current = None
        return v


@contextmanager
def chromium() -> Iterator:
    """A launched headless Chromium (playwright Browser)."""
    require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM if Path(CHROMIUM).is_file() else shutil.which("chromium"),
                                    args=FLAGS)
        try:
            yield browser
        finally:
            browser.close()


def visit(browser, path: Path, screenshot: Path | None = None, wait_charts: bool = True) -> Visit:
    """Open one local page in a new tab (see `Tab.visit`)."""
    tab = Tab(browser)
    try:
        return tab.visit(path, screenshot, wait_charts)
    finally:
        tab.page.close()
