"""One run of one engine configuration: queries -> guidelines -> search -> judge (cached) -> metrics -> store.

The run streams a chunk of queries at a time (pipeline/streamrun.py); through a provider's batch service it is
searched whole and submitted. The pieces live beside it (runtypes, pairs, scoring) and are named here for callers.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evalharness.backends import make_backend
from evalharness.images import ImageLoader
from evalharness.metrics.ir import mean_metrics
from evalharness.models import Guideline
from evalharness.pipeline.pairs import begin_run, build_pairs, drop_covered, new_run_id
from evalharness.pipeline.runstate import final_status, process_gone
from evalharness.pipeline.runtypes import BatchService, RunOutcome, RunRequest, RunStart, SilentStages, Stages
from evalharness.pipeline.scoring import evaluate_stored, evaluate_together, graded, qrels_from_pool
from evalharness.pipeline.streamrun import run_streamed
from evalharness.project import Project
from evalharness.store import Store
from evalharness.store.db import StoredQuery

__all__ = ["BatchService", "DryRunEstimate", "RunOutcome", "RunRequest", "RunStart", "SilentStages", "Stages", "begin_run",
           "build_pairs", "default_queries_path", "drop_covered", "estimate_run", "evaluate_stored", "evaluate_together",
           "finish_now", "graded", "new_run_id", "qrels_from_pool", "run_counts", "run_engine"]


def run_engine(project: Project, store: Store, req: RunRequest, stages: Stages | None = None) -> RunOutcome:
    """Run one engine configuration end to end and store the run: streamed in chunks of queries (pipeline/stream.py),
    or, through a provider's batch service, searched whole and submitted."""
    stages = stages or SilentStages()
    started = time.perf_counter()
    store.mark_stale_runs(process_gone)  # rows left `running` by a killed process on this host
    store.upsert_queries({"id": q.id, "text": q.text, "count": q.count, "segment": q.segment} for q in req.queries)
    if req.batch is None:
        return run_streamed(project, store, req, stages, started)
    return _run_for_batch(project, store, req, req.batch, stages, started)


def _run_for_batch(project: Project, store: Store, req: RunRequest, batch: BatchService, stages: Stages,
                   started: float) -> RunOutcome:
    """Search the whole run, store its lists and submit its uncached pairs to the provider's batch service."""
    from evalharness.guidelines.runset import RunGuidelines

    guides = RunGuidelines(project, store, req.guideline_writer)
    with stages.stage("guidelines", len(req.queries)) as advance:
        guides.prepare(req.queries, advance)
    guidelines = guides.for_queries(req.queries)
    backend = make_backend(req.engine, project)
    try:
        with stages.stage(f"search {req.engine.name}", len(req.queries)) as advance:
            results = backend.search_many([q.text for q in req.queries], req.top_k, advance)
        described = backend.describe()
    finally:
        backend.close()
    hits = {q.id: r for q, r in zip(req.queries, results)}
    images = ImageLoader(project, req.judge) if req.judge.mode != "text" else None
    pairs, hashes, where, failures = build_pairs(req.queries, guidelines, hits, req.judge, images)
    pairs, _ = drop_covered(store, req, pairs)
    run_id, catalog = begin_run(store, req, described)
    stored = [StoredQuery(q.id, q.text, q.count, q.segment, guidelines[q.id].hash, hits[q.id], hashes[q.id])
              for q in req.queries]
    store.save_results(run_id, stored)
    return batch.submit(project, store, req, RunStart(run_id, catalog, started, stored, hits, pairs, where, failures,
                                                      images is not None), stages)


def run_counts(req: RunRequest, start: RunStart, new: int, cached: int, skipped_budget: int) -> dict[str, int]:
    """The counts a run stores; `unjudged_hits` are the listed failures, the pairs the budget skipped and the hits no
    judge can label (`unjudgeable`: not in the catalog; they do not make a run partial, rerunning cannot judge them)."""
    hits = start.hits
    unjudgeable = sum(1 for h in hits.values() for hit in h if hit.unjudgeable)
    return {"queries": len(req.queries), "hits": sum(len(h) for h in hits.values()),
            "zero_hit_queries": sum(1 for h in hits.values() if not h), "judged_new": new, "judged_cached": cached,
            "failed": len(start.failures),
            "image_fallbacks": sum(1 for p in start.pairs if p.request.image is None) if start.with_images else 0,
            "skipped_budget": skipped_budget, "unjudgeable": unjudgeable,
            "unjudged_hits": len(start.failures) + skipped_budget + unjudgeable,
            "input_tokens": 0, "output_tokens": 0}


