"""Judge many pairs: streamed in bounded chunks, cache lookup, claims across runners, bounded concurrency, retries
with backoff, a budget reserved before each call, and one writer committing judgments in small groups.

Memory holds one chunk of pairs plus what is in flight, whatever the number of pairs. For a paid judge every
chunk's uncached pairs are claimed in the store first (store/claims.py): a pair another live runner holds is
not sent again but awaited, and taken over if that runner dies: at once when it ran on this host and its process is
gone, else when its claims expire. A pair another runner failed is counted failed here too, not paid for again.
`--max-cost` reserves each call's estimated cost (doubled, to cover a repair turn) before sending, so the total
stays within the cap.
"""

from __future__ import annotations

import asyncio
import itertools
import signal
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from evalharness.errors import EvalHarnessError, JudgeOutputError, NoLabel, redact
from evalharness.judges.base import Judge, JudgeRequest
from evalharness.llm.calls import ATTEMPT, CALLS, CallCounts
from evalharness.llm.retry import retry_delay
from evalharness.models import Judgment
from evalharness.pipeline.runstate import process_gone
from evalharness.runtime.gcpause import gc_paused
from evalharness.store import Store
from evalharness.store.claims import failed_elsewhere, mark_failed, new_owner, owner_process, release_all, release_dead, take
from evalharness.store.rekey import adopt
from evalharness.store.writer import JudgmentWriter, judgment_row

CHUNK = 1000  # pairs looked up, claimed and queued at a time
WAIT_POLL_S = 0.5  # how often a runner checks pairs another runner is judging
UNREACHABLE_ABORT = 5  # pairs that could not connect at all, with no success yet, before a run stops
REPAIR_FACTOR = 2.0  # a call's reservation covers the call and one repair turn
INTERRUPT_GRACE_S = 5.0  # how long an interrupted run waits for judge calls already in flight
DEAD_CHECK_S = 2.0  # how often a runner waiting on others' pairs looks for claims of dead processes on this host
MARK_EVERY_S = 0.25  # failed pairs are marked on their claims together, in one transaction at most this often


@dataclass(frozen=True)
class Pair:
    """One (query, hit) pair to judge and where its judgment is cached."""

    key: str
    request: JudgeRequest
    content_hash: str
    legacy_key: str = ""  # the key under the file-bytes guideline hash of earlier releases (store/rekey.py)


@dataclass
class JudgingOutcome:
    """What judging a stream of pairs produced (counts only: judgments are in the store)."""

    new: int = 0
    cached: int = 0  # found in the store, including pairs judged meanwhile by another runner
    from_other_runners: int = 0
    failures: dict[str, str] = field(default_factory=dict)
    cost_usd: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    skipped_for_budget: int = 0
    calls: dict[str, int] = field(default_factory=dict)  # requests sent, by kind: preflight, first, repair, retry

    @property
    def unjudged(self) -> int:
        return len(self.failures) + self.skipped_for_budget


def describe_failure(exc: BaseException) -> str:
    """A short reason for a failed pair (never includes request headers or keys)."""
    text = str(exc).splitlines()[0] if str(exc) else ""
    if isinstance(exc, NoLabel):  # an answer that is not a label: its reason says it all (truncated, refused, ...)
        return redact(text)[:300]
    return redact(f"{type(exc).__name__}: {text}")[:300]


def adopt_legacy(store: Store, missing: Sequence[Pair]) -> set[str]:
    """Keys of pairs not cached under their key but judged under their earlier release's key: copied over now."""
    legacy = {p.legacy_key: p for p in missing if p.legacy_key}
    found = store.judged_keys(list(legacy)) if legacy else set()
    if not found:
        return set()
    return adopt(store.engine, {k: (legacy[k].key, legacy[k].request.guideline.hash) for k in found})


def chunks(pairs: Iterable[Pair], size: int = CHUNK) -> Iterator[list[Pair]]:
    it = iter(pairs)
    while chunk := list(itertools.islice(it, size)):
        yield chunk


class Budget:
    """--max-cost: a call is sent only if its reservation fits beside what is spent and reserved."""

    def __init__(self, judge: Judge, cap: float | None) -> None:
        self.judge, self.cap = judge, cap
        self.spent = self.reserved = 0.0
        self.exhausted = False
        self.price = judge.price_per_mtok()

    def estimate(self, request: JudgeRequest) -> float:
        return REPAIR_FACTOR * self.judge.estimate_cost(request)

    def reserve(self, request: JudgeRequest) -> float | None:
        """The amount reserved, or None when the call does not fit (then nothing more is sent)."""
        if self.cap is None:
            return 0.0
        if self.exhausted:
            return None
        amount = self.estimate(request)
        if self.spent + self.reserved + amount > self.cap:
            self.exhausted = True
            return None
        self.reserved += amount
        return amount

    def settle(self, reserved: float, actual: float) -> None:
        self.reserved -= reserved
        self.spent += actual


