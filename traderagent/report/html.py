"""Small HTML helpers shared by every report page: page shell, tables, escaping, the site index."""

from __future__ import annotations

import html
import json
import math
from pathlib import Path

CSS = """
body{font-family:-apple-system,Segoe UI,Roboto,Helvetica,Arial,sans-serif;margin:24px auto;max-width:1280px;color:#222}
h1{font-size:1.5em;margin-bottom:4px} h2{font-size:1.15em;margin-top:28px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:13px;margin:8px 0} td,th{padding:3px 10px;border-bottom:1px solid #eee;text-align:right}
th{background:#f6f6f6} td:first-child,th:first-child{text-align:left}
.ok{color:#1a7f37;font-weight:600}.bad{color:#cf222e;font-weight:600}.flag{background:#fff4d6;padding:8px 12px;border-left:4px solid #d4a72c}
.meta{color:#666;font-size:12px} .scroll{max-height:420px;overflow:auto}
.plotly-graph-div:not(.js-plotly-plot){min-height:60px;background:#f6f8fa}
.plotly-graph-div:not(.js-plotly-plot)::before{content:"Chart not drawn: plotly.min.js did not load (see the note at the top of the page).";display:block;padding:16px;color:#cf222e}
nav.site{font-size:13px;margin-bottom:12px} nav.site a{margin-right:14px}
"""

#: Marks pages written by this renderer (the site re-renders pages that lack it instead of copying them).
GENERATOR = "traderagent-report/2"
NO_PLOTLY = (
    "<p id=no-plotly class=flag>The charts on this page are drawn by plotly.js, loaded from "
    "<code>{src}</code> beside this page; it did not load (the file is missing or the browser blocked it), "
    "so the charts are not shown. The tables are complete. Keep the page and plotly.min.js in one folder.</p>"
    "<script>if(window.Plotly)document.getElementById('no-plotly').remove()</script>"
)


class Html(str):
    """Markup that tables show as it is (a link), where every other value is escaped."""


def esc(x) -> str:
    return html.escape(str(x))


def link(href: str, text: str) -> Html:
    return Html(f"<a href='{esc(href)}'>{esc(text)}</a>")


def fmt(x, pct: bool = False) -> str:
    if isinstance(x, Html):
        return x
    if x is None or (isinstance(x, float) and (math.isnan(x) or math.isinf(x))):
        return "—" if x is None or math.isnan(x) else ("∞" if x > 0 else "−∞")
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, int):
        return f"{x:,}"
    if isinstance(x, float):
        return f"{x * 100:,.2f}%" if pct else f"{x:,.4f}"
    return esc(x)


def table(rows: list[dict], columns: list[str] | None = None, pct: tuple[str, ...] = ()) -> str:
    if not rows:
        return "<p class=meta>none</p>"
    columns = columns or list(rows[0])
    head = "".join(f"<th>{esc(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{fmt(r.get(c), c in pct)}</td>" for c in columns) + "</tr>" for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def kv_table(d: dict, pct: tuple[str, ...] = ()) -> str:
    rows = "".join(f"<tr><td>{esc(k)}</td><td>{fmt(v, k in pct)}</td></tr>" for k, v in d.items())
    return f"<table>{rows}</table>"


def page(title: str, body: str, plotly_src: str | None = "plotly.min.js", nav: str = "") -> str:
    """A whole HTML page. With `plotly_src`, the page loads plotly.js from there and says so in words when it
    cannot (instead of showing empty space where the charts belong)."""
    script = f'<script src="{esc(plotly_src)}"></script>' if plotly_src else ""
    warn = NO_PLOTLY.format(src=esc(plotly_src)) if plotly_src else ""
    return (
        "<!doctype html><html><head><meta charset=utf-8>"
        f'<meta name=viewport content="width=device-width, initial-scale=1"><meta name=generator content="{GENERATOR}">'
        f"<title>{esc(title)}</title><style>{CSS}</style>{script}</head>"
        f"<body>{nav}{warn}{body}</body></html>"
    )


def figure_div(fig) -> str:
    """A plotly figure as a div that uses the plotly.js the page loads; long traces are downsampled for drawing
    (`report.downsample`), and a page without plotly.js shows its note instead of a script error."""
    from traderagent.report.downsample import downsample_figure

    out = downsample_figure(fig).to_html(full_html=False, include_plotlyjs=False, config={"displaylogo": False})
    return out.replace("if (document.getElementById(", "if (window.Plotly && document.getElementById(", 1)


def ensure_plotlyjs(folder: Path) -> Path:
    """plotly.min.js in `folder` (written once; pages there load it, so they open offline)."""
    js = Path(folder) / "plotly.min.js"
    if not js.exists():
        from plotly.offline import get_plotlyjs

        js.parent.mkdir(parents=True, exist_ok=True)
        tmp = js.with_suffix(".js.part")
        tmp.write_text(get_plotlyjs(), encoding="utf-8")
        tmp.replace(js)
    return js


def write_text_atomic(path: Path, text: str) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".part")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path


def write_page(path: Path, title: str, body: str, nav: str = "") -> Path:
    """Write the page and make sure plotly.min.js sits beside it (pages open offline)."""
    path = Path(path)
    ensure_plotlyjs(path.parent)
    return write_text_atomic(path, page(title, body, nav=nav))


def json_block(obj) -> str:
    return f"<pre class=meta>{esc(json.dumps(obj, indent=1, default=str))}</pre>"
