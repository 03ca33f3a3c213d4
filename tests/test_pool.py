"""Issue 26, bullets 1-4: a comparison is scored on its own inputs (the pool rule), label sources are named with
their holes, `report` shows what a run is, and each measure's direction drives colours, W/T/L and verdicts."""

from __future__ import annotations

import csv
import hashlib
import json
import re
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from conftest import assert_user_error, make_project, needs_shared_data, run_cli

POOL_TEXT = "qrels hold only the labels of the pairs in the runs compared"
LABELS = ("relevant", "substitute", "irrelevant")


def _ok(project: Path, *args: str, env: dict[str, str] | None = None) -> str:
    result = run_cli(project, *args, env=env)
    assert result.returncode == 0, (args, result.stdout[-2000:], result.stderr[-2000:])
    return result.stdout


def _run(project: Path, *args: str, env: dict[str, str] | None = None) -> str:
    return json.loads(_ok(project, "run", "--json", *args, env=env))["run_id"]


def _pairs(project: Path, run_ids: list[str]) -> list[tuple[str, str]]:
    """(query text, doc id) of every hit of these runs, in a stable order."""
    with sqlite3.connect(project / ".evalharness" / "cache.db") as db:
        marks = ", ".join("?" * len(run_ids))
        rows = db.execute(f"SELECT DISTINCT q.text, r.doc_id FROM run_results r JOIN run_queries q ON q.run_id = r.run_id "
                          f"AND q.query_id = r.query_id WHERE r.run_id IN ({marks}) ORDER BY 1, 2", run_ids).fetchall()
    return [(q, d) for q, d in rows]


def _write_labels(path: Path, pairs: list[tuple[str, str]], salt: str, keep: int = 5) -> None:
    """People's labels for these pairs, a fixed pseudo-random label each; one pair in `keep` left out (a hole)."""
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["query", "doc_id", "label"])
        for q, d in pairs:
            h = int(hashlib.sha256(f"{salt}|{q}|{d}".encode()).hexdigest(), 16)
            if h % keep:
                w.writerow([q, d, LABELS[h % 3]])


def _judgments(project: Path) -> int:
    with sqlite3.connect(project / ".evalharness" / "cache.db") as db:
        return db.execute("SELECT count(*) FROM judgments WHERE judge_id LIKE 'offline:%'").fetchone()[0]


def _without_images(project: Path) -> None:
    """Leave out the image measures (VQ@10, LowQ@10) and their gate rule: these tests need no image scores."""
    cfg = project / "evalharness.toml"
    text = cfg.read_text().replace(', "VQ@10", "LowQ@10"', "")
    cfg.write_text(re.sub(r'\[\[gate.rules\]\]\nmetric = "LowQ@10"\nmax_drop = 0.02\nalpha = 0.05\n', "", text))


def _outputs(project: Path, base: str, cand: str) -> dict[str, str]:
    """compare, compare --labels, gate and agreement --runs as JSON (runs named by id)."""
    return {
        "compare": _ok(project, "compare", base, cand, "--json"),
        "compare_labels": _ok(project, "compare", base, cand, "--json", "--labels", "human:people,offline"),
        "gate": _ok(project, "gate", "-b", base, "-c", cand, "--json"),
        "agreement": _ok(project, "agreement", "--human", "people", "--judge", "offline", "--runs", base, "--runs", cand, "--json"),
    }


def test_figures_depend_only_on_the_compared_runs(tmp_path: Path, demo_dir: Path) -> None:
    """Done-when 1: adding five unrelated runs (some judging deeper lists of the same queries), a second judge's labels
    and another label source changes no byte of compare, gate and agreement --runs."""
    from llmserver import LLMServer

    project = make_project(tmp_path / "proj", demo_dir, n_queries=30)
    cfg = project / "evalharness.toml"
    _without_images(project)
    base, cand = _run(project, "-e", "v1"), _run(project, "-e", "v2")
    _write_labels(project / "people.csv", _pairs(project, [base, cand]), "people")
    _ok(project, "labels", "import", "people.csv", "--as", "people")
    before = _outputs(project, base, cand)
    judged_before = _judgments(project)

    # Five unrelated runs on the same queries, three of them judging deeper lists (more judged docs per guideline).
    for args in (("-e", "v0"), ("-e", "v2-nocolor"), ("-e", "v1", "-k", "20"), ("-e", "v2", "-k", "20"), ("-e", "v0", "-k", "25")):
        _run(project, *args)
    assert _judgments(project) > judged_before  # the judge's pool for these guidelines grew
    # A second judge (an LLM through the real SDK and the local server) labels the same queries' hits.
    server = LLMServer(api_key="sk-pool-test")
    try:
        cfg.write_text(cfg.read_text().replace('api_key_env = ""', 'api_key_env = "EH_POOL_KEY"')
                       .replace('base_url = ""', f'base_url = "{server.url}/v1"'))
        _run(project, "-e", "v1", "-k", "12", "--judge", "openai:second-judge", env={"EH_POOL_KEY": "sk-pool-test"})
    finally:
        server.close()
    # Another label source, disagreeing with the first on every pair it holds.
    _write_labels(project / "other.csv", _pairs(project, [base, cand]), "other", keep=2)
    _ok(project, "labels", "import", "other.csv", "--as", "other")

    after = _outputs(project, base, cand)
    for name in before:  # nothing in these outputs is a timestamp: byte for byte
        assert after[name] == before[name], name
    data = json.loads(after["compare"])
    assert data["pool"]["rule"].startswith(POOL_TEXT) and data["label_sources"]["spec"] == "offline"
    assert json.loads(after["agreement"])["pool_rule"].startswith(POOL_TEXT)
    assert POOL_TEXT in json.loads(after["gate"])["comparison"]["pool"]["note"]


