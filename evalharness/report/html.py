"""The self-contained HTML comparison report: inline CSS and JS, thumbnails as data URLs, no network.

Every piece of user text is escaped: jinja2 autoescapes the server-rendered parts, the embedded JSON
has '<', '>' and '&' escaped, the script builds the tables with textContent only, and a
Content-Security-Policy admits only the report's own script (by hash) and data: images.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup, escape
from PIL import Image, UnidentifiedImageError

from evalharness.compare import Comparison, SideHit
from evalharness.labels.schemes import UNJUDGED_COLOUR

THUMB_SIDE = 64


def _env() -> Environment:
    return Environment(loader=PackageLoader("evalharness.report", "templates"), autoescape=select_autoescape(["j2", "html"]))


def safe_json(value: Any) -> Markup:
    """JSON that can sit inside a <script> element: no '<', '>', '&' or line separators unescaped."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    for ch, rep in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(ch, rep)
    return Markup(text)


def thumbnail(ref: str, side: int = THUMB_SIDE) -> str | None:
    """A small JPEG data URL for a local image; None for remote or unreadable images (the report stays offline)."""
    if not ref or "://" in ref.removeprefix("file://"):
        return None
    try:
        with Image.open(Path(ref.removeprefix("file://"))) as img:
            img = img.convert("RGB")
            img.thumbnail((side, side))
            buf = io.BytesIO()
            img.save(buf, format="JPEG", quality=70)
    except (OSError, UnidentifiedImageError, ValueError):
        return None
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode()


def _hit(h: SideHit) -> dict[str, Any]:
    return {"doc_id": h.doc_id, "rank": h.rank, "title": h.title, "label": h.label, "rationale": h.rationale,
            "brand": h.brand, "color": h.color, "price": h.price}


def label_chart(c: Comparison) -> Markup:
    """Stacked horizontal bars of label shares per configuration, as inline SVG."""
    rows = [(c.baseline.engine_config, c.labels_base), (c.candidate.engine_config, c.labels_cand)]
    colours = {d.name: d.colour for d in c.scheme.by_gain()} | {"unjudged": UNJUDGED_COLOUR}  # the label scheme's, best first
    width, bar_h, left = 720, 26, 150
    parts = [f'<svg class="chart" width="{width + left}" height="{len(rows) * (bar_h + 14) + 30}" role="img" '
             f'aria-label="label distribution">']
    for i, (name, counts) in enumerate(rows):
        total = sum(counts.values()) or 1
        y = i * (bar_h + 14) + 4
        parts.append(f'<text x="0" y="{y + bar_h * 0.68}">{escape(name)}</text>')
        x = float(left)
        for label in colours:
            n = counts.get(label, 0)
            w = width * n / total
            if w <= 0:
                continue
            parts.append(f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{bar_h}" fill="{colours[label]}">'
                         f'<title>{escape(label)}: {n} ({100 * n / total:.1f}%)</title></rect>')
            if w > 44:
                parts.append(f'<text x="{x + 5:.1f}" y="{y + bar_h * 0.68}" fill="#fff">{100 * n / total:.0f}%</text>')
            x += w
    legend_y = len(rows) * (bar_h + 14) + 20
    lx = left
    for label, colour in colours.items():
        parts.append(f'<rect x="{lx}" y="{legend_y - 10}" width="11" height="11" fill="{colour}"></rect>'
                     f'<text x="{lx + 15}" y="{legend_y}">{escape(label)}</text>')
        lx += 110
    parts.append("</svg>")
    return Markup("".join(parts))


def render_html(c: Comparison) -> str:
    """The report as one HTML string."""
    images: dict[str, str] = {}
    queries = []
    for q in c.queries:
        for h in q.base_hits + q.cand_hits:
            if h.doc_id not in images:
                thumb = thumbnail(h.image_url)
                if thumb:
                    images[h.doc_id] = thumb
        queries.append({"id": q.query_id, "text": q.text, "segment": q.segment, "count": q.count, "base": q.base,
                        "cand": q.cand, "jaccard": q.jaccard, "rbo": q.rbo,
                        "base_hits": [_hit(h) for h in q.base_hits], "cand_hits": [_hit(h) for h in q.cand_hits]})
    data = {"primary": c.primary, "baseline": c.baseline.engine_config, "candidate": c.candidate.engine_config,
            "queries": queries, "images": images}
    env = _env()
    script = env.loader.get_source(env, "report.js")[0]  # type: ignore[union-attr]
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    overlap = c.to_json()["overlap"]
    return env.get_template("compare.html.j2").render(
        c=c, data_json=safe_json(data), script=Markup(script), script_hash=f"sha256-{digest}",
        generated=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), cost=c.cost_usd + c.baseline.cost_usd + c.candidate.cost_usd,
        chart=label_chart(c), overlap=overlap, segments=sorted({q.segment for q in c.queries if q.segment}),
        segments_table=c.segments(), label_colours=c.scheme.colours,
    )


def write_html(c: Comparison, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(c), encoding="utf-8")
    return path