def finish_now(project: Project, store: Store, req: RunRequest, start: RunStart, counts: dict[str, int],
               cost_usd: float) -> RunOutcome:
    """Score the run against the judgment pool, store its metrics and final status."""
    qrels = req.label_qrels(start.stored) if req.label_qrels else None  # hits people labelled were never sent
    per_query = evaluate_stored(store, req.judge.judge_id, start.stored, req.metrics, project, qrels=qrels)
    metrics = mean_metrics(per_query, req.metrics)
    elapsed = time.perf_counter() - start.started
    unjudgeable = counts.get("unjudgeable", 0)
    status = final_status(counts["hits"] - unjudgeable, counts["hits"] - counts["unjudged_hits"])
    store.finish_run(start.run_id, status, metrics, counts, cost_usd, elapsed)
    return RunOutcome(start.run_id, req.engine.name, req.engine.hash, req.judge.judge_id, metrics, per_query, counts,
                      elapsed, cost_usd, start.failures, status=status, catalog=start.catalog, stored=start.stored)


def default_queries_path(project: Project) -> Path:
    """The configured query set ([run] queries), relative to the project."""
    return project.resolve(project.config.run.queries)


@dataclass
class DryRunEstimate:
    """What a run would cost, computed without calling the judge or writing guidelines."""

    engine_config: str
    queries: int
    hits: int
    cached: int
    calls: int
    guidelines_to_write: int
    input_tokens: int
    output_tokens: int
    cost_usd: float
    note: str = ""  # how the estimate was made, when that needs saying (a cascade's escalated share)

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def estimate_run(project: Project, store: Store, req: RunRequest) -> DryRunEstimate:
    """Search, find what is cached, and estimate the calls, tokens and cost of the rest. Sends nothing to a judge."""
    from evalharness.guidelines.files import guideline_path, parse_guideline

    guidelines: dict[str, Guideline] = {}
    missing = set()
    for q in req.queries:
        path = guideline_path(project.guidelines_dir, q.text)
        if path.exists():
            guidelines[q.id] = parse_guideline(path)
        else:
            missing.add(q.text)
            guidelines[q.id] = Guideline(q.text, (), "(not yet written)", "pending", hash="pending")
    backend = make_backend(req.engine, project)
    try:
        results = backend.search_many([q.text for q in req.queries], req.top_k)
    finally:
        backend.close()
    hits = {q.id: r for q, r in zip(req.queries, results)}
    images = ImageLoader(project, req.judge) if req.judge.mode != "text" else None  # read locally; nothing is sent
    pairs, _, _, _ = build_pairs(req.queries, guidelines, hits, req.judge, images)
    pairs, _ = drop_covered(store, req, pairs)
    cached = store.cached_judgments([p.key for p in pairs if p.request.guideline.hash != "pending"])
    earlier = store.judged_keys([p.legacy_key for p in pairs if p.key not in cached and p.legacy_key])  # store/rekey.py
    todo = [p for p in pairs if p.key not in cached and p.legacy_key not in earlier]
    req.judge.attach_store(store)  # a cascade reads its cheap member's stored calibration
    from evalharness.pipeline.pricing import estimate_calls

    batch = req.batch
    est = estimate_calls(store, req.judge, todo, (lambda j: batch.price(j)) if batch else None)  # batch: its own price
    return DryRunEstimate(req.engine.name, len(req.queries), sum(len(h) for h in hits.values()), len(pairs) - len(todo), est.calls,
                          len(missing), est.input_tokens, est.output_tokens, est.cost_usd, getattr(req.judge, "estimate_note", ""))