def test_pool_qrels_equal_an_independent_computation(tmp_path: Path, demo_dir: Path) -> None:
    """The compared figures equal ir_measures run on qrels built by hand from the two runs' own judged pairs."""
    import ir_measures

    from evalharness.labels.schemes import scheme_of
    from evalharness.project import Project

    project = make_project(tmp_path / "proj", demo_dir, n_queries=30)
    _without_images(project)
    base, cand = _run(project, "-e", "v1"), _run(project, "-e", "v2")
    _run(project, "-e", "v0", "-k", "30")  # judges docs 11-30 of the same queries: outside the comparison
    data = json.loads(_ok(project, "compare", base, cand, "--json", "-m", "nDCG@10", "--csv", "per-query.csv"))
    gains = scheme_of(Project(project).config).gains
    with sqlite3.connect(project / ".evalharness" / "cache.db") as db:
        rows = db.execute("SELECT r.run_id, q.query_id, r.doc_id, r.rank, j.label FROM run_results r "
                          "JOIN run_queries q ON q.run_id = r.run_id AND q.query_id = r.query_id "
                          "JOIN judgments j ON j.guideline_hash = q.guideline_hash AND j.doc_id = r.doc_id "
                          "AND j.content_hash = r.content_hash AND j.judge_id LIKE 'offline:%' "
                          "WHERE r.run_id IN (?, ?)", (base, cand)).fetchall()
    qrels = {(qid, doc): gains[label] for _, qid, doc, _, label in rows}
    runs = {rid: [ir_measures.ScoredDoc(qid, doc, -rank) for r, qid, doc, rank, _ in rows if r == rid] for rid in (base, cand)}
    qrel_list = [ir_measures.Qrel(q, d, g) for (q, d), g in qrels.items()]
    per_query = list(csv.DictReader((project / "per-query.csv").open()))
    for rid, side in ((base, "v1"), (cand, "v2")):
        want = {m.query_id: m.value for m in ir_measures.iter_calc([ir_measures.nDCG @ 10], qrel_list, runs[rid])}
        got = {r["query_id"]: float(r[f"{side}:nDCG@10"]) for r in per_query}
        assert got == pytest.approx({q: want.get(q, 0.0) for q in got}, abs=1e-12)
    assert data["metrics"][0]["baseline"] == pytest.approx(float(np.mean([float(r["v1:nDCG@10"]) for r in per_query])))


@pytest.fixture(scope="module")
def labelled(tmp_path_factory: pytest.TempPathFactory, demo_dir: Path) -> tuple[Path, str, str]:
    """v1 and v2 runs with people's labels on four in five of their hits."""
    project = make_project(tmp_path_factory.mktemp("labelled") / "proj", demo_dir, n_queries=30)
    _without_images(project)
    base, cand = _run(project, "-e", "v1"), _run(project, "-e", "v2")
    _write_labels(project / "people.csv", _pairs(project, [base, cand]), "people")
    _ok(project, "labels", "import", "people.csv", "--as", "people")
    return project, base, cand


