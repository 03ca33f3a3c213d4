"""Trust measurements: how well a judge (by judge id) agreed with a reference label source, when measured.

`agreement` records one row per judge it measures; the gate reads them to know what its judge is worth and, when
the judge id changed (new model, edited prompt, other scheme), measures the new one on the same gold set (the
drift canary) and records it too. A row is replaced when the same judge is measured again on the same source.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import JSON, Column, Integer, String, Table, delete, insert, select

from evalharness.store.db import Store, utcnow
from evalharness.store.tables import metadata

trust_t = Table(
    "trust_measurements", metadata,
    Column("source", String(200), primary_key=True),
    Column("judge_id", String(400), primary_key=True),
    Column("pairs", Integer, nullable=False),
    Column("queries", Integer, nullable=False),
    Column("stats", JSON, nullable=False),  # {statistic: value or None}
    Column("ci", JSON, nullable=False),  # {statistic: [low, high] or None}
    Column("measured_at", String(40), nullable=False),
)


@dataclass(frozen=True)
class TrustMeasurement:
    """One judge's agreement with one source."""

    source: str
    judge_id: str
    pairs: int
    queries: int
    stats: dict[str, float | None]
    ci: dict[str, list[float] | None]
    measured_at: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "judge_id": self.judge_id, "pairs": self.pairs, "queries": self.queries,
                "stats": self.stats, "ci95": self.ci, "measured_at": self.measured_at}


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def record_trust(store: Store, m: TrustMeasurement) -> None:
    """Store (or replace) a measurement."""
    c = trust_t.c
    with store.engine.begin() as conn:
        conn.execute(delete(trust_t).where(c.source == m.source, c.judge_id == m.judge_id))
        conn.execute(insert(trust_t), [{"source": m.source, "judge_id": m.judge_id, "pairs": m.pairs, "queries": m.queries,
                                        "stats": m.stats, "ci": m.ci, "measured_at": m.measured_at or utcnow()}])


def trust_measurements(store: Store, source: str) -> list[TrustMeasurement]:
    """Every judge measured on a source, newest first."""
    c = trust_t.c
    with store.engine.connect() as conn:
        rows = conn.execute(select(trust_t).where(c.source == source).order_by(c.measured_at.desc(), c.judge_id)).all()
    return [TrustMeasurement(r.source, r.judge_id, r.pairs, r.queries, _json(r.stats), _json(r.ci), r.measured_at) for r in rows]
