"""Reads for diagnostics: guideline requirements and the per-requirement verdicts stored with judgments.

No table of its own: verdicts live in `judgments.details["verdicts"]` (part of the cached answer) and
requirements in `guidelines.requirements`. Both reads cost what the queries asked about, never the store's size.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Text, select, type_coerce

from evalharness.models import Requirement
from evalharness.runtime.gcpause import gc_paused
from evalharness.store.rawrows import raw_rows
from evalharness.store.tables import guidelines_t, judgments_t


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def guideline_requirements(store: Any, hashes: Iterable[str]) -> dict[str, tuple[Requirement, ...]]:
    """guideline hash -> its requirements, for the guidelines recorded in the store."""
    wanted = sorted(set(hashes))
    out: dict[str, tuple[Requirement, ...]] = {}
    c = guidelines_t.c
    with store.engine.connect() as conn:
        for start in range(0, len(wanted), 500):
            for row in conn.execute(select(c.hash, c.requirements).where(c.hash.in_(wanted[start:start + 500]))):
                out[row.hash] = tuple(Requirement(r["attribute"], r["value"], r.get("importance", "must"))
                                      for r in _json(row.requirements) or [])
    return out


def verdicts_in(details: Any, decoded: dict[str, Any]) -> list[dict[str, str]] | None:
    """The verdicts list in a judgment's stored details (text on SQLite, decoded on PostgreSQL), or None; `decoded`
    remembers each distinct text's decoding (the same verdicts recur on many hits)."""
    if details is None or details == "null":  # no details: nothing to decode
        return None
    if isinstance(details, str):
        found = decoded.get(details)
        if found is None:
            found = decoded[details] = json.loads(details) or {}
        details = found
    verdicts = details.get("verdicts") if isinstance(details, dict) else None
    return verdicts if isinstance(verdicts, list) else None


def verdict_pool(store: Any, hashes: Iterable[str], judge_id: str) -> dict[str, dict[str, list[dict[str, str]]]]:
    """guideline hash -> doc_id -> the verdicts of that judge's judgment (the newest when several)."""
    return {g: {doc: verdicts for doc, (_, verdicts) in docs.items()}
            for g, docs in labelled_verdict_pool(store, hashes, judge_id).items()}


def labelled_verdict_pool(store: Any, hashes: Iterable[str], judge_id: str
                          ) -> dict[str, dict[str, tuple[str, list[dict[str, str]]]]]:
    """guideline hash -> doc_id -> (label, verdicts) of that judge's newest judgment that has verdicts."""
    wanted = sorted(set(hashes))
    pool: dict[str, dict[str, tuple[str, list[dict[str, str]]]]] = {}
    decoded: dict[str, Any] = {}  # equal details text (the same verdicts on many hits) decoded once
    c = judgments_t.c
    with gc_paused(), store.engine.connect() as conn:
        for start in range(0, len(wanted), 500):
            stmt = (select(c.guideline_hash, c.doc_id, type_coerce(c.details, Text), c.label)
                    .where(c.guideline_hash.in_(wanted[start:start + 500]), c.judge_id == judge_id).order_by(c.created_at))
            for g, doc_id, raw, label in raw_rows(conn, stmt):
                verdicts = verdicts_in(raw, decoded)
                if verdicts is not None:
                    pool.setdefault(g, {})[doc_id] = (label, verdicts)
    return pool
