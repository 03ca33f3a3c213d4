"""Scoring stored runs: graded qrels from the judgment pool of a run's own pairs (the pool rule), per-query values."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from evalharness.labels.schemes import DEFAULT_SCHEME, LabelScheme, scheme_named, scheme_of
from evalharness.metrics.ir import per_query_metrics
from evalharness.metrics.measures import MeasureContext, add_hit_measures
from evalharness.project import Project
from evalharness.store import Store
from evalharness.store.db import StoredQuery
from evalharness.store.runread import pair_pool, stored_pairs


def qrels_from_pool(store: Store, judge_id: str, queries: Sequence[StoredQuery], scheme: LabelScheme
                    ) -> dict[str, dict[str, int]]:
    """Graded qrels per query id from this judge's labels of the queries' own pairs (the pool rule: no judgment
    made for another run counts)."""
    return pool_qrels(pair_pool(store, judge_id, stored_pairs(queries), rationales=False).labels, queries, scheme)


def pool_qrels(pool: Mapping[str, dict[str, tuple[str, str]]], queries: Iterable[StoredQuery], scheme: LabelScheme
               ) -> dict[str, dict[str, int]]:
    """Graded qrels per query id from a read pool (guideline hash -> doc -> (label, rationale))."""
    return {q.id: graded(pool.get(q.guideline_hash, {}), scheme) for q in queries}


def graded(labels: dict[str, tuple[str, str]], scheme: LabelScheme) -> dict[str, int]:
    """doc_id -> (label, rationale) as graded qrels: each label's gain in the scheme (three-level: 2 / 1 / 0)."""
    gains: dict[str, int] = {}  # a few labels, many docs: each label's gain asked once
    out = {}
    for doc, (label, _) in labels.items():
        gain = gains.get(label)
        out[doc] = gain if gain is not None else gains.setdefault(label, scheme.gain(label))
    return out


def evaluate_stored(store: Store, judge_id: str, queries: Sequence[StoredQuery], names: Sequence[str],
                    project: Project | None = None, qrels: dict[str, dict[str, int]] | None = None) -> dict[str, dict[str, float]]:
    """Per-query metric values of stored result lists against the judgment pool (gains from the project's label
    scheme), or against given qrels (a label source, `--labels`); per-hit measures (VQ@k, ...) need the project."""
    scheme = scheme_of(project.config) if project is not None else scheme_named(DEFAULT_SCHEME)
    if qrels is None:
        qrels = qrels_from_pool(store, judge_id, queries, scheme)
    run = {q.id: [h.doc_id for h in q.hits] for q in queries}
    values = per_query_metrics(names, qrels, run, [q.id for q in queries])
    ctx = MeasureContext(project, store, judge_id) if project is not None else None
    return add_hit_measures(values, names, ctx, queries)


def evaluate_together(store: Store, judge_id: str, runs: Sequence[Sequence[StoredQuery]], names: Sequence[str],
                      project: Project) -> list[dict[str, dict[str, float]]]:
    """`evaluate_stored` for several stored runs against one read of their shared pool (the labels of the pairs in
    these runs, nothing else), with one measure context (per-hit providers read what the runs share once)."""
    scheme = scheme_of(project.config)
    pool = pair_pool(store, judge_id, stored_pairs(q for queries in runs for q in queries), rationales=False).labels
    ctx = MeasureContext(project, store, judge_id)
    out = []
    for queries in runs:
        run = {q.id: [h.doc_id for h in q.hits] for q in queries}
        values = per_query_metrics(names, pool_qrels(pool, queries, scheme), run, [q.id for q in queries])
        out.append(add_hit_measures(values, names, ctx, queries))
    return out
