"""The documentation part of the report site: `docs/*.md` and the README as pages, and the API reference
generated from the docstrings with pdoc (`pip install 'traderagent[docs]'`)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from traderagent.report.html import esc, page, write_text_atomic

#: Pages listed first in the docs index, in this order; the other docs follow alphabetically.
FIRST = ("guide.md", "strategies.md")
_HREF = re.compile(r'href="([^"]+)"')
DOC_CSS = ("<style>pre{background:#f6f8fa;padding:8px 12px;overflow:auto;font-size:13px}"
           "code{font-size:90%} p,li{line-height:1.5;max-width:60em} table{font-size:13px}</style>")


def _markdown():
    from markdown_it import MarkdownIt
    from mdit_py_plugins.anchors import anchors_plugin

    return MarkdownIt("commonmark", {"html": True}).enable("table").use(anchors_plugin, max_level=4)


def title_of(text: str, fallback: str) -> str:
    m = re.search(r"^#\s+(.+)$", text, re.M)
    return m.group(1).strip() if m else fallback


def _github(path: str) -> str | None:
    repo = os.environ.get("GITHUB_REPOSITORY")
    return f"https://github.com/{repo}/blob/{os.environ.get('GITHUB_REF_NAME') or 'main'}/{path}" if repo else None


def rewrite_links(html: str, source: Path, root: Path, docs: Path) -> str:
    """Links between the docs point at their pages; links to other files of the repository point at GitHub when
    the site is built there ($GITHUB_REPOSITORY), else stay as written."""

    def fix(m: re.Match) -> str:
        href = m.group(1)
        if re.match(r"^[a-z]+:|^#|^//", href):
            return m.group(0)
        target, _, anchor = href.partition("#")
        try:
            rel = (source.parent / target).resolve().relative_to(root.resolve())
        except ValueError:
            return m.group(0)
        frag = f"#{anchor}" if anchor else ""
        if rel.suffix == ".md" and (root / rel).resolve().parent == docs.resolve():
            return f'href="{esc(rel.stem)}.html{frag}"'
        if rel.as_posix() == "README.md":
            return f'href="readme.html{frag}"'
        gh = _github(rel.as_posix())
        return f'href="{esc(gh)}{frag}"' if gh else m.group(0)

    return _HREF.sub(fix, html)


def build_docs(docs: Path, out: Path, nav: str, log: Callable[[str], None]) -> list[tuple[str, str]]:
    """Every `docs/*.md` (and the README beside `docs/`) as a page in `out`, plus an index; returns the links
    the site's index shows (relative to the site's root)."""
    docs = Path(docs)
    root = docs.parent
    md = _markdown()
    files = sorted(docs.glob("*.md"), key=lambda p: (FIRST.index(p.name) if p.name in FIRST else len(FIRST), p.name))
    readme = root / "README.md"
    entries = []
    for src, name in [*((p, p.stem) for p in files), *([(readme, "readme")] if readme.is_file() else [])]:
        text = src.read_text(encoding="utf-8")
        title = title_of(text, src.stem)
        body = rewrite_links(md.render(text), src, root, docs)
        write_text_atomic(out / f"{name}.html", page(title, DOC_CSS + body, plotly_src=None, nav=nav))
        entries.append((title, f"{name}.html"))
    items = "".join(f"<li><a href='{esc(href)}'>{esc(title)}</a></li>" for title, href in entries)
    write_text_atomic(out / "index.html", page("Documentation", f"<h1>Documentation</h1><ul>{items}</ul>",
                                                plotly_src=None, nav=nav))
    log(f"site: {len(entries)} documentation pages")
    return [(title, f"docs/{href}") for title, href in entries]


def build_api(out: Path, log: Callable[[str], None]) -> bool:
    """The API reference of the `traderagent` package with pdoc (in its own process: it imports every module);
    False (said so) when pdoc is not installed."""
    try:
        import pdoc  # noqa: F401
    except ImportError:
        log("site: API docs skipped: pdoc is not installed (pip install 'traderagent[docs]')")
        return False
    cmd = [sys.executable, "-m", "pdoc", "--output-directory", str(out), "--no-show-source", "--docformat", "markdown",
           "--footer-text", "TraderAgent API reference", "traderagent", "!traderagent.persistence.migrations"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"pdoc failed ({proc.returncode}): {proc.stderr.strip().splitlines()[-1:]}")
    warnings = [ln for ln in proc.stderr.splitlines() if ln.startswith("Warn")]
    log(f"site: API docs in {out} ({len(list(out.rglob('*.html')))} pages, {len(warnings)} pdoc warnings)")
    return True