class _Run:
    """The state of one judge_pairs call on its event loop."""

    def __init__(self, judge: Judge, store: Store, outcome: JudgingOutcome, writer: JudgmentWriter, owner: str | None,
                 max_retries: int, budget: Budget, progress: Callable[[int], None] | None, run_id: str = "") -> None:
        self.judge, self.store, self.outcome, self.writer, self.owner = judge, store, outcome, writer, owner
        self.process = owner_process(run_id) if owner is not None else {}
        self._dead_checked = time.monotonic()
        self.max_retries, self.budget, self.progress = max_retries, budget, progress
        self.queue: asyncio.Queue[Pair | None] = asyncio.Queue(maxsize=max(2, 2 * judge.max_concurrency))
        self.waiting: dict[str, Pair] = {}  # claimed by another live runner: awaited, not paid again
        self.unreachable = 0
        self.workers = max(1, judge.max_concurrency)
        self._done = 0
        self.stopping = False  # interrupted (Ctrl-C / SIGTERM): start no new call
        self.active = 0  # workers inside a call
        self._preflight_lock = asyncio.Lock()
        self._preflight_ok = False
        self._preflight_error: BaseException | None = None
        self._marks: dict[str, str] = {}  # failed pairs not yet marked on their claims: key -> reason
        self._marking: asyncio.Future[None] | None = None

    async def preflight(self) -> None:
        """The judge's key and model checked once, before this run's first judgment request (none if all is cached)."""
        if self._preflight_ok:
            return
        async with self._preflight_lock:
            if self._preflight_error is not None:
                raise self._preflight_error
            if not self._preflight_ok:
                try:
                    await self.judge.preflight()
                except BaseException as exc:
                    self._preflight_error = exc
                    raise
                self._preflight_ok = True

    def advance(self, n: int = 1, flush: bool = False) -> None:
        self._done += n
        if self.progress and (flush or self._done >= 64):
            self.progress(self._done)
            self._done = 0

    # -- producer: chunks -> cache lookup -> claims -> queue ------------------------------------
    async def produce(self, pairs: Iterable[Pair]) -> None:
        """Pairs in chunks -> cache lookup -> claims -> the workers' queue. Each chunk is drawn in a worker thread: a
        run's pairs come from a generator that searches and stores a chunk of queries at a time, and the event loop
        goes on sending and reading answers meanwhile (drawn on the loop, a chunk held every answer back)."""
        batches = chunks(pairs)
        while (chunk := await asyncio.to_thread(next, batches, None)) is not None:
            if self.stopping:
                return
            unique = {p.key: p for p in chunk}
            cached = self.store.judged_keys(list(unique))
            cached |= adopt_legacy(self.store, [p for k, p in unique.items() if k not in cached])
            self.outcome.cached += len(cached)
            self.advance(len(chunk) - len(unique) + len(cached))
            todo = [p for k, p in unique.items() if k not in cached]
            if self.budget.exhausted:
                self._skip(todo)
                continue
            mine = await self._claim(todo)
            if mine:  # checked here, before the next chunk is drawn beside it: the first request waits on nothing else
                await self.preflight()
            for p in mine:
                await self.queue.put(p)
            while len(self.waiting) > 4 * CHUNK:  # back-pressure: never hold more than a few chunks of others' pairs
                await self._check_waiting()
                await asyncio.sleep(WAIT_POLL_S)
        while self.waiting:
            await self._check_waiting()
            if self.waiting:
                await asyncio.sleep(WAIT_POLL_S)
        for _ in range(self.workers):
            await self.queue.put(None)

    async def _claim(self, todo: Sequence[Pair]) -> list[Pair]:
        """The pairs this runner is to judge now; others' claimed pairs go to `waiting`."""
        if self.owner is None or not todo:
            return list(todo)
        mine = await asyncio.to_thread(take, self.store.engine, [p.key for p in todo], self.owner, process=self.process)
        done: set[str] = set()
        if mine:  # judged and released by another runner between the lookup and the claim
            done = self.store.judged_keys(sorted(mine))
            if done:
                self.outcome.cached += len(done)
                self.outcome.from_other_runners += len(done)
                self.advance(len(done))
                mine -= done
        others = [p for p in todo if p.key not in mine and p.key not in done]
        failed = await asyncio.to_thread(failed_elsewhere, self.store.engine, [p.key for p in others], self.owner) if others else {}
        for p in others:
            if p.key in failed:  # another runner paid for it and failed: counted failed here, not paid again
                self.waiting.pop(p.key, None)
                self.outcome.failures[p.key] = failed[p.key]
                self.advance()
            else:
                self.waiting[p.key] = p
        return [p for p in todo if p.key in mine]

    async def _check_waiting(self) -> None:
        if self.owner is not None and time.monotonic() - self._dead_checked >= DEAD_CHECK_S:
            self._dead_checked = time.monotonic()  # a runner we wait on died on this host: its claims go now
            await asyncio.to_thread(release_dead, self.store.engine, process_gone, self.owner)
        keys = list(self.waiting)
        done = self.store.judged_keys(keys)
        for k in done:
            del self.waiting[k]
        if done:
            self.outcome.cached += len(done)
            self.outcome.from_other_runners += len(done)
            self.advance(len(done))
        rest = [self.waiting.pop(k) for k in list(self.waiting)]
        if self.budget.exhausted:
            self._skip(rest)
            return
        for p in await self._claim(rest):  # expired or released claims: this runner takes them over
            await self.queue.put(p)

    def _skip(self, pairs: Sequence[Pair]) -> None:
        self.outcome.skipped_for_budget += len(pairs)
        self.advance(len(pairs))

    # -- workers: queue -> judge (retries) -> writer ------------------------------------------
    async def work(self) -> None:
        while not self.stopping and (pair := await self.queue.get()) is not None:
            self.active += 1
            try:
                await self._one(pair)
            finally:
                self.active -= 1

    async def _one(self, pair: Pair) -> None:
        await self.preflight()
        reserved = self.budget.reserve(pair.request)
        if reserved is None:
            self._skip([pair])
            return
        attempt = 0
        while True:
            ATTEMPT.set(attempt)  # this worker task's own context: its next request counts as a retry after the first
            try:
                j = await self.judge.judge(pair.request)
                break
            except (asyncio.CancelledError, EvalHarnessError):
                self.budget.settle(reserved, 0.0)
                raise  # a wrong key or an unreachable provider stops the run; judgments made so far are stored
            except JudgeOutputError as exc:  # a malformed answer was still paid for
                self.budget.settle(reserved, exc.cost_usd)
                self._fail(pair, exc)
                self.outcome.cost_usd += exc.cost_usd
                self.outcome.input_tokens += exc.input_tokens
                self.outcome.output_tokens += exc.output_tokens
                return
            except Exception as exc:  # noqa: BLE001 - one pair's failure never aborts a run
                if self.judge.should_retry(exc) and attempt < self.max_retries:
                    await asyncio.sleep(retry_delay(exc, attempt))
                    attempt += 1
                    continue
                self.budget.settle(reserved, 0.0)
                if getattr(exc, "unreachable", False) and self.outcome.new == 0:
                    self.unreachable += 1
                    if self.unreachable >= UNREACHABLE_ABORT:  # nothing has ever got through: stop instead of failing every pair
                        raise EvalHarnessError(f"the judge cannot reach its API ({describe_failure(exc)}) after "
                                               f"{self.max_retries} retries; check [judge] base_url and that the server is up") from None
                self._fail(pair, exc)
                return
        self.budget.settle(reserved, j.cost_usd)
        self.record(pair, j)

    def record(self, pair: Pair, j: Judgment) -> None:
        req = pair.request
        self.writer.put(judgment_row(pair.key, req.query.text, req.hit.doc_id, pair.content_hash, req.guideline.hash, j))
        o = self.outcome
        o.new += 1
        o.cost_usd += j.cost_usd
        o.input_tokens += j.input_tokens
        o.output_tokens += j.output_tokens
        self.advance()

    def _fail(self, pair: Pair, exc: BaseException) -> None:
        reason = self.outcome.failures[pair.key] = describe_failure(exc)
        if self.owner is not None:  # the claim stays, marked: other runners do not pay to retry this pair
            self._marks[pair.key] = reason
            if self._marking is None or self._marking.done():
                self._marking = asyncio.ensure_future(self._mark_soon())
        self.advance()

    async def _mark_soon(self) -> None:
        """Mark the failures of the last moment in one transaction, off the event loop (a transaction per failed
        pair held the loop once for each: answers that are not labels come in bursts)."""
        await asyncio.sleep(MARK_EVERY_S)
        while self._marks:
            marks, self._marks = self._marks, {}
            await asyncio.to_thread(mark_failed, self.store.engine, self.owner, marks)  # type: ignore[arg-type]

    def mark_rest(self) -> None:
        """Mark what is left (the run is over: before its claims are released)."""
        if self._marking is not None:
            self._marking.cancel()
        if self._marks and self.owner is not None:
            marks, self._marks = self._marks, {}
            mark_failed(self.store.engine, self.owner, marks)


