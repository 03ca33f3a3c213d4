"""Exports that join: qrels and run exports carry the same query ids (the query set's, or those of `--queries`),
TREC readers (ir_measures, pytrec_eval, ranx when installed) parse them, and ids with whitespace are refused."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import ir_measures
import pytest
import pytrec_eval
from conftest import assert_user_error, run_cli

from evalharness.errors import EvalHarnessError
from evalharness.labels.formats_write import run_trec
from evalharness.models import Hit
from evalharness.store.db import StoredQuery


def _export(project: Path, *args: str) -> str:
    r = run_cli(project, *args, "--output", "-")
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_qrels_and_run_exports_join_in_every_trec_reader(project: Path) -> None:
    r = run_cli(project, "run", "-e", "v2", "--json")
    assert r.returncode == 0, r.stderr
    ours = json.loads(r.stdout)["metrics"]["nDCG@10"]
    ids = [row["id"] for row in csv.DictReader((project / "queries" / "demo.csv").open())]
    qrels_text = _export(project, "labels", "export", "--source", "offline", "--format", "qrels")
    run_text = _export(project, "runs", "export", "v2", "--format", "trec")
    (project / "offline.qrels").write_text(qrels_text)
    (project / "v2.run").write_text(run_text)

    qrels = pytrec_eval.parse_qrel(qrels_text.splitlines())
    run = pytrec_eval.parse_run(run_text.splitlines())
    assert set(run) <= set(qrels) <= set(ids)  # one id space: the query set's
    per = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10"}).evaluate(run)
    assert sum(per.get(q, {}).get("ndcg_cut_10", 0.0) for q in ids) / len(ids) == pytest.approx(ours, abs=1e-9)
    theirs = ir_measures.calc_aggregate([ir_measures.nDCG @ 10], ir_measures.read_trec_qrels(str(project / "offline.qrels")),
                                        ir_measures.read_trec_run(str(project / "v2.run")))
    assert theirs[ir_measures.nDCG @ 10] * len(run) / len(ids) == pytest.approx(ours, abs=1e-9)



def test_ranx_reads_the_same_exports(project: Path) -> None:
    ranx = pytest.importorskip("ranx", reason="ranx is not installed in this environment")
    r = run_cli(project, "run", "-e", "v2", "--json")
    assert r.returncode == 0, r.stderr
    ours = json.loads(r.stdout)["metrics"]["nDCG@10"]
    n_queries = sum(1 for _ in csv.DictReader((project / "queries" / "demo.csv").open()))
    (project / "offline.qrels").write_text(_export(project, "labels", "export", "--source", "offline", "--format", "qrels"))
    (project / "v2.run").write_text(_export(project, "runs", "export", "v2", "--format", "trec"))
    run = ranx.Run.from_file(str(project / "v2.run"), kind="trec")
    value = ranx.evaluate(ranx.Qrels.from_file(str(project / "offline.qrels"), kind="trec"), run, "ndcg@10")
    assert value * len(run.keys()) / n_queries == pytest.approx(ours, abs=1e-6)


def test_query_ids_from_queries_files_are_kept_and_can_be_chosen(project: Path) -> None:
    (project / "topics.csv").write_text("id,query\nT1,lamp\nT2,a query no query set has\n")
    (project / "labels.qrels").write_text("T1 0 d1 2\nT2 0 d2 1\n")
    r = run_cli(project, "labels", "import", "labels.qrels", "--queries", "topics.csv", "--as", "gold", "--map", "gains")
    assert r.returncode == 0, r.stderr
    default = _export(project, "labels", "export", "--source", "human:gold", "--format", "qrels")
    demo_lamp = next(row["id"] for row in csv.DictReader((project / "queries" / "demo.csv").open()) if row["query"] == "lamp")
    # 'lamp' is in the project's query set (runs export its id); the other query keeps the id it was imported with
    assert sorted(default.splitlines()) == sorted([f"{demo_lamp} 0 d1 2", "T2 0 d2 1"])
    chosen = _export(project, "labels", "export", "--source", "human:gold", "--format", "qrels", "--queries", "topics.csv")
    assert sorted(chosen.splitlines()) == ["T1 0 d1 2", "T2 0 d2 1"]
    assert run_cli(project, "run", "-e", "v1", "--json").returncode == 0
    run_text = _export(project, "runs", "export", "v1", "--queries", "topics.csv")
    assert {line.split()[0] for line in run_text.splitlines()} >= {"T1"} and f"{demo_lamp} " not in run_text


def test_ids_with_whitespace_are_refused_for_trec_and_kept_by_csv(project: Path) -> None:
    (project / "spaces.csv").write_text("query,doc_id,label\nlamp,d 1,relevant\n")
    assert run_cli(project, "labels", "import", "spaces.csv", "--as", "spaced").returncode == 0
    assert_user_error(run_cli(project, "labels", "export", "--source", "human:spaced", "--format", "qrels"),
                      "doc id", "'d 1'", "whitespace", "--format csv")
    assert "d 1" in _export(project, "labels", "export", "--source", "human:spaced", "--format", "csv")
    hit = Hit("doc 7", 1, 1.0)
    with pytest.raises(EvalHarnessError, match="query id 'q 1'"):
        run_trec([StoredQuery("q 1", "lamp", 1, "", "g", [hit], ["h"])], "run")
    with pytest.raises(EvalHarnessError, match="doc id"):
        run_trec([StoredQuery("q1", "lamp", 1, "", "g", [hit], ["h"])], "run")
