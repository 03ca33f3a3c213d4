"""Batch input files: request lines written to a file on disk until the provider's limit, then submitted and
recorded. Memory holds one line at a time, whatever the number of pairs.

Order of records, so that a process killed at any point resumes from the store: the batch row is inserted
(`creating`) and each pair claimed under it before its line is written; after the provider accepts the file the
row gets the provider's id (`submitted`) and its pairs become `pending`. A `creating` row whose process has died
is found again at the provider by our id, or its pairs go back to `retry` (batch/recover.py)."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from sqlalchemy import delete

from evalharness.batch.base import BatchClient, Limits
from evalharness.errors import EvalHarnessError
from evalharness.pipeline.runstate import this_process
from evalharness.store import Store
from evalharness.store.batches import (
    ABANDONED,
    CREATING,
    FAILED,
    PENDING,
    QUEUED,
    RETRY,
    SUBMITTED,
    batch_pairs_t,
    batches_t,
    insert_batch,
    set_pairs,
)
from evalharness.store.db import utcnow


def new_batch_id() -> str:
    return f"ehb-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{secrets.token_hex(6)}"


def effective_limits(client: BatchClient, max_requests: int, max_mb: float) -> Limits:
    """The provider's limits, lowered by `[judge] batch_max_requests` / `batch_max_mb` when set."""
    requests = min(client.limits.requests, max_requests) if max_requests else client.limits.requests
    size = min(client.limits.bytes, int(max_mb * 1024 * 1024)) if max_mb else client.limits.bytes
    return Limits(requests, size)


@dataclass
class _Open:
    id: str
    path: Path
    fh: IO[bytes]
    claimed: dict[str, None] = field(default_factory=dict)  # claimed under this batch, line not yet written
    written: list[str] = field(default_factory=list)
    bytes: int = 0


