"""Comparisons and the gate refuse to mislead: unclean runs, query matching, weights, several candidates,
power, overlap, judge and query-set warnings, frozen run metrics, escaped run ids, gate --json."""

from __future__ import annotations

import csv
import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from conftest import assert_user_error, make_project, run_cli

from evalharness.compare.stats import holm
from evalharness.config import load_project_config
from evalharness.runtime.forked import usable_workers

POOL = "pool rule: qrels hold only the labels of the pairs in the runs compared"


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory, demo_dir: Path) -> Path:
    project = make_project(tmp_path_factory.mktemp("honest") / "proj", demo_dir, n_queries=60)
    for engine in ("v1", "v2", "v0"):
        result = run_cli(project, "run", "-e", engine)
        assert result.returncode == 0, result.stderr
    return project


def _db(project: Path) -> sqlite3.Connection:
    return sqlite3.connect(project / ".evalharness" / "cache.db")


def clone_run(project: Path, engine: str, new_id: str, status: str, judge_id: str | None = None) -> str:
    """Copy the engine's newest run under a new id, newer than every other run, with another status (or judge)."""
    con = _db(project)
    src = con.execute("SELECT run_id FROM runs WHERE engine_config = ? ORDER BY started_at DESC LIMIT 1", (engine,)).fetchone()[0]
    for table in ("runs", "run_queries", "run_results"):
        cols = [r[1] for r in con.execute(f"PRAGMA table_info({table})")]
        given = {"run_id": new_id}
        if table == "runs":
            given.update({"status": status, "started_at": "2999-01-01T00:00:00+00:00"}, **({"judge_id": judge_id} if judge_id else {}))
        values = ["?" if c in given else c for c in cols]
        params = [given[c] for c in cols if c in given]
        con.execute(f"INSERT INTO {table} ({', '.join(cols)}) SELECT {', '.join(values)} FROM {table} WHERE run_id = ?",
                    [*params, src])
    con.commit()
    con.close()
    return new_id


def drop_run(project: Path, run_id: str) -> None:
    con = _db(project)
    for table in ("runs", "run_queries", "run_results"):
        con.execute(f"DELETE FROM {table} WHERE run_id = ?", (run_id,))
    con.commit()
    con.close()


@pytest.mark.parametrize("status", ["failed", "partial", "interrupted"])
def test_unclean_run_cannot_pass_a_gate(ran: Path, status: str) -> None:
    clone = clone_run(ran, "v2", f"v2-{status}-clone", status)
    try:
        # by name the newest run is the unclean one: refused, never silently replaced by an older finished run
        assert_user_error(run_cli(ran, "gate", "-b", "v1", "-c", "v2"), clone, status, "--allow-partial")
        assert_user_error(run_cli(ran, "gate", "-b", "v1", "-c", clone), clone, status)
        assert_user_error(run_cli(ran, "compare", "v1", "v2", "--json"), clone, status)
        allowed = run_cli(ran, "compare", "v1", "v2", "--json", "--allow-partial")
        assert allowed.returncode == 0, allowed.stderr
        data = json.loads(allowed.stdout)
        assert data["candidates"][0]["run_id"] == clone and data["candidates"][0]["status"] == status
    finally:
        drop_run(ran, clone)


def test_three_configs_one_table_holm_across_all(ran: Path) -> None:
    result = run_cli(ran, "compare", "v1", "v2", "v0", "--json", "--html", "reports/three.html", "--markdown", "reports/three.md")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert [c["engine_config"] for c in data["candidates"]] == ["v2", "v0"]
    rows = data["metrics"]
    names = load_project_config(ran).run.metrics
    assert len(rows) == 2 * len(names) and {r["candidate"] for r in rows} == {"v2", "v0"}
    family = [r for r in rows if r["in_holm_family"]]
    assert len(family) == 2 * sum(not n.startswith("Judged") for n in names) and all(not r["metric"].startswith("Judged") for r in family)
    assert [r["p_randomization_holm"] for r in family] == pytest.approx(holm([r["p_randomization"] for r in family]))
    v0 = next(r for r in rows if r["candidate"] == "v0" and r["metric"] == "nDCG@10")
    assert v0["delta"] < 0 and v0["significant"]
    html = (ran / "reports" / "three.html").read_text()
    assert '<select id="config"><option value="1" selected>v2</option><option value="2">v0</option></select>' in html
    md = (ran / "reports" / "three.md").read_text()
    assert "| config |" in md and "| nDCG@10 | v0 |" in md
    table = run_cli(ran, "compare", "v1", "v2", "v0")
    assert table.returncode == 0 and "v1 → v2, v0 · labels offline · 60 queries" in table.stdout


