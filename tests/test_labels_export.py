"""Metrics on label sources (`run --labels`), export -> import round trips, TREC run export, and the `file` backend."""

import csv
import json
import sqlite3
from pathlib import Path

import ir_measures
import pytest
from conftest import needs_shared_data, run_cli
from esci_project import ESCI, make_esci_project

from evalharness.store import Store
from evalharness.store.labels import labels_for
from evalharness.textnorm import normalize_query

GAIN = {"E": 2, "S": 1, "C": 0, "I": 0}
METRICS = ["nDCG@10", "P(rel=2)@10", "Judged@10"]


@pytest.fixture(scope="module")
def esci(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = make_esci_project(tmp_path_factory.mktemp("esci-export") / "proj", n_queries=25)
    r = run_cli(root, "labels", "import", str(ESCI / "labels.csv"), "--as", "esci", "--map", "esci", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["unknown_query_ids"] > 0  # labels of queries outside this query set are skipped
    r = run_cli(root, "run", "-e", "title", "--json")
    assert r.returncode == 0, r.stderr
    return root


def _query_ids(root: Path) -> list[str]:
    return [row["id"] for row in csv.DictReader((root / "queries" / "esci.csv").open())]


def _means(qrels: dict, run_file: Path, ids: list[str]) -> dict[str, float]:
    run = ir_measures.read_trec_run(str(run_file))
    per = {qid: dict.fromkeys(METRICS, 0.0) for qid in ids}
    for m in ir_measures.iter_calc([ir_measures.parse_measure(n) for n in METRICS], qrels, run):
        per[m.query_id][str(m.measure)] = m.value
    return {n: sum(v[n] for v in per.values()) / len(ids) for n in METRICS}


def _export_run(root: Path, name: str) -> Path:
    r = run_cli(root, "runs", "export", name, "--format", "trec", "--output", f"{name}.run")
    assert r.returncode == 0, r.stderr
    return root / f"{name}.run"


@needs_shared_data()
def test_run_on_human_labels_equals_ir_measures_and_judge_fills_only_holes(esci: Path) -> None:
    ids = _query_ids(esci)
    human = {}
    for x in csv.DictReader((ESCI / "labels.csv").open()):
        if x["query_id"] in ids:
            human.setdefault(x["query_id"], {})[x["product_id"]] = GAIN[x["label"]]
    run_file = _export_run(esci, "title")

    r = run_cli(esci, "run", "-e", "title", "--labels", "human:esci", "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    expected = _means(human, run_file, ids)
    for name in METRICS:
        assert data["metrics"][name] == pytest.approx(expected[name], abs=1e-9), name
    assert data["labels"]["unlabelled_hits"] > 0 and data["metrics"]["Judged@10"] < 1

    r = run_cli(esci, "run", "-e", "title", "--labels", "human:esci,offline", "--json")
    assert r.returncode == 0, r.stderr
    mixed = json.loads(r.stdout)
    texts = {row["id"]: normalize_query(row["query"]) for row in csv.DictReader((esci / "queries" / "esci.csv").open())}
    with sqlite3.connect(esci / ".evalharness" / "cache.db") as db:
        offline = {(normalize_query(q), d): lab for q, d, lab in
                   db.execute("SELECT query, doc_id, label FROM judgments WHERE judge_id = ?", (mixed["judge_id"],))}
    merged = {qid: dict(docs) for qid, docs in human.items()}
    gains = {"irrelevant": 0, "substitute": 1, "relevant": 2}
    filled = 0
    for qid in ids:
        for (qkey, doc), lab in offline.items():
            if qkey == texts[qid] and doc not in merged.setdefault(qid, {}):
                merged[qid][doc] = gains[lab]
                filled += 1
    expected = _means(merged, run_file, ids)
    for name in METRICS:
        assert mixed["metrics"][name] == pytest.approx(expected[name], abs=1e-9), name
    by_source = mixed["labels"]["labelled_hits_by_source"]
    assert by_source["human:esci"] == data["labels"]["labelled_hits_by_source"]["human:esci"]
    assert by_source["offline"] == data["labels"]["unlabelled_hits"] and mixed["labels"]["unlabelled_hits"] == 0
    assert filled >= by_source["offline"] > 0


@needs_shared_data()
def test_export_import_round_trips(esci: Path) -> None:
    store = Store(f"sqlite:///{esci / '.evalharness' / 'cache.db'}")
    texts = [row["query"] for row in csv.DictReader((esci / "queries" / "esci.csv").open())]
    try:
        original = labels_for(store, "human:esci", texts)
        assert len(original) > 500
        for fmt, extra in (("qrels", ["--queries", "topics.csv", "--map", "gains"]), ("quepid", ["--map", "gains"]),
                           ("srw", ["--map", "gains"]), ("jsonl", []), ("csv", [])):
            out = f"export.{fmt}" if fmt != "srw" else "export.json"
            args = ["labels", "export", "--source", "human:esci", "--format", fmt, "--output", out]
            r = run_cli(esci, *args, *(["--topics", "topics.csv"] if fmt == "qrels" else []))
            assert r.returncode == 0, r.stderr
            fmt_in = "quepid" if fmt == "quepid" else fmt
            path = esci / out
            if fmt == "quepid":
                path = path.rename(esci / "export-quepid.csv")
            r = run_cli(esci, "labels", "import", str(path), "--format", fmt_in, "--as", f"rt-{fmt}", *extra)
            assert r.returncode == 0, (fmt, r.stderr)
            assert labels_for(store, f"human:rt-{fmt}", texts) == original, fmt
    finally:
        store.close()
    lines = (esci / "export.jsonl").read_text().splitlines()
    row = json.loads(lines[0])
    assert {"query", "doc_id", "label", "rationale", "judge_id", "model", "input_tokens", "cost_usd", "created_at"} <= set(row)
    r = run_cli(esci, "labels", "export", "--source", "offline", "--format", "jsonl")
    assert r.returncode == 0 and json.loads(r.stdout.splitlines()[0])["judge_id"].startswith("offline")


@needs_shared_data()
def test_trec_run_export_gives_the_same_per_query_values(esci: Path) -> None:
    from evalharness.pipeline.run import evaluate_stored
    from evalharness.project import Project

    run_file = _export_run(esci, "title")
    r = run_cli(esci, "labels", "export", "--source", "offline", "--format", "qrels", "--output", "offline.qrels")
    assert r.returncode == 0, r.stderr
    qrels = ir_measures.read_trec_qrels(str(esci / "offline.qrels"))
    theirs = {}
    for m in ir_measures.iter_calc([ir_measures.parse_measure(n) for n in METRICS], qrels, ir_measures.read_trec_run(str(run_file))):
        theirs[(m.query_id, str(m.measure))] = m.value
    store = Store(f"sqlite:///{esci / '.evalharness' / 'cache.db'}")
    try:
        run = store.latest_run("title")
        ours = evaluate_stored(store, run.judge_id, store.run_queries(run.run_id), METRICS, Project(esci))
    finally:
        store.close()
    for qid, values in ours.items():
        for name in METRICS:
            assert values[name] == pytest.approx(theirs.get((qid, name), 0.0), abs=1e-9), (qid, name)


@needs_shared_data()
def test_file_backend_judges_rankings_made_elsewhere(esci: Path) -> None:
    run_file = _export_run(esci, "title")
    products = ESCI / "products.jsonl"
    (esci / "engines" / "fromfile.toml").write_text(f'backend = "file"\n[file]\nrun = "{run_file}"\ncatalog = "{products}"\n')
    r = run_cli(esci, "runs", "export", "title", "--format", "csv", "--output", "title.csv")
    assert r.returncode == 0, r.stderr
    (esci / "engines" / "fromcsv.toml").write_text(f'backend = "file"\n[file]\nrun = "title.csv"\ncatalog = "{products}"\n')
    base = json.loads(run_cli(esci, "run", "-e", "title", "--json").stdout)
    for name in ("fromfile", "fromcsv"):
        r = run_cli(esci, "run", "-e", name, "--json")
        assert r.returncode == 0, r.stderr
        data = json.loads(r.stdout)
        assert data["metrics"] == base["metrics"] and data["counts"]["judged_new"] == 0
    (esci / "engines" / "broken.toml").write_text('backend = "file"\n')
    r = run_cli(esci, "run", "-e", "broken")
    assert r.returncode == 2 and "[file]" in r.stderr


@needs_shared_data()
def test_compare_and_gate_on_a_label_source_and_per_query_csv(esci: Path) -> None:
    assert run_cli(esci, "run", "-e", "wide", "--json").returncode == 0
    r = run_cli(esci, "compare", "title", "wide", "--labels", "human:esci", "--csv", "per-query.csv", "--json")
    assert r.returncode == 0, r.stderr
    c = json.loads(r.stdout)
    rows = list(csv.DictReader((esci / "per-query.csv").open()))
    assert len(rows) == len(_query_ids(esci)) and "title:nDCG@10" in rows[0] and "wide:nDCG@10" in rows[0]
    ids = _query_ids(esci)
    human = {}
    for x in csv.DictReader((ESCI / "labels.csv").open()):
        if x["query_id"] in ids:
            human.setdefault(x["query_id"], {})[x["product_id"]] = GAIN[x["label"]]
    for name in ("title", "wide"):
        expected = _means(human, _export_run(esci, name), ids)
        got = sum(float(row[f"{name}:nDCG@10"]) for row in rows) / len(rows)
        assert got == pytest.approx(expected["nDCG@10"], abs=1e-9)
    assert json.dumps(c)  # the comparison itself is printed as usual
    g = run_cli(esci, "gate", "--baseline", "title", "--candidate", "wide", "--labels", "human:esci,offline", "--json")
    assert g.returncode in (0, 1), g.stderr
    assert "gate" in json.loads(g.stdout)
