"""Image-quality scores, cached by (image bytes hash, scorer id); a memo of local files' hashes; caption-check
decisions (caption mode), cached by (query, caption, checker).

A score is reused by every run, comparison and `images score` that meets the same image bytes with the same
scorer, whatever the product or path. The file memo (path, size, mtime -> sha256) spares re-reading and
re-hashing a local image whose file has not changed, so looking up the scores of a run's hits costs a stat per
image, not a read.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, BigInteger, Boolean, Column, Float, Integer, String, Table, Text, insert, select
from sqlalchemy.exc import IntegrityError

from evalharness.models import sha256_hex
from evalharness.store.rawrows import raw_sql_rows
from evalharness.store.tables import metadata

if TYPE_CHECKING:
    from evalharness.images.scorers import ImageScore
    from evalharness.store.db import Store

image_scores_t = Table(
    "image_scores", metadata,
    Column("image_sha", String(64), primary_key=True),
    Column("scorer_id", String(300), primary_key=True),
    Column("score", Integer, nullable=False),
    Column("aspects", JSON, nullable=False),
    Column("rationale", Text, nullable=False),
    Column("reasoning", Text, nullable=False, default=""),
    Column("details", JSON),
    Column("input_tokens", Integer, nullable=False, default=0),
    Column("output_tokens", Integer, nullable=False, default=0),
    Column("cost_usd", Float, nullable=False, default=0.0),
    Column("created_at", String(40), nullable=False),
)

image_files_t = Table(
    "image_files", metadata,
    Column("path_key", String(64), primary_key=True),  # sha256 of the path: paths can exceed index limits
    Column("path", Text, nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("mtime_ns", BigInteger, nullable=False),
    Column("image_sha", String(64), nullable=False),
)

caption_checks_t = Table(
    "caption_checks", metadata,
    Column("key", String(64), primary_key=True),
    Column("checker", String(400), nullable=False),
    Column("keep", Boolean, nullable=False),
    Column("votes", JSON, nullable=False),
    Column("cost_usd", Float, nullable=False, default=0.0),
)

CHUNK = 500
KEY_CHUNK = 5000  # keys per hand-written lookup: within SQLite's and PostgreSQL's parameter limits


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _keyed_rows(store: Store, sql: str, keys: Sequence[str], *params: Any) -> Iterator[tuple[Any, ...]]:
    """The rows of a hand-written SELECT ending in `IN (...)` over `keys` (`params` bound before them), KEY_CHUNK keys a
    statement, straight from the driver's cursor (SQLAlchemy would compile each long IN list and process each row)."""
    with store.engine.connect() as conn:
        for start in range(0, len(keys), KEY_CHUNK):
            part = keys[start:start + KEY_CHUNK]
            yield from raw_sql_rows(conn, f"{sql} IN ({', '.join(['?'] * len(part))})", [*params, *part])


def get_scores(store: Store, shas: Sequence[str], scorer_id: str) -> dict[str, ImageScore]:
    """Cached scores of these image hashes by this scorer."""
    from evalharness.images.scorers import ImageScore

    sql = ("SELECT image_sha, score, aspects, rationale, reasoning, details, input_tokens, output_tokens, cost_usd "
           "FROM image_scores WHERE scorer_id = ? AND image_sha")
    return {sha: ImageScore(score, list(_json(aspects) or []), rationale, reasoning or "", dict(_json(details) or {}),
                            input_tokens, output_tokens, cost_usd)
            for sha, score, aspects, rationale, reasoning, details, input_tokens, output_tokens, cost_usd
            in _keyed_rows(store, sql, sorted(set(shas)), scorer_id)}


def put_score(store: Store, image_sha: str, scorer_id: str, s: ImageScore) -> None:
    """Commit one score now; a score already stored under the same key wins (concurrent scorers agree on it)."""
    from evalharness.store.db import utcnow

    row = {"image_sha": image_sha, "scorer_id": scorer_id, "score": s.score, "aspects": s.aspects, "rationale": s.rationale,
           "reasoning": s.reasoning, "details": s.details or None, "input_tokens": s.input_tokens,
           "output_tokens": s.output_tokens, "cost_usd": s.cost_usd, "created_at": utcnow()}
    c = image_scores_t.c
    try:
        with store.engine.begin() as conn:
            if conn.execute(select(c.score).where(c.image_sha == image_sha, c.scorer_id == scorer_id)).first() is None:
                conn.execute(insert(image_scores_t), [row])
    except IntegrityError:
        pass  # another process stored the same (image, scorer) meanwhile: its score stands


def get_caption_check(store: Store, key: str) -> tuple[bool, dict[str, bool]] | None:
    """A cached caption-check decision: (keep, votes by member), or None."""
    with store.engine.connect() as conn:
        row = conn.execute(select(caption_checks_t).where(caption_checks_t.c.key == key)).first()
    return None if row is None else (bool(row.keep), dict(_json(row.votes)))


def put_caption_check(store: Store, key: str, checker: str, keep: bool, votes: dict[str, bool], cost_usd: float) -> None:
    """Commit one caption-check decision (a decision already stored under the key wins)."""
    store._insert_ignore(caption_checks_t, "key", {"key": key, "checker": checker, "keep": keep, "votes": votes,
                                                  "cost_usd": cost_usd})


def known_file_hashes(store: Store, stats: Mapping[str, tuple[int, int]]) -> dict[str, str]:
    """path -> image sha256 for the local files whose (size, mtime_ns) still match the memo."""
    keys = {sha256_hex(path): path for path in stats}
    found: dict[str, str] = {}
    sql = "SELECT path_key, size, mtime_ns, image_sha FROM image_files WHERE path_key"
    for key, size, mtime_ns, image_sha in _keyed_rows(store, sql, sorted(keys)):
        path = keys[key]
        if stats[path] == (size, mtime_ns):
            found[path] = image_sha
    return found


def remember_file_hashes(store: Store, rows: Iterable[tuple[str, int, int, str]]) -> None:
    """Record (path, size, mtime_ns, sha256) of files just hashed, replacing what was known of those paths."""
    values = [{"path_key": sha256_hex(p), "path": p, "size": size, "mtime_ns": mtime, "image_sha": sha}
              for p, size, mtime, sha in rows]
    if not values:
        return
    from evalharness.store.db import upsert

    with store.engine.begin() as conn:
        for start in range(0, len(values), CHUNK):  # insert-on-conflict: two processes hashing the same files agree
            upsert(conn, image_files_t, values[start:start + CHUNK], ["path_key"], overwrite=["path", "size", "mtime_ns", "image_sha"])
