"""The self-contained HTML comparison report: inline CSS and JS, thumbnails as data URLs, no network.

Hit data is stored compactly so the report stays usable at 10,000 queries: products once per distinct
content (across queries and configs), rationales and guidelines once per distinct text, per query only
indices; thumbnails are encoded once per image and cached on disk between reports; the script builds
the query table and each drill-down on demand.

Every piece of user text is escaped: jinja2 autoescapes the server-rendered parts, the embedded JSON
has '<', '>' and '&' escaped, the script builds the page with textContent only, and a
Content-Security-Policy admits only the report's own script (by hash) and data: images.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import math
import os
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup, escape

from evalharness.compare.comparison import Comparison
from evalharness.labels.schemes import DEFAULT_SCHEME, UNJUDGED_COLOUR, scheme_named
from evalharness.metrics.measures import higher_is_better
from evalharness.store.runread import POOL_RULE

if TYPE_CHECKING:
    from evalharness.compare.gate import GateResult
    from evalharness.images.scorers import ImageScore
    from evalharness.project import Project

THUMB_SIDE = 64
TEMPLATE = "compare.html.j2"
IMAGE_BUDGET = 24 * 1024 * 1024  # bytes of thumbnails embedded at most; later images show as "not embedded"
LABEL_COLORS = {**scheme_named(DEFAULT_SCHEME).colours, "unjudged": UNJUDGED_COLOUR}  # the default scheme's


@lru_cache(maxsize=1)
def _env() -> Environment:
    """The reports' template environment, one per process: each template is compiled once (and again only when its
    file changes: jinja checks the source's mtime on every `get_template`)."""
    return Environment(loader=PackageLoader("evalharness.report", "templates"), autoescape=select_autoescape(["j2", "html"]))


def compile_template() -> None:
    """Compile the comparison report's template now (in a process about to fork the commands that render it)."""
    _env().get_template(TEMPLATE)


