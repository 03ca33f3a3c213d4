"""One writer thread for judgments: a prepared insert-or-ignore, executemany, a commit per small group.

The judge path hands each new judgment to `put` (a list append, no database work on the event loop), which
passes each group to the writer thread: what arrived within 50 ms, or a few dozen rows. The writer
commits each group (and any others already waiting) in one transaction that also drops the runner's claims on
those pairs, so a killed run loses only the judgments in flight or in the last write group. A local judge
(offline rules, thousands of pairs a second) writes from its own thread in groups of what it computed in the
last few tens of milliseconds. The writer keeps one connection of its own; on SQLite that connection checkpoints
the WAL less often and caches more pages (fewer fsyncs and re-reads of the index pages that random cache keys
touch), which changes nothing about what a killed process keeps. `close` writes what is left; an error in the
writer is raised there (or at the next `put`). Ctrl-C and SIGTERM wait for a group's commit and for `close`.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import insert
from sqlalchemy.engine import Connection, Engine

from evalharness.models import Judgment
from evalharness.runtime.interrupts import interrupts_deferred
from evalharness.store.claims import release_in, renew
from evalharness.store.tables import judgments_t

GROUP_ROWS = 48
GROUP_SECONDS = 0.05  # answers trickle in: 5 ms made groups of 3-4 rows at 640 judgments/s, a transaction each
LOCAL_GROUP_ROWS = 2000  # a local judge's group: what it computed in LOCAL_GROUP_SECONDS, at most this many rows
LOCAL_GROUP_SECONDS = 0.05
SQLITE_WRITER_PRAGMAS = ("PRAGMA wal_autocheckpoint=8192", "PRAGMA cache_size=-32768")  # 32 MB of WAL between checkpoints, 32 MB cache
_STOP = object()


def utcnow_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())


def judgment_row(key: str, query: str, doc_id: str, content_hash: str, guideline_hash: str, j: Judgment) -> dict[str, Any]:
    return {"cache_key": key, "judge_id": j.judge_id, "query": query, "doc_id": doc_id, "content_hash": content_hash,
            "guideline_hash": guideline_hash, "label": j.label, "rationale": j.rationale, "input_tokens": j.input_tokens,
            "output_tokens": j.output_tokens, "cost_usd": j.cost_usd, "latency_ms": j.latency_ms,
            "created_at": utcnow_iso(), "details": j.details or None, "confidence": j.confidence}


def insert_ignore(engine: Engine):
    """A prepared INSERT of a judgment row that leaves a row already stored under the same key alone."""
    dialect = engine.dialect.name
    if dialect in ("sqlite", "postgresql"):
        mod = __import__(f"sqlalchemy.dialects.{dialect}", fromlist=["insert"])
        return mod.insert(judgments_t).on_conflict_do_nothing(index_elements=["cache_key"])
    return insert(judgments_t).prefix_with("IGNORE")


class JudgmentWriter:
    """Writes judgment rows in small groups from one thread; renews `owner`'s claims while it runs.

    `threaded=False` (a judge that computes locally, with no event loop and no claims): `put` itself writes each
    group, so the writer never waits for the computing thread to hand over the GIL.
    """

    def __init__(self, engine: Engine, owner: str | None = None, renew_every: float = 20.0,
                 on_written: Callable[[list[str]], None] | None = None, threaded: bool = True) -> None:
        self.engine = engine
        self.owner = owner
        self.renew_every = renew_every
        self.on_written = on_written
        self._stmt = insert_ignore(engine)
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._error: BaseException | None = None
        self.written = 0
        self._pending: list[dict[str, Any]] = []
        self._pending_since = 0.0
        self._conn: Connection | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._thread: threading.Thread | None = None
        if threaded:
            self._thread = threading.Thread(target=self._loop, name="judgment-writer", daemon=True)
            self._thread.start()

    def put(self, row: dict[str, Any]) -> None:
        if self._error is not None:
            raise self._error
        pending = self._pending
        if self._thread is None:
            if not pending:
                self._pending_since = time.monotonic()
            pending.append(row)
            if len(pending) >= LOCAL_GROUP_ROWS or time.monotonic() - self._pending_since >= LOCAL_GROUP_SECONDS:
                self._pending = []
                self._write(pending)
            return
        pending.append(row)
        if len(pending) >= GROUP_ROWS:
            self._hand_over()
        elif len(pending) == 1:  # a new group: handed over GROUP_SECONDS from now (one wake-up of the writer per group)
            try:
                self._timer = asyncio.get_running_loop().call_later(GROUP_SECONDS, self._hand_over)
            except RuntimeError:  # not on an event loop: no timer to wait for, so at once
                self._hand_over()

    def _hand_over(self) -> None:
        """The group gathered on the judging side goes to the writer thread."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._pending:
            group, self._pending = self._pending, []
            self._queue.put(group)

    def _loop(self) -> None:
        try:
            self._run_loop()
        finally:
            self._disconnect()

    def _run_loop(self) -> None:
        last_renew = time.monotonic()
        stopping = False
        while not stopping:
            group: list[dict[str, Any]] = []
            try:
                item = self._queue.get(timeout=self.renew_every / 2 if self.owner else None)
            except queue.Empty:
                item = None
            while item is not None:  # this group and any others already handed over, up to GROUP_ROWS
                if item is _STOP:
                    stopping = True
                    break
                group.extend(item)
                if len(group) >= GROUP_ROWS:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    item = None
            try:
                if group:
                    self._write(group)
                if self.owner and time.monotonic() - last_renew >= self.renew_every:
                    renew(self.engine, self.owner)
                    last_renew = time.monotonic()
            except BaseException as exc:  # noqa: BLE001 - handed to the judge path, which raises it
                self._error = exc
                return

    def _connection(self) -> Connection:
        """The writer's own connection (opened in the thread that writes); on SQLite kept out of the pool, so its
        pragmas end with it."""
        if self._conn is None:
            conn = self.engine.connect()
            url = self.engine.url
            if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:") and "memory" not in str(url.query):
                conn.detach()
                for pragma in SQLITE_WRITER_PRAGMAS:
                    conn.exec_driver_sql(pragma)
                conn.commit()
            self._conn = conn
        return self._conn

    def _disconnect(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            conn.close()

    def _write(self, group: list[dict[str, Any]]) -> None:
        """One group in one transaction. A Ctrl-C or SIGTERM (on the main thread: a local judge) waits until it is
        committed: the group was computed or paid for, and a transaction cut short would hold the store's write lock."""
        conn = self._connection()
        with interrupts_deferred():
            with conn.begin():
                conn.execute(self._stmt, group)
                if self.owner:
                    release_in(conn, [r["cache_key"] for r in group], self.owner)
            self.written += len(group)
            if self.on_written is not None:
                self.on_written([r["cache_key"] for r in group])

    def close(self) -> None:
        """Write what is queued and stop; raises the writer's error if it had one."""
        if self._thread is None:
            group, self._pending = self._pending, []
            try:
                if group:
                    self._write(group)
            finally:
                self._disconnect()
            return
        self._hand_over()
        if self._thread.is_alive():
            self._queue.put(_STOP)
            with interrupts_deferred():  # a second Ctrl-C must not leave the last groups unwritten in a daemon thread
                self._thread.join()
        if self._error is not None:
            raise self._error
