"""A run streams a chunk of queries at a time: the same figures and stored rows whatever the chunk size, a cached
rerun writes no hit rows (it shares the earlier run's), and each guideline file is parsed at most once per command."""

import dataclasses
import math
import sqlite3
from pathlib import Path

import pytest
from conftest import make_project

import evalharness.guidelines.files as files
import evalharness.pipeline.stream as stream
from evalharness.judges import make_judge
from evalharness.pipeline.run import RunOutcome, RunRequest, run_engine
from evalharness.project import Project
from evalharness.querylog.querysets import read_query_set
from evalharness.store import Store

METRICS = ["nDCG@10", "P(rel=2)@10", "RR(rel=2)", "Judged@10", "AttrMatch(color)@10", "ReqMet@10", "VQ@10"]


def _run(project: Project, store: Store, engine: str = "v2", top_k: int = 10) -> RunOutcome:
    cfg = project.config
    queries = read_query_set(project.root / "queries" / "demo.csv")
    req = RunRequest(project.engine(engine), queries, "demo.csv", make_judge("offline", cfg), top_k, METRICS, "offline")
    return run_engine(project, store, req)


def _same(a: dict[str, dict[str, float]], b: dict[str, dict[str, float]]) -> bool:
    """Per-query values equal (NaN, a query outside a measure's population, equals NaN)."""
    return a.keys() == b.keys() and all(
        a[q].keys() == b[q].keys() and all(x == y or (math.isnan(x) and math.isnan(y)) for x, y in
                                           ((a[q][n], b[q][n]) for n in a[q])) for q in a)


def _hits(store: Store, run_id: str, root: Path | None = None) -> dict[str, list]:
    """A run's hits as stored (image paths relative to the project `root`, when given)."""
    out = {q.id: [h.to_json() for h in q.hits] for q in store.run_queries(run_id)}
    for hits in out.values():
        for h in hits:
            h["image_url"] = h["image_url"].replace(str(root), "<root>") if root and h["image_url"] else h["image_url"]
    return out


def _result_rows(project: Project, run_id: str) -> int:
    with sqlite3.connect(project.root / ".evalharness" / "cache.db") as db:
        return db.execute("SELECT COUNT(*) FROM run_results WHERE run_id = ?", (run_id,)).fetchone()[0]