def _on_sigterm_cancel(task: asyncio.Task) -> Callable[[], None]:
    """SIGTERM while judging cancels the judging task (then the grace below), whatever handles SIGINT: a process
    started in the background by a shell ignores SIGINT, so asyncio's runner does not install its handler."""
    loop = asyncio.get_running_loop()
    previous = signal.getsignal(signal.SIGTERM)
    try:
        loop.add_signal_handler(signal.SIGTERM, task.cancel)
    except (NotImplementedError, RuntimeError, ValueError):  # not the main thread, or no signals on this platform
        return lambda: None

    def restore() -> None:
        loop.remove_signal_handler(signal.SIGTERM)
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)
    return restore


async def _judge_all(run: _Run, pairs: Iterable[Pair]) -> None:
    tasks = [asyncio.ensure_future(run.produce(pairs))] + [asyncio.ensure_future(run.work()) for _ in range(run.workers)]
    me = asyncio.current_task()
    restore_sigterm = _on_sigterm_cancel(me) if me is not None else (lambda: None)
    try:
        pending = set(tasks)
        while pending:  # the first task to fail (a worker that cannot go on, the store) ends the run
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if not task.cancelled() and task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]
    except asyncio.CancelledError:  # Ctrl-C / SIGTERM: calls already sent may finish (and be stored) for a moment
        run.stopping = True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + INTERRUPT_GRACE_S
        while run.active and loop.time() < deadline:
            await asyncio.sleep(0.05)
        raise
    finally:
        restore_sigterm()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await run.judge.aclose()


