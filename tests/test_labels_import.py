"""`labels import`: every format, value maps, idempotence, and one-line errors that lose nothing."""

import csv
import json
from pathlib import Path

import pytest
from conftest import SHARED_DATA, assert_user_error, needs_shared_data, run_cli

from evalharness.store import Store
from evalharness.store.labels import labels_for

ESCI = SHARED_DATA / "esci"


@pytest.fixture(autouse=True)
def _a_project(tmp_path: Path) -> None:
    """These tests run in a bare folder: make it a project (commands refuse to run outside one)."""
    (tmp_path / "evalharness.toml").write_text("# defaults\n", encoding="utf-8")


def _labels(project: Path, source: str, queries: list[str]) -> dict:
    store = Store(f"sqlite:///{project / '.evalharness' / 'cache.db'}")
    try:
        return labels_for(store, source, queries)
    finally:
        store.close()


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_plain_csv_import_is_idempotent_and_counts_changes(tmp_path: Path) -> None:
    f = _write(tmp_path / "r.csv", "query,docid,rating\nred shoes,d1,3\nred shoes,d2,0\nblue hat,d9,1\nlonely query\n")
    r = run_cli(tmp_path, "labels", "import", str(f), "--as", "gold", "--map", "graded", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"source": "human:gold", "rows": 3, "new": 3, "changed": 0, "unchanged": 0, "unknown_query_ids": 0}
    r = run_cli(tmp_path, "labels", "import", str(f), "--as", "gold", "--map", "graded", "--json")
    assert json.loads(r.stdout)["unchanged"] == 3
    _write(f, "query,docid,rating\nred shoes,d1,3\nred shoes,d2,2\nblue hat,d9,1\n")
    r = run_cli(tmp_path, "labels", "import", str(f), "--as", "gold", "--map", "graded")
    assert r.returncode == 0 and "0 new, 1 changed, 2 unchanged" in r.stdout
    assert _labels(tmp_path, "human:gold", ["Red Shoes", "blue hat"]) == {
        ("red shoes", "d1"): "relevant", ("red shoes", "d2"): "relevant", ("blue hat", "d9"): "substitute"}


def test_other_formats(tmp_path: Path) -> None:
    qrels = _write(tmp_path / "x.qrels", "q1 0 d1 2\nq1 0 d2 0\nq2 0 d3 1\n")
    topics = _write(tmp_path / "topics.csv", "id,query\nq1,garden hose\nq2,desk lamp\n")
    rre = _write(tmp_path / "rre.json", json.dumps({"index": "x", "id_field": "id", "topics": [{"query_groups": [
        {"name": "g", "queries": [{"template": "t.json", "placeholders": {"$query": "desk lamp"}}],
         "relevant_documents": {"d3": {"gain": 3}, "d4": {"gain": 1}}}]}]}))
    srw = _write(tmp_path / "srw.json", json.dumps({"name": "j", "type": "IMPORT_JUDGMENT", "judgmentRatings": [
        {"query": "garden hose", "ratings": [{"docId": "d1", "rating": "1"}, {"docId": "d5", "rating": "0"}]}]}))
    book = _write(tmp_path / "book.json", json.dumps({"name": "b", "query_doc_pairs": [
        {"query_text": "garden hose", "doc_id": "d7", "document_fields": {"title": "Hose"},
         "judgements": [{"rating": 3, "unrateable": False, "user_email": "a@x"}]},
        {"query_text": "garden hose", "doc_id": "d8", "judgements": [{"rating": None, "unrateable": True}]}]}))
    jsonl = _write(tmp_path / "l.jsonl", json.dumps({"query": "desk lamp", "doc_id": "d6", "label": "substitute",
                                                    "rationale": "a floor lamp"}) + "\n")
    for args, source in (([str(qrels), "--queries", str(topics), "--map", "gains"], "qrels"),
                         ([str(rre), "--map", "graded"], "rre"), ([str(srw), "--map", "binary"], "srw"),
                         ([str(book), "--format", "quepid", "--map", "graded"], "quepid"), ([str(jsonl)], "jsonl")):
        r = run_cli(tmp_path, "labels", "import", *args, "--as", source)
        assert r.returncode == 0, (source, r.stderr)
    assert _labels(tmp_path, "human:qrels", ["garden hose", "desk lamp"]) == {
        ("garden hose", "d1"): "relevant", ("garden hose", "d2"): "irrelevant", ("desk lamp", "d3"): "substitute"}
    assert _labels(tmp_path, "human:rre", ["desk lamp"]) == {("desk lamp", "d3"): "relevant", ("desk lamp", "d4"): "substitute"}
    assert _labels(tmp_path, "human:srw", ["garden hose"]) == {("garden hose", "d1"): "relevant", ("garden hose", "d5"): "irrelevant"}
    assert _labels(tmp_path, "human:quepid", ["garden hose"]) == {("garden hose", "d7"): "relevant"}
    assert _labels(tmp_path, "human:jsonl", ["desk lamp"]) == {("desk lamp", "d6"): "substitute"}