def test_label_sources_are_named_with_their_holes(labelled: tuple[Path, str, str]) -> None:
    """Bullet 2: headers, Judged@10, the judged-share rule and the run status all count the source's holes."""
    project, base, cand = labelled
    data = json.loads(_ok(project, "compare", base, cand, "--json", "--labels", "human:people"))
    by_side = data["label_sources"]["by_side"]
    assert data["label_sources"]["spec"] == "human:people"
    judged10 = {m["metric"]: m for m in data["metrics"]}["Judged@10"]
    for side, key in ((data["baseline"], "baseline"), (data["candidates"][0], "candidate_mean")):
        counts = by_side[side["name"]]
        hits = sum(counts["hits_by_source"].values()) + counts["holes"]
        assert set(counts["hits_by_source"]) == {"human:people"} and 0 < counts["holes"] < hits
        assert side["judged"] == pytest.approx(1 - counts["holes"] / hits)
        assert judged10[key] == pytest.approx(side["judged"])  # every list holds 10 hits: Judged@10 is the same share
    assert any(w.startswith("label source human:people leaves hits unlabelled") for w in data["warnings"])

    gate = run_cli(project, "gate", "-b", base, "-c", cand, "--labels", "human:people")
    assert gate.returncode == 1  # [gate] min_judged = 0.95: the source's holes fail it
    line = next(x for x in gate.stdout.splitlines() if "candidate hits are judged" in x)
    assert line.startswith("FAIL") and "labelled by human:people" in line and "holes" in line
    assert "judge offline" not in gate.stdout and f"{data['candidates'][0]['judged']:.1%} of the candidate's hits" in line
    title = next(x for x in gate.stdout.splitlines() if "→" in x)
    assert "labels human:people" in title
    md = (project / "reports" / "gate.md").read_text()
    assert "labels `human:people`" in md and "holes" in md and POOL_TEXT in md

    filled = json.loads(_ok(project, "compare", base, cand, "--json", "--labels", "human:people,offline"))
    counts = filled["label_sources"]["by_side"][filled["baseline"]["name"]]
    assert counts["holes"] == 0 and counts["hits_by_source"]["human:people"] == by_side[data["baseline"]["name"]][
        "hits_by_source"]["human:people"] and counts["hits_by_source"]["offline"] == by_side[data["baseline"]["name"]]["holes"]

    holed = json.loads(_ok(project, "run", "-e", "v1", "--labels", "human:people", "--json"))
    assert holed["status"] == "partial" and holed["counts"]["label_holes"] == holed["labels"]["unlabelled_hits"] > 0
    full = json.loads(_ok(project, "run", "-e", "v1", "--labels", "human:people,offline", "--json"))
    assert full["status"] == "finished" and full["labels"]["unlabelled_hits"] == 0
    stored = {r["run_id"]: r["status"] for r in json.loads(_ok(project, "runs", "--json"))}
    assert stored[holed["run_id"]] == "partial" and stored[full["run_id"]] == "finished"


def test_report_shows_what_a_run_is(labelled: tuple[Path, str, str]) -> None:
    """Bullet 3: by config name (or none) the latest finished run; an unclean run only by its id, with a banner."""
    project, _, _ = labelled
    finished = _run(project, "-e", "v2")
    partial = json.loads(_ok(project, "run", "-e", "v2", "--labels", "human:people", "--json"))  # newer, partial
    assert partial["status"] == "partial"
    by_name = json.loads(_ok(project, "report", "v2", "--json"))
    assert by_name["run_id"] == finished and by_name["status"] == "finished" and by_name["banner"] is None
    latest = json.loads(_ok(project, "report", "--json"))
    assert latest["status"] == "finished"
    named = json.loads(_ok(project, "report", partial["run_id"], "--json", "--html", "reports/partial.html"))
    assert named["run_id"] == partial["run_id"] and named["status"] == "partial"
    assert named["counts"]["label_holes"] == partial["counts"]["label_holes"]
    assert named["banner"].startswith(f"run {partial['run_id']} is PARTIAL: {partial['counts']['label_holes']} of 300 hits")
    page = (project / "reports" / "partial.html").read_text()
    assert 'id="status-banner"' in page and "is PARTIAL" in page
    terminal = _ok(project, "report", partial["run_id"])
    assert "is PARTIAL" in terminal
    with sqlite3.connect(project / ".evalharness" / "cache.db") as db:  # a config whose only run failed
        db.execute("UPDATE runs SET engine_config = 'lonely', status = 'failed' WHERE run_id = ?", (partial["run_id"],))
    assert_user_error(run_cli(project, "report", "lonely"), "'lonely' has no finished run", partial["run_id"], "failed")


def test_only_holm_family_metrics_are_starred() -> None:
    """Bullet 4: Judged@10 far apart on every query is tested and reported, never starred; nDCG@10 in the family is."""
    from evalharness.compare.comparison import Side
    from evalharness.compare.runs import _tests
    from evalharness.store.db import StoredRun

    run = StoredRun("r", "e", "h", {}, "offline", 10, "finished", "", "", {}, {}, 0.0, 0.0)
    n = 40
    base = Side("a", run, [[]] * n, [[]] * n, {"nDCG@10": np.full(n, 0.4), "Judged@10": np.ones(n)})
    cand = Side("b", run, [[]] * n, [[]] * n, {"nDCG@10": np.linspace(0.6, 0.9, n), "Judged@10": np.full(n, 0.5)})
    rows = {r.metric: r for r in _tests([base, cand], ["nDCG@10", "Judged@10"], None, 0.05, ("Judged",), 0)}
    assert rows["Judged@10"].test.p_randomization < 0.05 and not rows["Judged@10"].in_family
    assert rows["Judged@10"].significant is False and rows["Judged@10"].to_json()["significant"] is False
    assert rows["nDCG@10"].significant is True


