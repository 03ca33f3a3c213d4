"""`evalharness batches collect`: ask the providers about every open batch, ingest the ended ones, send again what
failed or expired (and the repair turns), and finish the runs whose pairs are all judged or failed.

Everything it needs is in the store, so any process can collect — the one that submitted, a later one, another
CI runner on the same PostgreSQL store — and a collect killed at any point is simply run again:
- a batch still `creating` whose submitter has died is looked up at the provider by our id (the submitter was
  killed after creating it), else its pairs go back to `retry`;
- results are ingested idempotently (batch/ingest.py) and the batch is marked `ended` only afterwards.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select

from evalharness.batch.base import BatchClient, batch_client
from evalharness.batch.files import BatchFiles, effective_limits, resolve_unrecorded
from evalharness.batch.finish import RunProgress, finish_ready_runs
from evalharness.batch.ingest import IngestCounts, ingest
from evalharness.batch.judges import BatchJudges, rebuild
from evalharness.batch.requests import rebuild_requests
from evalharness.errors import EvalHarnessError
from evalharness.pipeline.judging import describe_failure
from evalharness.pipeline.runstate import process_gone
from evalharness.project import Project
from evalharness.store import Store
from evalharness.store.batches import (
    ABANDONED,
    CREATING,
    ENDED,
    FAILED,
    PENDING,
    QUEUED,
    REPAIR,
    RETRY,
    SUBMITTED,
    BatchRow,
    batch_pairs_t,
    batches_t,
    get_batch,
    list_batches,
    pairs_in,
    set_pairs,
    update_batch,
)
from evalharness.store.db import utcnow

STALE_CREATING_S = 3600.0  # a `creating` batch from another host is taken as abandoned after this long
RESEND_CHUNK = 2000


@dataclass
class CollectReport:
    """What one collect pass did."""

    ingested: dict[str, IngestCounts] = field(default_factory=dict)
    resubmitted: list[str] = field(default_factory=list)
    recovered: list[str] = field(default_factory=list)
    still_open: list[str] = field(default_factory=list)
    runs: list[RunProgress] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # batch id -> why it could not be handled now


class Collector:
    """One store's batches: clients and judges made once per (provider, model, judge) and reused."""

    def __init__(self, project: Project, store: Store) -> None:
        self.project, self.store = project, store
        self.cfg = project.config.judge
        self._clients: dict[tuple[str, str], BatchClient] = {}
        self._judges: dict[tuple[str, str, str], BatchJudges] = {}

    def client(self, provider: str, model: str) -> BatchClient:
        key = (provider, model)
        if key not in self._clients:
            self._clients[key] = batch_client(provider, model, self.cfg)
        return self._clients[key]

    def judges(self, b: BatchRow) -> BatchJudges:
        key = (b.provider, b.model, str(b.details.get("judge_id")))
        if key not in self._judges:
            self._judges[key] = rebuild(self.project.config, b.provider, b.model, b.details)
        return self._judges[key]

    def close(self) -> None:
        for c in self._clients.values():
            c.close()

    # -- one pass --------------------------------------------------------------------------------
    def collect_once(self, run_ids: list[str] | None = None, log: Callable[[str], None] | None = None) -> CollectReport:
        report = CollectReport()
        self._recover(report)
        for b in list_batches(self.store.engine, [SUBMITTED]):
            try:
                status = self.client(b.provider, b.model).status(str(b.provider_id))
                update_batch(self.store.engine, b.id, provider_status=status.status, updated_at=utcnow(),
                             details={**b.details, "counts": status.counts, **({"error": status.error} if status.error else {})})
                if not status.ended:
                    report.still_open.append(b.id)
                    continue
                counts = ingest(self.store, b.id, self.judges(b), self.client(b.provider, b.model).results(str(b.provider_id)),
                                self.cfg.batch_max_attempts,
                                f"the batch ended {status.status}" + (f" ({status.error})" if status.error else ""))
            except EvalHarnessError as exc:
                report.skipped[b.id] = str(exc)
                report.still_open.append(b.id)
                continue
            update_batch(self.store.engine, b.id, state=ENDED, updated_at=utcnow())
            report.ingested[b.id] = counts
            if log is not None:
                log(f"batch {b.id} ({b.provider} {status.status}): {counts.judged} judged, {counts.repair} to repair, "
                    f"{counts.retry} to send again, {counts.failed} failed" + (f", {counts.already} already stored" if counts.already else "")
                    + (f"; the provider says: {status.error}" if status.error else ""))
        self._orphans()
        self._resend(report)
        report.runs = finish_ready_runs(self.project, self.store, run_ids)
        return report

    def _recover(self, report: CollectReport) -> None:
        """Resolve batches left `creating` by a submitter that died."""
        for b in list_batches(self.store.engine, [CREATING]):
            if not _submitter_gone(b):
                report.still_open.append(b.id)
                continue
            try:
                resolve_unrecorded(self.store, self.client(b.provider, b.model), b.id)
            except EvalHarnessError as exc:
                report.skipped[b.id] = str(exc)
                continue
            report.recovered.append(b.id)

    def _orphans(self) -> None:
        """Pairs still `queued`/`pending` under a batch that has ended or was abandoned go back to `retry` (what a kill
        between two records can leave behind); nothing else would ever move them."""
        c, b = batch_pairs_t.c, batches_t.c
        closed = select(b.id).where(b.state.in_([ENDED, ABANDONED])).scalar_subquery()
        with self.store.engine.begin() as conn:
            conn.execute(batch_pairs_t.update().where(c.state.in_([QUEUED, PENDING]), c.batch_id.in_(closed))
                         .values(state=RETRY, error="left without a result by its batch", updated_at=utcnow()))

    def _resend(self, report: CollectReport) -> None:
        """Send the pairs waiting for another try (errors, expiry, repair turns) in new batches."""
        while True:
            rows = pairs_in(self.store.engine, [RETRY, REPAIR], limit=RESEND_CHUNK)
            if not rows:
                return
            by_batch: dict[str, list[Any]] = {}
            for r in rows:  # a pair is sent again with the judges and client of the batch it was last in
                by_batch.setdefault(str(r.batch_id), []).append(r)
            sent_any = False
            for batch_id, group in by_batch.items():
                origin = get_batch(self.store.engine, batch_id)
                if origin is None:
                    self._fail(group, "its batch record is gone")
                    continue
                try:
                    sent_any |= self._resend_group(origin, group, report)
                except EvalHarnessError as exc:
                    report.skipped[origin.id] = str(exc)
            if not sent_any:
                return

    def _resend_group(self, origin: BatchRow, rows: list[Any], report: CollectReport) -> bool:
        judges = self.judges(origin)
        client = self.client(origin.provider, origin.model)
        files = BatchFiles(self.store, client, effective_limits(client, self.cfg.batch_max_requests, self.cfg.batch_max_mb),
                           origin.details, self.project.cache_dir / "batches")
        requests = rebuild_requests(self.project, self.store, rows, with_images=judges.main.mode == "image")
        target = files.batch_id
        with self.store.engine.begin() as conn:  # take them (another collector may be resending the same pairs)
            set_pairs(conn, [r.cache_key for r in rows], [RETRY, REPAIR], state=QUEUED, batch_id=target, updated_at=utcnow())
        mine = {r.cache_key for r in pairs_in(self.store.engine, [QUEUED], batch_id=target)}
        files.note_claimed(sorted(mine))
        try:
            for r in rows:
                if r.cache_key not in mine:
                    continue
                request = requests[r.cache_key]
                if isinstance(request, str):
                    files.drop(r.cache_key, request)
                    continue
                try:
                    body = judges.for_pair(bool(r.fallback)).batch_body(request, r.repair)
                except EvalHarnessError:
                    raise
                except Exception as exc:  # noqa: BLE001 - one pair's request that cannot be built fails that pair only
                    files.drop(r.cache_key, describe_failure(exc))
                    continue
                files.write(r.cache_key, client.line(r.cache_key, body))
            files.flush()
        except BaseException:
            files.abandon_unsubmitted()
            raise
        report.resubmitted.extend(files.submitted)
        return bool(mine)

    def _fail(self, rows: list[Any], reason: str) -> None:
        with self.store.engine.begin() as conn:
            set_pairs(conn, [r.cache_key for r in rows], [RETRY, REPAIR], state=FAILED, error=reason, updated_at=utcnow())


