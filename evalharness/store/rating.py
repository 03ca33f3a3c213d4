"""Rating samples for the local rating page: the sampled pairs with their weights, and who rates what in which order.

Three tables on the shared metadata:

- `rating_samples`: one row per named sample (where its pairs came from, the design, the seed).
- `rating_items`: the sampled pairs, each with its stratum, selection size, inclusion probability and
  sampling weight (1 / inclusion probability, so agreement estimates over the sample stay unbiased for the
  pool), the product as the judge saw it, and the judges' labels (shown to raters only on request).
- `rating_assignments`: which rater rates which item, in that rater's own random order, and how far they got.

The labels themselves are not here: the page writes them through `evalharness.store.labels.put_labels`
as `human:<rater>`, so every other command reads them like any imported label.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import JSON, Column, Float, Index, Integer, String, Table, Text, func, insert, select, update

from evalharness.store.db import Store, utcnow
from evalharness.store.tables import metadata

rating_samples_t = Table(
    "rating_samples", metadata,
    Column("name", String(100), primary_key=True),
    Column("source", Text, nullable=False),
    Column("design", JSON, nullable=False),
    Column("seed", Integer, nullable=False),
    Column("pool_size", Integer, nullable=False),
    Column("per_pair", Integer, nullable=False),
    Column("raters", JSON, nullable=False),  # [] = open: every rater who joins rates every item
    Column("created_at", String(40), nullable=False),
)

rating_items_t = Table(
    "rating_items", metadata,
    Column("sample", String(100), primary_key=True),
    Column("item", Integer, primary_key=True),
    Column("query", Text, nullable=False),
    Column("query_key", Text, nullable=False),
    Column("doc_id", String(200), nullable=False),
    Column("segment", String(40), nullable=False),
    Column("query_type", String(60), nullable=False),
    Column("stratum", String(120), nullable=False),
    Column("reason", String(20), nullable=False),  # disagree | boundary | agree
    Column("size", Float, nullable=False),  # selection size: the item's share of its stratum's allocation
    Column("inclusion_prob", Float, nullable=False),
    Column("weight", Float, nullable=False),  # 1 / inclusion_prob
    Column("guideline_hash", String(64), nullable=False),
    Column("hit", JSON, nullable=False),
    Column("judge_labels", JSON, nullable=False),  # {judge spec: label}
)

rating_assignments_t = Table(
    "rating_assignments", metadata,
    Column("sample", String(100), primary_key=True),
    Column("rater", String(100), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("item", Integer, nullable=False),
    Column("state", String(10), nullable=False),  # pending | labelled | skipped
    Column("seq", Integer),  # order of the rater's actions, for undo
    Column("previous", String(40)),  # the label this rater's source held before the page's label (restored by undo)
    Column("updated_at", String(40)),
    Index("ix_rating_assignments_item", "sample", "rater", "item", unique=True),
)


@dataclass(frozen=True)
class RatingItem:
    """One sampled pair."""

    item: int
    query: str
    query_key: str
    doc_id: str
    segment: str
    query_type: str
    stratum: str
    reason: str
    size: float
    inclusion_prob: float
    weight: float
    guideline_hash: str
    hit: dict[str, Any]
    judge_labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RatingSample:
    """A named sample's header."""

    name: str
    source: str
    design: dict[str, Any]
    seed: int
    pool_size: int
    per_pair: int
    raters: list[str]
    created_at: str


def _as(value: Any, default: Any) -> Any:
    """A JSON column's value (drivers return str or the object)."""
    if value is None:
        return default
    return json.loads(value) if isinstance(value, str) else value


def _item(row: Any) -> RatingItem:
    return RatingItem(row.item, row.query, row.query_key, row.doc_id, row.segment, row.query_type, row.stratum, row.reason,
                      row.size, row.inclusion_prob, row.weight, row.guideline_hash, _as(row.hit, {}), _as(row.judge_labels, {}))


def get_sample(store: Store, name: str) -> RatingSample | None:
    with store.engine.connect() as conn:
        row = conn.execute(select(rating_samples_t).where(rating_samples_t.c.name == name)).first()
    if row is None:
        return None
    return RatingSample(row.name, row.source, _as(row.design, {}), row.seed, row.pool_size, row.per_pair,
                        _as(row.raters, []), row.created_at)


def create_sample(store: Store, sample: RatingSample, items: Sequence[RatingItem],
                  assignments: dict[str, list[int]]) -> None:
    """Store a sample, its items and the fixed assignments (rater -> items in display order) in one transaction."""
    with store.engine.begin() as conn:
        conn.execute(insert(rating_samples_t), [{
            "name": sample.name, "source": sample.source, "design": sample.design, "seed": sample.seed,
            "pool_size": sample.pool_size, "per_pair": sample.per_pair, "raters": sample.raters,
            "created_at": sample.created_at or utcnow()}])
        if items:
            conn.execute(insert(rating_items_t), [{
                "sample": sample.name, "item": it.item, "query": it.query, "query_key": it.query_key, "doc_id": it.doc_id,
                "segment": it.segment, "query_type": it.query_type, "stratum": it.stratum, "reason": it.reason,
                "size": it.size, "inclusion_prob": it.inclusion_prob, "weight": it.weight,
                "guideline_hash": it.guideline_hash, "hit": it.hit, "judge_labels": it.judge_labels} for it in items])
        for rater, order in assignments.items():
            _insert_assignments(conn, sample.name, rater, order)


