"""The embedded backend: a tantivy index of a JSONL catalog, one per engine config name."""

from __future__ import annotations

import json
import math
import os
import re
import secrets
import shutil
import tempfile
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import tantivy

from evalharness.backends.base import SearchBackend
from evalharness.catalog.products import field_text, file_sha256, iter_products, product_to_hit, resolve_catalog
from evalharness.config import FieldValueFactor
from evalharness.errors import EvalHarnessError
from evalharness.models import SEARCHABLE_FIELDS, Hit
from evalharness.project import LoadedEngine, Project
from evalharness.runtime.filelock import file_lock

SCHEMA_VERSION = 2  # 2: each product's JSON stored with it (a run reads the products it finds, not the catalog)
_QUERY_SYNTAX = re.compile(r"[^\w]+", re.UNICODE)


def _schema() -> tantivy.Schema:
    sb = tantivy.SchemaBuilder()
    sb.add_text_field("id", stored=True, tokenizer_name="raw")
    sb.add_bytes_field("source", stored=True)  # the product as JSON, read back for the hits found
    for name in SEARCHABLE_FIELDS:
        sb.add_text_field(name, stored=False, tokenizer_name="en_stem")
    return sb.build()


def catalog_name(project: Project, catalog: str) -> str:
    """How a run names its catalog: 'demo', or the JSONL path relative to the project when it lies inside it."""
    if catalog == "demo":
        return "demo"
    path = project.resolve(catalog)
    try:
        return str(path.relative_to(project.root))
    except ValueError:
        return str(path)


def index_dir_of(project: Project, engine_name: str) -> Path:
    return project.cache_dir / "indexes" / engine_name


def _write_index(target: Path, catalog: Path, progress: Callable[[int], None] | None) -> int:
    (target / "data").mkdir(parents=True)
    index = tantivy.Index(_schema(), path=str(target / "data"))
    writer = index.writer(heap_size=64_000_000, num_threads=1)
    n = 0
    for product in iter_products(catalog):
        doc = tantivy.Document()
        doc.add_text("id", str(product["id"]))
        doc.add_bytes("source", json.dumps(product, ensure_ascii=False).encode())
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
    return n


# (catalog path, its sha256) -> Hit fields by doc id: what the backends of one process share of a catalog's content
_CATALOGS: dict[tuple[str, str], dict[str, Any]] = {}
_CATALOGS_KEPT = 2


def _catalog_hit_fields(catalog: Path, sha256: str) -> dict[str, Any]:
    """The Hit fields built so far of a catalog's products, shared per process and content (the sha256 the index
    manifest was just checked against); the last two catalogs are kept."""
    key = (str(catalog), sha256)
    found = _CATALOGS.get(key)
    if found is None:
        found = {}
        while len(_CATALOGS) >= _CATALOGS_KEPT:
            del _CATALOGS[next(iter(_CATALOGS))]
        _CATALOGS[key] = found
    return found


def field_value_boost(product: dict[str, Any], fvf: FieldValueFactor) -> float:
    """1 + factor * modifier(value) for a product's numeric field (0 when missing or not a number)."""
    value = product.get(fvf.field)
    x = float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0 else 0.0
    x = {"none": x, "log1p": math.log1p(x), "sqrt": math.sqrt(x)}[fvf.modifier]
    return 1.0 + fvf.factor * x