def test_bad_input_is_one_line_and_loses_nothing(tmp_path: Path) -> None:
    good = _write(tmp_path / "good.csv", "query,doc_id,label\nlamp,d1,E\n")
    assert run_cli(tmp_path, "labels", "import", str(good), "--as", "gold", "--map", "esci").returncode == 0
    assert_user_error(run_cli(tmp_path, "labels", "import", str(good), "--as", "gold", "--format", "xml"),
                      "unknown label format 'xml'", "good.csv", "--format")
    unmapped = _write(tmp_path / "unmapped.csv", "query,doc_id,label\nlamp,d1,E\nlamp,d2,X\n")
    assert_user_error(run_cli(tmp_path, "labels", "import", str(unmapped), "--as", "gold", "--map", "esci"),
                      "unmapped.csv:row 3", "'X'", "--map")
    dup = _write(tmp_path / "dup.csv", "query,doc_id,label\nlamp,d1,I\nlamp,d5,E\nLamp,d5,I\n")
    assert_user_error(run_cli(tmp_path, "labels", "import", str(dup), "--as", "gold", "--map", "esci"),
                      "dup.csv:row 4", "dup.csv:row 3", "keep one")
    byid = _write(tmp_path / "byid.csv", "query_id,doc_id,label\nnope-1,d1,E\n")
    topics = _write(tmp_path / "topics.csv", "id,query\nq1,lamp\n")
    assert_user_error(run_cli(tmp_path, "labels", "import", str(byid), "--as", "gold", "--map", "esci", "--queries", str(topics)),
                      "byid.csv", "nope-1", "--queries")
    assert_user_error(run_cli(tmp_path, "labels", "import", str(tmp_path / "missing.csv"), "--as", "gold"), "missing.csv")
    assert _labels(tmp_path, "human:gold", ["lamp"]) == {("lamp", "d1"): "relevant"}


@needs_shared_data()
def test_esci_labels_import_with_the_esci_map(tmp_path: Path) -> None:
    queries = tmp_path / "queries"
    queries.mkdir()
    with (queries / "esci.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "query", "count", "segment"])
        for line in (ESCI / "queries.jsonl").open():
            q = json.loads(line)
            w.writerow([q["id"], q["text"], 1, ""])
    r = run_cli(tmp_path, "labels", "import", str(ESCI / "labels.csv"), "--as", "esci", "--format", "csv", "--map", "esci", "--json")
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader((ESCI / "labels.csv").open()))
    assert json.loads(r.stdout)["new"] == len({(x["query_id"], x["product_id"]) for x in rows})
    first = rows[0]
    text = next(json.loads(line)["text"] for line in (ESCI / "queries.jsonl").open() if json.loads(line)["id"] == first["query_id"])
    want = {"E": "relevant", "S": "substitute", "C": "irrelevant", "I": "irrelevant"}[first["label"]]
    assert _labels(tmp_path, "human:esci", [text])[(" ".join(text.casefold().split()), first["product_id"])] == want


def test_export_and_agreement_bad_input(tmp_path: Path) -> None:
    f = _write(tmp_path / "r.csv", "query,doc_id,label\nlamp,d1,relevant\n")
    assert run_cli(tmp_path, "labels", "import", str(f), "--as", "gold").returncode == 0
    assert_user_error(run_cli(tmp_path, "labels", "export", "--source", "human:gold", "--format", "xml"), "unknown export format", "--format")
    assert_user_error(run_cli(tmp_path, "labels", "export", "--source", "human:nobody"), "human:nobody", "no labels")
    assert_user_error(run_cli(tmp_path, "agreement", "--human", "nobody"), "human:nobody", "labels import")
    assert_user_error(run_cli(tmp_path, "run", "-e", "v1", "--labels", "human:gold,vote(offline"), "--labels", "not closed")
    assert_user_error(run_cli(tmp_path, "runs", "export", "nothing"), "no stored run for 'nothing'")


def _stdin_cli(project: Path, stdin: str, *args: str):
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "EVALHARNESS_DEBUG"}
    return subprocess.run([sys.executable, "-m", "evalharness", "-C", str(project), *args], input=stdin, capture_output=True,
                          text=True, env=env, timeout=120)


