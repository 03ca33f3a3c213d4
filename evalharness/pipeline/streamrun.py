"""`run_engine` without a batch service: guidelines prepared once, then search, stored lists, pairs and judging
streamed a chunk of queries at a time, then the metrics computed per chunk from the store (pipeline/stream.py).

The judge stage's total is the queries times top k (what the run can hold at most); when the run ends it is filled up
to that, since fewer hits than asked (and unjudgeable ones) are known only as the chunks pass.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence

from evalharness.backends import make_backend
from evalharness.guidelines.runset import RunGuidelines
from evalharness.images import ImageLoader
from evalharness.judges.fallback import ImageOrText
from evalharness.models import Query
from evalharness.pipeline.judging import JudgingOutcome, Pair, judge_pairs
from evalharness.pipeline.pairs import begin_run, build_pairs, drop_covered
from evalharness.pipeline.runstate import FAILED, INTERRUPTED, final_status
from evalharness.pipeline.runtypes import RunOutcome, RunRequest, Stages
from evalharness.pipeline.scoring import evaluate_stored
from evalharness.pipeline.stream import FIRST_CHUNK_HITS, Tally, locate_failures, query_chunks, score_streamed, uncached
from evalharness.project import Project
from evalharness.runtime.prewarm import import_soon
from evalharness.store import Store
from evalharness.store.db import StoredQuery
from evalharness.store.keys import content_hasher
from evalharness.store.ranked import hit_json_writer


def run_streamed(project: Project, store: Store, req: RunRequest, stages: Stages, started: float) -> RunOutcome:
    """Run one engine configuration, a chunk of queries at a time, and store the run."""
    guides = RunGuidelines(project, store, req.guideline_writer)
    with stages.stage("guidelines", len(req.queries)) as advance:
        guides.prepare(req.queries, advance)
    judge = req.judge
    images = ImageLoader(project, judge) if judge.mode != "text" else None
    fallback = judge.text_judge_id if isinstance(judge, ImageOrText) else None

    tally = Tally()
    backend = make_backend(req.engine, project)
    try:
        run_id, catalog = begin_run(store, req, backend.describe())
        earlier = store.previous_run(req.engine.name, run_id)  # its unchanged lists' hit rows are shared, not copied
        hash_of, hit_json = content_hasher(), hit_json_writer()  # each distinct product hashed and written once
        total = len(req.queries) * req.top_k
        done = [0]

        def chunk_pairs(chunk: Sequence[Query], step: Callable[[int], None]) -> Iterator[Pair]:
            guidelines = guides.for_queries(chunk)
            results = backend.search_many([q.text for q in chunk], req.top_k)
            hits = dict(zip([q.id for q in chunk], results))
            seeds, hashes, _, failed = build_pairs(chunk, guidelines, hits, judge, images, hash_of=hash_of, seeds=True)
            hit_count = sum(map(len, results))
            tally.hits += hit_count
            tally.zero_hit_queries += sum(1 for found in results if not found)
            tally.unjudgeable += hit_count - len(seeds) - len(failed)  # neither a pair nor a failure: unjudgeable
            seeds, covered = drop_covered(store, req, seeds, chunk)
            tally.failures += failed
            tally.covered += covered
            if images is not None:
                tally.image_fallbacks += sum(1 for seed in seeds if seed.image is None)
            store.save_results(run_id, [StoredQuery(q.id, q.text, q.count, q.segment, guidelines[q.id].hash, hits[q.id],
                                                    hashes[q.id]) for q in chunk], hit_json, share_from=earlier)
            yield from uncached(store, seeds, tally, step)

        try:
            with stages.stage(f"judge {req.engine.name}", total) as advance:
                counting = threading.Lock()

                def step(n: int) -> None:  # from the judging loop, and from the thread that draws the next chunk
                    with counting:
                        done[0] += n
                        advance(n)

                def stream() -> Iterator[Pair]:
                    for chunk in query_chunks(req.queries, req.top_k, first=FIRST_CHUNK_HITS if judge.paid else None):
                        yield from chunk_pairs(chunk, step)

                warm = [judge.paid]

                def judged(n: int) -> None:
                    if warm[0]:  # answers are coming back: the metrics' modules load while the rest are awaited
                        warm[0] = False
                        import_soon("evalharness.metrics.ir", "pytrec_eval")
                    step(n)

                outcome: JudgingOutcome = judge_pairs(judge, store, stream(), max_retries=req.max_retries,
                                                      max_cost=req.max_cost, progress=judged, run_id=run_id)
                if total > done[0]:
                    advance(total - done[0])
        except KeyboardInterrupt:  # Ctrl-C or SIGTERM: judgments made so far stay stored
            store.finish_run(run_id, INTERRUPTED, {}, {}, 0.0, time.perf_counter() - started)
            raise
        except BaseException:
            store.finish_run(run_id, FAILED, {}, {}, 0.0, time.perf_counter() - started)
            raise
    finally:
        backend.close()
    failures = tally.failures
    if outcome.failures:
        ids = [judge.judge_id] + ([fallback] if fallback is not None and images is not None else [])
        failures += locate_failures(store, run_id, req.queries, req.top_k, outcome.failures, ids)
    skipped = outcome.skipped_for_budget
    counts = {"queries": len(req.queries), "hits": tally.hits, "zero_hit_queries": tally.zero_hit_queries,
              "judged_new": outcome.new, "judged_cached": tally.cached + outcome.cached, "failed": len(failures),
              "image_fallbacks": tally.image_fallbacks, "skipped_budget": skipped, "unjudgeable": tally.unjudgeable,
              "unjudged_hits": len(failures) + skipped + tally.unjudgeable, "input_tokens": outcome.input_tokens,
              "output_tokens": outcome.output_tokens, "labelled_by_source": tally.covered,
              **{f"calls_{kind}": n for kind, n in outcome.calls.items()}}
    return _finish(project, store, req, run_id, catalog, started, counts, outcome.cost_usd, failures)


def _finish(project: Project, store: Store, req: RunRequest, run_id: str, catalog: str, started: float,
            counts: dict[str, int], cost_usd: float, failures: list[dict[str, str]]) -> RunOutcome:
    """Score the stored run against its pool, a chunk at a time (on a `--labels` source: at once), store its metrics
    and final status."""
    from evalharness.metrics.ir import mean_metrics

    if req.label_qrels is not None:  # hits people labelled were never sent: the source's qrels score the run
        stored = store.run_queries(run_id)
        per_query = evaluate_stored(store, req.judge.judge_id, stored, req.metrics, project, qrels=req.label_qrels(stored))
    else:
        per_query = score_streamed(project, store, run_id, req.judge.judge_id, req.queries, req.metrics, req.top_k,
                                   counts["hits"] > 0)
    metrics = mean_metrics(per_query, req.metrics)
    elapsed = time.perf_counter() - started
    unjudgeable = counts.get("unjudgeable", 0)
    status = final_status(counts["hits"] - unjudgeable, counts["hits"] - counts["unjudged_hits"])
    store.finish_run(run_id, status, metrics, counts, cost_usd, elapsed)
    return RunOutcome(run_id, req.engine.name, req.engine.hash, req.judge.judge_id, metrics, per_query, counts, elapsed,
                      cost_usd, failures, status=status, catalog=catalog)
