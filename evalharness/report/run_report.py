"""The single-run HTML report: one self-contained file, no script at all (CSP script-src 'none'), thumbnails as
data URLs, every piece of catalog and user text escaped by jinja2's autoescaping."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timezone
from pathlib import Path

from evalharness.labels.schemes import UNJUDGED_COLOUR, LabelScheme
from evalharness.report.html import _env, thumbnail
from evalharness.report.run_diagnostics import RunDiagnostics


def render_run_html(d: RunDiagnostics, scheme: LabelScheme) -> str:
    """The report as one HTML string; label colours come from the project's label scheme."""
    images = {h.doc_id: t for q in d.worst for h in q.hits if (t := thumbnail(h.image_url))}
    check_queries: dict[str, set[str]] = defaultdict(set)
    for f in d.findings:
        check_queries[f.check].add(f.query_id)
    colours = {x.name: x.colour for x in scheme.by_gain()} | {"unjudged": UNJUDGED_COLOUR}
    return _env().get_template("run.html.j2").render(
        d=d, images=images, label_colors=colours, check_queries={k: len(v) for k, v in check_queries.items()},
        generated=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))


def write_run_html(d: RunDiagnostics, scheme: LabelScheme, path: Path) -> Path:
    """Write the report (creating its folder)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_run_html(d, scheme), encoding="utf-8")
    return path
