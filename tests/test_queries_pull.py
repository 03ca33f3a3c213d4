"""`evalharness queries pull` on the real UBI sample and on generated logs in every format."""

import csv
import json
import sqlite3
from collections import Counter, defaultdict
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import SHARED_DATA, assert_user_error, needs_shared_data, run_cli

UBI = SHARED_DATA / "ubi" / "ubi_queries_events.ndjson"


def read_csv(path: Path) -> list[dict]:
    with path.open() as fh:
        return list(csv.DictReader(fh))


def independent_ubi_counts() -> tuple[Counter, dict]:
    """Count the UBI sample with plain json, separately from the implementation."""
    counts: Counter = Counter()
    searches, clicked, zero = defaultdict(set), defaultdict(set), defaultdict(set)
    clicks, carts = Counter(), Counter()
    qid_query = {}
    events = []
    listed, empty = set(), set()
    lines = UBI.read_text().splitlines()
    for action_line, doc_line in zip(lines[::2], lines[1::2]):
        assert "index" in json.loads(action_line)
        doc = json.loads(doc_line)
        q = doc.get("user_query")
        q = " ".join(q.lower().split()) if isinstance(q, str) and q.strip() else None
        if q:
            counts[q] += 1
            if doc.get("query_id"):
                searches[q].add(doc["query_id"])
                qid_query.setdefault(doc["query_id"], q)
            body = json.loads(doc["query"]) if str(doc.get("query", "")).startswith("{") else {}
            if "action_name" not in doc and doc.get("query_response_hit_ids"):
                listed.add((q, doc["query_id"]))
            elif "action_name" not in doc and doc.get("query_response_hit_ids") == [] and body.get("size") != 0:
                empty.add((q, doc["query_id"]))  # a request for hits that got none (not a size-0 facet request)
        if "action_name" in doc:
            events.append((q, doc.get("query_id"), doc["action_name"]))
    for q, qid in empty - listed:
        zero[q].add(qid)
    for q, qid, action in events:
        q = q or qid_query.get(qid)
        if not q:
            continue
        if action in ("click", "item_click"):
            clicks[q] += 1
            clicked[q].add(qid)
        elif action == "add_to_cart":
            carts[q] += 1
    stats = {q: {"searches": len(searches[q]), "clicks": clicks[q], "add_to_cart": carts[q], "zero_results": len(zero[q]),
                 "ctr": round(len(clicked[q]) / len(searches[q]), 4) if searches[q] else 0.0} for q in counts}
    return counts, stats


@needs_shared_data()
def test_ubi_top20_exact_counts_and_event_stats(project: Path) -> None:
    result = run_cli(project, "queries", "pull", "--source", str(UBI), "--format", "ubi", "--top", "20", "--out", "queries/ubi.csv")
    assert result.returncode == 0, result.stderr
    rows = read_csv(project / "queries" / "ubi.csv")
    counts, stats = independent_ubi_counts()
    # by default a query's count is its distinct searches, the same number as the "searches" column
    expected = sorted(((q, s["searches"]) for q, s in stats.items()), key=lambda kv: (-kv[1], kv[0]))[:20]
    assert [(r["query"].lower(), int(r["count"])) for r in rows] == expected
    assert all(r["count"] == r["searches"] for r in rows)
    by_records = run_cli(project, "queries", "pull", "--source", str(UBI), "--format", "ubi", "--top", "20",
                         "--count-by", "records", "--out", "queries/ubi-records.csv")
    assert by_records.returncode == 0, by_records.stderr
    records = read_csv(project / "queries" / "ubi-records.csv")
    assert [(r["query"].lower(), int(r["count"])) for r in records] == sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:20]
    assert (records[0]["query"], records[0]["count"]) == ("wireless earbuds", "389")
    assert (records[1]["query"], records[1]["count"]) == ("gold", "354")
    for r in rows + records:
        s = stats[r["query"].lower()]
        assert int(r["searches"]) == s["searches"] and int(r["clicks"]) == s["clicks"]
        assert int(r["add_to_cart"]) == s["add_to_cart"] and int(r["zero_results"]) == s["zero_results"]
        assert float(r["ctr"]) == pytest.approx(s["ctr"])
    assert "CTR" in result.stdout and "wireless earbuds" in result.stdout
    gold = next(r for r in rows if r["query"].lower() == "gold")  # its facet requests (size 0) list no hits
    assert (gold["searches"], gold["zero_results"]) == ("14", "0")


