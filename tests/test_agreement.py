"""`agreement` on the ESCI data: statistics equal independent computations; the second call judges nothing; --runs."""

import csv
import json
import sqlite3
from collections import Counter
from pathlib import Path

import krippendorff
import numpy as np
import pytest
from conftest import needs_shared_data, run_cli
from esci_project import ESCI, make_esci_project
from sklearn.metrics import accuracy_score, cohen_kappa_score

from evalharness.textnorm import normalize_query

ESCI_MAP = {"E": "relevant", "S": "substitute", "C": "irrelevant", "I": "irrelevant"}
ORDER = ["irrelevant", "substitute", "relevant"]


@pytest.fixture(scope="module")
def esci(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = make_esci_project(tmp_path_factory.mktemp("esci") / "proj")
    r = run_cli(root, "labels", "import", str(ESCI / "labels.csv"), "--as", "esci", "--format", "csv", "--map", "esci")
    assert r.returncode == 0, r.stderr
    return root


@needs_shared_data()
def test_agreement_equals_independent_computations(esci: Path) -> None:
    r = run_cli(esci, "agreement", "--human", "esci", "--judge", "offline", "--json", "--bootstrap", "500",
                "--html", "reports/agreement.html", "--markdown", "reports/agreement.md", "--disagreements", "reports/hard.csv")
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    judge = result["judges"][0]

    # Independent: the human labels from the file, the judge's labels straight from the judgments table.
    texts = {json.loads(line)["id"]: json.loads(line)["text"] for line in (ESCI / "queries.jsonl").open()}
    human = {(normalize_query(texts[x["query_id"]]), x["product_id"]): ESCI_MAP[x["label"]]
             for x in csv.DictReader((ESCI / "labels.csv").open())}
    with sqlite3.connect(esci / ".evalharness" / "cache.db") as db:
        judged = {(normalize_query(q), d): lab for q, d, lab in
                  db.execute("SELECT query, doc_id, label FROM judgments WHERE judge_id = ?", (judge["judge_id"],))}
    keys = sorted(k for k in human if k in judged)
    assert len(keys) == judge["pairs"] > 4000
    h = [ORDER.index(human[k]) for k in keys]
    j = [ORDER.index(judged[k]) for k in keys]
    assert judge["accuracy"] == pytest.approx(accuracy_score(h, j), abs=1e-3)
    assert judge["kappa"] == pytest.approx(cohen_kappa_score(h, j), abs=1e-3)
    assert judge["kappa_linear"] == pytest.approx(cohen_kappa_score(h, j, weights="linear"), abs=1e-6)
    assert judge["kappa_quadratic"] == pytest.approx(cohen_kappa_score(h, j, weights="quadratic"), abs=1e-6)
    assert judge["alpha_ordinal"] == pytest.approx(krippendorff.alpha(reliability_data=np.array([h, j], dtype=float),
                                                                      level_of_measurement="ordinal"), abs=1e-6)
    counts = Counter(zip(h, j))
    assert judge["confusion"] == [[counts[(a, b)] for b in range(3)] for a in range(3)]
    assert judge["distribution"]["human"] == {name: h.count(i) for i, name in enumerate(ORDER)}
    for key in ("accuracy", "kappa", "kappa_quadratic", "alpha_ordinal"):
        lo, hi = judge["ci95"][key]
        assert lo <= judge[key] <= hi
    assert judge["judged_now"] == judge["pairs"] and judge["cost_usd"] == 0

    hard = list(csv.DictReader((esci / "reports" / "hard.csv").open()))
    assert len(hard) == judge["hard_disagreements"] == counts[(0, 2)] + counts[(2, 0)]
    assert {row["human_label"] + row["judge_label"] for row in hard} <= {"relevantirrelevant", "irrelevantrelevant"}
    page = (esci / "reports" / "agreement.html").read_text()
    assert "Content-Security-Policy" in page and "<script" not in page
    assert "| judge |" in (esci / "reports" / "agreement.md").read_text()

    again = json.loads(run_cli(esci, "agreement", "--human", "esci", "--judge", "offline", "--json", "--bootstrap", "200").stdout)
    assert again["judges"][0]["judged_now"] == 0 and again["judges"][0]["from_cache"] == judge["pairs"]
    assert again["judges"][0]["kappa"] == judge["kappa"]

    # The hard-disagreements file is a label file: relabel one row and import it back.
    rows = [dict(row) for row in hard[:3]]
    if rows:
        rows[0]["label"] = "substitute"
        path = esci / "relabelled.csv"
        with path.open("w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(hard[0]))
            w.writeheader()
            w.writerows(rows)
        back = run_cli(esci, "labels", "import", str(path), "--as", "esci", "--json")
        assert back.returncode == 0, back.stderr
        assert json.loads(back.stdout)["changed"] == 1


@needs_shared_data()
def test_system_level_agreement_on_three_configs(esci: Path) -> None:
    for name in ("title", "brand", "wide"):
        r = run_cli(esci, "run", "-e", name, "--json")
        assert r.returncode == 0, r.stderr
    r = run_cli(esci, "agreement", "--human", "esci", "--judge", "offline", "--runs", "title", "--runs", "brand", "--runs", "wide",
                "--json")
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    assert [x["engine_config"] for x in s["runs"]] == ["title", "brand", "wide"]
    assert -1 <= s["kendall_tau"] <= 1
    assert [(p["baseline"], p["candidate"]) for p in s["pairs"]] == [("title", "brand"), ("title", "wide"), ("brand", "wide")]
    for p in s["pairs"]:
        assert p["human"]["decision"] in ("pass", "FAIL") and p["same_decision"] == (p["human"]["decision"] == p["judge"]["decision"])
    table = run_cli(esci, "agreement", "--human", "esci", "--runs", "title", "--runs", "wide")
    assert table.returncode == 0 and "Kendall" in table.stdout and "gate decides the same way" in table.stdout


@needs_shared_data()
def test_two_llm_judges_report_the_scripted_agreement_rate(tmp_path: Path) -> None:
    from llmserver import LLMServer, script_labels, scripted_label

    from evalharness.catalog.products import iter_products

    root = make_esci_project(tmp_path / "proj")
    texts = {json.loads(line)["id"]: json.loads(line)["text"] for line in (ESCI / "queries.jsonl").open()}
    keep = sorted(texts)[:12]
    rows = [x for x in csv.DictReader((ESCI / "labels.csv").open()) if x["query_id"] in keep]
    titles = {p["id"]: p.get("title") or "" for p in iter_products(ESCI / "products.jsonl") if p["id"] in {x["product_id"] for x in rows}}
    with (root / "gold.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["query", "doc_id", "label"])
        w.writerows((texts[x["query_id"]], x["product_id"], x["label"]) for x in rows)
    assert run_cli(root, "labels", "import", "gold.csv", "--as", "gold", "--map", "esci").returncode == 0
    rates = {"judge-a": 0.8, "judge-b": 0.55}
    script_labels({(texts[x["query_id"]], titles[x["product_id"]]): ESCI_MAP[x["label"]] for x in rows}, rates)
    server = LLMServer(api_key="sk-agree-test")
    try:
        cfg = root / "evalharness.toml"
        cfg.write_text(cfg.read_text() + f'\n[judge]\napi_key_env = "EH_AGREE_KEY"\nbase_url = "{server.url}/v1"\nmax_concurrency = 8\n')
        env = {"EH_AGREE_KEY": "sk-agree-test"}
        args = ("agreement", "--human", "gold", "--judge", "openai:judge-a", "--judge", "openai:judge-b", "--json", "--bootstrap", "300")
        r = run_cli(root, *args, env=env)
        assert r.returncode == 0, r.stderr
        result = {j["judge"]: j for j in json.loads(r.stdout)["judges"]}
        first_requests = server.total_requests
        assert first_requests == sum(j["pairs"] for j in result.values()) > 2 * 400
        for model, rate in rates.items():
            j = result[f"openai:{model}"]
            expected = [scripted_label(texts[x["query_id"]], {"title": titles[x["product_id"]]}, model)[0] == ESCI_MAP[x["label"]]
                        for x in rows if titles.get(x["product_id"]) is not None]
            assert j["accuracy"] == pytest.approx(sum(expected) / len(expected), abs=0.02)
            assert abs(j["accuracy"] - rate) < 0.06
            assert j["per_1000_pairs"]["tokens"] > 0
        server.configure()
        again = run_cli(root, *args, env=env)
        assert again.returncode == 0, again.stderr
        assert server.total_requests == 0
        assert all(j["judged_now"] == 0 for j in json.loads(again.stdout)["judges"])
    finally:
        script_labels({}, {})
        server.close()
