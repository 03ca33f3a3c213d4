"""Judge many pairs: cache lookup, bounded concurrency, retries with backoff, budget, one commit per judgment."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from evalharness.errors import EvalHarnessError, JudgeOutputError, redact
from evalharness.judges.base import Judge, JudgeRequest
from evalharness.llm.retry import retry_delay
from evalharness.models import Judgment
from evalharness.store import Store


@dataclass(frozen=True)
class Pair:
    """One (query, hit) pair to judge and where its judgment is cached."""

    key: str
    request: JudgeRequest
    content_hash: str


@dataclass
class JudgingOutcome:
    """What judging a batch of pairs produced."""

    judgments: dict[str, Judgment] = field(default_factory=dict)
    new: int = 0
    cached: int = 0
    failures: dict[str, str] = field(default_factory=dict)
    cost_usd: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    skipped_for_budget: int = 0


UNREACHABLE_ABORT = 5  # pairs that could not connect at all, with no success yet, before a run stops


def describe_failure(exc: BaseException) -> str:
    """A short reason for a failed pair (never includes request headers or keys)."""
    text = str(exc).splitlines()[0] if str(exc) else ""
    return redact(f"{type(exc).__name__}: {text}")[:300]


async def _judge_all(
    judge: Judge, store: Store, pairs: Sequence[Pair], outcome: JudgingOutcome,
    max_retries: int, max_cost: float | None, progress: Callable[[int], None] | None,
) -> None:
    sem = asyncio.Semaphore(max(1, judge.max_concurrency))
    unreachable = 0

    async def one(pair: Pair) -> None:
        nonlocal unreachable
        async with sem:
            if max_cost is not None and outcome.cost_usd >= max_cost:
                outcome.skipped_for_budget += 1
                if progress:
                    progress(1)
                return
            attempt = 0
            while True:
                try:
                    j = await judge.judge(pair.request)
                    break
                except (asyncio.CancelledError, EvalHarnessError):
                    raise  # a wrong key or an unreachable provider stops the run; judgments made so far are stored
                except JudgeOutputError as exc:
                    outcome.failures[pair.key] = describe_failure(exc)
                    outcome.cost_usd += exc.cost_usd  # a malformed answer was still paid for
                    outcome.input_tokens += exc.input_tokens
                    outcome.output_tokens += exc.output_tokens
                    if progress:
                        progress(1)
                    return
                except Exception as exc:  # noqa: BLE001 - one pair's failure never aborts a run
                    if judge.should_retry(exc) and attempt < max_retries:
                        await asyncio.sleep(retry_delay(exc, attempt))
                        attempt += 1
                        continue
                    if getattr(exc, "unreachable", False) and outcome.new == 0:
                        unreachable += 1
                        if unreachable >= UNREACHABLE_ABORT:  # nothing has ever got through: stop instead of failing every pair
                            raise EvalHarnessError(f"the judge cannot reach its API ({describe_failure(exc)}) after "
                                                   f"{max_retries} retries; check [judge] base_url and that the server is up") from None
                    outcome.failures[pair.key] = describe_failure(exc)
                    if progress:
                        progress(1)
                    return
            req = pair.request
            store.put_judgment(pair.key, req.query.text, req.hit.doc_id, pair.content_hash, req.guideline.hash, j)
            outcome.judgments[pair.key] = j
            outcome.new += 1
            outcome.cost_usd += j.cost_usd
            outcome.input_tokens += j.input_tokens
            outcome.output_tokens += j.output_tokens
            if progress:
                progress(1)

    try:
        await judge.preflight()  # key and model checked once, before the fan-out
        await asyncio.gather(*(one(p) for p in pairs))
    finally:
        await judge.aclose()


def judge_pairs(
    judge: Judge, store: Store, pairs: Sequence[Pair], *, max_retries: int = 4, max_cost: float | None = None,
    progress: Callable[[int], None] | None = None,
) -> JudgingOutcome:
    """Judge the pairs not yet in the cache; each new judgment is committed as it arrives."""
    outcome = JudgingOutcome()
    judge.attach_store(store)
    unique: dict[str, Pair] = {}
    for p in pairs:
        unique.setdefault(p.key, p)
    cached = store.cached_judgments(list(unique))
    outcome.judgments.update(cached)
    outcome.cached = len(cached)
    if progress and cached:
        progress(len(cached))
    todo = [p for k, p in unique.items() if k not in cached]
    if todo:
        asyncio.run(_judge_all(judge, store, todo, outcome, max_retries, max_cost, progress))
    return outcome
