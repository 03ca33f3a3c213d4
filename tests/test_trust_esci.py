"""Issue 28 on the ESCI data: the offline judge corrected by 30 % of the queries as gold, and a gate that knows it.

The gold set is drawn as the rating page draws it (`rate --unit query`: whole queries, stratified, size-weighted,
with stored inclusion probabilities); the raters are simulated by ESCI's own labels (E relevant, S substitute,
C and I irrelevant). ESCI leaves some retrieved products of a query unlabelled; the simulated rater calls those
irrelevant, as ESCI-based evaluations treat unjudged products.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest
from conftest import assert_user_error, needs_shared_data, run_cli
from esci_project import ESCI, make_esci_project

ESCI_MAP = {"E": "relevant", "S": "substitute", "C": "irrelevant", "I": "irrelevant"}
GOLD_SHARE = 0.3


@pytest.fixture(scope="module")
def esci(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not ESCI.exists():
        pytest.skip(f"ESCI data not found at {ESCI}")
    from evalharness.project import Project
    from evalharness.rating import samples
    from evalharness.rating.scheme import rating_scheme
    from evalharness.store import Store, rating
    from evalharness.store.labels import put_labels
    from evalharness.textnorm import normalize_query

    root = make_esci_project(tmp_path_factory.mktemp("trust") / "proj")
    for name in ("title", "wide"):
        r = run_cli(root, "run", "-e", name, "--json")
        assert r.returncode == 0, r.stderr
    texts = {json.loads(line)["id"]: json.loads(line)["text"] for line in (ESCI / "queries.jsonl").open()}
    truth = {(normalize_query(texts[x["query_id"]]), x["product_id"]): ESCI_MAP[x["label"]]
             for x in csv.DictReader((ESCI / "labels.csv").open())}
    project = Project(root)
    store = Store(project.store_url())
    try:
        n_gold = round(GOLD_SHARE * len(texts))
        req = samples.SampleRequest("gold", n_gold, "disagreements", None, 28, [], 1, False, "query")
        samples.create(store, root, req, rating_scheme(project.config))
        items = rating.sample_items(store, "gold")
        assert len({it.query_key for it in items}) == n_gold
        put_labels(store, "human:gold", [{"query": it.query, "doc_id": it.doc_id,
                                          "label": truth.get((it.query_key, it.doc_id), "irrelevant")} for it in items])
    finally:
        store.close()
    return root


@needs_shared_data()
def test_corrected_comparison_on_esci(esci: Path) -> None:
    r = run_cli(esci, "compare", "title", "wide", "--correct-with", "human:gold", "--json")
    assert r.returncode == 0, r.stderr
    k = json.loads(r.stdout)["corrected"]
    assert k["source"] == "human:gold" and k["gold_queries"] == 30 and k["queries"] == 100 and k["weighted"]
    assert 0 < k["effective_gold_queries"] <= 30
    assert {row["metric"] for row in k["rows"]} == {"nDCG@10", "P(rel=2)@10"}  # Judged@10 is not corrected
    for row in k["rows"]:
        d = row["delta"]
        assert d["ci95"][0] < d["estimate"] < d["ci95"][1] and 0 <= d["lambda"] <= 1 and d["n_gold"] == 30
        assert row["judge_only"]["ci95"][0] <= row["judge_only"]["delta"] <= row["judge_only"]["ci95"][1]
    cfg = esci / "evalharness.toml"
    plain = cfg.read_text()
    cfg.write_text(plain.replace("[run]", '[compare]\ncorrect_with = "human:gold"\n\n[run]'))  # the config key, no flag
    try:
        table = run_cli(esci, "compare", "title", "wide", "--markdown", "reports/c.md", "--html", "reports/c.html")
    finally:
        cfg.write_text(plain)
    assert table.returncode == 0, table.stderr
    print(table.stdout)
    assert "Corrected with human:gold: 30 gold of 100 queries" in table.stdout and "λ" in table.stdout
    assert "Corrected with `human:gold`: 30 gold of 100 queries" in (esci / "reports" / "c.md").read_text()
    assert 'id="corrected"' in (esci / "reports" / "c.html").read_text()
    assert_user_error(run_cli(esci, "compare", "title", "wide", "--correct-with", "human:gold", "--weight", "traffic"),
                      "--correct-with", "--weight traffic")
    assert_user_error(run_cli(esci, "compare", "title", "wide", "--correct-with", "human:"), "human:NAME")


def _gate(root: Path, trust: str, tag: str) -> tuple[int, dict, str]:
    cfg = root / "evalharness.toml"
    base = cfg.read_text().split("\n[gate.trust]")[0]
    cfg.write_text(base + "\n[gate.trust]\n" + trust)
    r = run_cli(root, "gate", "-b", "title", "-c", "wide", "--json", "--markdown", f"reports/{tag}.md", "--junit",
                f"reports/{tag}.xml")
    assert r.returncode in (0, 1, 3), r.stderr
    return r.returncode, json.loads(r.stdout)["gate"], r.stdout


@needs_shared_data()
def test_gate_is_inconclusive_until_the_judge_is_trusted(esci: Path) -> None:
    # Not measured yet: INCONCLUSIVE, and it says how to measure the judge.
    code, gate, _ = _gate(esci, 'source = "human:gold"\nmin_kappa = 0.4\n', "unmeasured")
    assert code == 3 and gate["outcome"] == "INCONCLUSIVE" and gate["trust"]["status"] == "unmeasured"
    measured = run_cli(esci, "agreement", "--human", "gold", "--judge", "offline", "--bootstrap", "500", "--json")
    assert measured.returncode == 0, measured.stderr
    kappa = json.loads(measured.stdout)["judges"][0]["kappa"]
    assert kappa < 0.4  # the offline judge on ESCI

    code, gate, _ = _gate(esci, 'source = "human:gold"\nmin_kappa = 0.4\n', "strict")
    assert code == 3 and gate["outcome"] == "INCONCLUSIVE", gate
    assert gate["trust"]["status"] == "untrusted" and gate["trust"]["value"] == pytest.approx(kappa)
    rule = next(x for x in gate["results"] if x["name"] == "nDCG@10 did not regress")
    assert rule["status"] == "INCONCLUSIVE" and "corrected" in rule["detail"] and "gold queries" in rule["detail"]
    assert isinstance(rule["more_gold_queries"], int) and rule["more_gold_queries"] > 0
    assert re.search(r"about \d+ more gold queries would likely decide it", rule["detail"])
    md = (esci / "reports" / "strict.md").read_text()
    assert "⚠️ INCONCLUSIVE" in md and "**INCONCLUSIVE**" in md and "exit code 3" in md
    xml = (esci / "reports" / "strict.xml").read_text()
    assert 'skipped="1"' in xml and "<skipped message=\"INCONCLUSIVE: corrected" in xml and 'failures="0"' in xml

    # min_kappa lowered below the measured agreement, rules on the judge's deltas: the gate decides.
    code, gate, _ = _gate(esci, 'source = "human:gold"\nmin_kappa = 0.0\nuse_corrected = false\n', "lowered")
    assert gate["trust"]["status"] == "trusted" and gate["outcome"] in ("PASS", "FAIL")
    assert code == {"PASS": 0, "FAIL": 1}[gate["outcome"]]
    assert all(x["status"] != "INCONCLUSIVE" for x in gate["results"])


@needs_shared_data()
def test_plan_gives_a_gold_budget(esci: Path) -> None:
    r = run_cli(esci, "agreement", "--human", "gold", "--runs", "title", "--runs", "wide", "--plan", "0.02", "--json")
    assert r.returncode == 0, r.stderr
    plan = json.loads(r.stdout)
    rows = {row["metric"]: row for row in plan["rows"]}
    ndcg = rows["nDCG@10"]
    assert ndcg["basis"] == "measured" and ndcg["gold_queries"] == 30
    assert ndcg["gold_queries_needed"] is not None and ndcg["half_width_now"] > 0
    # needing more than the 30 labelled means the current interval is wider than the target, and vice versa
    assert (ndcg["gold_queries_needed"] > 30) == (ndcg["half_width_now"] > 0.02)
    bad = run_cli(esci, "agreement", "--human", "gold", "--runs", "title", "--plan", "0.02")
    assert bad.returncode == 2 and "--runs BASELINE --runs CANDIDATE" in bad.stderr
