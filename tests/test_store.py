"""The store: WAL SQLite, judgments committed as they arrive, the pool, PostgreSQL for teams."""

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import run_cli

from evalharness.errors import EvalHarnessError
from evalharness.judges.base import Judge, JudgeRequest
from evalharness.models import Guideline, Hit, Judgment, Query
from evalharness.pipeline.judging import Pair, judge_pairs
from evalharness.store import Store, content_hash, judgment_cache_key


class Killed(BaseException):
    """Stands for the process dying mid-run (like KeyboardInterrupt, it is no Exception and nothing catches it)."""


class StopAfter(Judge):
    """A judge that labels n pairs and then the process is 'killed'. (A real SIGKILL: test_llm_judges.)"""

    judge_id = "test:stop-after"
    max_concurrency = 1

    def __init__(self, n: int) -> None:
        self.n = n

    async def judge(self, request: JudgeRequest) -> Judgment:
        await asyncio.sleep(0)
        if self.n == 0:
            raise Killed
        self.n -= 1
        return Judgment("relevant", f"ok {request.hit.doc_id}", self.judge_id)


def _pairs(n: int, judge_id: str) -> list[Pair]:
    g = Guideline("q", (), "", "offline", hash="g" * 64)
    out = []
    for i in range(n):
        hit = Hit(f"d{i}", i + 1, 1.0, title=f"t{i}")
        chash = content_hash(hit)
        out.append(Pair(judgment_cache_key("q", chash, g.hash, judge_id), JudgeRequest(Query("q1", "q"), g, hit), chash))
    return out


def test_judgments_survive_an_interrupted_run(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'c.db'}")
    pairs = _pairs(10, StopAfter.judge_id)
    with pytest.raises(Killed):
        judge_pairs(StopAfter(4), store, pairs)
    fresh = Store(f"sqlite:///{tmp_path / 'c.db'}")  # a new process would see exactly this
    assert fresh.count_judgments() == 4
    outcome = judge_pairs(StopAfter(100), fresh, pairs)
    assert (outcome.cached, outcome.new) == (4, 6)


def test_sqlite_is_in_wal_mode(project: Path) -> None:
    assert run_cli(project, "run", "-e", "v1", "--top-k", "2").returncode == 0
    con = sqlite3.connect(project / ".evalharness" / "cache.db")
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"queries", "guidelines", "runs", "run_queries", "run_results", "judgments"} <= tables
    row = con.execute("SELECT label, rationale, judge_id FROM judgments LIMIT 1").fetchone()
    assert row[0] in ("relevant", "substitute", "irrelevant") and row[1] and row[2].startswith("offline:")


def test_unreachable_database_is_a_user_error() -> None:
    with pytest.raises(EvalHarnessError, match="cannot open store postgresql\\+psycopg://u:\\*\\*\\*@127.0.0.1:1/x"):
        Store("postgresql+psycopg://u:secretpw@127.0.0.1:1/x")


