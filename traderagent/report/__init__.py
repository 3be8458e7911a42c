"""HTML reports: plotly figure builders and static pages (plotly.js sits beside the pages, so they open offline)."""