def _per_query_ndcg(project: Path, run_id: str) -> dict[str, float]:
    """nDCG@10 per query straight from the store's tables and ir-measures (independent of compare)."""
    import ir_measures

    con = _db(project)
    judge = con.execute("SELECT judge_id FROM runs WHERE run_id = ?", (run_id,)).fetchone()[0]
    guideline = dict(con.execute("SELECT query_id, guideline_hash FROM run_queries WHERE run_id = ?", (run_id,)))
    qrels: dict[str, dict[str, int]] = {}
    grades = {"relevant": 2, "substitute": 1, "irrelevant": 0}
    for qid, g in guideline.items():
        qrels[qid] = {doc: grades[label] for doc, label in con.execute(
            "SELECT doc_id, label FROM judgments WHERE guideline_hash = ? AND judge_id = ? ORDER BY created_at", (g, judge))}
    run: dict[str, dict[str, float]] = {}
    for qid, doc, rank in con.execute("SELECT query_id, doc_id, rank FROM run_results WHERE run_id = ?", (run_id,)):
        run.setdefault(qid, {})[doc] = 1000.0 - rank
    values = dict.fromkeys(guideline, 0.0)
    for m in ir_measures.iter_calc([ir_measures.parse_measure("nDCG@10")], {q: d for q, d in qrels.items() if d}, run):
        values[m.query_id] = m.value
    return values


def test_weight_traffic_equals_hand_computed_weighted_mean(ran: Path) -> None:
    data = json.loads(run_cli(ran, "compare", "v1", "v2", "--weight", "traffic", "--json").stdout)
    plain = json.loads(run_cli(ran, "compare", "v1", "v2", "--json").stdout)
    with (ran / "queries" / "demo.csv").open() as fh:
        counts = {row["id"]: int(row["count"]) for row in csv.DictReader(fh)}
    base = _per_query_ndcg(ran, data["baseline"]["run_id"])
    cand = _per_query_ndcg(ran, data["candidates"][0]["run_id"])
    total = sum(counts[q] for q in base)
    want_base = sum(counts[q] * base[q] for q in base) / total
    want_cand = sum(counts[q] * cand[q] for q in base) / total
    row = next(r for r in data["metrics"] if r["metric"] == "nDCG@10")
    assert data["weight"] == "traffic"
    assert row["baseline"] == pytest.approx(want_base, abs=1e-12) and row["candidate_mean"] == pytest.approx(want_cand, abs=1e-12)
    assert row["delta"] == pytest.approx(want_cand - want_base, abs=1e-12)
    assert row["ci95"][0] <= row["delta"] <= row["ci95"][1]
    unweighted = next(r for r in plain["metrics"] if r["metric"] == "nDCG@10")
    assert unweighted["baseline"] == pytest.approx(sum(base.values()) / len(base), abs=1e-12)
    assert unweighted["baseline"] != pytest.approx(row["baseline"], abs=1e-6)  # head queries weigh more
    cfg = ran / "evalharness.toml"
    original = cfg.read_text()
    try:
        cfg.write_text(original + '\n[compare]\nweight = "traffic"\n')
        configured = json.loads(run_cli(ran, "compare", "v1", "v2", "--json").stdout)
        assert configured["metrics"][0]["baseline"] == pytest.approx(want_base, abs=1e-12)
    finally:
        cfg.write_text(original)


