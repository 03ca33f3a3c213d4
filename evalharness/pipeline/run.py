"""One run of one engine configuration: queries -> guidelines -> search -> judge (cached) -> metrics -> store."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

from evalharness.backends import make_backend
from evalharness.images import ImageLoader, ImageUnavailable
from evalharness.judges.base import Judge, JudgeRequest
from evalharness.judges.fallback import ImageOrText
from evalharness.labels.schemes import DEFAULT_SCHEME, LabelScheme, scheme_named, scheme_of
from evalharness.metrics.ir import mean_metrics, per_query_metrics
from evalharness.metrics.measures import MeasureContext, add_hit_measures
from evalharness.models import Guideline, Hit, Query
from evalharness.pipeline.judging import Pair
from evalharness.pipeline.runstate import FINISHED, final_status, process_gone, this_process
from evalharness.project import LoadedEngine, Project
from evalharness.store import Store, judgment_cache_key
from evalharness.store.db import StoredQuery
from evalharness.store.keys import content_hasher
from evalharness.store.runread import pair_pool, stored_pairs


class Stages(Protocol):
    """Progress reporting: `stage(name, total)` returns a context manager yielding an advance(n) function."""

    def stage(self, name: str, total: int) -> AbstractContextManager[Callable[[int], None]]: ...


class SilentStages:
    """No progress output (for --json and library use)."""

    def stage(self, name: str, total: int) -> AbstractContextManager[Callable[[int], None]]:
        return nullcontext(lambda n: None)


@dataclass
class RunOutcome:
    """What one run produced, for printing and for --json."""

    run_id: str
    engine_config: str
    config_hash: str
    judge_id: str
    metrics: dict[str, float | None]
    per_query: dict[str, dict[str, float]]
    counts: dict[str, int]
    elapsed_s: float
    cost_usd: float
    failures: list[dict[str, str]] = field(default_factory=list)
    status: str = FINISHED
    catalog: str = ""
    # the run's lists as stored (set when the run finishes here): scoring it again needs no read of the store
    stored: list[StoredQuery] | None = field(default=None, repr=False, compare=False)

    def to_json(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "engine_config": self.engine_config, "config_hash": self.config_hash,
                "status": self.status, "catalog": self.catalog,
                "judge_id": self.judge_id, "metrics": self.metrics, "counts": self.counts,
                "cost_usd": round(self.cost_usd, 6), "elapsed_s": round(self.elapsed_s, 3), "failures": self.failures}


def qrels_from_pool(store: Store, judge_id: str, queries: Sequence[StoredQuery], scheme: LabelScheme
                    ) -> dict[str, dict[str, int]]:
    """Graded qrels per query id from this judge's labels of the queries' own pairs (the pool rule: no judgment
    made for another run counts)."""
    pool = pair_pool(store, judge_id, stored_pairs(queries), rationales=False).labels
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
        qrels = {q.id: graded(pool.get(q.guideline_hash, {}), scheme) for q in queries}
        values = per_query_metrics(names, qrels, {q.id: [h.doc_id for h in q.hits] for q in queries}, [q.id for q in queries])
        out.append(add_hit_measures(values, names, ctx, queries))
    return out


def new_run_id(engine: str) -> str:
    return f"{engine}-{datetime.now(timezone.utc).strftime('%Y%m%dT%H%M%S')}-{secrets.token_hex(2)}"


def begin_run(store: Store, req: RunRequest, described: dict[str, str]) -> tuple[str, str]:
    """Record a new `running` run of the request (its engine config, backend facts and process): (run id, catalog)."""
    run_id = new_run_id(req.engine.name)
    catalog = described.get("catalog") or (f"{req.engine.config.backend} index {req.engine.config.index}"
                                           if req.engine.config.index else described.get("url", ""))
    store.start_run({"run_id": run_id, "engine_config": req.engine.name, "config_hash": req.engine.hash,
                     "config": {"engine": req.engine.config.model_dump(mode="json"), "backend": described,
                                "path": str(req.engine.path), "catalog": catalog, "process": this_process()},
                     "judge_id": req.judge.judge_id, "top_k": req.top_k, "queries_source": req.queries_source})
    return run_id, catalog


def build_pairs(queries: Sequence[Query], guidelines: dict[str, Guideline], hits: dict[str, list[Hit]],
                judge: Judge, images: ImageLoader | None, legacy: bool = True
                ) -> tuple[list[Pair], dict[str, list[str]], dict[str, str], list[dict[str, str]]]:
    """Pairs to judge, each query's content hashes, pair key -> 'query id<TAB>doc id', and pairs that cannot be
    judged (an unreadable image): those are listed as failed, never labelled — unless the judge falls back to
    text (`ImageOrText`): then the pair is judged without its image, under the text-mode cache key. A hit no judge
    can label (`Hit.unjudgeable`: a ranked document not in the catalog) is neither judged nor a failure. `legacy=False`:
    the pairs' keys of earlier releases are left to the caller (pipeline/stream.py computes them for uncached pairs)."""
    pairs, hashes, where, failed = [], {}, {}, []
    fallback = judge.text_judge_id if isinstance(judge, ImageOrText) else None
    hash_of = content_hasher()  # a product listed for many queries is hashed once
    for q in queries:
        g = guidelines[q.id]
        hashes[q.id] = []
        for hit in hits[q.id]:
            if hit.unjudgeable:
                hashes[q.id].append(hash_of(hit, "unjudgeable"))
                continue
            image, image_sha, judge_id = None, "", judge.judge_id
            if images is not None:
                try:
                    image, image_sha = images.load(hit.image_url)
                except ImageUnavailable as exc:
                    if fallback is None:
                        hashes[q.id].append(hash_of(hit, "unavailable"))
                        failed.append({"query_id": q.id, "doc_id": hit.doc_id, "reason": f"image: {exc}"})
                        continue
                    judge_id = fallback  # the text-mode key: never mistaken for an image judgment
            chash = hash_of(hit, image_sha)
            key = judgment_cache_key(q.text, chash, g.hash, judge_id)
            earlier = judgment_cache_key(q.text, chash, g.file_hash, judge_id) if legacy and g.file_hash else ""
            hashes[q.id].append(chash)
            pairs.append(Pair(key, JudgeRequest(q, g, hit, image, content_hash=chash), chash, earlier))
            where[key] = f"{q.id}\t{hit.doc_id}"
    return pairs, hashes, where, failed


