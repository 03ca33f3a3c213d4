"""The `file` backend: rankings made elsewhere (a TREC run file or a `query,doc_id,rank` CSV) plus a catalog.

A learning-to-rank experiment or another system's export is judged and compared like a live engine: each
query of the query set is looked up in the file (by query id for TREC runs, by query id or normalized text
for CSVs), its documents are ordered by rank (TREC: by score, then doc id, as trec_eval does) and turned
into hits from the catalog. A query the file does not mention has zero hits (it still counts, scoring 0).
A ranked document missing from the catalog keeps its rank as a hit no judge can label (listed, unjudged in
Judged@k); the run says how many.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

from evalharness.backends.base import SearchBackend
from evalharness.catalog.products import file_sha256, iter_products, product_to_hit, resolve_catalog
from evalharness.errors import EvalHarnessError
from evalharness.models import UNJUDGEABLE, Hit
from evalharness.project import LoadedEngine, Project
from evalharness.textnorm import normalize_query

NOT_IN_CATALOG = "not in the catalog"


@dataclass(frozen=True)
class Ranked:
    doc_id: str
    rank: int
    score: float


def read_trec_run(path: Path) -> dict[str, list[Ranked]]:
    """qid -> documents in trec_eval's order (score descending, then doc id descending, as trec_eval breaks ties)."""
    raw: dict[str, list[tuple[float, str]]] = {}
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            parts = line.split()
            if len(parts) != 6:
                raise EvalHarnessError(f"{path}:line {n}: a TREC run line is 'qid Q0 docid rank score tag', got {len(parts)} fields")
            try:
                score = float(parts[4])
            except ValueError:
                raise EvalHarnessError(f"{path}:line {n}: score '{parts[4]}' is not a number") from None
            if not math.isfinite(score):
                raise EvalHarnessError(f"{path}:line {n}: score '{parts[4]}' is not a finite number; write a number such as 12.5")
            raw.setdefault(parts[0], []).append((score, parts[2]))
    out = {}
    for qid, docs in raw.items():
        ordered = sorted(sorted(docs, key=lambda d: d[1], reverse=True), key=lambda d: -d[0])
        out[qid] = [Ranked(doc, i, score) for i, (score, doc) in enumerate(ordered, 1)]
    return out


def read_rank_csv(path: Path) -> dict[str, list[Ranked]]:
    """`query,doc_id,rank` (or `query_id,...`; optional `score`) -> key -> documents by rank. Keys: query id or normalized text."""
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        cols = reader.fieldnames or []
        key_col = "query_id" if "query_id" in cols else "query" if "query" in cols else None
        doc_col = next((c for c in ("doc_id", "docid", "product_id") if c in cols), None)
        if key_col is None or doc_col is None or "rank" not in cols:
            raise EvalHarnessError(f"{path}: a ranking CSV needs columns query (or query_id), doc_id and rank; found {', '.join(cols)}")
        raw: dict[str, list[Ranked]] = {}
        for n, row in enumerate(reader, 2):
            try:
                rank = int(row["rank"])
                score = float(row.get("score") or 0.0)
            except ValueError:
                raise EvalHarnessError(f"{path}:row {n}: rank '{row['rank']}' must be an integer (score a number)") from None
            if not math.isfinite(score):
                raise EvalHarnessError(f"{path}:row {n}: score '{row.get('score')}' is not a finite number; write a number "
                                       "such as 12.5 (or leave it empty)")
            key = row[key_col].strip() if key_col == "query_id" else normalize_query(row[key_col])
            raw.setdefault(key, []).append(Ranked(row[doc_col].strip(), rank, score))
    return {k: sorted(v, key=lambda r: r.rank) for k, v in raw.items()}


class FileBackend(SearchBackend):
    """Hits read from a ranking file; product fields from the catalog."""

    def __init__(self, ranking: Path, fmt: str, catalog: Path, query_ids: dict[str, list[str]]) -> None:
        self.path, self.catalog, self.ids = ranking, catalog, query_ids
        if not ranking.exists():
            raise EvalHarnessError(f"ranking file {ranking} not found; set [file] run in the engine config")
        self.by_key = read_trec_run(ranking) if fmt == "trec" else read_rank_csv(ranking)
        wanted = {r.doc_id for docs in self.by_key.values() for r in docs}
        self.products = {str(p["id"]): p for p in iter_products(catalog) if str(p["id"]) in wanted}

    def search(self, query: str, k: int) -> list[Hit]:
        norm = normalize_query(query)
        docs = next((self.by_key[i] for i in self.ids.get(norm, []) if i in self.by_key), None) or self.by_key.get(norm) or []
        hits = []
        for r in docs[:k]:
            product = self.products.get(r.doc_id)
            if product is None:  # nothing to show a judge, but the ranking put it here: it keeps its rank
                hits.append(Hit(r.doc_id, len(hits) + 1, r.score, attributes={UNJUDGEABLE: NOT_IN_CATALOG}))
            else:
                hits.append(product_to_hit(product, len(hits) + 1, r.score, self.catalog.parent))
        return hits

    def describe(self) -> dict[str, str]:
        return {"ranking": str(self.path), "ranking_sha256": file_sha256(self.path)[:16], "catalog": str(self.catalog)}


def make_file(engine: LoadedEngine, project: Project) -> SearchBackend:
    from evalharness.labels.formats_import import read_query_ids

    cfg = engine.config.file
    if cfg is None:
        raise EvalHarnessError(f"engine config {engine.path}: backend 'file' needs a [file] section with run and catalog")
    path = project.resolve(cfg.run)
    fmt = cfg.format or ("csv" if path.suffix.lower() == ".csv" else "trec")
    sets = [project.resolve(cfg.queries)] if cfg.queries else sorted((project.root / "queries").glob("*.csv"))
    ids: dict[str, list[str]] = {}
    for qfile in sets:
        for qid, text in read_query_ids(qfile).items():
            ids.setdefault(normalize_query(text), []).append(qid)
    return FileBackend(path, fmt, resolve_catalog(project, cfg.catalog), ids)