def test_gate_json_power_and_min_queries(ran: Path) -> None:
    result = run_cli(ran, "gate", "-b", "v1", "-c", "v2", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["gate"]["passed"] is True and data["comparison"]["queries"] == 60
    ndcg = next(r for r in data["gate"]["results"] if r["name"] == "nDCG@10 did not regress")
    assert ndcg["min_detectable_effect"] > 0.01  # 60 queries cannot see a 0.01 drop
    assert any("nDCG@10: with 60 queries the minimum detectable effect" in w for w in data["gate"]["warnings"])
    assert "minimum detectable effect" in (ran / "reports" / "gate.md").read_text()
    cfg = ran / "evalharness.toml"
    original = cfg.read_text()
    try:
        cfg.write_text(original.replace("min_judged = 0.95", "min_judged = 0.95\nmin_queries = 100"))
        small = run_cli(ran, "gate", "-b", "v1", "-c", "v2")
        assert small.returncode == 1
        assert "FAIL enough queries: 60 queries compared; minimum 100" in small.stdout
    finally:
        cfg.write_text(original)


def test_judge_differs_and_shared_pool_are_said_everywhere(ran: Path) -> None:
    clone = clone_run(ran, "v2", "v2-other-judge", "finished", judge_id="offline:rules-v0:text:esr3")
    try:
        result = run_cli(ran, "compare", "v1", clone, "--json", "--markdown", "reports/judge.md", "--html", "reports/judge.html")
        assert result.returncode == 0, result.stderr
        data = json.loads(result.stdout)
        assert any(w.startswith("judge differs") and "offline:rules-v0:text:esr3" in w for w in data["warnings"])
        assert "judge differs" in (ran / "reports" / "judge.md").read_text()
        html = (ran / "reports" / "judge.html").read_text()
        assert "judge differs" in html and POOL in html
        terminal = run_cli(ran, "compare", "v1", clone)
        assert "warning: judge differs" in terminal.stderr and POOL in terminal.stdout
    finally:
        drop_run(ran, clone)


def test_run_id_is_escaped_in_markdown(ran: Path) -> None:
    from evalharness.report.markdown import md_code

    assert md_code("v2-`x`-1") == "``v2-`x`-1``"
    assert md_code("`start") == "`` `start ``"
    clone = clone_run(ran, "v2", "v2`**not bold**`x", "finished")
    try:
        result = run_cli(ran, "compare", "v1", clone, "--markdown", "reports/tick.md")
        assert result.returncode == 0, result.stderr
        md = (ran / "reports" / "tick.md").read_text()
        assert "run ``v2`**not bold**`x``" in md
    finally:
        drop_run(ran, clone)


def _queries(path: Path, rows: list[tuple[str, str, int, str]]) -> None:
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "query", "count", "segment"])
        writer.writerows(rows)


def test_queries_match_by_id_then_exact_text_and_overlap_gates(tmp_path: Path, demo_dir: Path) -> None:
    project = make_project(tmp_path / "proj", demo_dir, n_queries=0)
    _queries(project / "queries" / "a.csv", [("a1", "red shoe", 5, "head"), ("a2", "Ｒｅｄ　ｓｈｏｅ", 1, "tail"),
                                             ("a3", "lamp", 3, "head")])
    _queries(project / "queries" / "b.csv", [("a1", "red shoe", 5, "head"), ("b3", "lamp", 3, "head"),
                                             ("b4", "RED SHOE", 1, "tail")])
    for engine, qs in (("v1", "a.csv"), ("v2", "a.csv"), ("v0", "b.csv")):
        assert run_cli(project, "run", "-e", engine, "-q", f"queries/{qs}").returncode == 0
    same = json.loads(run_cli(project, "compare", "v1", "v2", "--json").stdout)
    assert same["queries"] == 3 and same["warnings"] == []  # two distinct queries never merge
    other = run_cli(project, "compare", "v1", "v0", "--json")
    data = json.loads(other.stdout)
    assert data["queries"] == 2  # a1 by id, a3 = b3 by exact text; a2 and b4 are left out
    assert data["baseline"]["queries_left_out"] == 1 and data["candidates"][0]["queries_left_out"] == 1
    assert data["query_overlap"] == pytest.approx(2 / 3)
    assert any(w.startswith("query sets differ") for w in data["warnings"])
    gate = run_cli(project, "gate", "-b", "v1", "-c", "v0", "--markdown", "reports/g.md")
    assert gate.returncode == 1
    assert "FAIL query sets overlap: 2 of the baseline's 3 queries compared (66.7%); minimum 95%" in gate.stdout
    assert "warning: query sets differ" in gate.stderr
    assert "query sets differ" in (project / "reports" / "g.md").read_text()