def test_lower_is_better_drives_colours_counts_and_words(tmp_path: Path, demo_dir: Path) -> None:
    """Bullet 4: LowQ@10 rising (v2-photos) is a regression in JSON, Markdown, HTML and the gate; W/T/L counts a
    query as a win where the candidate's LowQ@10 is lower (checked against the per-query CSV)."""
    project = make_project(tmp_path / "proj", demo_dir, n_queries=40)
    base, cand = _run(project, "-e", "v2"), _run(project, "-e", "v2-photos")
    data = json.loads(_ok(project, "compare", base, cand, "--json", "--csv", "q.csv", "--markdown", "c.md", "--html", "c.html"))
    rows = {m["metric"]: m for m in data["metrics"]}
    low, ndcg = rows["LowQ@10"], rows["nDCG@10"]
    assert low["lower_is_better"] is True and ndcg["lower_is_better"] is False
    assert low["delta"] > 0 and low["verdict"] == "regressed"
    per_query = list(csv.DictReader((project / "q.csv").open()))
    b = np.array([float(r["v2:LowQ@10"]) for r in per_query])
    c = np.array([float(r["v2-photos:LowQ@10"]) for r in per_query])
    assert (low["wins"], low["ties"], low["losses"]) == (int((c < b).sum()), int((c == b).sum()), int((c > b).sum()))
    assert low["losses"] > low["wins"]
    md = (project / "c.md").read_text()
    assert re.search(r"\| LowQ@10 ↓ \| [0-9.]+ \| [0-9.]+ \| \+[0-9.]+( \*)? \(regressed\)", md)
    html = (project / "c.html").read_text()
    low_row = next(x for x in html.split("<tr") if "<td>LowQ@10 ↓" in x)
    assert 'class="num down" title="regressed (lower is better)"' in low_row
    gate = json.loads(run_cli(project, "gate", "-b", base, "-c", cand, "--json").stdout)
    rule = next(r for r in gate["gate"]["results"] if r["name"] == "LowQ@10 did not regress")
    assert rule["passed"] is False and "(regressed, lower is better: delta +" in rule["detail"]


OTHER_FIELDS = (["brand"], ["description"], ["category"], ["color"], ["title", "description"], ["title", "category"],
                ["title", "color"], ["brand", "color"], ["title", "brand", "color"], ["category", "description"])


@needs_shared_data()
def test_esci_agreement_does_not_move_with_ten_other_runs(tmp_path: Path) -> None:
    """Done-when 2: on ESCI, three configs give the same Kendall tau, the same gate agreement and the same figures in a
    fresh project and after ten other configs (some judging deeper lists of the same queries) ran in it."""
    from esci_project import ESCI, make_esci_project

    root = make_esci_project(tmp_path / "proj")
    _ok(root, "labels", "import", str(ESCI / "labels.csv"), "--as", "esci", "--format", "csv", "--map", "esci")
    runs = [_run(root, "-e", name) for name in ("title", "brand", "wide")]
    args = ("agreement", "--human", "esci", "--judge", "offline", *[x for r in runs for x in ("--runs", r)], "--json")
    fresh = _ok(root, *args)
    gate_fresh = run_cli(root, "gate", "-b", runs[0], "-c", runs[2], "--json")
    judged = _judgments(root)

    products = ESCI / "products.jsonl"
    for i, fields in enumerate(OTHER_FIELDS):
        (root / "engines" / f"other{i}.toml").write_text(
            f'backend = "tantivy"\ntop_k = {10 + 5 * (i % 3)}\n[tantivy]\ncatalog = "{products}"\nfields = {json.dumps(fields)}\n',
            encoding="utf-8")
        _run(root, "-e", f"other{i}")
    assert _judgments(root) > judged  # the judge's pool for the same guidelines grew

    crowded = _ok(root, *args)
    assert crowded == fresh
    s = json.loads(crowded)
    assert s["kendall_tau"] is not None and len(s["pairs"]) == 3
    gate_crowded = run_cli(root, "gate", "-b", runs[0], "-c", runs[2], "--json")
    assert (gate_crowded.returncode, gate_crowded.stdout) == (gate_fresh.returncode, gate_fresh.stdout)
