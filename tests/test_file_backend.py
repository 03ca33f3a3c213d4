"""The `file` backend keeps ranks: a ranked document missing from the catalog stays at its rank as a hit no judge
can label, counted as unjudged in Judged@k, with one warning line giving the count."""

from __future__ import annotations

import csv
import json
import sqlite3
from pathlib import Path

import pytest
from conftest import run_cli


def test_documents_missing_from_the_catalog_keep_their_ranks(project: Path) -> None:
    catalog = [json.loads(line)["id"] for line in (project / ".evalharness" / "demo" / "catalog.jsonl").open()]
    ids = [row["id"] for row in csv.DictReader((project / "queries" / "demo.csv").open())]
    ranking = []
    for n, qid in enumerate(ids):
        docs = catalog[n * 9:(n + 1) * 9]
        docs.insert(2, f"ghost-{n}")  # rank 3 of every list: a document the catalog does not have
        ranking += [[qid, "Q0", doc, str(rank), str(10 - rank), "elsewhere"] for rank, doc in enumerate(docs, 1)]
    (project / "elsewhere.run").write_text("".join(" ".join(row) + "\n" for row in ranking))
    (project / "engines" / "fromfile.toml").write_text(
        'backend = "file"\ntop_k = 10\n[file]\nrun = "elsewhere.run"\ncatalog = "demo"\n')

    r = run_cli(project, "run", "-e", "fromfile", "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["counts"]["hits"] == len(ranking) == 10 * len(ids)  # nothing dropped, nothing moved up
    assert data["counts"]["unjudgeable"] == len(ids) and data["counts"]["failed"] == 0 and data["status"] == "finished"
    assert data["metrics"]["Judged@10"] == pytest.approx(0.9)  # each ghost is a hole at its rank
    warnings = [line for line in r.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and f"{len(ids)} ranked document(s) are not in the catalog" in warnings[0]

    with sqlite3.connect(project / ".evalharness" / "cache.db") as db:
        judged = {d for (d,) in db.execute("SELECT doc_id FROM judgments WHERE judge_id = ?", (data["judge_id"],))}
    assert judged and not {d for d in judged if d.startswith("ghost-")}  # never sent to the judge, never labelled

    r = run_cli(project, "runs", "export", data["run_id"], "--format", "trec", "--output", "again.run")
    assert r.returncode == 0, r.stderr
    again = [line.split()[:4] for line in (project / "again.run").read_text().splitlines()]
    assert again == [row[:4] for row in ranking]  # every document at the rank the ranking gave it


@pytest.mark.parametrize(("name", "text", "where"), [
    ("nan.run", "demo-001 Q0 P00001 1 nan run\n", "nan.run:line 1: score 'nan' is not a finite number"),
    ("inf.run", "demo-001 Q0 P00001 1 12 run\ndemo-001 Q0 P00002 2 -inf run\n", "inf.run:line 2: score '-inf'"),
    ("nan.csv", "query_id,doc_id,rank,score\ndemo-001,P00001,1,NaN\n", "nan.csv:row 2: score 'NaN' is not a finite number"),
])
def test_a_ranking_with_a_score_that_is_no_finite_number_is_one_line(project: Path, name: str, text: str, where: str) -> None:
    # NaN would sort nowhere and cannot be stored (it failed later with an IntegrityError): the file and line are named
    from conftest import assert_user_error

    (project / name).write_text(text)
    (project / "engines" / "fromfile.toml").write_text(f'backend = "file"\ntop_k = 10\n[file]\nrun = "{name}"\ncatalog = "demo"\n')
    assert_user_error(run_cli(project, "run", "-e", "fromfile", "--json"), where)