class BatchService(Protocol):
    """A provider batch service a run can go through instead of judging now (evalharness.batch.runs.BATCH_SERVICE)."""

    def submit(self, project: Project, store: Store, req: RunRequest, start: RunStart, stages: Stages) -> RunOutcome:
        """Submit the run's uncached pairs; the run waits until the batch results are collected."""

    def price(self, judge: Judge) -> tuple[float, float]:
        """(input, output) USD per million tokens through the batch service."""


@dataclass
class RunRequest:
    """What to run: an engine config over a query set with a judge."""

    engine: LoadedEngine
    queries: list[Query]
    queries_source: str
    judge: Judge
    top_k: int
    metrics: list[str]
    guideline_writer: str
    max_cost: float | None = None
    max_retries: int = 4
    batch: BatchService | None = None  # through the provider's batch service: the run waits (`batches collect` finishes it)
    cover: tuple[str, ...] = ()  # --labels human sources whose labelled pairs are never sent to the judge
    # --labels: the run's qrels from its label source (labels.sources.source_qrels), so it is stored scored on it
    label_qrels: Callable[[list[StoredQuery]], dict[str, dict[str, int]]] | None = None


def run_engine(project: Project, store: Store, req: RunRequest, stages: Stages | None = None) -> RunOutcome:
    """Run one engine configuration end to end and store the run: streamed in chunks of queries (pipeline/stream.py),
    or, through a provider's batch service, searched whole and submitted."""
    stages = stages or SilentStages()
    started = time.perf_counter()
    store.mark_stale_runs(process_gone)  # rows left `running` by a killed process on this host
    store.upsert_queries({"id": q.id, "text": q.text, "count": q.count, "segment": q.segment} for q in req.queries)
    if req.batch is None:
        from evalharness.pipeline.streamrun import run_streamed

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


@dataclass
class RunStart:
    """A run searched and stored, its pairs built: what judging (live or batch) starts from."""

    run_id: str
    catalog: str
    started: float  # perf_counter at the start
    stored: list[StoredQuery]
    hits: dict[str, list[Hit]]
    pairs: list[Pair]
    where: dict[str, str]  # pair key -> 'query id<TAB>doc id'
    failures: list[dict[str, str]]  # pairs that could not be judged (listed, never labelled)
    with_images: bool


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


def drop_covered(store: Store, req: RunRequest, pairs: list[Pair], queries: Sequence[Query] | None = None
                 ) -> tuple[list[Pair], int]:
    """The pairs left to judge once those a covering human source labelled are taken out, and how many were (the
    pairs of `queries`, default the request's)."""
    if not req.cover:
        return pairs, 0
    from evalharness.store.labels import labels_for
    from evalharness.textnorm import normalize_query

    queries = req.queries if queries is None else queries
    covered = {pair for source in req.cover for pair in labels_for(store, source, [q.text for q in queries])}
    if not covered:
        return pairs, 0
    norm = {q.text: normalize_query(q.text) for q in queries}
    left = [p for p in pairs if (norm[p.request.query.text], p.request.hit.doc_id) not in covered]
    return left, len(pairs) - len(left)


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
