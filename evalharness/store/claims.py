"""Claims: a runner takes a pair before paying for it, so runners sharing a store pay for each pair once.

A claim row names its owner (one per judging process) and an expiry that the owner renews while it lives.
Taking claims is one insert-on-conflict-do-nothing (store.db.upsert) plus one conditional update that takes over expired
claims, both atomic on PostgreSQL and SQLite; a runner that finds a live claim of another owner waits for
that owner's judgment, and takes the pair over if the claim expires or is released without one.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable, Sequence

from sqlalchemy import Column, Float, Index, String, Table, delete, select, update
from sqlalchemy.engine import Connection, Engine

from evalharness.store.db import upsert
from evalharness.store.tables import metadata

claims_t = Table(
    "claims", metadata,
    Column("cache_key", String(64), primary_key=True),
    Column("owner", String(80), nullable=False),
    Column("expires_at", Float, nullable=False),  # seconds since the epoch
    Index("ix_claims_owner", "owner"),
)

CLAIM_TTL_S = 60.0  # a runner renews its claims every third of this; a dead runner's claims free up after it
_CHUNK = 500


def new_owner() -> str:
    return f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{secrets.token_hex(8)}"


def take(engine: Engine, keys: Sequence[str], owner: str, ttl: float = CLAIM_TTL_S) -> set[str]:
    """Claim these keys for `owner` where nobody else holds a live claim; returns the keys this owner now holds."""
    mine: set[str] = set()
    c = claims_t.c
    for start in range(0, len(keys), _CHUNK):
        chunk = list(keys[start:start + _CHUNK])
        now = time.time()
        with engine.begin() as conn:
            upsert(conn, claims_t, [{"cache_key": k, "owner": owner, "expires_at": now + ttl} for k in chunk], ["cache_key"])
            conn.execute(update(claims_t).where(c.cache_key.in_(chunk), c.expires_at < now)
                         .values(owner=owner, expires_at=now + ttl))
            mine.update(r[0] for r in conn.execute(select(c.cache_key).where(c.cache_key.in_(chunk), c.owner == owner)))
    return mine


def renew(engine: Engine, owner: str, ttl: float = CLAIM_TTL_S) -> None:
    """Push back the expiry of every claim this owner holds (its heartbeat)."""
    with engine.begin() as conn:
        conn.execute(update(claims_t).where(claims_t.c.owner == owner).values(expires_at=time.time() + ttl))


def release_in(conn: Connection, keys: Iterable[str], owner: str) -> None:
    """Drop this owner's claims on these keys (inside the caller's transaction)."""
    c = claims_t.c
    keys = list(keys)
    for start in range(0, len(keys), _CHUNK):
        conn.execute(delete(claims_t).where(c.owner == owner, c.cache_key.in_(keys[start:start + _CHUNK])))


def release_all(engine: Engine, owner: str) -> None:
    """Drop every claim of this owner (the runner is done)."""
    with engine.begin() as conn:
        conn.execute(delete(claims_t).where(claims_t.c.owner == owner))
