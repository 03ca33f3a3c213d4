"""The judgment writer: groups, its own connection, and what a killed offline fill keeps."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from evalharness.models import Judgment
from evalharness.store import Store
from evalharness.store import writer as writer_mod
from evalharness.store.writer import JudgmentWriter, judgment_row

REPO = Path(__file__).resolve().parents[1]


def _rows(n: int, prefix: str = "k") -> list[dict]:
    j = Judgment("relevant", "meets every requirement", "test:writer", details={"verdicts": []})
    return [judgment_row(f"{prefix}{i:063d}", "q", f"d{i}", "c" * 64, "g" * 64, j) for i in range(n)]


def _count(db: Path) -> int:
    with sqlite3.connect(db) as conn:  # another connection, as another process would see it
        return conn.execute("SELECT count(*) FROM judgments").fetchone()[0]


def test_a_local_writer_commits_each_full_group_and_the_rest_on_close(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(writer_mod, "LOCAL_GROUP_ROWS", 5)
    monkeypatch.setattr(writer_mod, "LOCAL_GROUP_SECONDS", 3600.0)
    db = tmp_path / "c.db"
    store = Store(f"sqlite:///{db}")
    writer = JudgmentWriter(store.engine, threaded=False)
    rows = _rows(12)
    for row in rows[:4]:
        writer.put(row)
    assert _count(db) == 0
    writer.put(rows[4])
    assert _count(db) == 5
    for row in rows[5:]:
        writer.put(row)
    assert _count(db) == 10
    writer.close()
    assert _count(db) == 12 and writer.written == 12


def test_a_local_writer_commits_what_it_has_once_its_group_is_old_enough(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(writer_mod, "LOCAL_GROUP_SECONDS", 0.05)
    db = tmp_path / "c.db"
    writer = JudgmentWriter(Store(f"sqlite:///{db}").engine, threaded=False)
    first, second = _rows(2)
    writer.put(first)
    time.sleep(0.06)
    writer.put(second)  # the group began more than LOCAL_GROUP_SECONDS ago: both are committed now
    assert _count(db) == 2
    writer.close()


def test_the_writers_sqlite_pragmas_stay_on_its_own_connection(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'c.db'}")
    writer = JudgmentWriter(store.engine, threaded=False)
    for row in _rows(3):
        writer.put(row)
    writer.close()
    assert writer._conn is None
    with store.engine.connect() as conn:  # the pool's connections keep SQLite's defaults
        assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 1000
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    assert store.count_judgments() == 3


def test_a_threaded_writer_writes_every_row_and_releases_its_connection(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'c.db'}")
    writer = JudgmentWriter(store.engine)
    for row in _rows(100):
        writer.put(row)
    writer.close()
    assert store.count_judgments() == 100 and writer.written == 100 and writer._conn is None


FILL = textwrap.dedent("""
    import sys
    from evalharness.judges.offline import OfflineJudge
    from evalharness.judges.base import JudgeRequest
    from evalharness.pipeline.judging import Pair, judge_pairs
    from evalharness.models import Guideline, Hit, Query, Requirement
    from evalharness.store import Store

    g = Guideline("red shoe", (Requirement("product_type", "shoe", "must"),), "", "offline", hash="g" * 64)
    pairs = (Pair(f"{i:064d}", JudgeRequest(Query("q1", "red shoe"), g, Hit(f"d{i}", 1, 1.0, title=f"red shoe {i}")), "c" * 64)
             for i in range(int(sys.argv[2])))
    judge_pairs(OfflineJudge(), Store(sys.argv[1]), pairs)
""")


def test_a_killed_offline_fill_keeps_every_group_it_committed(tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    Store(f"sqlite:///{db}").close()
    proc = subprocess.Popen([sys.executable, "-c", FILL, f"sqlite:///{db}", "3000000"], cwd=REPO)
    deadline = time.time() + 120
    seen = 0
    while time.time() < deadline and seen < 2 * writer_mod.LOCAL_GROUP_ROWS and proc.poll() is None:
        time.sleep(0.2)
        try:
            seen = _count(db)
        except sqlite3.OperationalError:  # busy for a moment: look again
            continue
    assert proc.poll() is None, "the fill ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        kept = conn.execute("SELECT count(*) FROM judgments").fetchone()[0]
    assert kept >= seen > 0  # what was committed before the kill is all there
    outcome = subprocess.run([sys.executable, "-c", FILL, f"sqlite:///{db}", str(kept + 10)], cwd=REPO, capture_output=True, text=True)
    assert outcome.returncode == 0, outcome.stderr
    assert _count(db) == kept + 10  # the next run judges only what is missing


def test_on_an_event_loop_a_group_reaches_the_store_within_a_few_milliseconds(tmp_path: Path) -> None:
    import asyncio

    db = tmp_path / "c.db"
    writer = JudgmentWriter(Store(f"sqlite:///{db}").engine)
    rows = _rows(2 * writer_mod.GROUP_ROWS + 3)

    async def judge() -> int:
        for row in rows:
            writer.put(row)  # two full groups go at once, the last three when their few milliseconds are up
        deadline = time.monotonic() + 30
        while _count(db) < len(rows) and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        return _count(db)

    assert asyncio.run(judge()) == len(rows)  # committed while the writer is still open
    writer.close()
    assert writer.written == len(rows)


@pytest.mark.usefixtures("ctrl_c_heard")
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_inside_a_local_write_waits_for_its_commit(tmp_path: Path, sig: signal.Signals) -> None:
    # the interrupt arrives as the group's INSERT is sent (in the transaction): before, the group was lost and the
    # open transaction kept the write lock, so marking the run interrupted waited out the busy timeout and failed
    from sqlalchemy import event

    db = tmp_path / "c.db"
    store = Store(f"sqlite:///{db}")
    previous = signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))  # as cli.main does
    interrupted: list[str] = []

    def interrupt_the_insert(conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ANN001
        if statement.startswith("INSERT INTO judgments") and not interrupted:
            interrupted.append(statement)
            signal.raise_signal(sig)

    event.listen(store.engine, "before_cursor_execute", interrupt_the_insert)
    try:
        writer = JudgmentWriter(store.engine, threaded=False)
        for row in _rows(7):
            writer.put(row)
        with pytest.raises(KeyboardInterrupt):
            writer.close()
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert interrupted and writer.written == 7 and _count(db) == 7  # the interrupt came after the commit
    with sqlite3.connect(db, timeout=0) as conn:  # and no transaction holds the write lock: another writes at once
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("ROLLBACK")
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the handlers are back


@pytest.mark.usefixtures("ctrl_c_heard")
def test_interrupts_are_held_only_on_the_main_thread(tmp_path: Path) -> None:
    import threading

    from evalharness.runtime.interrupts import interrupts_deferred

    seen: list[object] = []

    def elsewhere() -> None:
        with interrupts_deferred():
            seen.append(signal.getsignal(signal.SIGINT))  # unchanged: handlers cannot be set off the main thread

    thread = threading.Thread(target=elsewhere)
    thread.start()
    thread.join()
    assert seen == [signal.default_int_handler]
    with pytest.raises(KeyboardInterrupt):
        with interrupts_deferred():
            signal.raise_signal(signal.SIGINT)
            seen.append("after the signal")  # the block goes on; the interrupt comes at its end
    assert seen[-1] == "after the signal"