def test_ubi_zero_results_are_searches_whose_result_list_was_empty(project: Path) -> None:
    """A size-0 facet request logged for a search does not make it a zero-result search; an empty result list does."""
    def query_doc(qid: str, text: str, size: int, hits: list[str]) -> dict:
        return {"query_response_id": f"r-{qid}-{size}", "user_query": text, "query_id": qid, "application": "shop",
                "query": json.dumps({"size": size, "query": {"match": {"title": text}}}),
                "query_response_hit_ids": hits, "timestamp": "2025-01-24T07:31:30.699+0000"}

    docs = [query_doc("s1", "gold", 0, []), query_doc("s1", "gold", 20, ["B1", "B2"]), query_doc("s1", "gold", 0, []),
            query_doc("s2", "gold", 0, []), query_doc("s2", "gold", 20, []),  # really empty
            query_doc("s3", "gold", 20, ["B3"]),
            {"application": "shop", "action_name": "click", "query_id": "s1", "user_query": "gold",
             "event_attributes": {"object": {"object_id": "B1", "object_id_field": "asin"}}}]
    path = project / "ubi.ndjson"
    path.write_text("".join(json.dumps({"index": {"_index": "ubi_queries"}}) + "\n" + json.dumps(d) + "\n" for d in docs))
    r = run_cli(project, "queries", "pull", "--source", str(path), "--format", "ubi", "--out", "queries/z.csv")
    assert r.returncode == 0, r.stderr
    (row,) = read_csv(project / "queries" / "z.csv")
    assert (row["searches"], row["zero_results"], row["clicks"]) == ("3", "1", "1")


@needs_shared_data()
def test_ubi_strata_counts_and_seed(project: Path) -> None:
    args = ["queries", "pull", "--source", str(UBI), "--format", "ubi", "--strata", "head:3,torso:8,tail:12"]
    a = run_cli(project, *args, "--seed", "7", "--out", "queries/a.csv")
    b = run_cli(project, *args, "--seed", "7", "--out", "queries/b.csv")
    c = run_cli(project, *args, "--seed", "8", "--sample", "uniform", "--out", "queries/c.csv")
    assert a.returncode == b.returncode == c.returncode == 0, a.stderr
    ra = read_csv(project / "queries" / "a.csv")
    assert Counter(r["segment"] for r in ra) == {"head": 3, "torso": 8, "tail": 12}
    assert (project / "queries" / "a.csv").read_bytes() == (project / "queries" / "b.csv").read_bytes()
    assert (project / "queries" / "a.csv").read_bytes() != (project / "queries" / "c.csv").read_bytes()
    # head = the queries that carry the first 50 % of traffic: with this log, wireless earbuds and gold are head
    _, stats = independent_ubi_counts()
    counts = {q: s["searches"] for q, s in stats.items()}  # a query's count is its distinct searches by default
    total, cum, head = sum(counts.values()), 0, []
    for q, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        if cum < 0.5 * total:
            head.append(q)
        cum += n
    assert {r["query"].lower() for r in ra if r["segment"] == "head"} <= set(head)


