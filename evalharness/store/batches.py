"""Provider batches in the store: every batch submitted, every pair it carries, and the runs waiting on them.

`batches` has one row per batch file (our id, the provider's id once created, state). `batch_pairs` has one
row per pair sent to a batch service, keyed by the judgment cache key: which batch carries it now, its state
(`queued` → `pending` → `done`, or `retry` / `repair` → resubmitted, or `failed`), the tokens and cost paid for
it so far, and where the pair came from (run, query, rank) so a retry can rebuild its request. Inserting a pair
row is the claim: a pair already carried by a live batch is never submitted twice, across runs and runners.
`batch_waits` lists, per run waiting for batch results, the pairs it waits on.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import JSON, Column, Float, Index, Integer, String, Table, Text, bindparam, func, select, update
from sqlalchemy.engine import Connection, Engine

from evalharness.store.db import upsert
from evalharness.store.tables import metadata

batches_t = Table(
    "batches", metadata,
    Column("id", String(64), primary_key=True),  # ours, also sent as the batch's metadata / display name
    Column("provider", String(40), nullable=False),
    Column("model", String(200), nullable=False),
    Column("provider_id", String(200)),  # None until the provider has created the batch
    Column("state", String(20), nullable=False, index=True),  # creating, submitted, ended, abandoned
    Column("provider_status", String(40), nullable=False, default=""),
    Column("requests", Integer, nullable=False),
    Column("bytes", Integer, nullable=False),
    Column("created_at", String(40), nullable=False),
    Column("updated_at", String(40), nullable=False),
    Column("submitter", JSON),  # pid, host, start of the process that created it
    Column("details", JSON),  # provider file ids, request counts, errors
)

batch_pairs_t = Table(
    "batch_pairs", metadata,
    Column("cache_key", String(64), primary_key=True),
    Column("judge_id", String(400), nullable=False),
    Column("query", Text, nullable=False),
    Column("doc_id", String(200), nullable=False),
    Column("content_hash", String(64), nullable=False),
    Column("guideline_hash", String(64), nullable=False),
    Column("run_id", String(80), nullable=False),  # the run that submitted it: its results hold the hit
    Column("query_id", String(200), nullable=False),
    Column("rank", Integer, nullable=False),
    Column("fallback", Integer, nullable=False, default=0),  # 1: an image judge's pair judged on its text
    Column("state", String(12), nullable=False),
    Column("batch_id", String(64)),
    Column("attempts", Integer, nullable=False, default=0),
    Column("repair", JSON),  # {"previous": answer, "problem": why it was unusable} for a repair turn
    Column("input_tokens", Integer, nullable=False, default=0),
    Column("output_tokens", Integer, nullable=False, default=0),
    Column("cost_usd", Float, nullable=False, default=0.0),
    Column("error", Text),
    Column("updated_at", String(40), nullable=False),
    Index("ix_batch_pairs_batch", "batch_id"),
    Index("ix_batch_pairs_state", "state"),
)

batch_waits_t = Table(
    "batch_waits", metadata,
    Column("run_id", String(80), primary_key=True),
    Column("cache_key", String(64), primary_key=True),
)

QUEUED, PENDING, DONE, RETRY, REPAIR, FAILED = "queued", "pending", "done", "retry", "repair", "failed"
OPEN_PAIR_STATES = (QUEUED, PENDING, RETRY, REPAIR)
CREATING, SUBMITTED, ENDED, ABANDONED = "creating", "submitted", "ended", "abandoned"
_CHUNK = 500


@dataclass(frozen=True)
class BatchRow:
    """One batch as stored."""

    id: str
    provider: str
    model: str
    provider_id: str | None
    state: str
    provider_status: str
    requests: int
    bytes: int
    created_at: str
    updated_at: str
    submitter: dict[str, Any]
    details: dict[str, Any]


def _as_dict(value: Any) -> dict[str, Any]:
    return json.loads(value) if isinstance(value, str) else (value or {})


def claim_pairs(engine: Engine, rows: Sequence[dict[str, Any]], batch_id: str, now: str) -> set[str]:
    """Take these pairs for batch `batch_id` (state `queued`): new pairs, and pairs another batch gave up on
    (`failed`, so a new run tries them again; what those cost stays with the run that paid). Pairs that a batch
    already carries stay with it. Returns the keys taken."""
    taken: set[str] = set()
    c = batch_pairs_t.c
    for start in range(0, len(rows), _CHUNK):
        chunk = [{**r, "state": QUEUED, "batch_id": batch_id, "attempts": 0, "updated_at": now} for r in rows[start:start + _CHUNK]]
        keys = [r["cache_key"] for r in chunk]
        with engine.begin() as conn:
            upsert(conn, batch_pairs_t, chunk, ["cache_key"])
            conn.execute(update(batch_pairs_t).where(c.cache_key == bindparam("k"), c.state == FAILED).values(
                state=QUEUED, batch_id=batch_id, attempts=0, repair=None, error=None, input_tokens=0, output_tokens=0,
                cost_usd=0.0, run_id=bindparam("r"), query_id=bindparam("q"), rank=bindparam("n"), updated_at=now),
                [{"k": r["cache_key"], "r": r["run_id"], "q": r["query_id"], "n": r["rank"]} for r in chunk])
            taken.update(r[0] for r in conn.execute(select(c.cache_key).where(c.cache_key.in_(keys), c.batch_id == batch_id,
                                                                              c.state == QUEUED)))
    return taken


def add_waits(engine: Engine, run_id: str, keys: Iterable[str]) -> None:
    """Record that `run_id` waits for these pairs' batch results."""
    rows = [{"run_id": run_id, "cache_key": k} for k in keys]
    with engine.begin() as conn:
        for start in range(0, len(rows), _CHUNK):
            upsert(conn, batch_waits_t, rows[start:start + _CHUNK], ["run_id", "cache_key"])


