"""A run judged through a provider's batch service: submit, then wait (status `waiting`) or finish at once when
nothing had to be sent."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from evalharness.batch.finish import RunProgress
from evalharness.batch.judges import batch_judges
from evalharness.batch.submit import submit_run
from evalharness.pipeline.runstate import FAILED, INTERRUPTED, WAITING
from evalharness.project import Project
from evalharness.store import Store

if TYPE_CHECKING:
    from evalharness.judges import Judge
    from evalharness.pipeline.run import RunOutcome, RunRequest, RunStart, Stages


def submit_batch_run(project: Project, store: Store, req: RunRequest, start: RunStart, stages: Stages) -> RunOutcome:
    """Submit the run's uncached pairs; the run is `waiting` until `batches collect` has every result."""
    from evalharness.pipeline.run import RunOutcome, finish_now, run_counts

    judges = batch_judges(req.judge)
    try:
        with stages.stage(f"batch {req.engine.name}", len(start.pairs)) as advance:
            sub = submit_run(project, store, judges, start.run_id, start.pairs, req.max_cost, advance)
    except KeyboardInterrupt:  # batches already submitted stay recorded; `batches collect` still ingests them
        store.finish_run(start.run_id, INTERRUPTED, {}, {}, 0.0, time.perf_counter() - start.started)
        raise
    except BaseException:
        store.finish_run(start.run_id, FAILED, {}, {}, 0.0, time.perf_counter() - start.started)
        raise
    for key, reason in sub.failures.items():
        qid, doc_id = start.where[key].split("\t")
        start.failures.append({"query_id": qid, "doc_id": doc_id, "reason": reason})
    counts = run_counts(req, start, 0, sub.cached, sub.skipped_for_budget)
    counts.update(batch_sent=sub.sent, batch_waiting=sub.waiting, batches=len(sub.batches))
    if not sub.waiting:
        return finish_now(project, store, req, start, counts, 0.0)
    elapsed = time.perf_counter() - start.started
    store.finish_run(start.run_id, WAITING, {}, counts, 0.0, elapsed)
    return RunOutcome(start.run_id, req.engine.name, req.engine.hash, req.judge.judge_id, {}, {}, counts, elapsed, 0.0,
                      start.failures, status=WAITING, catalog=start.catalog)


def outcome_after_collect(project: Project, store: Store, o: RunOutcome, progress: list[RunProgress]) -> RunOutcome:
    """A run's outcome as stored after `collect` (metrics, counts, cost, status) with its batch failures listed."""
    from dataclasses import replace

    from evalharness.pipeline.run import evaluate_stored

    run = store.get_run(o.run_id)
    if run is None or run.status == WAITING:
        return replace(o, status=run.status if run is not None else o.status)
    names = list(project.config.run.metrics)
    per_query = evaluate_stored(store, run.judge_id, store.run_queries(run.run_id), names, project)
    failures = list(o.failures) + [f for p in progress if p.run_id == o.run_id for f in p.failures]
    return replace(o, metrics=dict(run.metrics), per_query=per_query, counts=dict(run.counts), cost_usd=run.cost_usd,
                   elapsed_s=run.elapsed_s or o.elapsed_s, status=run.status, failures=failures)


class _BatchService:
    """The batch path of `run --batch` (pipeline.run.BatchService): submit, and the batch price."""

    def submit(self, project: Project, store: Store, req: RunRequest, start: RunStart, stages: Stages) -> RunOutcome:
        return submit_batch_run(project, store, req, start, stages)

    def price(self, judge: Judge) -> tuple[float, float]:
        p = batch_judges(judge).main.batch_price()
        return p.input, p.output


BATCH_SERVICE = _BatchService()
