"""Reads for confidence: each judgment's confidence (the `confidence` column: label probability from
log-probabilities, or the share of agreeing votes) and, for ensembles, the members' votes (`judgments.details`).
The read costs what the run asked about (its guidelines), never the store's size.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from evalharness.store.tables import judgments_t


@dataclass(frozen=True)
class VotedPair:
    """One pair labelled by a vote judge."""

    guideline_hash: str
    doc_id: str
    label: str
    confidence: float
    votes: list[dict[str, str]]


def vote_pool(store: Any, hashes: Iterable[str], judge_id: str) -> dict[tuple[str, str], VotedPair]:
    """(guideline hash, doc_id) -> the judge's judgment with its confidence (and a vote's members' votes), for the
    judgments that have a confidence."""
    wanted = sorted(set(hashes))
    out: dict[tuple[str, str], VotedPair] = {}
    c = judgments_t.c
    with store.engine.connect() as conn:
        for start in range(0, len(wanted), 500):
            stmt = (select(c.guideline_hash, c.doc_id, c.label, c.details, c.confidence)
                    .where(c.guideline_hash.in_(wanted[start:start + 500]), c.judge_id == judge_id).order_by(c.created_at))
            for row in conn.execute(stmt):
                details = json.loads(row.details) if isinstance(row.details, str) else row.details or {}
                details = details if isinstance(details, dict) else {}
                confidence = row.confidence if row.confidence is not None else details.get("confidence")
                if confidence is not None:
                    out[(row.guideline_hash, row.doc_id)] = VotedPair(row.guideline_hash, row.doc_id, row.label,
                                                                      float(confidence), list(details.get("votes") or []))
    return out


def details_pool(store: Any, hashes: Iterable[str], judge_id: str) -> dict[tuple[str, str], dict[str, Any]]:
    """(guideline hash, doc_id) -> the details of the judge's judgment (the newest when several)."""
    wanted = sorted(set(hashes))
    out: dict[tuple[str, str], dict[str, Any]] = {}
    c = judgments_t.c
    with store.engine.connect() as conn:
        for start in range(0, len(wanted), 500):
            stmt = (select(c.guideline_hash, c.doc_id, c.details)
                    .where(c.guideline_hash.in_(wanted[start:start + 500]), c.judge_id == judge_id).order_by(c.created_at))
            for row in conn.execute(stmt):
                details = json.loads(row.details) if isinstance(row.details, str) else row.details
                out[(row.guideline_hash, row.doc_id)] = details if isinstance(details, dict) else {}
    return out