class BatchFiles:
    """Claims pairs into the open batch, writes their lines, and submits each batch when it is full."""

    def __init__(self, store: Store, client: BatchClient, limits: Limits, details: dict[str, Any], folder: Path) -> None:
        self.store, self.client, self.limits, self.details, self.folder = store, client, limits, details, folder
        self.current: _Open | None = None
        self.submitted: list[str] = []

    @property
    def batch_id(self) -> str:
        """The batch the next claims go to (opened now if none is)."""
        return self._ensure().id

    def _ensure(self) -> _Open:
        if self.current is None:
            self.current = self._new()
        return self.current

    def _new(self) -> _Open:
        """A new batch: its row (`creating`) first, then its file."""
        self.folder.mkdir(parents=True, exist_ok=True)
        bid = new_batch_id()
        now = utcnow()
        insert_batch(self.store.engine, {"id": bid, "provider": self.client.name, "model": self.client.model,
                                         "provider_id": None, "state": CREATING, "provider_status": "", "requests": 0,
                                         "bytes": 0, "created_at": now, "updated_at": now, "submitter": this_process(),
                                         "details": self.details})
        path = self.folder / f"{bid}.jsonl"
        return _Open(bid, path, path.open("wb"))

    def note_claimed(self, keys: list[str]) -> None:
        """These pairs were just claimed under `batch_id`; their lines follow through `write`."""
        self._ensure().claimed.update(dict.fromkeys(keys))

    def drop(self, key: str, reason: str) -> None:
        """A claimed pair whose request cannot be sent: failed, with the reason (a new run tries it again)."""
        self._ensure().claimed.pop(key, None)
        with self.store.engine.begin() as conn:
            set_pairs(conn, [key], [QUEUED], state=FAILED, batch_id=None, error=reason, updated_at=utcnow())

    def fits_alone(self, line: bytes) -> bool:
        return len(line) <= self.limits.bytes

    def write(self, key: str, line: bytes) -> None:
        """Write one claimed pair's line; a full batch is submitted first and the claims carried to the next."""
        cur = self._ensure()
        if cur.written and (len(cur.written) >= self.limits.requests or cur.bytes + len(line) > self.limits.bytes):
            cur.claimed.pop(key, None)
            rest = list(cur.claimed)
            cur.claimed = {}
            nxt = self._new()
            with self.store.engine.begin() as conn:  # the claims not yet written move to the next batch, before the
                set_pairs(conn, rest + [key], [QUEUED], batch_id=nxt.id)  # full one is sent (a kill leaves none behind)
            self.flush()
            self.current = nxt
            nxt.claimed = dict.fromkeys(rest)
            cur = nxt
        else:
            cur.claimed.pop(key, None)
        cur.fh.write(line)
        cur.written.append(key)
        cur.bytes += len(line)

    def flush(self) -> None:
        """Submit the open batch (or drop it when empty) and record the provider's id."""
        cur, self.current = self.current, None
        if cur is None:
            return
        cur.fh.close()
        engine = self.store.engine
        if not cur.written:
            with engine.begin() as conn:
                if cur.claimed:
                    conn.execute(delete(batch_pairs_t).where(batch_pairs_t.c.cache_key.in_(list(cur.claimed)),
                                                             batch_pairs_t.c.batch_id == cur.id))
                conn.execute(delete(batches_t).where(batches_t.c.id == cur.id))
            cur.path.unlink(missing_ok=True)
            return
        with engine.begin() as conn:
            conn.execute(batches_t.update().where(batches_t.c.id == cur.id).values(requests=len(cur.written), bytes=cur.bytes,
                                                                                    updated_at=utcnow()))
        try:
            provider_id = self.client.submit(cur.path, cur.id, len(cur.written))
        except BaseException:
            self.current = cur  # resolved now by abandon_unsubmitted (the caller's error handling)
            raise
        with engine.begin() as conn:
            conn.execute(batches_t.update().where(batches_t.c.id == cur.id).values(
                provider_id=provider_id, state=SUBMITTED, provider_status="submitted", updated_at=utcnow()))
            set_pairs(conn, cur.written, [QUEUED], state=PENDING, attempts=batch_pairs_t.c.attempts + 1, updated_at=utcnow())
        cur.path.unlink(missing_ok=True)
        self.submitted.append(cur.id)

    def abandon_unsubmitted(self) -> None:
        """After an error: close the open file and resolve its batch now (adopted if the provider did create it,
        else its pairs go back to `retry`); if the provider cannot even be asked, the row stays `creating` for the
        next collect after this process has ended."""
        cur, self.current = self.current, None
        if cur is None:
            return
        if not cur.fh.closed:
            cur.fh.close()
        cur.path.unlink(missing_ok=True)
        try:
            resolve_unrecorded(self.store, self.client, cur.id)
        except EvalHarnessError:
            pass  # the provider is unreachable now: `batches collect` resolves the row once this process is gone


def resolve_unrecorded(store: Store, client: BatchClient, batch_id: str) -> str | None:
    """A batch row left `creating`: adopt the provider's batch created under our id, or send its pairs again."""
    found = client.find(batch_id)
    c = batch_pairs_t.c
    with store.engine.begin() as conn:
        if found is not None:  # created at the provider, not recorded: adopt it
            conn.execute(batch_pairs_t.update().where(c.batch_id == batch_id, c.state == QUEUED)
                         .values(state=PENDING, attempts=c.attempts + 1, updated_at=utcnow()))
        else:  # never created: its pairs are sent again (counted as a send, so a file the provider refuses ends)
            conn.execute(batch_pairs_t.update().where(c.batch_id == batch_id, c.state == QUEUED)
                         .values(state=RETRY, attempts=c.attempts + 1,
                                 error="the batch was never created at the provider", updated_at=utcnow()))
        conn.execute(batches_t.update().where(batches_t.c.id == batch_id).values(
            state=SUBMITTED if found else ABANDONED, provider_id=found,
            provider_status="recovered" if found else "never created", updated_at=utcnow()))
    return found