def safe_json(value: Any) -> Markup:
    """JSON that can sit inside a <script> element: no '<', '>', '&' or line separators unescaped."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    for ch, rep in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(ch, rep)
    return Markup(text)


def _encode(path: Path, side: int) -> str | None:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img = img.convert("RGB")
            img.thumbnail((side, side))
            buf = io.BytesIO()
            img.save(buf, format="JPEG", quality=70)
    except (OSError, UnidentifiedImageError, ValueError):
        return None
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode()


# (image ref, size, mtime_ns, side, disk cache) -> its thumbnail as this process encoded or read it (_MEMO_BYTES at most)
_MEMO: dict[tuple[str, int, int, int, Path | None], str] = {}
_MEMO_BYTES = 64 * 1024 * 1024
_memo_bytes = 0


@lru_cache(maxsize=1 << 16)
def _local_file(ref: str) -> str | None:
    """The local file an image reference names (as `Path` spells it), None for a remote one."""
    if not ref or "://" in ref.removeprefix("file://"):
        return None
    return str(Path(ref.removeprefix("file://")))


def thumbnail(ref: str, side: int = THUMB_SIDE, cache_dir: Path | None = None) -> str | None:
    """A small JPEG data URL for a local image; None for remote or unreadable images (the report stays offline).

    With a cache_dir, the encoded thumbnail is kept on disk under the image's path, size and mtime. A process keeps
    the thumbnails it made or read under the same (path, size, mtime): the image is stat'ed every time.
    """
    file = _local_file(ref)
    if file is None:
        return None
    try:
        st = os.stat(file)
    except OSError:
        return None
    memo_key = (ref, st.st_size, st.st_mtime_ns, side, cache_dir)
    url = _MEMO.get(memo_key)
    if url is not None:
        return url
    path = Path(file)
    url = _encode(path, side) if cache_dir is None else _cached_encode(path, st, side, cache_dir)
    if url is not None:
        _keep(memo_key, url)
    return url


def _keep(memo_key: tuple[str, int, int, int, Path | None], url: str) -> None:
    """Remember a thumbnail in this process while the memo holds less than _MEMO_BYTES."""
    global _memo_bytes
    if _memo_bytes + len(url) <= _MEMO_BYTES:
        _MEMO[memo_key] = url
        _memo_bytes += len(url)


def _cached_encode(path: Path, st: os.stat_result, side: int, cache_dir: Path) -> str | None:
    """The thumbnail from the disk cache under (resolved path, size, mtime, side), encoded and stored when missing."""
    key = hashlib.sha256(f"{os.path.realpath(path)}|{st.st_size}|{st.st_mtime_ns}|{side}".encode()).hexdigest()
    cached = cache_dir / key[:2] / f"{key}.txt"
    try:
        return cached.read_text(encoding="ascii")
    except OSError:
        pass
    url = _encode(path, side)
    if url is not None:
        try:
            cached.parent.mkdir(parents=True, exist_ok=True)
            tmp = cached.with_suffix(".tmp")
            tmp.write_text(url, encoding="ascii")
            tmp.replace(cached)
        except OSError:
            pass  # a read-only cache only costs the encoding next time
    return url


PREFETCH_THREADS = 4


def prefetch_thumbnails(refs: Iterable[str], cache_dir: Path | None, same_bytes: Mapping[str, str] | None = None,
                        budget: int = IMAGE_BUDGET) -> None:
    """Encode (or read from the disk cache) the thumbnails of these images on a few threads, in order, until `budget`
    bytes are made: Pillow's decoding, resizing and encoding release the GIL. Images with the same bytes
    (`same_bytes`: reference -> sha256) are encoded once. The report then takes them from this process's memory
    (`thumbnail` keeps them), in its own order and with its own budget, as if made one by one."""
    from concurrent.futures import ThreadPoolExecutor

    same_bytes = same_bytes or {}
    groups: dict[str, list[str]] = {}
    for ref in dict.fromkeys(refs):
        if _local_file(ref):
            groups.setdefault(same_bytes.get(ref) or f"ref:{ref}", []).append(ref)
    firsts = [group[0] for group in groups.values()]
    made = 0
    with ThreadPoolExecutor(PREFETCH_THREADS) as pool:
        for start in range(0, len(firsts), 64):
            batch = firsts[start:start + 64]
            urls = list(pool.map(lambda ref: thumbnail(ref, cache_dir=cache_dir), batch))
            for first, url in zip(batch, urls):
                if url is not None:
                    for other in groups[same_bytes.get(first) or f"ref:{first}"][1:]:
                        _remember(other, url, cache_dir)
            made += sum(len(url) for url in urls if url)
            if made >= budget:
                break


def _remember(ref: str, url: str, cache_dir: Path | None, side: int = THUMB_SIDE) -> None:
    """Keep a thumbnail made from another file with the same bytes as this image's, under this image's key."""
    file = _local_file(ref)
    try:
        st = os.stat(file) if file else None
    except OSError:
        return
    if st is not None:
        _keep((ref, st.st_size, st.st_mtime_ns, side, cache_dir), url)


def label_chart(c: Comparison) -> Markup:
    """Stacked horizontal bars of label shares per configuration, as inline SVG."""
    rows = [(s.name, s.labels) for s in c.sides]
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


class _Interner:
    """Values listed once; callers keep indices."""

    def __init__(self) -> None:
        self.items: list[Any] = []
        self.index: dict[Any, int] = {}

    def add(self, key: Any, make: Any = None) -> int:
        found = self.index.get(key)
        if found is None:
            found = self.index[key] = len(self.items)
            self.items.append(make() if callable(make) else key if make is None else make)
        return found


def report_data(c: Comparison, thumbs_dir: Path | None = None, image_scores: Mapping[str, ImageScore] | None = None,
                image_hashes: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The report's embedded data: compact, de-duplicated, indices per query; a product's image-quality score and
    rationale when stored (`image_scores`, by image reference). `image_hashes` (reference -> sha256 of its bytes)
    lets images with the same bytes share one encoding."""
    image_scores = image_scores or {}
    products, strings, guides, images = _Interner(), _Interner(), _Interner(), _Interner()
    image_bytes = 0
    label_names = sorted({lab for labels in c.pool_labels.values() for lab, _ in labels.values()})
    code = {name: str(i) for i, name in enumerate(label_names)}

    by_ref: dict[str, int] = {}

    def image_index(ref: str) -> int:
        """One entry per distinct thumbnail (identical images share one), -1 when none can be embedded."""
        nonlocal image_bytes
        if ref not in by_ref:
            url = thumbnail(ref, cache_dir=thumbs_dir) if image_bytes < IMAGE_BUDGET else None
            if url is not None and url not in images.index:
                image_bytes += len(url)
            by_ref[ref] = -1 if url is None else images.add(url)
        return by_ref[ref]

    def product(chash: str, doc_id: str) -> int:
        def make() -> list[Any]:
            p = c.products.get(chash) or {}
            ref = str(p.get("image_url") or "")
            q = image_scores.get(ref)
            return [doc_id, p.get("title", ""), p.get("brand", ""), p.get("color", ""), p.get("price"), image_index(ref),
                    q.score if q else None, strings.add(q.rationale) if q else -1]
        return products.add(chash or f"doc:{doc_id}", make)

    prefetch_thumbnails((str(p.get("image_url") or "") for p in c.products.values()), thumbs_dir, image_hashes)
    queries = []
    by_key: dict[str, int] = {}  # content hash (or 'doc:' id) -> product index (what `product` gives, without the call)
    string_at = strings.index
    sides = c.sides
    overlaps = [c.list_overlap(cand) for cand in c.candidates]
    values = [[[_value(v) for v in s.values[m].tolist()] for m in c.metric_names] for s in sides]  # per side, metric, query
    for qi, q in enumerate(c.queries):
        known = c.pool_labels.get(q.guideline_hash, {})
        side_keys = [_keys(side.doc_ids[qi], side.content_hashes[qi]) for side in sides]
        every_key = [k for keys in side_keys for k in keys]
        every_doc = [d for side in sides for d in side.doc_ids[qi]]
        distinct = list(dict.fromkeys(every_key))  # each product once per query, in the order first shown
        slot = {k: i for i, k in enumerate(distinct)}
        doc_of = dict(zip(reversed(every_key), reversed(every_doc)))  # a product's doc id where first shown
        h: list[int] = []
        labels, rationales = [], []
        for k in distinct:
            doc = doc_of[k]
            p = by_key.get(k)
            if p is None:
                p = by_key[k] = product(k if not k.startswith("doc:") else "", doc)
            h.append(p)
            lab = known.get(doc)
            labels.append(code[lab[0]] if lab else "-")
            rationales.append((string_at[lab[1]] if lab[1] in string_at else strings.add(lab[1])) if lab else -1)
        g = c.guidelines.get(q.guideline_hash)
        gi = guides.add(q.guideline_hash, (lambda g=g: {"text": g.text if g else "", "writer": g.writer if g else "",
                                                       "req": [[r.attribute, r.value, r.importance] for r in g.requirements] if g else []}))
        queries.append({"i": q.id, "t": q.text, "s": q.segment, "n": q.count, "g": gi,
                        "v": [[per_metric[qi] for per_metric in side_values] for side_values in values],
                        "o": [[round(jac[qi], 4), round(rb[qi], 4)] for jac, rb in overlaps],
                        "h": h, "l": "".join(labels), "r": rationales, "p": [[slot[k] for k in keys] for keys in side_keys]})
    configs = [{"name": s.name, "run_id": s.run.run_id, "description": s.description, "catalog": s.catalog,
                "judge_id": s.run.judge_id, "status": s.run.status} for s in sides]
    return {"primary": c.primary, "metrics": c.metric_names, "configs": configs, "labels": label_names,
            "lower": [m for m in c.metric_names if not higher_is_better(m)],  # measures where a fall is an improvement
            "queries": queries, "products": products.items, "images": images.items, "strings": strings.items,
            "guidelines": guides.items}