def build_index(index_dir: Path, catalog: Path, progress: Callable[[int], None] | None = None, source: str = "engine config",
                name: str = "") -> int:
    """(Re)build a tantivy index of a catalog; returns the number of products indexed.

    The index is written into a temporary folder beside `index_dir` and renamed into place, so a reader
    never sees half an index; callers hold `index_lock(index_dir)`. `source` records who built it (the
    engine config or `evalharness index`), `name` how the config names the catalog."""
    index_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{index_dir.name}.build-", dir=index_dir.parent))
    try:
        n = _write_index(tmp, catalog, progress)
        manifest = {"catalog": str(catalog), "catalog_name": name or str(catalog), "catalog_sha256": file_sha256(catalog),
                    "schema": SCHEMA_VERSION, "products": n, "source": source}
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2))
        old = None
        if index_dir.exists():
            old = index_dir.parent / f".{index_dir.name}.old-{os.getpid()}-{secrets.token_hex(3)}"
            index_dir.rename(old)
        tmp.rename(index_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return n


def index_lock(index_dir: Path) -> AbstractContextManager[None]:
    """The lock every reader and builder of one engine config's index holds while checking or building it."""
    return file_lock(index_dir.parent / f"{index_dir.name}.lock")


class TantivyBackend(SearchBackend):
    """BM25 over the fields an engine config picks, with per-field boosts and optional fuzzy matching."""

    def __init__(self, engine: LoadedEngine, project: Project) -> None:
        cfg = engine.config.tantivy
        assert cfg is not None  # set by EngineConfig's validator for backend 'tantivy'
        self.cfg = cfg
        self.index_dir = index_dir_of(project, engine.name)
        with index_lock(self.index_dir):  # a concurrent first run waits here and reuses the index built by the other
            manifest = self._ensure_index(project, engine)
            self.index = tantivy.Index.open(str(self.index_dir / "data"))
            self.searcher = self.index.searcher()
        self.catalog = Path(manifest["catalog"])
        self.manifest = manifest
        self._hit_fields = _catalog_hit_fields(self.catalog, manifest["catalog_sha256"])
        self._doc_ids: dict[tuple[int, int], str] = {}  # doc address in this searcher's snapshot -> product id
        self._sources: dict[str, bytes] = {}  # product id -> its JSON as stored in the index (decoded when needed)
        self._products: dict[str, dict[str, Any]] = {}  # the products read back so far, by id
        self._boosts: dict[str, float] = {}  # product id -> its field_value_factor boost

    def _ensure_index(self, project: Project, engine: LoadedEngine) -> dict[str, Any]:
        """The index's manifest; built (or rebuilt) from the config's catalog when missing, stale or built by a run.

        An index that `evalharness index` built from another catalog than the config names is refused, never
        searched: a run must search the catalog its config names."""
        manifest_path = self.index_dir / "manifest.json"
        catalog, name = resolve_catalog(project, self.cfg.catalog), catalog_name(project, self.cfg.catalog)
        if manifest_path.exists():
            manifest = json.loads(manifest_path.read_text())
            indexed = Path(manifest["catalog"])
            if manifest.get("source") == "index command" and indexed != catalog:
                raise EvalHarnessError(
                    f"the tantivy index of '{engine.name}' was built from {manifest.get('catalog_name', indexed)} but "
                    f"{engine.path.name} names catalog '{self.cfg.catalog}'; rebuild it with `evalharness index -e {engine.name}`"
                    " (or set [tantivy] catalog in the config)")
            if (indexed == catalog and manifest.get("schema") == SCHEMA_VERSION and indexed.exists()
                    and manifest.get("catalog_sha256") == file_sha256(indexed)):
                return manifest
        build_index(self.index_dir, catalog, source="engine config", name=name)
        return json.loads(manifest_path.read_text())

    def describe(self) -> dict[str, str]:
        return {"catalog": self.manifest.get("catalog_name", str(self.catalog)), "catalog_path": str(self.catalog),
                "catalog_sha256": self.manifest["catalog_sha256"][:16]}

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
        ids, boosts = self._doc_ids, self._boosts
        for score, address in result.hits:
            where = (address.segment_ord, address.doc)
            doc_id = ids.get(where)
            if doc_id is None:
                doc = self.searcher.doc(address)
                doc_id = ids[where] = doc["id"][0]
                self._sources.setdefault(doc_id, doc["source"][0])
            boost = boosts.get(doc_id, 1.0) if fvf else 1.0
            if fvf and doc_id not in boosts:
                boost = boosts[doc_id] = field_value_boost(self.product(doc_id), fvf)
            scored.append((float(score) * boost, doc_id))
        scored.sort(key=lambda x: (-x[0], x[1]))
        scored = scored[:k]
        return [self._hit(d, rank, s) for rank, (s, d) in enumerate(scored, 1)]

    def product(self, doc_id: str) -> dict[str, Any]:
        """A product this backend has found, as the catalog has it (its JSON stored in the index, read once)."""
        found = self._products.get(doc_id)
        if found is None:
            found = self._products[doc_id] = json.loads(self._sources.pop(doc_id))  # the bytes are not kept beside it
        return found

    def _hit(self, doc_id: str, rank: int, score: float) -> Hit:
        """A product as a Hit; its fields are built once per product and copied for each result (the attributes
        one level down, as `Hit.to_json` copies them)."""
        fields = self._hit_fields.get(doc_id)
        if fields is None:
            data = product_to_hit(self.product(doc_id), 0, 0.0, self.catalog.parent).to_json()
            attributes = data.pop("attributes")
            for key in ("rank", "score"):
                data.pop(key)
            fields = self._hit_fields[doc_id] = (data, attributes, any(isinstance(v, list) for v in attributes.values()))
        data, attributes, has_lists = fields
        copied = {k: list(v) if isinstance(v, list) else v for k, v in attributes.items()} if has_lists else dict(attributes)
        return Hit(rank=rank, score=score, attributes=copied, **data)


def make_tantivy(engine: LoadedEngine, project: Project) -> SearchBackend:
    return TantivyBackend(engine, project)
