"""Read an ended batch's results into the store, idempotently.

Each result line is parsed by the live path's strict parser. A usable answer becomes a judgment (insert-or-ignore
under its cache key) and its pair `done`, in one transaction per group of lines; an unusable one gets one repair
turn (`repair`, sent in the next batch), then fails; a per-line error or an expired request is sent again up to
`[judge] batch_max_attempts` times. Every update is conditional on the pair still being `pending` in this batch,
so a result ingested twice — by a second `collect`, or by two collectors at once — is stored once, and its tokens
counted once. Pairs the results do not mention are treated as expired."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from sqlalchemy import bindparam, or_, select, update

from evalharness.batch.base import ResultLine
from evalharness.batch.judges import BatchJudges
from evalharness.errors import JudgeOutputError, NoLabel, redact
from evalharness.judges.answer import answer_details
from evalharness.judges.base import JudgeRequest
from evalharness.models import Hit, Judgment, Query
from evalharness.store import Store
from evalharness.store.batches import DONE, FAILED, PENDING, QUEUED, REPAIR, RETRY, batch_pairs_t
from evalharness.store.db import utcnow
from evalharness.store.runread import stored_guidelines
from evalharness.store.writer import insert_ignore, judgment_row

GROUP = 200


@dataclass
class IngestCounts:
    """What one batch's results did."""

    judged: int = 0
    repair: int = 0
    retry: int = 0
    failed: int = 0
    already: int = 0  # lines for pairs already done or moved on (a second ingest)
    cost_usd: float = 0.0
    errors: dict[str, str] = field(default_factory=dict)  # a few example reasons

    def note(self, reason: str) -> None:
        if len(self.errors) < 5:
            self.errors.setdefault(reason.split(":")[0][:60], reason[:200])


def _groups(lines: Iterable[ResultLine], size: int) -> Iterator[list[ResultLine]]:
    it = iter(lines)
    while group := list(islice(it, size)):
        yield group


def ingest(store: Store, batch_id: str, judges: BatchJudges, lines: Iterable[ResultLine], max_attempts: int,
           ended: str = "") -> IngestCounts:
    """Store the results of batch `batch_id`; pairs it carried that no line mentions go back to `retry`, with
    `ended` (how the batch ended, the provider's error) as the reason."""
    counts = IngestCounts()
    stmt_judgment = insert_ignore(store.engine)
    for group in _groups(lines, GROUP):
        _ingest_group(store, batch_id, judges, group, max_attempts, counts, stmt_judgment)
    missing = _pending_rows(store, batch_id, None)
    if missing:
        reason = f"no result for this request: {ended}" if ended else "no result for this request"
        updates = [_retry_update(r, redact(reason)[:300], max_attempts, counts) for r in missing]
        with store.engine.begin() as conn:
            _apply(conn, batch_id, updates)
    return counts


def _pending_rows(store: Store, batch_id: str, keys: list[str] | None) -> list[Any]:
    """The batch's pairs still waiting for a result (`queued` ones too: claimed under it, their line never sent)."""
    c = batch_pairs_t.c
    stmt = select(batch_pairs_t).where(c.batch_id == batch_id,
                                     or_(c.state == PENDING, c.state == QUEUED))  # no IN: executemany takes no expanding list
    if keys is not None:
        stmt = stmt.where(c.cache_key.in_(keys))
    with store.engine.connect() as conn:
        return list(conn.execute(stmt))


def _retry_update(r: Any, reason: str, max_attempts: int, counts: IngestCounts) -> dict[str, Any]:
    counts.note(reason)
    if r.attempts >= max_attempts:
        counts.failed += 1
        return {"k": r.cache_key, "state": FAILED, "error": f"{reason} (after {r.attempts} sends)", "repair": r.repair,
                "input_tokens": r.input_tokens, "output_tokens": r.output_tokens, "cost_usd": r.cost_usd}
    counts.retry += 1
    return {"k": r.cache_key, "state": RETRY, "error": reason, "repair": r.repair, "input_tokens": r.input_tokens,
            "output_tokens": r.output_tokens, "cost_usd": r.cost_usd}