def _submitter_gone(b: BatchRow) -> bool:
    """The process that was creating this batch is dead (this host), or silent for an hour (another host)."""
    if process_gone(b.submitter):
        return True
    try:
        age = time.time() - datetime.fromisoformat(b.updated_at).timestamp()
    except ValueError:
        return False
    return b.submitter.get("host") != socket.gethostname() and age > STALE_CREATING_S


def collect(project: Project, store: Store, *, wait: bool = False, timeout_s: float | None = None,
            run_ids: list[str] | None = None, log: Callable[[str], None] | None = None) -> CollectReport:
    """One collect pass, or (`wait`) passes every `[judge] batch_poll_s` until nothing is open or `timeout_s` passed;
    the report sums what every pass did, with the runs and open batches as the last pass left them."""
    collector = Collector(project, store)
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    total = CollectReport()
    try:
        while True:
            report = collector.collect_once(run_ids, log)
            total.ingested.update(report.ingested)
            total.resubmitted += report.resubmitted
            total.recovered += report.recovered
            total.still_open, total.runs, total.skipped = report.still_open, report.runs, report.skipped
            if report.skipped and not report.ingested and not report.resubmitted and not report.recovered:
                batch_id, why = next(iter(report.skipped.items()))  # nothing could be done: say why, once
                raise EvalHarnessError(f"batch {batch_id}: {why}")
            busy = report.still_open or report.resubmitted or any(r.waiting_on for r in report.runs)
            if not wait or not busy or (deadline is not None and time.monotonic() >= deadline):
                return total
            time.sleep(project.config.judge.batch_poll_s)
    finally:
        collector.close()
