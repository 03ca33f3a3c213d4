"""Stored calibrations: a judge's confidences on a gold set and whether each agreed with people, written by
`agreement` for judges that give a confidence, read by `cascade(...)`'s --dry-run to estimate the share of pairs it
would send to its strong member. One row per (judge id, human source); a new measurement replaces the old.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import JSON, Column, Integer, String, Table, select

from evalharness.store.db import upsert, utcnow
from evalharness.store.tables import metadata

calibrations_t = Table(
    "calibrations", metadata,
    Column("judge_id", String(400), primary_key=True),
    Column("human", String(200), primary_key=True),
    Column("pairs", Integer, nullable=False),
    Column("data", JSON, nullable=False),  # {"confidences": [...], "correct": [0/1 ...], "cost_per_pair": x}
    Column("created_at", String(40), nullable=False),
)


@dataclass(frozen=True)
class StoredCalibration:
    judge_id: str
    human: str
    confidences: list[float | None]
    correct: list[int]
    cost_per_pair: float
    created_at: str

    def share_below(self, threshold: float) -> float:
        """The share of gold pairs the judge gave no confidence or one below `threshold` (what a cascade escalates)."""
        return sum(1 for c in self.confidences if c is None or c < threshold) / max(len(self.confidences), 1)


def put_calibration(store: Any, judge_id: str, human: str, confidences: list[float | None], correct: list[int],
                    cost_per_pair: float) -> None:
    row = {"judge_id": judge_id, "human": human, "pairs": len(confidences), "created_at": utcnow(),
           "data": {"confidences": confidences, "correct": correct, "cost_per_pair": cost_per_pair}}
    with store.engine.begin() as conn:
        upsert(conn, calibrations_t, [row], ["judge_id", "human"], overwrite=["pairs", "data", "created_at"])


def get_calibration(store: Any, judge_id: str) -> StoredCalibration | None:
    """The newest calibration of this judge against any human source."""
    c = calibrations_t.c
    with store.engine.connect() as conn:
        row = conn.execute(select(calibrations_t).where(c.judge_id == judge_id).order_by(c.created_at.desc())).first()
    if row is None:
        return None
    data = row.data if isinstance(row.data, dict) else {}
    return StoredCalibration(row.judge_id, row.human, list(data.get("confidences") or []), list(data.get("correct") or []),
                             float(data.get("cost_per_pair") or 0.0), row.created_at)