def test_postgresql_store_runs_the_pipeline(project: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = project / "evalharness.toml"
    cfg.write_text(cfg.read_text().replace('url = "sqlite:///.evalharness/cache.db"', f'url = "{postgres_url}"'))
    first = run_cli(project, "run", "-e", "v2", "--top-k", "5", "--json")
    assert first.returncode == 0, first.stderr
    second = run_cli(project, "run", "-e", "v2", "--top-k", "5", "--json")
    a, b = json.loads(first.stdout), json.loads(second.stdout)
    assert b["counts"]["judged_new"] == 0 and a["metrics"] == b["metrics"]
    store = Store(postgres_url)
    assert store.latest_run("v2").run_id == b["run_id"]
    assert len(store.run_queries(b["run_id"])) == 60
    # compare's bulk reads on PostgreSQL (driver rows: JSON decoded, pyformat binds): lists, products, pool
    from evalharness.store import runread
    from evalharness.store.runread import add_pairs, pair_pool, products_by_content, run_hits, run_lists

    stored = {q.id: q for q in store.run_queries(b["run_id"])}
    lists = run_lists(store, b["run_id"])
    for share in (0.0, 1.0):  # products found in one scan of the run's hits, then fetched place by place
        monkeypatch.setattr(runread, "LOOKUP_SHARE", share)
        hits = run_hits(store, b["run_id"], lists)
        assert {qid: [h.to_json() for h in hs] for qid, hs in hits.items()} == \
            {qid: [h.to_json() for h in q.hits] for qid, q in stored.items()}
    products = products_by_content(store, [(b["run_id"], lists)])
    assert set(products) == {c for q in stored.values() for c in q.content_hashes}
    wanted: dict = {}
    for q in lists:
        add_pairs(wanted, q.guideline_hash, q.doc_ids, q.content_hashes)
    pool = pair_pool(store, a["judge_id"], wanted, verdicts=True)  # the pairs' labels: a VALUES join on the server
    assert pool.size == sum(len(docs) for docs in wanted.values()) and pool.verdicts and all(pool.covered.values())
    store.close()
    both = run_cli(project, "compare", a["run_id"], b["run_id"], "--json")
    assert both.returncode == 0, both.stderr
    compared = json.loads(both.stdout)
    assert compared["baseline"]["unjudged_hits"] == 0
    assert all(row["delta"] == 0 for row in compared["metrics"])
    # compare's chunks in forked workers, each with its own connection to the server (a fresh interpreter: no threads)
    done = subprocess.run([sys.executable, "-c", PG_CHUNKS.format(root=str(project), runs=[a["run_id"], b["run_id"]])],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    cores = min(2, len(os.sched_getaffinity(0)))  # forked where two cores are there (else the chunks run one by one)
    assert json.loads(done.stdout) == {"usable": cores, "same_values": True, "same_tests": True, "same_findings": True, "queries": 60}


PG_CHUNKS = """
import json
import numpy as np
from pathlib import Path
from evalharness.compare.runs import compare_runs, resolve_run
from evalharness.runtime.forked import usable_workers
from evalharness.judges import make_judge
from evalharness.project import Project
from evalharness.store import Store
project = Project(Path({root!r}))
store = Store(project.store_url())
base, cand = (resolve_run(store, r) for r in {runs!r})
names = list(project.config.run.metrics)
one = compare_runs(project, store, base, [cand], make_judge("offline", project.config), names, for_report=True)
usable = usable_workers(2)
three = compare_runs(project, store, base, [cand], make_judge("offline", project.config), names, for_report=True, workers=2,
                     chunks=3)
print(json.dumps({{"usable": usable, "queries": len(three.queries),
                  "same_values": all(np.array_equal(x.values[m], y.values[m], equal_nan=True)
                                     for x, y in zip(one.sides, three.sides) for m in names),
                  "same_tests": [r.test for r in one.rows] == [r.test for r in three.rows],
                  "same_findings": one.findings == three.findings and one.products == three.products}}))
"""


def test_guidelines_are_recorded_once_per_hash(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'cache.db'}")
    try:
        row = {"hash": "a" * 64, "query": "red dress", "path": "guidelines/red-dress.md", "writer": "offline", "model": "",
               "requirements": [{"attribute": "color", "value": "red", "importance": "must"}], "text": "Red only."}
        store.record_guidelines([row, {**row, "hash": "b" * 64, "text": "Edited."}])
        store.record_guidelines([{**row, "text": "a later writer of the same hash is ignored"}])
    finally:
        store.close()
    rows = sqlite3.connect(tmp_path / "cache.db").execute("SELECT hash, text FROM guidelines ORDER BY hash").fetchall()
    assert rows == [("a" * 64, "Red only."), ("b" * 64, "Edited.")]


def test_saved_lists_read_back_as_saved_and_a_stored_row_is_left_alone(tmp_path: Path) -> None:
    import json

    from evalharness.store.db import StoredQuery

    store = Store(f"sqlite:///{tmp_path / 'cache.db'}")
    hits = [Hit("d1", 1, 2.5, title="Red \"quoted\" dress", price=19.99, image_url="/img/d1.png",
                attributes={"color": "red", "sizes": ["s", "m"]}), Hit("d2", 2, 1.25, description="ünïcode")]
    first = [StoredQuery("q1", "red dress", 3, "head", "g1", hits, ["c1", "c2"]), StoredQuery("q2", "nothing", 1, "tail", "g2", [], [])]
    store.start_run({"run_id": "r1", "engine_config": "e", "config_hash": "h", "config": {}, "judge_id": "j", "top_k": 10,
                     "queries_source": "q.csv"})
    store.save_results("r1", first)
    again = [StoredQuery("q1", "changed", 9, "tail", "g9", [Hit("other", 1, 9.0)], ["c9"])]
    store.save_results("r1", again)  # the same keys: what was stored first stays
    assert sorted(store.run_queries("r1"), key=lambda q: q.id) == first
    con = sqlite3.connect(tmp_path / "cache.db")
    stored = [r[0] for r in con.execute("SELECT hit FROM run_results WHERE run_id = 'r1' ORDER BY rank")]
    assert stored == [json.dumps(h.to_json()) for h in hits]  # the text SQLAlchemy's JSON type writes
    store.close()


@pytest.mark.usefixtures("ctrl_c_heard")
def test_ctrl_c_inside_a_write_leaves_no_transaction_holding_the_store(tmp_path: Path) -> None:
    # Ctrl-C is raised as the driver's executemany of a run's hit rows returns, inside the transaction (as in the
    # demo, whose runs wait on each other's writes): SQLAlchemy invalidates the connection, but the statement (kept
    # alive by the traceback) left SQLite's connection open, so its transaction held the write lock and marking the
    # run interrupted failed after the busy timeout
    import signal

    from sqlalchemy import event

    from evalharness.store.db import StoredQuery

    db = tmp_path / "c.db"
    store = Store(f"sqlite:///{db}")
    store.start_run({"run_id": "r1", "engine_config": "v1", "config_hash": "h", "config": {}, "judge_id": "j", "top_k": 3,
                     "queries_source": "q.csv"})

    def interrupt_the_hits(conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ANN001
        if "run_results" in statement and statement.startswith("INSERT"):
            signal.raise_signal(signal.SIGINT)

    event.listen(store.engine, "after_cursor_execute", interrupt_the_hits)
    hits = [Hit(f"d{i}", i + 1, 1.0, title=f"t{i}") for i in range(3)]
    with pytest.raises(KeyboardInterrupt) as interrupted:
        store.save_results("r1", [StoredQuery("q1", "q", 1, "head", "g" * 64, hits, [content_hash(h) for h in hits])])
    event.remove(store.engine, "after_cursor_execute", interrupt_the_hits)
    assert interrupted.traceback  # still alive, as in the handler that marks the run interrupted
    with sqlite3.connect(db, timeout=0) as conn:  # no transaction holds the write lock: another writer goes at once
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("ROLLBACK")
    store.finish_run("r1", "interrupted", {}, {}, 0.0, 1.0)
    assert store.get_run("r1").status == "interrupted"
    assert store.run_queries("r1") == []  # the interrupted transaction wrote nothing


CLOSE_INTERRUPTED = """
import sys
from evalharness.store import Store

store = Store(sys.argv[1])
store.count_judgments()  # a pooled connection to close
def interrupted(connection):
    raise KeyboardInterrupt
store.engine.dialect.do_close = interrupted  # Ctrl-C as the pool closes it
try:
    store.engine.dispose()
except KeyboardInterrupt:
    print("interrupted", file=sys.stderr)
"""


@pytest.mark.usefixtures("ctrl_c_heard")
def test_ctrl_c_while_the_pool_closes_a_connection_prints_no_traceback(tmp_path: Path) -> None:
    # SQLAlchemy's pool logs the interrupt with a traceback before re-raising it; nothing configured logging, so
    # Python printed it on stderr beside the command's one line
    done = subprocess.run([sys.executable, "-c", CLOSE_INTERRUPTED, f"sqlite:///{tmp_path / 'c.db'}"], capture_output=True,
                          text=True, timeout=120)
    assert done.stderr == "interrupted\n", done.stderr


def test_the_pool_keeps_verdicts_only_where_asked(project: Path) -> None:
    # compare reads verdicts only for the docs its verdict measures reach (each list's top k): the labels, coverage
    # and those docs' verdicts are the full pool's
    from evalharness.store.runread import add_pairs, pair_pool, run_lists

    done = run_cli(project, "run", "-e", "v2", "--top-k", "8", "--json")
    assert done.returncode == 0, done.stderr
    store = Store(f"sqlite:///{project / '.evalharness' / 'cache.db'}")
    try:
        run_id = json.loads(done.stdout)["run_id"]
        lists = run_lists(store, run_id)
        judge_id = store.get_run(run_id).judge_id
        wanted: dict = {}
        for q in lists:
            add_pairs(wanted, q.guideline_hash, q.doc_ids, q.content_hashes)
        top = {q.guideline_hash: set(q.doc_ids[:3]) for q in lists}
        full = pair_pool(store, judge_id, wanted, verdicts=True)
        some = pair_pool(store, judge_id, wanted, verdicts=True, verdict_docs=top)
        assert some.labels == full.labels and some.covered == full.covered and full.verdicts
        assert some.verdicts == {g: kept for g, docs in full.verdicts.items()
                                 if (kept := {d: v for d, v in docs.items() if d in top.get(g, ())})}
        assert sum(map(len, some.verdicts.values())) < sum(map(len, full.verdicts.values()))
    finally:
        store.close()