def waiting_keys(engine: Engine, run_id: str) -> list[str]:
    with engine.connect() as conn:
        return [r[0] for r in conn.execute(select(batch_waits_t.c.cache_key).where(batch_waits_t.c.run_id == run_id))]


def pair_states(engine: Engine, keys: Sequence[str]) -> dict[str, tuple[str, str | None]]:
    """cache key -> (state, error) for the pairs among `keys` that were sent to a batch."""
    c = batch_pairs_t.c
    out: dict[str, tuple[str, str | None]] = {}
    with engine.connect() as conn:
        for start in range(0, len(keys), _CHUNK):
            for row in conn.execute(select(c.cache_key, c.state, c.error).where(c.cache_key.in_(list(keys[start:start + _CHUNK])))):
                out[row.cache_key] = (row.state, row.error)
    return out


def submitted_cost(engine: Engine, run_id: str) -> tuple[float, int, int]:
    """Cost and tokens of the pairs this run submitted (another run's pairs are paid by that run)."""
    c = batch_pairs_t.c
    with engine.connect() as conn:
        row = conn.execute(select(func.coalesce(func.sum(c.cost_usd), 0.0), func.coalesce(func.sum(c.input_tokens), 0),
                                  func.coalesce(func.sum(c.output_tokens), 0)).where(c.run_id == run_id)).one()
    return float(row[0]), int(row[1]), int(row[2])


def insert_batch(engine: Engine, row: dict[str, Any]) -> None:
    from sqlalchemy import insert

    with engine.begin() as conn:
        conn.execute(insert(batches_t), [row])


def update_batch(engine: Engine, batch_id: str, **values: Any) -> None:
    with engine.begin() as conn:
        conn.execute(update(batches_t).where(batches_t.c.id == batch_id).values(**values))


def _row(r: Any) -> BatchRow:
    return BatchRow(r.id, r.provider, r.model, r.provider_id, r.state, r.provider_status or "", r.requests, r.bytes,
                    r.created_at, r.updated_at, _as_dict(r.submitter), _as_dict(r.details))


def get_batch(engine: Engine, batch_id: str) -> BatchRow | None:
    with engine.connect() as conn:
        row = conn.execute(select(batches_t).where(batches_t.c.id == batch_id)).first()
    return _row(row) if row is not None else None


def list_batches(engine: Engine, states: Sequence[str] | None = None, limit: int | None = None) -> list[BatchRow]:
    """Batches, newest first (only those in `states` when given)."""
    stmt = select(batches_t).order_by(batches_t.c.created_at.desc(), batches_t.c.id.desc())
    if states:
        stmt = stmt.where(batches_t.c.state.in_(list(states)))
    if limit:
        stmt = stmt.limit(limit)
    with engine.connect() as conn:
        return [_row(r) for r in conn.execute(stmt)]


def pair_counts(engine: Engine, batch_ids: Sequence[str]) -> dict[str, dict[str, int]]:
    """batch id -> pair state -> count, for the pairs these batches carry now."""
    c = batch_pairs_t.c
    out: dict[str, dict[str, int]] = {}
    with engine.connect() as conn:
        for start in range(0, len(batch_ids), _CHUNK):
            stmt = (select(c.batch_id, c.state, func.count()).where(c.batch_id.in_(list(batch_ids[start:start + _CHUNK])))
                    .group_by(c.batch_id, c.state))
            for batch_id, state, n in conn.execute(stmt):
                out.setdefault(batch_id, {})[state] = int(n)
    return out


def pairs_in(engine: Engine, states: Sequence[str], batch_id: str | None = None, limit: int | None = None) -> list[Any]:
    """Pair rows in these states (of one batch when given)."""
    c = batch_pairs_t.c
    stmt = select(batch_pairs_t).where(c.state.in_(list(states))).order_by(c.run_id, c.query_id, c.rank)
    if batch_id is not None:
        stmt = stmt.where(c.batch_id == batch_id)
    if limit:
        stmt = stmt.limit(limit)
    with engine.connect() as conn:
        return list(conn.execute(stmt))


def set_pairs(conn: Connection, keys: Sequence[str], where_state: Sequence[str], **values: Any) -> None:
    """Set columns of these pairs where they are still in one of `where_state` (inside the caller's transaction)."""
    c = batch_pairs_t.c
    for start in range(0, len(keys), _CHUNK):
        conn.execute(update(batch_pairs_t).where(c.cache_key.in_(list(keys[start:start + _CHUNK])),
                                                 c.state.in_(list(where_state))).values(**values))
