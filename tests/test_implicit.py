"""`labels implicit`: every log format gives the same evidence, estimates equal a computation by hand, and the
behaviour:NAME source resolves wherever label sources are read."""

from __future__ import annotations

import csv
import json
import random
import sqlite3
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import assert_user_error, run_cli

EVIDENCE = "SELECT query_key, doc_id, impressions, clicks, carts, purchases, coec, pbm, estimate, label FROM behaviour_evidence " \
           "WHERE source = ? ORDER BY query_key, doc_id"


def simulated_events(seed: int = 5) -> list[dict]:
    """Flat events of 6 queries x 8 documents, 40 searches each showing 6 documents in random order."""
    rng = random.Random(seed)
    rows = []
    for q in range(6):
        attract = [rng.random() * 0.7 for _ in range(8)]
        for s in range(40):
            sid = f"s{q}-{s}"
            shown = rng.sample(range(8), 6)
            for pos, d in enumerate(shown):
                rows.append({"search_id": sid, "query": f"Query {q}", "doc_id": f"D{q}{d}", "position": pos, "action": "impression"})
            for pos, d in enumerate(shown):
                if rng.random() < attract[d] / (pos + 1) ** 0.5:
                    rows.append({"search_id": sid, "query": f"query  {q}", "doc_id": f"D{q}{d}", "position": pos, "action": "click"})
                    if rng.random() < 0.4:
                        rows.append({"search_id": sid, "query": f"Query {q}", "doc_id": f"D{q}{d}", "position": pos,
                                     "action": "add_to_cart"})
                        if rng.random() < 0.5:
                            rows.append({"search_id": sid, "query": f"Query {q}", "doc_id": f"D{q}{d}", "position": pos,
                                         "action": "purchase"})
    rows.append({"search_id": "x", "query": "Query 0", "doc_id": "D00", "position": 1, "action": "hover"})  # not counted
    return rows


def write_logs(rows: list[dict], folder: Path) -> dict[str, str]:
    """The same events as CSV, JSON lines, Parquet, a SQLite table and UBI bulk NDJSON; returns format -> source."""
    with (folder / "log.csv").open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    (folder / "log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    pq.write_table(pa.Table.from_pylist(rows), folder / "log.parquet")
    con = sqlite3.connect(folder / "log.db")
    con.execute("CREATE TABLE events (search_id TEXT, query TEXT, doc_id TEXT, position INTEGER, action TEXT)")
    con.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?)", [tuple(r.values()) for r in rows])
    con.commit()
    con.close()
    with (folder / "log.ndjson").open("w") as fh:
        seen = set()
        for i, r in enumerate(rows):
            if r["search_id"] not in seen:  # the search's query document
                seen.add(r["search_id"])
                fh.write(json.dumps({"index": {"_index": "ubi_queries"}}) + "\n")
                fh.write(json.dumps({"query_id": r["search_id"], "user_query": r["query"]}) + "\n")
            event = {"action_name": r["action"], "query_id": r["search_id"],
                     "event_attributes": {"object": {"object_id": r["doc_id"]}, "position": {"ordinal": r["position"]}}}
            if i % 3:  # a third of the events name only their search: resolved through the query document
                event["user_query"] = r["query"]
            fh.write(json.dumps({"index": {"_index": "ubi_events"}}) + "\n" + json.dumps(event) + "\n")
    return {"csv": str(folder / "log.csv"), "jsonl": str(folder / "log.jsonl"), "parquet": str(folder / "log.parquet"),
            "sql": f"sqlite:///{folder / 'log.db'}", "ubi": str(folder / "log.ndjson")}