def test_stored_run_metrics_do_not_move(tmp_path: Path, demo_dir: Path) -> None:
    project = make_project(tmp_path / "proj", demo_dir, n_queries=40)
    alone = json.loads(run_cli(project, "run", "-e", "v1", "--json").stdout)
    both = json.loads(run_cli(project, "run", "-e", "v2", "-b", "v1", "--json").stdout)
    # the baseline run finished on the same pool as the first v1 run; v2's judgments came after
    assert both["baseline"]["metrics"] != alone["metrics"]  # shown rescored on the grown pool
    stored = {r["run_id"]: r["metrics"] for r in json.loads(run_cli(project, "runs", "--json").stdout)}
    assert stored[both["baseline"]["run_id"]] == alone["metrics"]  # stored as it was at finish
    assert stored[alone["run_id"]] == alone["metrics"]
    # compare scores on the shared pool: the same means `run` shows, per query identical
    data = json.loads(run_cli(project, "compare", "v1", "v2", "--json").stdout)
    for row in data["metrics"]:
        assert row["baseline"] == pytest.approx(both["baseline"]["metrics"][row["metric"]], abs=1e-12)
        assert row["candidate_mean"] == pytest.approx(both["metrics"][row["metric"]], abs=1e-12)
    assert stored == {r["run_id"]: r["metrics"] for r in json.loads(run_cli(project, "runs", "--json").stdout)}


def test_per_query_values_equal_the_run_path_on_the_demo(tmp_path: Path, demo_dir: Path) -> None:
    from evalharness.compare.runs import compare_runs, resolve_run
    from evalharness.judges import make_judge
    from evalharness.pipeline.run import evaluate_together
    from evalharness.project import Project
    from evalharness.store import Store

    root = make_project(tmp_path / "proj", demo_dir, n_queries=80)
    assert run_cli(root, "run", "-e", "v2", "-b", "v1").returncode == 0
    project = Project(root)
    store = Store(project.store_url())
    try:
        base, cand = resolve_run(store, "v1"), resolve_run(store, "v2")
        judge = make_judge("offline", project.config)
        names = list(project.config.run.metrics)
        c = compare_runs(project, store, base, [cand], judge, names, for_report=False)
        # the values `run -b` computes (evaluate_together: the pool of both runs' pairs), query by query, exactly
        together = evaluate_together(store, judge.judge_id, [store.run_queries(s.run.run_id) for s in c.sides], names,
                                     project)
        for side, today in zip(c.sides, together):
            # exactly equal, NaN (a query outside a measure's population, e.g. no colour asked) equal to NaN
            np.testing.assert_array_equal([[float(side.values[m][i]) for m in names] for i in range(len(c.queries))],
                                          [[today[q.id][m] for m in names] for q in c.queries])
        again = compare_runs(project, store, base, [cand], judge, names, for_report=False)
        assert [r.test for r in again.rows] == [r.test for r in c.rows]  # a fixed seed gives identical statistics
        # The command line (one chunk of queries at this size): the very same per-query values
        out = tmp_path / "forked.csv"
        cli = run_cli(root, "compare", "v1", "v2", "--json", "--csv", str(out))
        assert cli.returncode == 0, cli.stderr
        rows = {r["query_id"]: r for r in csv.DictReader(out.open())}
        for side in c.sides:
            np.testing.assert_array_equal([[float(rows[q.id][f"{side.name}:{m}"]) for m in names] for q in c.queries],
                                          [[float(side.values[m][i]) for m in names] for i in range(len(c.queries))])
        if usable_workers(2) == 2:  # in this process too, when no other thread runs here
            forked = compare_runs(project, store, base, [cand], judge, names, for_report=False, workers=2, chunks=2)
            for one, two in zip(c.sides, forked.sides):
                for m in names:
                    np.testing.assert_array_equal(one.values[m], two.values[m])
                assert (one.labels, one.unjudged) == (two.labels, two.unjudged)
            assert [r.test for r in forked.rows] == [r.test for r in c.rows] and forked.findings == c.findings
            assert sum(len(f) for f in c.findings.values()) > 0
    finally:
        store.close()