def _insert_assignments(conn: Any, sample: str, rater: str, order: Sequence[int]) -> None:
    if order:
        conn.execute(insert(rating_assignments_t), [
            {"sample": sample, "rater": rater, "position": pos, "item": item, "state": "pending"}
            for pos, item in enumerate(order)])


def sample_items(store: Store, name: str) -> list[RatingItem]:
    """Every item of a sample, by item number."""
    with store.engine.connect() as conn:
        rows = conn.execute(select(rating_items_t).where(rating_items_t.c.sample == name).order_by(rating_items_t.c.item)).all()
    return [_item(r) for r in rows]


def get_item(store: Store, name: str, item: int) -> RatingItem | None:
    c = rating_items_t.c
    with store.engine.connect() as conn:
        row = conn.execute(select(rating_items_t).where(c.sample == name, c.item == item)).first()
    return _item(row) if row else None


def has_assignments(store: Store, name: str, rater: str) -> bool:
    c = rating_assignments_t.c
    with store.engine.connect() as conn:
        return conn.execute(select(c.item).where(c.sample == name, c.rater == rater).limit(1)).first() is not None


def join_open_sample(store: Store, name: str, rater: str, order: Sequence[int]) -> None:
    """Give a rater who joins an open sample every item, in their own order (a second join is ignored)."""
    with store.engine.begin() as conn:
        c = rating_assignments_t.c
        if conn.execute(select(c.item).where(c.sample == name, c.rater == rater).limit(1)).first() is None:
            _insert_assignments(conn, name, rater, order)


def assigned_raters(store: Store, name: str) -> dict[int, list[str]]:
    """item -> raters assigned to it."""
    c = rating_assignments_t.c
    out: dict[int, list[str]] = {}
    with store.engine.connect() as conn:
        for row in conn.execute(select(c.item, c.rater).where(c.sample == name).order_by(c.item, c.rater)):
            out.setdefault(row.item, []).append(row.rater)
    return out


@dataclass(frozen=True)
class Progress:
    """Where a rater stands in a sample."""

    total: int
    labelled: int
    skipped: int
    current: int | None  # the next item to show, None when nothing is left
    can_undo: bool


def progress(store: Store, name: str, rater: str) -> Progress:
    """The rater's counts and next item: the first pending item in their order, then skipped ones again."""
    c = rating_assignments_t.c
    with store.engine.connect() as conn:
        counts = dict(conn.execute(select(c.state, func.count()).where(c.sample == name, c.rater == rater)
                                   .group_by(c.state)).all())
        nxt = conn.execute(select(c.item).where(c.sample == name, c.rater == rater, c.state == "pending")
                           .order_by(c.position).limit(1)).first()
        if nxt is None:
            nxt = conn.execute(select(c.item).where(c.sample == name, c.rater == rater, c.state == "skipped")
                               .order_by(c.seq, c.position).limit(1)).first()
        undo = conn.execute(select(c.item).where(c.sample == name, c.rater == rater, c.seq.is_not(None)).limit(1)).first()
    total = sum(counts.values())
    return Progress(total, counts.get("labelled", 0), counts.get("skipped", 0), nxt[0] if nxt else None, undo is not None)


def mark(store: Store, name: str, rater: str, item: int, state: str, previous: str | None = None) -> None:
    """Record that the rater labelled or skipped an item (the newest action is the next to undo)."""
    c = rating_assignments_t.c
    with store.engine.begin() as conn:
        top = conn.execute(select(func.max(c.seq)).where(c.sample == name, c.rater == rater)).scalar()
        conn.execute(update(rating_assignments_t).where(c.sample == name, c.rater == rater, c.item == item)
                     .values(state=state, seq=(top or 0) + 1, previous=previous, updated_at=utcnow()))


def last_action(store: Store, name: str, rater: str) -> tuple[int, str, str | None] | None:
    """The rater's newest labelled or skipped item, its state and the label it replaced (if any)."""
    c = rating_assignments_t.c
    with store.engine.connect() as conn:
        row = conn.execute(select(c.item, c.state, c.previous).where(c.sample == name, c.rater == rater, c.seq.is_not(None))
                           .order_by(c.seq.desc()).limit(1)).first()
    return (row.item, row.state, row.previous) if row else None


def reopen(store: Store, name: str, rater: str, item: int) -> None:
    """Put an item back to pending (undo) so it is shown next."""
    c = rating_assignments_t.c
    with store.engine.begin() as conn:
        conn.execute(update(rating_assignments_t).where(c.sample == name, c.rater == rater, c.item == item)
                     .values(state="pending", seq=None, previous=None, updated_at=utcnow()))
        # shown next: move it before every other pending item of this rater
        first = conn.execute(select(func.min(c.position)).where(c.sample == name, c.rater == rater)).scalar()
        pos = conn.execute(select(c.position).where(c.sample == name, c.rater == rater, c.item == item)).scalar()
        if first is not None and pos != first - 1:
            conn.execute(update(rating_assignments_t).where(c.sample == name, c.rater == rater, c.item == item)
                         .values(position=first - 1))


def is_assigned(store: Store, name: str, rater: str, item: int) -> bool:
    c = rating_assignments_t.c
    with store.engine.connect() as conn:
        return conn.execute(select(c.item).where(c.sample == name, c.rater == rater, c.item == item)).first() is not None
