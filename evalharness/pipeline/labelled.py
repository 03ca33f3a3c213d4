"""A finished run scored on a `--labels` source instead of its judge, with where each label came from."""

from __future__ import annotations

from typing import Any

from evalharness.labels.sources import source_qrels
from evalharness.metrics.ir import mean_metrics
from evalharness.pipeline.run import evaluate_stored


def rescore_with_labels(project: Any, store: Any, outcome: Any, spec: str) -> dict[str, Any]:
    """Score a finished run (a RunOutcome) on a label source instead of its judge; says where the labels came from."""
    names = list(project.config.run.metrics)
    stored = store.run_queries(outcome.run_id)
    sq = source_qrels(project.config, store, spec, stored)
    outcome.per_query = evaluate_stored(store, outcome.judge_id, stored, names, project, qrels=sq.qrels)
    outcome.metrics = mean_metrics(outcome.per_query, names)
    hits = [(q.id, h.doc_id) for q in stored for h in q.hits]
    by_source: dict[str, int] = {}
    for qid, doc in hits:
        src = sq.origin[qid].get(doc)
        if src is not None:
            by_source[src] = by_source.get(src, 0) + 1
    return {"source": spec, "hits": len(hits), "labelled_hits_by_source": by_source,
            "unlabelled_hits": len(hits) - sum(by_source.values())}
