"""`run --batch`: every uncached pair of a run goes to the provider's batch service; the run then waits.

Pairs stream through in chunks of 1,000: cached ones are counted, the rest claimed in `batch_pairs` (a pair
another batch already carries is waited on, never sent twice), their lines written to size-bounded files and
each file submitted when full. `--max-cost` reserves each pair's estimated cost at the batch price (doubled, to
cover a repair turn) before it is claimed."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from evalharness.batch.base import batch_client
from evalharness.batch.files import BatchFiles, effective_limits
from evalharness.batch.judges import BatchJudges
from evalharness.errors import EvalHarnessError
from evalharness.pipeline.judging import CHUNK, REPAIR_FACTOR, Pair, chunks, describe_failure
from evalharness.project import Project
from evalharness.store import Store
from evalharness.store.batches import add_waits, claim_pairs
from evalharness.store.db import utcnow


@dataclass
class SubmitOutcome:
    """What submitting a run's pairs did."""

    cached: int = 0
    sent: int = 0
    waiting_on_others: int = 0  # carried by a batch submitted earlier (this run or another)
    skipped_for_budget: int = 0
    failures: dict[str, str] = field(default_factory=dict)
    batches: list[str] = field(default_factory=list)
    reserved_usd: float = 0.0

    @property
    def waiting(self) -> int:
        return self.sent + self.waiting_on_others


class _Reservations:
    """`--max-cost` at the batch price: a pair is claimed only if its estimate fits."""

    def __init__(self, judges: BatchJudges, cap: float | None) -> None:
        self.judges, self.cap, self.total = judges, cap, 0.0
        self.price = judges.main.batch_price()
        self.exhausted = False

    def estimate(self, pair: Pair) -> float:
        judge = self.judges.for_pair(pair.request.image is None and self.judges.text is not None)
        tokens_in, tokens_out = judge.estimate_tokens(pair.request)
        return REPAIR_FACTOR * self.price.cost(tokens_in, tokens_out)

    def fit(self, pairs: list[Pair]) -> tuple[list[Pair], dict[str, float]]:
        """The prefix of `pairs` whose estimates fit under the cap, and each one's reservation."""
        if self.cap is None:
            return pairs, {}
        kept, amounts = [], {}
        for p in pairs:
            amount = self.estimate(p)
            if self.exhausted or self.total + amount > self.cap:
                self.exhausted = True
                break
            self.total += amount
            amounts[p.key] = amount
            kept.append(p)
        return kept, amounts

    def release(self, amount: float) -> None:
        self.total -= amount


def submit_run(project: Project, store: Store, judges: BatchJudges, run_id: str, pairs: Iterable[Pair],
               max_cost: float | None = None, progress: Callable[[int], None] | None = None) -> SubmitOutcome:
    """Submit the uncached pairs of run `run_id` and record what the run waits for."""
    cfg = project.config.judge
    client = batch_client(judges.provider, judges.model, cfg)
    files = BatchFiles(store, client, effective_limits(client, cfg.batch_max_requests, cfg.batch_max_mb), judges.details(),
                       project.cache_dir / "batches")
    outcome = SubmitOutcome()
    budget = _Reservations(judges, max_cost)
    try:
        for chunk in chunks(pairs, CHUNK):
            unique = {p.key: p for p in chunk}
            cached = store.judged_keys(list(unique))
            outcome.cached += len(cached)
            todo = [p for k, p in unique.items() if k not in cached]
            fitting, reserved = budget.fit(todo)
            outcome.skipped_for_budget += len(todo) - len(fitting)
            if fitting:
                _submit_chunk(store, judges, files, run_id, fitting, reserved, budget, outcome)
                add_waits(store.engine, run_id, [p.key for p in fitting if p.key not in outcome.failures])
            if progress is not None:
                progress(len(chunk))
        files.flush()
    except BaseException:
        files.abandon_unsubmitted()
        raise
    finally:
        outcome.batches = list(files.submitted)
        client.close()
    outcome.reserved_usd = budget.total
    return outcome


def _submit_chunk(store: Store, judges: BatchJudges, files: BatchFiles, run_id: str, todo: list[Pair],
                  reserved: dict[str, float], budget: _Reservations, outcome: SubmitOutcome) -> None:
    now = utcnow()
    rows = []
    for p in todo:
        fallback = p.request.image is None and judges.text is not None
        req = p.request
        rows.append({"cache_key": p.key, "judge_id": judges.main.judge_id, "query": req.query.text, "doc_id": req.hit.doc_id,
                     "content_hash": p.content_hash, "guideline_hash": req.guideline.hash, "run_id": run_id,
                     "query_id": req.query.id, "rank": req.hit.rank, "fallback": int(fallback)})
    taken = claim_pairs(store.engine, rows, files.batch_id, now)
    files.note_claimed([p.key for p in todo if p.key in taken])
    for p in todo:
        if p.key not in taken:
            outcome.waiting_on_others += 1
            budget.release(reserved.get(p.key, 0.0))
            continue
        judge = judges.for_pair(p.request.image is None and judges.text is not None)
        try:
            line = files.client.line(p.key, judge.batch_body(p.request))
        except EvalHarnessError:
            raise  # the judge cannot work at all (a key, a template): the run stops, its claims are resolved by collect
        except Exception as exc:  # noqa: BLE001 - one pair's request that cannot be built fails that pair only
            outcome.failures[p.key] = describe_failure(exc)
            files.drop(p.key, outcome.failures[p.key])
            continue
        if not files.fits_alone(line):
            outcome.failures[p.key] = f"the request ({len(line)} bytes) is larger than one batch may be"
            files.drop(p.key, outcome.failures[p.key])
            continue
        files.write(p.key, line)
        outcome.sent += 1