def by_hand(rows: list[dict], cart_w: float = 1.0, buy_w: float = 3.0) -> dict[tuple[str, str], dict]:
    """COEC and the weighted estimate computed directly from the events."""
    shown_at, clicked_at = Counter(), Counter()
    for r in rows:
        if r["action"] == "impression":
            shown_at[r["position"]] += 1
        elif r["action"] == "click":
            clicked_at[r["position"]] += 1
    ctr = {p: clicked_at[p] / shown_at[p] for p in shown_at}
    out: dict[tuple[str, str], dict] = {}
    for r in rows:
        key = (" ".join(r["query"].lower().split()), r["doc_id"])
        e = out.setdefault(key, {"impressions": 0, "clicks": 0, "carts": 0, "purchases": 0, "expected": 0.0})
        if r["action"] == "impression":
            e["impressions"] += 1
            e["expected"] += ctr[r["position"]]
        elif r["action"] == "click":
            e["clicks"] += 1
        elif r["action"] == "add_to_cart":
            e["carts"] += 1
        elif r["action"] == "purchase":
            e["purchases"] += 1
    for e in out.values():
        e["coec"] = e["clicks"] / e["expected"]
        e["estimate"] = (e["clicks"] + cart_w * e["carts"] + buy_w * e["purchases"]) / e["expected"]
    return out


def test_every_log_format_gives_the_same_evidence_and_coec_by_hand(project: Path, tmp_path: Path) -> None:
    rows = simulated_events()
    sources = write_logs(rows, tmp_path)
    expected = by_hand(rows)
    stored = {}
    for fmt, source in sources.items():
        extra = ["--table", "events"] if fmt == "sql" else []
        r = run_cli(project, "labels", "implicit", "--source", source, "--format", fmt, "--as", fmt, "--json", *extra)
        assert r.returncode == 0, r.stderr
        summary = json.loads(r.stdout)
        assert summary["source"] == f"behaviour:{fmt}" and summary["pairs"] == len(expected) and summary["queries"] == 6
        assert summary["skipped"] == {"other action": 1}
        with sqlite3.connect(project / ".evalharness" / "cache.db") as db:
            stored[fmt] = db.execute(EVIDENCE, (f"behaviour:{fmt}",)).fetchall()
    first = stored["csv"]
    for fmt, got in stored.items():
        assert [r[:6] + r[9:] for r in got] == [r[:6] + r[9:] for r in first], fmt
        assert [v for r in got for v in r[6:9]] == pytest.approx([v for r in first for v in r[6:9]], rel=1e-9), fmt
    for qkey, doc, imp, clicks, carts, buys, coec, _pbm, estimate, label in first:
        e = expected[(qkey, doc)]
        assert (imp, clicks, carts, buys) == (e["impressions"], e["clicks"], e["carts"], e["purchases"])
        assert coec == pytest.approx(e["coec"], rel=1e-9)
        assert estimate == pytest.approx(e["estimate"], rel=1e-9)
        # [behaviour] defaults: at least 10 impressions; irrelevant < 0.5 <= substitute < 1.0 <= relevant
        want = None if imp < 10 else "irrelevant" if e["estimate"] < 0.5 else "substitute" if e["estimate"] < 1.0 else "relevant"
        assert label == want


def test_the_source_resolves_like_people_labels(project: Path, tmp_path: Path) -> None:
    from evalharness.labels.sources import check_spec, qrels_for_source
    from evalharness.store import Store
    from evalharness.store.db import StoredQuery

    rows = simulated_events()
    sources = write_logs(rows, tmp_path)
    r = run_cli(project, "labels", "implicit", "--source", sources["jsonl"], "--format", "jsonl", "--as", "log", "--estimate", "pbm",
                "--min-impressions", "20")
    assert r.returncode == 0, r.stderr
    assert "behaviour:log" in r.stdout and "Position bias" in r.stdout
    listed = json.loads(run_cli(project, "labels", "list", "--json").stdout)
    with sqlite3.connect(project / ".evalharness" / "cache.db") as db:
        labelled = db.execute("SELECT query_key, doc_id, label FROM labels WHERE source = 'behaviour:log'").fetchall()
        below = db.execute("SELECT count(*) FROM behaviour_evidence WHERE source = 'behaviour:log' AND impressions < 20").fetchone()[0]
        no_label = db.execute("SELECT count(*) FROM behaviour_evidence WHERE source = 'behaviour:log' AND label IS NULL").fetchone()[0]
    assert listed["behaviour:log"] == len(labelled) > 0
    assert below == no_label  # every pair under the threshold keeps its evidence and gets no label
    exported = list(csv.DictReader(run_cli(project, "labels", "export", "--source", "behaviour:log", "--format", "csv").stdout.splitlines()))
    assert len(exported) == len(labelled)
    assert check_spec("behaviour:log,offline") == ["behaviour:log", "offline"]
    store = Store(f"sqlite:///{project / '.evalharness' / 'cache.db'}")
    try:
        queries = [StoredQuery(f"q{i}", f"query {i}", 1, "", "g", [], []) for i in range(6)]
        got = qrels_for_source(store, "behaviour:log", queries, {}, {"irrelevant": 0, "substitute": 1, "relevant": 2})
    finally:
        store.close()
    gains = {"irrelevant": 0, "substitute": 1, "relevant": 2}
    assert sum(len(v) for v in got.qrels.values()) == len(labelled)
    for qkey, doc, label in labelled:
        assert got.qrels[f"q{qkey.split()[-1]}"][doc] == gains[label]
        assert got.origin[f"q{qkey.split()[-1]}"][doc] == "behaviour:log"
    # recomputing replaces the source: no stale pairs
    r = run_cli(project, "labels", "implicit", "--source", sources["jsonl"], "--format", "jsonl", "--as", "log", "--min-impressions", "1000")
    assert r.returncode == 0, r.stderr
    assert "behaviour:log" not in json.loads(run_cli(project, "labels", "list", "--json").stdout)