def test_small_chunks_give_the_figures_and_rows_of_one_chunk(tmp_path: Path, demo_dir: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    one = Project(make_project(tmp_path / "one", demo_dir, n_queries=40))
    small = Project(make_project(tmp_path / "small", demo_dir, n_queries=40))
    monkeypatch.setattr(stream, "CHUNK_HITS", 10**6)
    s1 = Store(one.store_url())
    whole = [_run(one, s1), _run(one, s1)]
    monkeypatch.setattr(stream, "CHUNK_HITS", 25)  # two or three queries a chunk at top 10
    s2 = Store(small.store_url())
    chunked = [_run(small, s2), _run(small, s2)]
    for a, b in zip(whole, chunked):
        assert a.metrics == b.metrics and _same(a.per_query, b.per_query)
        assert a.counts == b.counts and a.status == b.status == "finished"
        assert _hits(s1, a.run_id, one.root) == _hits(s2, b.run_id, small.root)
    assert chunked[0].counts["judged_new"] > 0 and chunked[1].counts["judged_new"] == 0
    s1.close()
    s2.close()


def test_a_cached_rerun_writes_no_hit_rows_and_reads_back_the_same_hits(tmp_path: Path, demo_dir: Path) -> None:
    project = Project(make_project(tmp_path / "proj", demo_dir, n_queries=30))
    store = Store(project.store_url())
    first, again = _run(project, store), _run(project, store)
    assert _result_rows(project, first.run_id) == first.counts["hits"] > 0
    assert _result_rows(project, again.run_id) == 0  # every list unchanged: the first run's rows are shared
    assert _hits(store, first.run_id) == _hits(store, again.run_id)
    assert first.metrics == again.metrics and _same(first.per_query, again.per_query)
    third = _run(project, store, top_k=5)  # other lists: written in full
    assert _result_rows(project, third.run_id) == third.counts["hits"]
    fourth = _run(project, store)  # the newest run of v2 is the top 5 (written again) or, started in the same second, the first
    assert _result_rows(project, fourth.run_id) in (0, fourth.counts["hits"])
    assert _hits(store, fourth.run_id) == _hits(store, first.run_id)
    store.close()


def test_shared_rows_serve_comparisons_and_reports(tmp_path: Path, demo_dir: Path) -> None:
    from evalharness.store.runread import products_by_content, run_hits, run_lists

    project = Project(make_project(tmp_path / "proj", demo_dir, n_queries=20))
    store = Store(project.store_url())
    first, again = _run(project, store), _run(project, store)
    for lookup_share in (0.0, 1.0):  # products fetched by key, or found in a scan of the run's own rows
        import evalharness.store.runread as runread

        runread.LOOKUP_SHARE, saved = lookup_share, runread.LOOKUP_SHARE
        try:
            lists = run_lists(store, again.run_id)
            assert all(q.results_run == first.run_id for q in lists if q.doc_ids)
            decoded = run_hits(store, again.run_id, lists)
            assert {q: [h.to_json() for h in hs] for q, hs in decoded.items()} == _hits(store, first.run_id)
            assert products_by_content(store, [(again.run_id, lists)]) == products_by_content(
                store, [(first.run_id, run_lists(store, first.run_id))])
        finally:
            runread.LOOKUP_SHARE = saved
    store.close()


def test_each_guideline_file_is_parsed_once_per_command(tmp_path: Path, demo_dir: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    project = Project(make_project(tmp_path / "proj", demo_dir, n_queries=25))
    monkeypatch.setattr(stream, "CHUNK_HITS", 30)
    files._PARSED.clear()
    parsed: list[str] = []
    real = files._parse
    monkeypatch.setattr(files, "_parse", lambda path, raw, digest: parsed.append(str(path)) or real(path, raw, digest))
    store = Store(project.store_url())
    _run(project, store, "v1")  # writes every guideline file
    _run(project, store, "v2")  # the same queries: every file read back from the store by its hash
    assert len(parsed) == len(set(parsed)) == len(list(project.guidelines_dir.glob("*.md")))
    files._PARSED.clear()
    parsed.clear()
    _run(project, store, "v2")  # a new command: files the store recorded are not parsed at all
    assert parsed == []
    edited = next(project.guidelines_dir.glob("*.md"))
    edited.write_text(edited.read_text().replace("\n---\n", "\n---\nEdited by hand.\n", 1))
    _run(project, store, "v2")
    assert parsed == [str(edited)]
    store.close()


def test_the_guideline_parse_memo_stays_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from evalharness.models import Guideline, Requirement

    monkeypatch.setattr(files, "_PARSED_MAX", 20)
    files._PARSED.clear()
    for i in range(files._PARSED_MAX + 10):
        g = Guideline(f"query {i}", (Requirement("product_type", "x", "must"),), "Relevant: x.", "offline")
        files.write_guideline(tmp_path, g)
    assert len(files._PARSED) == files._PARSED_MAX
    assert dataclasses.replace(files.parse_guideline(files.guideline_path(tmp_path, "query 0"))).query == "query 0"


def test_streamed_runs_and_shared_rows_on_postgresql(tmp_path: Path, demo_dir: Path, fresh_postgres_url: str,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    import sqlalchemy

    project = Project(make_project(tmp_path / "proj", demo_dir, n_queries=20))
    monkeypatch.setattr(stream, "CHUNK_HITS", 40)
    store = Store(fresh_postgres_url)
    first, again = _run(project, store), _run(project, store)
    local = Store(project.store_url())  # the same runs on SQLite: the same figures
    reference = _run(project, local)
    assert first.metrics == again.metrics == reference.metrics and _same(first.per_query, reference.per_query)
    with store.engine.connect() as conn:
        count = "SELECT COUNT(*) FROM run_results WHERE run_id = :r"
        assert conn.execute(sqlalchemy.text(count), {"r": first.run_id}).scalar_one() == first.counts["hits"]
        assert conn.execute(sqlalchemy.text(count), {"r": again.run_id}).scalar_one() == 0
    assert _hits(store, again.run_id) == _hits(store, first.run_id) == _hits(local, reference.run_id)
    store.close()
    local.close()


def test_failed_pair_keys_are_located_in_the_stored_lists(tmp_path: Path, demo_dir: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from evalharness.store import judgment_cache_key
    from evalharness.store.runread import run_lists

    project = Project(make_project(tmp_path / "proj", demo_dir, n_queries=12))
    monkeypatch.setattr(stream, "CHUNK_HITS", 20)
    store = Store(project.store_url())
    run = _run(project, store)
    lists = [q for q in run_lists(store, run.run_id) if q.doc_ids]
    picked = {judgment_cache_key(q.text, q.content_hashes[-1], q.guideline_hash, run.judge_id): (q.id, q.doc_ids[-1])
              for q in (lists[0], lists[-1])}
    failed = {key: f"reason {i}" for i, key in enumerate(picked)}
    queries = read_query_set(project.root / "queries" / "demo.csv")
    found = stream.locate_failures(store, run.run_id, queries, 10, failed, [run.judge_id, "other-judge"])
    assert found == [{"query_id": qid, "doc_id": doc, "reason": failed[key]} for key, (qid, doc) in picked.items()]
    store.close()


def test_runs_scored_together_in_chunks_match_the_whole_pool(tmp_path: Path, demo_dir: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """`run -b`: both runs scored on their shared pool a chunk at a time give what scoring them at once gives."""
    from evalharness.pipeline.run import evaluate_together

    project = Project(make_project(tmp_path / "proj", demo_dir, n_queries=30))
    store = Store(project.store_url())
    runs = [_run(project, store, "v1"), _run(project, store, "v2")]
    ids = [r.run_id for r in runs]
    whole = evaluate_together(store, runs[0].judge_id, [store.run_queries(i) for i in ids], METRICS, project)
    monkeypatch.setattr(stream, "CHUNK_HITS", 25)
    queries = read_query_set(project.root / "queries" / "demo.csv")
    chunked = stream.score_streamed_runs(project, store, ids, runs[0].judge_id, queries, METRICS, 10, [True, True])
    assert all(_same(a, b) for a, b in zip(whole, chunked)) and len(chunked[0]) == 30
    store.close()


@pytest.mark.parametrize("n, top_k, first", [(100, 30, 1000), (100, 100, 1000), (7, 5000, 1000), (0, 10, 1000), (40, 10, None)])
def test_query_chunks_cover_every_query_once_in_order(n: int, top_k: int, first: int | None) -> None:
    queries = list(range(n))
    parts = list(stream.query_chunks(queries, top_k, first=first))  # type: ignore[arg-type]
    assert [q for part in parts for q in part] == queries and all(parts)
    if first is not None and n:
        assert len(parts[0]) == max(1, first // top_k) or len(parts[0]) == n
        assert all(len(p) <= max(1, stream.CHUNK_HITS // top_k) for p in parts[1:])


def test_a_judged_run_with_a_small_first_chunk_gives_the_figures_of_one_chunk(
        tmp_path: Path, demo_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Through a provider's judge (the first chunk small, the next ones drawn while answers are awaited): the same
    figures, counts and stored hits as one chunk, and each pair paid once."""
    from llmserver import LLMServer
    from test_llm_judges import ENV, KEY, configure

    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    server = LLMServer(api_key=KEY)
    outcomes: list[RunOutcome] = []
    stores: list[Store] = []
    roots: list[Path] = []
    try:
        for name, first, hits in (("one", 10**6, 10**6), ("small", 15, 40)):
            root = make_project(tmp_path / name, demo_dir, n_queries=16)
            configure(root, server, "openai", queries=16)
            project = Project(root)
            monkeypatch.setattr(stream, "FIRST_CHUNK_HITS", first)
            monkeypatch.setattr(stream, "CHUNK_HITS", hits)
            store = Store(project.store_url())
            queries = read_query_set(root / "queries" / "demo.csv")
            req = RunRequest(project.engine("v2"), queries, "demo.csv", make_judge("openai:chunks", project.config), 10,
                             METRICS, "offline")
            outcomes.append(run_engine(project, store, req))
            stores.append(store)
            roots.append(root)
        a, b = outcomes
        assert a.metrics == b.metrics and _same(a.per_query, b.per_query)
        assert a.counts["judged_new"] == b.counts["judged_new"] > 0 and a.counts["hits"] == b.counts["hits"]
        assert _hits(stores[0], a.run_id, roots[0]) == _hits(stores[1], b.run_id, roots[1])
        assert server.total_requests == 2 * a.counts["judged_new"]  # each pair of each project (own store) once
    finally:
        server.close()
        for store in stores:
            store.close()
