"""Behaviour on the demo: judges against shoppers, engagement beside relevance in compare, photos against clicks;
and on the shared UBI sample log of ESCI queries."""

from __future__ import annotations

import csv
import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from conftest import SHARED_DATA, make_project, needs_shared_data, run_cli
from scipy.stats import spearmanr


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory, demo_dir: Path) -> Path:
    root = make_project(tmp_path_factory.mktemp("behaviour") / "proj", demo_dir)
    r = run_cli(root, "labels", "implicit", "--source", "demo", "--as", "demo", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["labelled_pairs"] > 100
    return root


def _db(root: Path) -> sqlite3.Connection:
    return sqlite3.connect(root / ".evalharness" / "cache.db")


def test_judge_against_shoppers_in_every_format(demo: Path) -> None:
    r = run_cli(demo, "agreement", "--human", "behaviour:demo", "--judge", "offline", "--json", "--bootstrap", "200",
                "--markdown", "reports/b.md", "--html", "reports/b.html", "--disagreements", "reports/b.csv")
    assert r.returncode == 0, r.stderr
    j = json.loads(r.stdout)["judges"][0]
    b = j["behaviour"]
    assert b["source"] == "behaviour:demo" and b["estimate"] == "coec"
    assert b["n"] == j["pairs"] and -1 <= b["spearman"] <= 1
    lo, hi = b["spearman_ci95"]
    assert lo < b["spearman"] < hi
    with _db(demo) as db:
        evidence = {(q, d): (imp, c, ca, p) for q, d, imp, c, ca, p in db.execute(
            "SELECT query_key, doc_id, impressions, clicks, carts, purchases FROM behaviour_evidence WHERE source = 'behaviour:demo'")}
    for d in b["engaged_but_judged_lowest"]:
        assert d["judge"] == "irrelevant" and (d["clicks"] or d["carts"] or d["purchases"])
    for d in b["ignored_but_judged_highest"]:
        assert d["judge"] == "relevant" and d["clicks"] == d["carts"] == d["purchases"] == 0 and d["impressions"] >= 10
    listed = b["engaged_but_judged_lowest"] + b["ignored_but_judged_highest"]
    assert listed, "the demo log has hits shoppers and the offline judge disagree on"
    for d in listed:
        assert evidence[(" ".join(d["query"].lower().split()), d["doc_id"])] == (d["impressions"], d["clicks"], d["carts"], d["purchases"])
    md = (demo / "reports" / "b.md").read_text()
    assert "against shoppers (behaviour:demo)" in md and "Spearman rho" in md
    page = (demo / "reports" / "b.html").read_text()
    assert "Against shoppers (behaviour:demo)" in page and "<script" not in page
    rows = list(csv.DictReader((demo / "reports" / "b.csv").open()))
    notes = [row["note"] for row in rows if row["note"]]
    assert len(notes) == len(listed) and all("shown" in n for n in notes)
    table = run_cli(demo, "agreement", "--human", "behaviour:demo", "--judge", "offline", "--bootstrap", "200")
    assert "against shoppers (behaviour:demo)" in table.stdout and "engaged with, judged lowest" in table.stdout


def test_compare_shows_engagement_with_its_coverage(demo: Path) -> None:
    for name in ("v1", "v2"):
        assert run_cli(demo, "run", "-e", name).returncode == 0
    r = run_cli(demo, "compare", "v1", "v2", "--behaviour", "behaviour:demo", "--json")
    assert r.returncode == 0, r.stderr
    e = json.loads(r.stdout)["engagement"]
    assert e["source"] == "behaviour:demo" and e["k"] == 10
    with _db(demo) as db:
        labelled = {(q, d) for q, d in db.execute("SELECT query_key, doc_id FROM labels WHERE source = 'behaviour:demo'")}
    for side in e["configs"]:
        lists = csv.DictReader(run_cli(demo, "runs", "export", side["config"], "--format", "csv").stdout.splitlines())
        hits = [(" ".join(x["query"].lower().split()), x["doc_id"]) for x in lists if int(x["rank"]) <= 10]
        covered = sum(1 for h in hits if h in labelled)
        assert (side["hits"], side["covered_hits"]) == (len(hits), covered)
        assert side["coverage"] == pytest.approx(covered / len(hits))
        assert 0 < side["coverage"] < 1  # the demo log does not cover every hit, and the holes are counted, not filled
    table = run_cli(demo, "compare", "v1", "v2", "--behaviour", "behaviour:demo")
    assert "Engagement on behaviour:demo" in table.stdout and "coverage" in table.stdout
    missing = run_cli(demo, "compare", "v1", "v2", "--behaviour", "behaviour:none")
    assert missing.returncode == 2 and "labels implicit" in missing.stderr


def test_photos_against_position_corrected_ctr(demo: Path) -> None:
    r = run_cli(demo, "images", "engagement", "--behaviour", "demo", "--catalog", "demo", "--json")
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    overall = res["overall"]
    assert overall["n"] == res["products"] > 200
    lo, hi = overall["spearman_ci95"]
    assert 0 < lo < overall["spearman"] < hi  # the demo's shoppers click poor photos less than their positions predict
    assert res["by_category"] and all(c["n"] >= 10 for c in res["by_category"].values())
    # The same correlation from the store: per product clicks / expected clicks, and the offline scores.
    with _db(demo) as db:
        sums = db.execute("SELECT doc_id, sum(impressions), sum(clicks), sum(expected_clicks) FROM behaviour_evidence "
                          "WHERE source = 'behaviour:demo' GROUP BY doc_id").fetchall()
    scores = {row["product_id"]: row["score"] for row in json.loads(run_cli(demo, "images", "score", "--catalog", "demo", "--json").stdout)}
    pairs = [(scores[d], c / x) for d, imp, c, x in sums if imp >= 10 and x > 0 and d in scores]
    assert len(pairs) == overall["n"]
    assert overall["spearman"] == pytest.approx(spearmanr(*np.array(pairs).T).statistic, abs=1e-12)


@needs_shared_data()
def test_the_ubi_sample_of_esci_queries(tmp_path: Path) -> None:
    from esci_project import make_esci_project

    root = make_esci_project(tmp_path / "proj")
    log = SHARED_DATA / "ubi" / "ubi_queries_events.ndjson"
    r = run_cli(root, "labels", "implicit", "--source", str(log), "--format", "ubi", "--as", "ubi", "--min-impressions", "3", "--json")
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    assert s["labelled_pairs"] > 0 and s["skipped"]["other action"] > 0
    # One pair's COEC by hand from the raw file (an event without user_query takes its search's query document's).
    lines = [json.loads(x) for x in log.read_text().splitlines()]
    searched = {d["query_id"]: d["user_query"] for d in lines if "action_name" not in d and d.get("query_id") and d.get("user_query")}
    events = [d for d in lines if "action_name" in d and isinstance(d.get("event_attributes"), dict)]

    def where(d: dict) -> tuple:
        ea = d["event_attributes"]
        text = d.get("user_query") or searched.get(d.get("query_id"))
        return (text, (ea.get("object") or {}).get("object_id"), (ea.get("position") or {}).get("ordinal"))

    shown = [where(d) for d in events if d["action_name"] == "impression" and where(d)[0] and where(d)[2] is not None and where(d)[2] < 20]
    clicks = [where(d) for d in events if d["action_name"] in ("click", "item_click") and where(d)[0] and where(d)[2] is not None
              and where(d)[2] < 20]
    ctr = {p: sum(1 for c in clicks if c[2] == p) / sum(1 for x in shown if x[2] == p) for p in {x[2] for x in shown}}
    with sqlite3.connect(root / ".evalharness" / "cache.db") as db:
        qkey, doc, coec = db.execute("SELECT query_key, doc_id, coec FROM behaviour_evidence WHERE source = 'behaviour:ubi' "
                                     "AND clicks > 0 AND impressions >= 3 ORDER BY clicks DESC, doc_id LIMIT 1").fetchone()
    mine = [x for x in shown if " ".join(x[0].lower().split()) == qkey and x[1] == doc]
    n_clicks = sum(1 for c in clicks if " ".join(c[0].lower().split()) == qkey and c[1] == doc)
    assert coec == pytest.approx(n_clicks / sum(ctr[x[2]] for x in mine), rel=1e-9)
    a = run_cli(root, "agreement", "--human", "behaviour:ubi", "--judge", "offline", "--json", "--bootstrap", "200")
    assert a.returncode == 0, a.stderr
    got = json.loads(a.stdout)
    assert got["human"] == "behaviour:ubi" and got["labelled_pairs"] > 0 and "behaviour" in got["judges"][0]
