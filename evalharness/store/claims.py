"""Claims: a runner takes a pair before paying for it, so runners sharing a store pay for each pair once.

A claim row names its owner (one per judging process), the owner's process (host, pid, start time) and run, and an
expiry that the owner renews while it lives. A claim whose process is known dead on this host (SIGKILL, a crash) is
released at once (`release_dead`); another host's claims free up when they expire. A pair its owner failed keeps
its claim, marked `failed`, so other runners count it failed instead of paying to retry it; when the owner ends
those marks stay a few seconds (for runners still waiting on them) and are released like any other claim after.
Taking claims is one insert-on-conflict-do-nothing (store.db.upsert) plus one conditional update that takes over expired
claims, both atomic on PostgreSQL and SQLite; a runner that finds a live claim of another owner waits for
that owner's judgment, and takes the pair over if the claim expires or is released without one.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from sqlalchemy import Column, Float, Index, Integer, String, Table, Text, delete, select, update
from sqlalchemy.engine import Connection, Engine

from evalharness.store.db import upsert
from evalharness.store.tables import metadata

claims_t = Table(
    "claims", metadata,
    Column("cache_key", String(64), primary_key=True),
    Column("owner", String(80), nullable=False),
    Column("expires_at", Float, nullable=False),  # seconds since the epoch
    Column("host", String(255), nullable=True),  # the owner's process: host, pid and start time (a reused pid differs)
    Column("pid", Integer, nullable=True),
    Column("proc_start", String(40), nullable=True),
    Column("run_id", String(80), nullable=True),
    Column("failed", Text, nullable=True),  # why the owner could not judge the pair (then others do not retry it)
    Index("ix_claims_owner", "owner"),
    Index("ix_claims_host", "host"),
)

CLAIM_TTL_S = 60.0  # a runner renews its claims every third of this; another host's dead runner's claims free up after it
FAILED_HOLD_S = 10.0  # how long a finished owner's failure marks stay for runners that were waiting on those pairs
_CHUNK = 500


def new_owner() -> str:
    return f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{secrets.token_hex(8)}"


def owner_process(run_id: str = "") -> dict[str, Any]:
    """The claim columns that name this process: host, pid, start time, and the run it judges for."""
    from evalharness.runtime.process import this_process

    proc = this_process()
    return {"host": str(proc["host"])[:255], "pid": proc["pid"], "proc_start": proc["start"], "run_id": run_id[:80] or None}


def take(engine: Engine, keys: Sequence[str], owner: str, ttl: float = CLAIM_TTL_S,
         process: dict[str, Any] | None = None) -> set[str]:
    """Claim these keys for `owner` where nobody else holds a live claim; returns the keys this owner now holds.
    `process` (owner_process()) is recorded on each claim taken."""
    mine: set[str] = set()
    c = claims_t.c
    proc = process or {}
    for start in range(0, len(keys), _CHUNK):
        chunk = list(keys[start:start + _CHUNK])
        now = time.time()
        with engine.begin() as conn:
            upsert(conn, claims_t, [{"cache_key": k, "owner": owner, "expires_at": now + ttl, **proc} for k in chunk],
                   ["cache_key"])
            conn.execute(update(claims_t).where(c.cache_key.in_(chunk), c.expires_at < now)
                         .values(owner=owner, expires_at=now + ttl, failed=None, **proc))
            mine.update(r[0] for r in conn.execute(select(c.cache_key).where(c.cache_key.in_(chunk), c.owner == owner)))
    return mine


def failed_elsewhere(engine: Engine, keys: Sequence[str], owner: str) -> dict[str, str]:
    """Keys another owner holds marked failed, with the reason (and that owner's run when known)."""
    c = claims_t.c
    out: dict[str, str] = {}
    with engine.connect() as conn:
        for start in range(0, len(keys), _CHUNK):
            chunk = list(keys[start:start + _CHUNK])
            stmt = select(c.cache_key, c.failed, c.run_id).where(c.cache_key.in_(chunk), c.owner != owner, c.failed.is_not(None))
            for key, reason, run_id in conn.execute(stmt):
                out[key] = f"failed in another runner{f' (run {run_id})' if run_id else ''}: {reason}"
    return out


def mark_failed(engine: Engine, owner: str, reasons: dict[str, str]) -> None:
    """Mark pairs this owner holds as failed (the claims stay, so other runners do not pay to retry them)."""
    c = claims_t.c
    with engine.begin() as conn:
        for key, reason in reasons.items():
            conn.execute(update(claims_t).where(c.cache_key == key, c.owner == owner).values(failed=reason[:1000]))


def release_dead(engine: Engine, gone: Callable[[dict[str, Any]], bool], owner: str = "") -> int:
    """Release at once every claim whose owner ran on this host and is known dead (`gone(process)`, as for runs);
    another host's claims are left to expire. Returns the number of claims released."""
    from evalharness.runtime.process import this_process

    c = claims_t.c
    host = this_process()["host"]
    with engine.connect() as conn:
        owners = conn.execute(select(c.owner, c.pid, c.proc_start).where(c.host == host, c.owner != owner).distinct()).all()
    dead = [o for o, pid, start in owners if gone({"host": host, "pid": pid, "start": start})]
    released = 0
    with engine.begin() as conn:
        for start in range(0, len(dead), _CHUNK):
            released += conn.execute(delete(claims_t).where(c.owner.in_(dead[start:start + _CHUNK]))).rowcount or 0
    return released


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
    """Drop every claim of this owner (the runner is done); its failure marks expire FAILED_HOLD_S from now, so a
    runner still waiting on those pairs counts them failed instead of paying to retry them."""
    c = claims_t.c
    with engine.begin() as conn:
        conn.execute(delete(claims_t).where(c.owner == owner, c.failed.is_(None)))
        conn.execute(update(claims_t).where(c.owner == owner).values(expires_at=time.time() + FAILED_HOLD_S))