def test_bad_input_is_one_line(project: Path, tmp_path: Path) -> None:
    sources = write_logs(simulated_events(), tmp_path)
    implicit = ("labels", "implicit", "--as", "x")
    assert_user_error(run_cli(project, *implicit, "--source", sources["csv"], "--format", "csv", "--doc-field", "sku"), "sku", "--doc-field")
    assert_user_error(run_cli(project, *implicit, "--source", sources["csv"]), "--format")
    assert_user_error(run_cli(project, *implicit, "--source", sources["csv"], "--format", "csv", "--estimate", "ctr"), "--estimate")
    only_clicks = tmp_path / "clicks.csv"
    only_clicks.write_text("query,doc_id,position,action\nmug,D1,0,click\n")
    assert_user_error(run_cli(project, *implicit, "--source", str(only_clicks), "--format", "csv"), "no impression events")
    bad_pos = tmp_path / "pos.csv"
    bad_pos.write_text("query,doc_id,position,action\nmug,D1,top,impression\n")
    assert_user_error(run_cli(project, *implicit, "--source", str(bad_pos), "--format", "csv"), "whole-number positions")
    assert_user_error(run_cli(project, "labels", "implicit", "--as", "a,b", "--source", sources["csv"], "--format", "csv"), "behaviour:NAME")
    assert_user_error(run_cli(project, "agreement", "--human", "behaviour:nothing", "--judge", "offline"), "labels implicit")
    toml = project / "evalharness.toml"
    toml.write_text(toml.read_text() + "\n[behaviour]\nthresholds = [1.0]\n")
    assert_user_error(run_cli(project, *implicit, "--source", sources["csv"], "--format", "csv"), "thresholds", "2 ascending")


def test_nested_fields_of_json_lines(project: Path, tmp_path: Path) -> None:
    """UBI event documents exported one per line: dotted field names reach into the nested JSON."""
    rows = simulated_events()
    nested = tmp_path / "events.jsonl"
    nested.write_text("".join(json.dumps({"action_name": r["action"], "user_query": r["query"], "event_attributes": {
        "object": {"object_id": r["doc_id"]}, "position": {"ordinal": r["position"]}}}) + "\n" for r in rows))
    flat = write_logs(rows, tmp_path)["jsonl"]
    got = {}
    for name, source, fields in (("flat", flat, []), ("nested", str(nested), [
            "--query-field", "user_query", "--doc-field", "event_attributes.object.object_id",
            "--position-field", "event_attributes.position.ordinal", "--action-field", "action_name"])):
        r = run_cli(project, "labels", "implicit", "--source", source, "--format", "jsonl", "--as", name, *fields)
        assert r.returncode == 0, r.stderr
        with sqlite3.connect(project / ".evalharness" / "cache.db") as db:
            got[name] = db.execute(EVIDENCE, (f"behaviour:{name}",)).fetchall()
    assert got["nested"] == got["flat"] and got["flat"]
