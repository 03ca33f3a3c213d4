"""Human labels: the `labels` table and the two calls every writer and reader uses.

A label belongs to a source (`human:NAME`), a query (by its normalized text, so it applies wherever
that query is run) and a document id. `put_labels` writes a batch atomically (insert, or replace a
changed label) and says what changed; `labels_for` reads the labels of some queries. Imports
(`labels import`) and the rating page (`rate`) both write through `put_labels`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, String, Table, Text, func, insert, select, update

from evalharness.errors import EvalHarnessError
from evalharness.store.tables import metadata
from evalharness.textnorm import normalize_query

HUMAN_PREFIX = "human:"
_CHUNK = 400

labels_t = Table(
    "labels", metadata,
    Column("source", String(200), primary_key=True),
    Column("query_key", String(1000), primary_key=True),
    Column("doc_id", String(200), primary_key=True),
    Column("query", Text, nullable=False),
    Column("label", String(40), nullable=False),
    Column("note", Text, nullable=False, default=""),
    Column("origin", Text, nullable=False, default=""),
    Column("created_at", String(40), nullable=False),
    Column("updated_at", String(40), nullable=False),
    Column("query_id", String(200), nullable=False, server_default=""),  # the id the imported file named, if any
)


@dataclass(frozen=True)
class StoredLabel:
    """One stored human label."""

    source: str
    query_key: str
    doc_id: str
    query: str
    label: str
    note: str
    origin: str
    created_at: str
    updated_at: str
    query_id: str = ""


def check_source(source: str) -> str:
    """A human label source must be `human:NAME` with a non-empty name."""
    name = source[len(HUMAN_PREFIX):] if source.startswith(HUMAN_PREFIX) else ""
    if not name.strip() or "," in name or "(" in name:
        raise EvalHarnessError(f"label source '{source}' is not a human source; use human:NAME (a name without commas or parentheses)")
    return source


def _normalized(rows: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], dict[str, str]]:
    """Rows keyed by (query_key, doc_id); the same pair twice with different labels is an error."""
    out: dict[tuple[str, str], dict[str, str]] = {}
    for n, row in enumerate(rows, 1):
        query, doc_id, label = str(row.get("query") or ""), str(row.get("doc_id") or ""), str(row.get("label") or "")
        if not query.strip() or not doc_id.strip() or not label.strip():
            raise EvalHarnessError(f"label row {n} needs a query, a doc_id and a label (got {query!r}, {doc_id!r}, {label!r})")
        key = (normalize_query(query), doc_id.strip())
        item = {"query": query, "label": label.strip(), "note": str(row.get("note") or ""), "origin": str(row.get("origin") or ""),
                "query_id": str(row.get("query_id") or "")}
        prev = out.get(key)
        if prev is not None and prev["label"] != item["label"]:
            raise EvalHarnessError(f"label row {n}: query {query!r} doc {doc_id!r} is labelled twice ({prev['label']!r} and "
                                   f"{item['label']!r}); keep one of them")
        out[key] = item
    return out


def put_labels(store: Any, source: str, rows: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """Store labels under `source` (rows: query, doc_id, label, optional note, origin and query_id) in one transaction.

    A pair not stored yet is inserted; a pair whose label or note differs (or that now comes with another query id)
    is replaced (updated_at moves); an identical pair is left alone. Returns {"new", "changed", "unchanged"}.
    """
    from evalharness.store.db import utcnow

    check_source(source)
    wanted = _normalized(rows)
    counts = {"new": 0, "changed": 0, "unchanged": 0}
    if not wanted:
        return counts
    now = utcnow()
    c = labels_t.c
    by_query: dict[str, list[str]] = {}
    for qkey, doc in wanted:
        by_query.setdefault(qkey, []).append(doc)
    with store.engine.begin() as conn:
        existing: dict[tuple[str, str], tuple[str, str, str]] = {}
        qkeys = sorted(by_query)
        for start in range(0, len(qkeys), _CHUNK):
            stmt = select(c.query_key, c.doc_id, c.label, c.note, c.query_id).where(
                c.source == source, c.query_key.in_(qkeys[start:start + _CHUNK]))
            for r in conn.execute(stmt):
                existing[(r.query_key, r.doc_id)] = (r.label, r.note, r.query_id)
        new_rows = []
        for (qkey, doc), item in wanted.items():
            old = existing.get((qkey, doc))
            query_id = item["query_id"] or (old[2] if old else "")  # a file without ids keeps the id stored before
            if old is None:
                new_rows.append({"source": source, "query_key": qkey, "doc_id": doc, "query": item["query"], "label": item["label"],
                                 "note": item["note"], "origin": item["origin"], "created_at": now, "updated_at": now,
                                 "query_id": query_id})
                counts["new"] += 1
            elif old != (item["label"], item["note"], query_id):
                conn.execute(update(labels_t).where(c.source == source, c.query_key == qkey, c.doc_id == doc)
                             .values(label=item["label"], note=item["note"], origin=item["origin"], updated_at=now,
                                     query_id=query_id))
                counts["changed"] += 1
            else:
                counts["unchanged"] += 1
        for start in range(0, len(new_rows), _CHUNK):
            conn.execute(insert(labels_t), new_rows[start:start + _CHUNK])
    return counts


def labels_for(store: Any, source: str, query_texts: Iterable[str]) -> dict[tuple[str, str], str]:
    """The labels `source` holds for these queries: {(query_key, doc_id): label}."""
    keys = sorted({normalize_query(t) for t in query_texts})
    c = labels_t.c
    found: dict[tuple[str, str], str] = {}
    with store.engine.connect() as conn:
        for start in range(0, len(keys), _CHUNK):
            stmt = select(c.query_key, c.doc_id, c.label).where(c.source == source, c.query_key.in_(keys[start:start + _CHUNK]))
            for r in conn.execute(stmt):
                found[(r.query_key, r.doc_id)] = r.label
    return found


def iter_labels(store: Any, source: str) -> Iterator[StoredLabel]:
    """Every label of a source, ordered by query then doc id (for export and agreement)."""
    c = labels_t.c
    with store.engine.connect() as conn:
        for r in conn.execute(select(labels_t).where(c.source == source).order_by(c.query_key, c.doc_id)):
            yield StoredLabel(r.source, r.query_key, r.doc_id, r.query, r.label, r.note, r.origin, r.created_at, r.updated_at,
                              r.query_id)


def label_sources(store: Any) -> dict[str, int]:
    """Each stored human source with its number of labels."""
    c = labels_t.c
    with store.engine.connect() as conn:
        return {r[0]: int(r[1]) for r in conn.execute(select(c.source, func.count()).group_by(c.source).order_by(c.source))}