def _ingest_group(store: Store, batch_id: str, judges: BatchJudges, group: list[ResultLine], max_attempts: int,
                  counts: IngestCounts, stmt_judgment: Any) -> None:
    rows = {r.cache_key: r for r in _pending_rows(store, batch_id, [line.custom_id for line in group])}
    guidelines = stored_guidelines(store, {r.guideline_hash for r in rows.values()})
    price = judges.main.batch_price()
    judgments, updates = [], []
    for line in group:
        r = rows.pop(line.custom_id, None)
        if r is None:
            counts.already += 1
            continue
        if line.body is None:
            updates.append(_retry_update(r, redact(line.error or "error"), max_attempts, counts))
            continue
        judge = judges.for_pair(bool(r.fallback))
        reply = judge.provider.parse_response(line.body)
        tokens_in, tokens_out = r.input_tokens + reply.input_tokens, r.output_tokens + reply.output_tokens
        cost = r.cost_usd + price.cost(reply.input_tokens, reply.output_tokens, reply.cached_tokens)
        counts.cost_usd += cost - r.cost_usd
        paid = {"input_tokens": tokens_in, "output_tokens": tokens_out, "cost_usd": cost}
        guideline = guidelines.get(r.guideline_hash)
        if guideline is None:  # its requirements decide how the answer's verdicts are read
            counts.failed += 1
            updates.append({"k": r.cache_key, "state": FAILED, "error": f"guideline {r.guideline_hash[:12]} is not recorded in the store",
                            "repair": r.repair, **paid})
            continue
        request = JudgeRequest(Query(r.query_id, r.query), guideline, Hit(r.doc_id, r.rank, 0.0))
        try:
            answer = judge.parse_batch_reply(request, reply)
        except JudgeOutputError as exc:
            counts.note(str(exc))
            if r.repair is None and not isinstance(exc, NoLabel):  # one repair turn, sent in the next batch
                counts.repair += 1
                updates.append({"k": r.cache_key, "state": REPAIR, "error": str(exc)[:300],
                                "repair": {"previous": reply.text[:2000], "problem": str(exc)[:500]}, **paid})
            else:
                counts.failed += 1
                why = str(exc) if isinstance(exc, NoLabel) else f"unusable answer after one repair: {exc}"
                updates.append({"k": r.cache_key, "state": FAILED, "error": why[:300],
                                "repair": r.repair, **paid})
            continue
        details: dict[str, Any] = {**answer_details(answer), "batch": batch_id}
        if r.fallback:
            details["image_fallback"] = "text"
        confidence = judge.reply_confidence(reply, answer.label, details) if hasattr(judge, "reply_confidence") else None
        j = Judgment(answer.label, answer.rationale, r.judge_id, tokens_in, tokens_out, cost, 0.0, details, confidence)
        judgments.append(judgment_row(r.cache_key, r.query, r.doc_id, r.content_hash, r.guideline_hash, j))
        updates.append({"k": r.cache_key, "state": DONE, "error": None, "repair": r.repair, **paid})
        counts.judged += 1
    if judgments or updates:
        with store.engine.begin() as conn:
            if judgments:
                conn.execute(stmt_judgment, judgments)
            _apply(conn, batch_id, updates)


def _apply(conn: Any, batch_id: str, updates: list[dict[str, Any]]) -> None:
    """Per-pair updates in one executemany, each only if the pair is still pending in this batch."""
    if not updates:
        return
    c = batch_pairs_t.c
    stmt = (update(batch_pairs_t).where(c.cache_key == bindparam("k"), c.batch_id == batch_id,
                                     or_(c.state == PENDING, c.state == QUEUED))  # no IN: executemany takes no expanding list
            .values(state=bindparam("state"), error=bindparam("error"), repair=bindparam("repair"),
                    input_tokens=bindparam("input_tokens"), output_tokens=bindparam("output_tokens"),
                    cost_usd=bindparam("cost_usd"), updated_at=utcnow()))
    conn.execute(stmt, updates)
