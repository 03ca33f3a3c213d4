"""The embedded backend: a tantivy index of a JSONL catalog, one per engine config name."""

from __future__ import annotations

import json
import math
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import tantivy

from evalharness.backends.base import SearchBackend, register_backend
from evalharness.catalog import SEARCHABLE_FIELDS, field_text, file_sha256, iter_products, product_to_hit, resolve_catalog
from evalharness.config import FieldValueFactor
from evalharness.errors import EvalHarnessError
from evalharness.models import Hit
from evalharness.project import LoadedEngine, Project

SCHEMA_VERSION = 1
_QUERY_SYNTAX = re.compile(r"[^\w]+", re.UNICODE)


def _schema() -> tantivy.Schema:
    sb = tantivy.SchemaBuilder()
    sb.add_text_field("id", stored=True, tokenizer_name="raw")
    for name in SEARCHABLE_FIELDS:
        sb.add_text_field(name, stored=False, tokenizer_name="en_stem")
    return sb.build()


def build_index(index_dir: Path, catalog: Path, progress: Callable[[int], None] | None = None, source: str = "engine config") -> int:
    """(Re)build a tantivy index of a catalog; returns the number of products indexed.

    `source` records who chose the catalog: the engine config's [tantivy] catalog, or `evalharness index --catalog`."""
    if index_dir.exists():
        shutil.rmtree(index_dir)
    (index_dir / "data").mkdir(parents=True)
    index = tantivy.Index(_schema(), path=str(index_dir / "data"))
    writer = index.writer(heap_size=64_000_000, num_threads=1)
    n = 0
    for product in iter_products(catalog):
        doc = tantivy.Document()
        doc.add_text("id", str(product["id"]))
        for name in SEARCHABLE_FIELDS:
            text = field_text(product, name)
            if text:
                doc.add_text(name, text)
        writer.add_document(doc)
        n += 1
        if progress and n % 200 == 0:
            progress(200)
    writer.commit()
    writer.wait_merging_threads()
    if progress:
        progress(n % 200)
    if n == 0:
        raise EvalHarnessError(f"catalog {catalog} has no products; add JSON lines with an 'id'")
    manifest = {"catalog": str(catalog), "catalog_sha256": file_sha256(catalog), "schema": SCHEMA_VERSION, "products": n,
                "source": source}
    (index_dir / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return n


def field_value_boost(product: dict[str, Any], fvf: FieldValueFactor) -> float:
    """1 + factor * modifier(value) for a product's numeric field (0 when missing or not a number)."""
    value = product.get(fvf.field)
    x = float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0 else 0.0
    x = {"none": x, "log1p": math.log1p(x), "sqrt": math.sqrt(x)}[fvf.modifier]
    return 1.0 + fvf.factor * x


class TantivyBackend(SearchBackend):
    """BM25 over the fields an engine config picks, with per-field boosts and optional fuzzy matching."""

    def __init__(self, engine: LoadedEngine, project: Project) -> None:
        cfg = engine.config.tantivy
        assert cfg is not None  # set by EngineConfig's validator for backend 'tantivy'
        self.cfg = cfg
        self.index_dir = project.cache_dir / "indexes" / engine.name
        manifest = self._ensure_index(project)
        self.catalog = Path(manifest["catalog"])
        self.manifest = manifest
        self.products = {str(p["id"]): p for p in iter_products(self.catalog)}
        self.index = tantivy.Index.open(str(self.index_dir / "data"))
        self.searcher = self.index.searcher()

    def _ensure_index(self, project: Project) -> dict[str, Any]:
        manifest_path = self.index_dir / "manifest.json"
        catalog, source = resolve_catalog(project, self.cfg.catalog), "engine config"
        if manifest_path.exists():
            manifest = json.loads(manifest_path.read_text())
            indexed = Path(manifest["catalog"])
            # An index built by `evalharness index --catalog` is kept; one built from the config follows the config.
            by_command = manifest.get("source") == "index command" and indexed.exists()
            if by_command:
                catalog, source = indexed, "index command"  # if the file changed on disk, rebuild from the same file
            if (catalog == indexed and manifest.get("schema") == SCHEMA_VERSION and indexed.exists()
                    and manifest.get("catalog_sha256") == file_sha256(indexed)):
                return manifest
        build_index(self.index_dir, catalog, source=source)
        return json.loads(manifest_path.read_text())

    def describe(self) -> dict[str, str]:
        return {"catalog": str(self.catalog), "catalog_sha256": self.manifest["catalog_sha256"][:16]}

    def search(self, query: str, k: int) -> list[Hit]:
        text = _QUERY_SYNTAX.sub(" ", query).strip()
        if not text:
            return []
        fuzzy = {f: (False, 1, True) for f in self.cfg.fuzzy}
        parsed = self.index.parse_query(text, list(self.cfg.fields), field_boosts=dict(self.cfg.boosts),
                                        fuzzy_fields=fuzzy, conjunction_by_default=self.cfg.conjunction)
        fvf = self.cfg.field_value_factor
        result = self.searcher.search(parsed, limit=max(k, fvf.window) if fvf else k)
        scored = []
        for score, address in result.hits:
            doc_id = self.searcher.doc(address)["id"][0]
            scored.append((float(score) * (field_value_boost(self.products[doc_id], fvf) if fvf else 1.0), doc_id))
        scored.sort(key=lambda x: (-x[0], x[1]))
        scored = scored[:k]
        base = self.catalog.parent
        return [product_to_hit(self.products[d], rank, s, base) for rank, (s, d) in enumerate(scored, 1)]


@register_backend("tantivy")
def _tantivy(engine: LoadedEngine, project: Project) -> SearchBackend:
    return TantivyBackend(engine, project)
