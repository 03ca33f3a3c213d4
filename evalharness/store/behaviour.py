"""Behaviour label sources (`behaviour:NAME`): each pair's evidence from a search log, and how its labels were made.

The labels themselves go into the `labels` table under the source name (like `human:NAME`), so every reader of
label sources resolves them the same way; `behaviour_evidence` keeps each pair's impressions, clicks, carts,
purchases and estimates (also the pairs below the impression threshold, which have no label), and
`behaviour_sources` the position model and thresholds. Recomputing a source replaces all three atomically.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Column, Float, Integer, String, Table, Text, delete, insert, select

from evalharness.errors import EvalHarnessError
from evalharness.store.labels import labels_t
from evalharness.store.tables import metadata
from evalharness.textnorm import normalize_query

BEHAVIOUR_PREFIX = "behaviour:"
_CHUNK = 400

behaviour_sources_t = Table(
    "behaviour_sources", metadata,
    Column("source", String(200), primary_key=True),
    Column("log", Text, nullable=False),
    Column("model", Text, nullable=False),  # JSON: estimate, thresholds, weights, ctr_by_position, theta, ...
    Column("created_at", String(40), nullable=False),
)

behaviour_evidence_t = Table(
    "behaviour_evidence", metadata,
    Column("source", String(200), primary_key=True),
    Column("query_key", String(1000), primary_key=True),
    Column("doc_id", String(200), primary_key=True),
    Column("query", Text, nullable=False),
    Column("impressions", Integer, nullable=False),
    Column("clicks", Integer, nullable=False),
    Column("carts", Integer, nullable=False),
    Column("purchases", Integer, nullable=False),
    Column("mean_position", Float, nullable=True),
    Column("expected_clicks", Float, nullable=False),
    Column("coec", Float, nullable=True),
    Column("pbm", Float, nullable=True),
    Column("estimate", Float, nullable=True),
    Column("label", String(40), nullable=True),
)

EVIDENCE_FIELDS = ("query_key", "query", "doc_id", "impressions", "clicks", "carts", "purchases", "mean_position",
                   "expected_clicks", "coec", "pbm", "estimate", "label")


def is_behaviour(spec: str) -> bool:
    return spec.startswith(BEHAVIOUR_PREFIX)


def check_behaviour_source(source: str) -> str:
    """A behaviour source must be `behaviour:NAME` with a non-empty name."""
    name = source[len(BEHAVIOUR_PREFIX):] if is_behaviour(source) else ""
    if not name.strip() or "," in name or "(" in name:
        raise EvalHarnessError(f"label source '{source}' is not a behaviour source; use behaviour:NAME (a name without commas "
                               "or parentheses)")
    return source


def replace_behaviour(store: Any, source: str, log: str, model: dict[str, Any], evidence: Iterable[Any]) -> None:
    """Store a computed source (replacing any earlier one of that name): model, evidence, and labels of labelled pairs."""
    from evalharness.store.db import utcnow

    check_behaviour_source(source)
    now = utcnow()
    ev_rows, label_rows = [], []
    for e in evidence:
        ev_rows.append({"source": source, **{k: getattr(e, k) for k in EVIDENCE_FIELDS}})
        if e.label is not None:
            label_rows.append({"source": source, "query_key": e.query_key, "doc_id": e.doc_id, "query": e.query, "label": e.label,
                               "note": f"{model['estimate']} {e.estimate:.3f}, {e.impressions} impressions, {e.clicks} clicks",
                               "origin": log, "created_at": now, "updated_at": now})
    with store.engine.begin() as conn:
        for table in (behaviour_evidence_t, labels_t, behaviour_sources_t):
            conn.execute(delete(table).where(table.c.source == source))
        conn.execute(insert(behaviour_sources_t), [{"source": source, "log": log, "model": json.dumps(model), "created_at": now}])
        for rows, table in ((ev_rows, behaviour_evidence_t), (label_rows, labels_t)):
            for start in range(0, len(rows), _CHUNK):
                conn.execute(insert(table), rows[start:start + _CHUNK])


def behaviour_model(store: Any, source: str) -> dict[str, Any]:
    """The stored model of a source (an error naming the command to run when there is none)."""
    with store.engine.connect() as conn:
        row = conn.execute(select(behaviour_sources_t.c.model).where(behaviour_sources_t.c.source == source)).first()
    if row is None:
        raise EvalHarnessError(f"no behaviour source {source} in this project's store; compute it with "
                               f"`evalharness labels implicit --source LOG --as {source.removeprefix(BEHAVIOUR_PREFIX)}`")
    return json.loads(row[0])


def evidence_for(store: Any, source: str, query_texts: Iterable[str] | None = None) -> dict[tuple[str, str], dict[str, Any]]:
    """Evidence rows {(query_key, doc_id): row} of a source, for some queries (by text) or all of them."""
    c = behaviour_evidence_t.c
    found: dict[tuple[str, str], dict[str, Any]] = {}
    with store.engine.connect() as conn:
        if query_texts is None:
            stmts = [select(behaviour_evidence_t).where(c.source == source)]
        else:
            keys = sorted({normalize_query(t) for t in query_texts})
            stmts = [select(behaviour_evidence_t).where(c.source == source, c.query_key.in_(keys[i:i + _CHUNK]))
                     for i in range(0, len(keys), _CHUNK)]
        for stmt in stmts:
            for r in conn.execute(stmt):
                row = dict(r._mapping)
                found[(row["query_key"], row["doc_id"])] = row
    return found