def _keys(doc_ids: list[str], content_hashes: list[str]) -> list[str]:
    """Each place's product key: its content hash, or 'doc:' and its doc id where no content hash is known."""
    if all(content_hashes) and len(content_hashes) == len(doc_ids):
        return content_hashes
    return [chash or f"doc:{doc}" for doc, chash in zip(doc_ids, content_hashes)]


def _value(v: float) -> float | None:
    """A per-query value for the report's JSON: None where the query is outside the measure's population (NaN)."""
    return None if math.isnan(v) else round(v, 4)


def _worst_images(c: Comparison, scores: Mapping[str, ImageScore], thumbs_dir: Path | None) -> list[dict[str, Any]]:
    """Per configuration, the lowest-scoring photos its result lists show (only when image scores are stored)."""
    from evalharness.images.badges import worst_images_by_content

    if not scores:
        return []
    out = []
    for side in c.sides:
        worst = worst_images_by_content(side.doc_ids, side.content_hashes, c.products, scores)
        out.append({"name": side.name, "images": [{"w": w, "thumb": thumbnail(w.image, cache_dir=thumbs_dir)} for w in worst]})
    return out


def render_html(c: Comparison, thumbs_dir: Path | None = None, gate: GateResult | None = None,
                image_scores: Mapping[str, ImageScore] | None = None, image_hashes: Mapping[str, str] | None = None) -> str:
    """The report as one HTML string; with stored image-quality scores, a badge on each thumbnail and each
    configuration's worst photos."""
    env = _env()
    script = env.loader.get_source(env, "report.js")[0]  # type: ignore[union-attr]
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    cost = c.cost_usd + sum(s.run.cost_usd for s in c.sides)
    return env.get_template(TEMPLATE).render(
        c=c, data_json=safe_json(report_data(c, thumbs_dir, image_scores, image_hashes)), script=Markup(script), script_hash=f"sha256-{digest}",
        worst_images=_worst_images(c, image_scores or {}, thumbs_dir),
        generated=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), cost=cost, chart=label_chart(c),
        overlaps={s.name: _mean_overlap(c, s) for s in c.candidates}, segments_table=c.groups("segment"),
        types_table=c.types(), checks_table={s.name: c.check_counts(s) for s in c.sides},
        segments=[row["group"] for row in c.groups("segment")], several=len(c.candidates) > 1,
        warnings=c.warnings + (gate.warnings if gate else []), gate=gate, label_colours=c.scheme.colours,
        lower={m for m in c.metric_names if not higher_is_better(m)}, pool_rule=POOL_RULE,
    )


def _mean_overlap(c: Comparison, cand: Any) -> dict[str, float]:
    jac, rb = c.list_overlap(cand)
    return {"jaccard": sum(jac) / len(jac) if jac else 0.0, "rbo": sum(rb) / len(rb) if rb else 0.0}


def write_html(c: Comparison, path: Path, project: Project | None = None, gate: GateResult | None = None) -> Path:
    """Write the report; thumbnails are cached under the project's .evalharness/thumbs."""
    from evalharness.runtime.gcpause import gc_paused

    path.parent.mkdir(parents=True, exist_ok=True)
    thumbs = project.cache_dir / "thumbs" if project is not None else None
    scores = hashes = None
    if project is not None:
        from evalharness.images.badges import cached_images

        scores, hashes = cached_images(project, (str(p.get("image_url") or "") for p in c.products.values()))
    with gc_paused():  # the report's data builds many objects that form no cycles; a large comparison is still held
        html = render_html(c, thumbs, gate, scores, hashes)
    path.write_text(html, encoding="utf-8")
    return path