def test_rre_files_as_rre_reads_them(tmp_path: Path) -> None:
    """No `topics` (Quepid's RRE export: a flat `queries` list), gain -> [ids], a `rating` key, placeholders."""
    quepid = _write(tmp_path / "quepid-rre.json", json.dumps({"id_field": "id", "index": "case", "template": "template.json",
                                                              "queries": [
        {"placeholders": {"$query": "desk lamp"}, "relevant_documents": {"0": ["d1"], "3": ["d2", "d3"]}},
        {"placeholders": {"$query": "garden hose"}, "relevant_documents": {}}]}))
    rating = _write(tmp_path / "rating.json", json.dumps({"index": "x", "query_groups": [
        {"name": "g", "queries": [{"template": "q.json", "placeholders": {"$query": "desk lamp"}}],
         "relevant_documents": {"d4": {"rating": 2}}}]}))
    named = _write(tmp_path / "named.json", json.dumps({"index": "x", "query_placeholder": "$q", "queries": [
        {"template": "q.json", "placeholders": {"$q": "desk lamp", "$size": "10"}, "relevant_documents": {"d5": {"gain": 1}}}]}))
    inline = _write(tmp_path / "inline.json", json.dumps({"index": "x", "queries": [
        {"template": "$color $product", "placeholders": {"$color": "red", "$product": "desk lamp"},
         "relevant_documents": {"d6": {"gain": 3}}}]}))
    for f, source in ((quepid, "rre-quepid"), (rating, "rre-rating"), (named, "rre-named"), (inline, "rre-inline")):
        r = run_cli(tmp_path, "labels", "import", str(f), "--as", source, "--map", "graded")
        assert r.returncode == 0, (source, r.stderr)
    assert _labels(tmp_path, "human:rre-quepid", ["desk lamp"]) == {
        ("desk lamp", "d1"): "irrelevant", ("desk lamp", "d2"): "relevant", ("desk lamp", "d3"): "relevant"}
    assert _labels(tmp_path, "human:rre-rating", ["desk lamp"]) == {("desk lamp", "d4"): "relevant"}
    assert _labels(tmp_path, "human:rre-named", ["desk lamp"]) == {("desk lamp", "d5"): "substitute"}
    assert _labels(tmp_path, "human:rre-inline", ["red desk lamp"]) == {("red desk lamp", "d6"): "relevant"}
    assert _labels(tmp_path, "human:rre-quepid", ["template.json"]) == {}  # never stored under the template's name

    unclear = _write(tmp_path / "unclear.json", json.dumps({"index": "x", "queries": [
        {"template": "q.json", "placeholders": {"$a": "desk", "$b": "lamp"}, "relevant_documents": {"d7": {"gain": 1}}}]}))
    assert_user_error(run_cli(tmp_path, "labels", "import", str(unclear), "--as", "u", "--map", "graded"),
                      "unclear.json:queries[1]", "$a, $b", "query_placeholder")


def test_srw_row_without_doc_id_is_refused_with_its_row(tmp_path: Path) -> None:
    srw = _write(tmp_path / "srw.json", json.dumps({"name": "j", "type": "IMPORT_JUDGMENT", "judgmentRatings": [
        {"query": "garden hose", "ratings": [{"docId": "d1", "rating": "1"}, {"rating": "0"}]}]}))
    assert_user_error(run_cli(tmp_path, "labels", "import", str(srw), "--as", "s", "--map", "binary"),
                      "srw.json:judgmentRatings[1].ratings[2]", "rating row 2", "no docId")
    assert _labels(tmp_path, "human:s", ["garden hose"]) == {}  # nothing stored, not even the good row


def test_map_compares_numbers_as_numbers(tmp_path: Path) -> None:
    srw = _write(tmp_path / "scores.json", json.dumps({"name": "j", "type": "IMPORT_JUDGMENT", "judgmentRatings": [
        {"query": "garden hose", "ratings": [{"docId": "d1", "rating": "0.6"}, {"docId": "d2", "rating": "0.10"}]}]}))
    r = run_cli(tmp_path, "labels", "import", str(srw), "--as", "llm", "--map", "0.60=relevant,0.1=irrelevant")
    assert r.returncode == 0, r.stderr
    assert _labels(tmp_path, "human:llm", ["garden hose"]) == {("garden hose", "d1"): "relevant",
                                                               ("garden hose", "d2"): "irrelevant"}


def test_dash_reads_stdin_and_writes_stdout(tmp_path: Path) -> None:
    r = _stdin_cli(tmp_path, "query,docid,rating\nred shoes,d1,3\nred shoes,d2,0\n", "labels", "import", "-", "--as", "pipe",
                   "--map", "graded", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["rows"] == 2
    r = _stdin_cli(tmp_path, "id,query\nT1,garden hose\n", "labels", "import", str(_write(tmp_path / "x.qrels", "T1 0 d9 2\n")),
                   "--queries", "-", "--as", "piped-ids", "--map", "gains")
    assert r.returncode == 0, r.stderr
    r = _stdin_cli(tmp_path, "", "labels", "export", "--source", "human:piped-ids", "--format", "qrels", "--output", "-")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "T1 0 d9 2\n" and not (tmp_path / "-").exists()  # the id from --queries, kept since the import
    r = _stdin_cli(tmp_path, "id,query\nX9,garden hose\n", "labels", "export", "--source", "human:piped-ids", "--format",
                   "qrels", "--queries", "-", "--output", "-")  # ids read from stdin, labels written to stdout
    assert r.returncode == 0 and r.stdout == "X9 0 d9 2\n", r.stderr
    assert_user_error(_stdin_cli(tmp_path, "", "labels", "import", "-", "--queries", "-", "--as", "x"), "one file only")
    assert_user_error(_stdin_cli(tmp_path, "", "labels", "export", "--source", "human:pipe", "--topics", "-"), "one file only")