def _judge_sync(run: _Run, pairs: Iterable[Pair], judge_sync: Callable[[JudgeRequest], Judgment]) -> None:
    """A judge that computes locally (offline rules): no event loop, no claims, no budget."""
    for chunk in chunks(pairs):
        unique = {p.key: p for p in chunk}
        cached = run.store.judged_keys(list(unique))
        cached |= adopt_legacy(run.store, [p for k, p in unique.items() if k not in cached])
        run.outcome.cached += len(cached)
        run.advance(len(chunk) - len(unique) + len(cached))
        for k, p in unique.items():
            if k not in cached:
                try:
                    j = judge_sync(p.request)
                except JudgeOutputError as exc:
                    run._fail(p, exc)
                    continue
                run.record(p, j)


def judge_pairs(
    judge: Judge, store: Store, pairs: Iterable[Pair], *, max_retries: int = 4, max_cost: float | None = None,
    progress: Callable[[int], None] | None = None, run_id: str = "",
) -> JudgingOutcome:
    """Judge the pairs not yet in the store; new judgments are committed in small groups as they arrive. `run_id`
    is recorded on this runner's claims."""
    outcome = JudgingOutcome()
    judge.attach_store(store)
    owner = new_owner() if judge.paid else None
    judge_sync = getattr(judge, "judge_sync", None)
    local = judge_sync is not None and not judge.paid
    writer = JudgmentWriter(store.engine, owner, threaded=not local)
    run = _Run(judge, store, outcome, writer, owner, max_retries, Budget(judge, max_cost), progress, run_id)
    if owner is not None:  # claims left by a killed runner on this host are released now, not when they expire
        release_dead(store.engine, process_gone, owner)
    calls = CallCounts()
    counting = CALLS.set(calls)
    try:
        if local:
            with gc_paused():  # thousands of acyclic rows a second: no collector passes over them
                _judge_sync(run, pairs, judge_sync)
        else:
            try:
                asyncio.run(_judge_all(run, pairs))
            except asyncio.CancelledError:  # SIGTERM cancelled the judging task: stopped like Ctrl-C
                raise KeyboardInterrupt from None
    finally:
        try:
            writer.close()
        finally:
            if owner is not None:
                try:
                    run.mark_rest()
                finally:
                    release_all(store.engine, owner)
            run.advance(0, flush=True)
            CALLS.reset(counting)
            outcome.calls = calls.as_dict()
    return outcome
