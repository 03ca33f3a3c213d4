"""Judgments stored under an earlier cache key of the same inputs, carried over to the current key.

Until release 0.9 a guideline's hash was the sha256 of its file's bytes; it now covers only what the judge reads
(query, requirements, text). A pair whose guideline file is byte for byte the one it was judged with still has
its judgment under the old key: `adopt` copies it under the new key (at no cost, noting where it came from), so
upgrading re-judges nothing that did not change.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import select
from sqlalchemy.engine import Engine

from evalharness.store.db import upsert
from evalharness.store.tables import judgments_t

_CHUNK = 500


def adopt(engine: Engine, moves: Mapping[str, tuple[str, str]]) -> set[str]:
    """Copy the judgments stored under the keys of `moves` (old key -> (new key, new guideline hash)) to their new
    keys; returns the new keys now stored."""
    old = list(moves)
    done: set[str] = set()
    with engine.begin() as conn:
        for start in range(0, len(old), _CHUNK):
            rows = []
            for row in conn.execute(select(judgments_t).where(judgments_t.c.cache_key.in_(old[start:start + _CHUNK]))):
                data = dict(row._mapping)
                new_key, new_hash = moves[data["cache_key"]]
                details = dict(data.get("details") or {}) if isinstance(data.get("details"), dict) else {}
                rows.append({**data, "cache_key": new_key, "guideline_hash": new_hash, "input_tokens": 0, "output_tokens": 0,
                             "cost_usd": 0.0, "details": {**details, "rekeyed_from": data["cache_key"]}})
                done.add(new_key)
            upsert(conn, judgments_t, rows, ["cache_key"])
    return done
