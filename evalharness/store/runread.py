"""Read paths for comparing stored runs: ranked lists and content hashes without decoding hits, the
judgment pool with what it covers, and hits decoded only where a report or a missing pair needs them.

Every function costs in proportion to the runs and guidelines asked for, never to the size of the store.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Text, select, type_coerce

from evalharness.gcpause import gc_paused
from evalharness.models import Guideline, Hit, Requirement
from evalharness.store.db import Store, StoredRun
from evalharness.store.tables import guidelines_t, judgments_t, run_queries_t, run_results_t, runs_t

CHUNK = 500


@dataclass
class RunLists:
    """One query of a stored run: its metadata and ranked doc ids with the content hashes the run judged."""

    id: str
    text: str
    count: int
    segment: str
    guideline_hash: str
    error: str | None
    doc_ids: list[str] = field(default_factory=list)
    content_hashes: list[str] = field(default_factory=list)


def run_lists(store: Store, run_id: str) -> list[RunLists]:
    """A run's queries in insertion order, each with its ranked doc ids and content hashes (no hit JSON read)."""
    q, r = run_queries_t.c, run_results_t.c
    with gc_paused(), store.engine.connect() as conn:
        rows = conn.execute(select(q.query_id, q.text, q.count, q.segment, q.guideline_hash, q.error)
                            .where(q.run_id == run_id)).all()
        out = {row[0]: RunLists(*row) for row in rows}
        for qid, doc_id, chash in conn.execute(select(r.query_id, r.doc_id, r.content_hash).where(r.run_id == run_id)
                                               .order_by(r.query_id, r.rank)):
            lists = out.get(qid)
            if lists is not None:
                lists.doc_ids.append(doc_id)
                lists.content_hashes.append(chash)
    return list(out.values())


# The head `json.dumps(hit.to_json())` writes: doc id, rank, score. Hits whose JSON is equal apart from rank and score
# (one product in many lists) are decoded once and share their field values.
_HEAD = re.compile(r'\{"doc_id": ("(?:[^"\\]|\\.)*"), "rank": (-?\d+), "score": (-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?), ')


def run_hits(store: Store, run_id: str, query_ids: Iterable[str]) -> dict[str, list[Hit]]:
    """Decoded hits (ordered by rank) of some queries of a run; a product's fields are decoded once per call."""
    ids = sorted(set(query_ids))
    r = run_results_t.c
    out: dict[str, list[Hit]] = {qid: [] for qid in ids}
    products: dict[str, Hit] = {}
    with gc_paused(), store.engine.connect() as conn:
        for start in range(0, len(ids), CHUNK):
            stmt = (select(r.query_id, type_coerce(r.hit, Text)).where(r.run_id == run_id, r.query_id.in_(ids[start:start + CHUNK]))
                    .order_by(r.query_id, r.rank))
            for qid, raw in conn.execute(stmt):
                out[qid].append(_decode_hit(raw, products))
    return out


def _decode_hit(raw: str, products: dict[str, Hit]) -> Hit:
    head = _HEAD.match(raw)
    if head is None:  # another layout (e.g. PostgreSQL's jsonb): decoded in full
        return Hit.from_json(json.loads(raw))
    doc_id, rank, score = head.groups()
    body = doc_id + raw[head.end():]
    s = products.get(body)
    if s is None:
        s = products[body] = Hit.from_json(json.loads(raw))
        return s
    value = float(score) if "." in score or "e" in score or "E" in score else int(score)  # as json.loads reads it
    fields = vars(s).copy()  # the decoded product with this row's rank and score
    fields["rank"], fields["score"] = int(rank), value
    hit = object.__new__(Hit)
    hit.__dict__ = fields
    return hit


def products_by_content(store: Store, run_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """content hash -> the hit's fields, decoding each distinct product once across the runs.

    SQLite returns one row per distinct content hash (a bare column in GROUP BY); other databases
    stream the rows and skip hashes already decoded.
    """
    r = run_results_t.c
    out: dict[str, dict[str, Any]] = {}
    grouped = store.engine.dialect.name == "sqlite"
    with store.engine.connect() as conn:
        for run_id in run_ids:
            stmt = select(r.content_hash, type_coerce(r.hit, Text)).where(r.run_id == run_id)
            if grouped:
                stmt = stmt.group_by(r.content_hash)
            for chash, raw in conn.execute(stmt):
                if chash not in out:
                    out[chash] = json.loads(raw)
    return out


@dataclass
class Pool:
    """Every judgment one judge made for some guidelines: labels by doc id, and what (guideline, content) it covers."""

    labels: dict[str, dict[str, tuple[str, str]]]
    covered: set[tuple[str, str]]
    size: int


def judgment_pool(store: Store, guideline_hashes: Iterable[str], judge_id: str, rationales: bool = True) -> Pool:
    """One pass over the judgments of these guidelines by this judge (newest judgment of a doc wins)."""
    c = judgments_t.c
    hashes = sorted(set(guideline_hashes))
    labels: dict[str, dict[str, tuple[str, str]]] = {}
    covered: set[tuple[str, str]] = set()
    size = 0
    cols = [c.guideline_hash, c.doc_id, c.content_hash, c.label] + ([c.rationale] if rationales else [])
    with gc_paused(), store.engine.connect() as conn:
        for start in range(0, len(hashes), CHUNK):
            stmt = (select(*cols).where(c.guideline_hash.in_(hashes[start:start + CHUNK]), c.judge_id == judge_id)
                    .order_by(c.created_at))
            for row in conn.execute(stmt):
                labels.setdefault(row[0], {})[row[1]] = (row[3], row[4] if rationales else "")
                covered.add((row[0], row[2]))
                size += 1
    return Pool(labels, covered, size)


def stored_guidelines(store: Store, hashes: Iterable[str]) -> dict[str, Guideline]:
    """Guidelines recorded in the store under these file hashes (no YAML parsing)."""
    g = guidelines_t.c
    wanted = sorted(set(hashes))
    out: dict[str, Guideline] = {}
    with store.engine.connect() as conn:
        for start in range(0, len(wanted), CHUNK):
            stmt = select(g.hash, g.query, g.path, g.writer, g.model, g.requirements, g.text).where(g.hash.in_(wanted[start:start + CHUNK]))
            for row in conn.execute(stmt):
                reqs = row.requirements if not isinstance(row.requirements, str) else json.loads(row.requirements)
                out[row.hash] = Guideline(row.query, tuple(Requirement(**r) for r in reqs or ()), row.text, row.writer,
                                          row.model or "", hash=row.hash, path=row.path)
    return out


def newest_run(store: Store, engine_config: str) -> StoredRun | None:
    """The newest run of an engine config, whatever its status (a comparison then says if it is not clean)."""
    with store.engine.connect() as conn:
        row = conn.execute(select(runs_t).where(runs_t.c.engine_config == engine_config)
                           .order_by(runs_t.c.started_at.desc(), runs_t.c.run_id.desc())).first()
    return store._run_from_row(row) if row else None