def _write_log(tmp: Path) -> list[dict]:
    rows = []
    for i in range(300):
        rows.append({"query": "Red  Sneakers" if i % 3 else "red sneakers", "ts": f"2024-12-{1 + i % 28:02d}T10:00:00Z"})
    rows += [{"query": "ＢＬＵＥ jeans", "ts": "2024-12-02T00:00:00Z"}] * 50  # full-width letters: NFKC folds them
    rows += [{"query": "blue jeans", "ts": "2024-12-20T00:00:00Z"}] * 70
    rows += [{"query": "john.doe@example.com", "ts": "2024-12-03T00:00:00Z"}] * 40
    rows += [{"query": "+49 170 1234567", "ts": "2024-12-03T00:00:00Z"}] * 5
    rows += [{"query": "4111 1111 1111 1111", "ts": "2024-12-03T00:00:00Z"}] * 3
    rows += [{"query": "order 1234567", "ts": "2024-12-03T00:00:00Z"}] * 2
    rows += [{"query": f"tail query {i}", "ts": "2024-12-05T00:00:00Z"} for i in range(30)]
    with (tmp / "log.csv").open("w", newline="") as fh:
        w = csv.DictWriter(fh, ["query", "ts"])
        w.writeheader()
        w.writerows(rows)
    (tmp / "log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    pq.write_table(pa.Table.from_pylist(rows), tmp / "log.parquet")
    con = sqlite3.connect(tmp / "log.db")
    con.execute("CREATE TABLE searches (query TEXT, ts TEXT)")
    con.executemany("INSERT INTO searches VALUES (?, ?)", [(r["query"], r["ts"]) for r in rows])
    con.commit()
    return rows


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet", "sql"])
def test_formats_normalize_merge_and_scrub(project: Path, tmp_path: Path, fmt: str) -> None:
    _write_log(tmp_path)
    source = f"sqlite:///{tmp_path / 'log.db'}" if fmt == "sql" else str(tmp_path / f"log.{fmt}")
    extra = ["--table", "searches"] if fmt == "sql" else []
    result = run_cli(project, "queries", "pull", "--source", source, "--format", fmt, *extra, "--out", "queries/x.csv")
    assert result.returncode == 0, result.stderr
    rows = read_csv(project / "queries" / "x.csv")
    by_query = {r["query"]: int(r["count"]) for r in rows}
    assert by_query["Red Sneakers"] == 300  # variants merged, the most frequent surface form kept (whitespace collapsed)
    assert by_query["blue jeans"] == 120
    assert not any("@" in q or "1111" in q or "1234567" in q for q in by_query)
    assert "dropped 50 (card 3, email 40, order_id 2, phone 5)" in result.stdout
    assert "john.doe" not in result.stdout + result.stderr
    assert rows[0]["segment"] == "head" and rows[-1]["segment"] == "tail"


def test_time_window_min_count_and_counts(project: Path, tmp_path: Path) -> None:
    _write_log(tmp_path)
    result = run_cli(project, "queries", "pull", "--source", str(tmp_path / "log.csv"), "--format", "csv", "--time-field", "ts",
                     "--since", "2024-12-10", "--until", "2024-12-21", "--min-count", "2", "--out", "queries/w.csv")
    assert result.returncode == 0, result.stderr
    by_query = {r["query"]: int(r["count"]) for r in read_csv(project / "queries" / "w.csv")}
    assert by_query == {"blue jeans": 70, "Red Sneakers": sum(1 for i in range(300) if 10 <= 1 + i % 28 <= 20)}
    agg = tmp_path / "agg.csv"
    agg.write_text("q,n\nshoes,10\nShoes,5\nhat,3\n")
    result = run_cli(project, "queries", "pull", "--source", str(agg), "--format", "csv", "--query-field", "q", "--count-field", "n",
                     "--out", "queries/agg.csv")
    assert result.returncode == 0, result.stderr
    assert [(r["query"], r["count"]) for r in read_csv(project / "queries" / "agg.csv")] == [("shoes", "15"), ("hat", "3")]


def test_bad_input(project: Path, tmp_path: Path) -> None:
    _write_log(tmp_path)
    pull = ["queries", "pull", "--out", "queries/z.csv", "--format"]
    assert_user_error(run_cli(project, *pull, "csv", "--source", str(tmp_path / "log.csv"), "--query-field", "q"),
                      "unknown field 'q'", "available: query, ts")
    assert_user_error(run_cli(project, *pull, "csv", "--source", str(tmp_path / "nope.csv")), "no such file")
    (tmp_path / "empty.csv").write_text("query\n")
    assert_user_error(run_cli(project, *pull, "csv", "--source", str(tmp_path / "empty.csv")), "has no queries")
    assert_user_error(run_cli(project, *pull, "sql", "--source", "notadb://x", "--table", "t"), "not a usable SQLAlchemy URL")
    assert_user_error(run_cli(project, *pull, "sql", "--source", f"sqlite:///{tmp_path / 'log.db'}", "--table", "nosuch"),
                      "SQL source failed")
    assert_user_error(run_cli(project, *pull, "xml", "--source", str(tmp_path / "log.csv")), "unknown --format 'xml'")
    assert_user_error(run_cli(project, *pull, "csv", "--source", str(tmp_path / "log.csv"), "--strata", "head=3"), "--strata")
    (tmp_path / "bad.parquet").write_text("not parquet")
    assert_user_error(run_cli(project, *pull, "parquet", "--source", str(tmp_path / "bad.parquet")), "not a readable Parquet")


def test_run_uses_a_pulled_query_set(project: Path, demo_dir: Path) -> None:
    result = run_cli(project, "queries", "pull", "--source", str(demo_dir / "querylog.csv"), "--format", "csv",
                     "--count-field", "count", "--strata", "head:2,torso:5,tail:10", "--seed", "1", "--out", "queries/pulled.csv")
    assert result.returncode == 0, result.stderr
    run = run_cli(project, "run", "-e", "v2", "--queries", "queries/pulled.csv", "--json")
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["counts"]["queries"] == 17


def test_privacy_scrub_checks_cards_keeps_isbn_and_ean_and_catches_order_ids(project: Path, tmp_path: Path) -> None:
    searches = {"4111 1111 1111 1111": "card",  # a Luhn-valid card number
                "5500-0000-0000-0004": "card",
                "9780306406157": None,  # ISBN-13
                "isbn 0-306-40615-2": None,  # ISBN-10
                "4006381333931": None,  # EAN-13 barcode
                "ORD-2024-000123": "order_id",
                "order no. 55555": "order_id",
                "ordinary 12345 socks": None,
                "iphone 15 pro 256gb": None}
    with (tmp_path / "log.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["query"])
        w.writerows([q] for q in searches)
    result = run_cli(project, "queries", "pull", "--source", str(tmp_path / "log.csv"), "--format", "csv", "--out", "queries/p.csv")
    assert result.returncode == 0, result.stderr
    kept = {r["query"] for r in read_csv(project / "queries" / "p.csv")}
    assert kept == {q for q, rule in searches.items() if rule is None}
    assert "dropped 4 (card 2, order_id 2)" in result.stdout
