"""Finish the runs that wait for batch results once every pair they wait on is judged or listed as failed."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select

from evalharness.metrics.ir import mean_metrics
from evalharness.pipeline.runstate import WAITING, final_status
from evalharness.project import Project
from evalharness.store import Store, StoredRun
from evalharness.store.batches import FAILED, OPEN_PAIR_STATES, batch_pairs_t, pair_states, submitted_cost, waiting_keys
from evalharness.store.tables import runs_t


@dataclass
class RunProgress:
    """Where a waiting run stands."""

    run_id: str
    engine_config: str
    waiting_on: int
    judged: int
    failed: int
    status: str = WAITING
    failures: list[dict[str, str]] = field(default_factory=list)


def waiting_runs(store: Store, run_ids: list[str] | None = None) -> list[StoredRun]:
    stmt = select(runs_t).where(runs_t.c.status == WAITING).order_by(runs_t.c.started_at)
    if run_ids:
        stmt = stmt.where(runs_t.c.run_id.in_(run_ids))
    with store.engine.connect() as conn:
        return [store._run_from_row(r) for r in conn.execute(stmt)]


def _elapsed(started_at: str) -> float:
    try:
        return max(0.0, time.time() - datetime.fromisoformat(started_at).timestamp())
    except ValueError:
        return 0.0


def _failures(store: Store, keys: list[str]) -> list[dict[str, str]]:
    c = batch_pairs_t.c
    out = []
    with store.engine.connect() as conn:
        for start in range(0, len(keys), 500):
            for r in conn.execute(select(c.query_id, c.doc_id, c.error).where(c.cache_key.in_(keys[start:start + 500]))):
                out.append({"query_id": r.query_id, "doc_id": r.doc_id, "reason": r.error or "failed"})
    return out


def finish_ready_runs(project: Project, store: Store, run_ids: list[str] | None = None) -> list[RunProgress]:
    """Finish every waiting run (of `run_ids` when given) whose pairs are all judged or failed; report the rest."""
    from evalharness.pipeline.run import evaluate_stored

    progress = []
    for run in waiting_runs(store, run_ids):
        keys = waiting_keys(store.engine, run.run_id)
        judged = store.judged_keys(keys)
        states = pair_states(store.engine, [k for k in keys if k not in judged])
        open_keys = [k for k, (state, _) in states.items() if state in OPEN_PAIR_STATES]
        failed = [k for k, (state, _) in states.items() if state == FAILED]
        failed += [k for k in keys if k not in judged and k not in states]  # never sent: counted as unjudged
        p = RunProgress(run.run_id, run.engine_config, len(open_keys), len(judged), len(failed))
        progress.append(p)
        if open_keys:
            continue
        stored = store.run_queries(run.run_id)
        names = list(project.config.run.metrics)
        per_query = evaluate_stored(store, run.judge_id, stored, names, project)
        counts = dict(run.counts)
        hits = int(counts.get("hits", 0))
        unjudged = int(counts.get("unjudged_hits", 0)) + len(failed)
        counts.update(judged_new=int(counts.get("judged_new", 0)) + len(judged), failed=int(counts.get("failed", 0)) + len(failed),
                      unjudged_hits=unjudged, batch_waiting=0)
        cost, tokens_in, tokens_out = submitted_cost(store.engine, run.run_id)
        counts.update(input_tokens=tokens_in, output_tokens=tokens_out)
        p.status = final_status(hits - int(counts.get("unjudgeable", 0)), hits - unjudged)  # see pipeline.run.finish_now
        p.failures = _failures(store, failed)
        store.finish_run(run.run_id, p.status, mean_metrics(per_query, names), counts, cost, _elapsed(run.started_at))
    return progress
