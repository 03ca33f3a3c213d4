"""The drift canary: an edited judge prompt makes the gate re-judge the gold set (only that, once) and report the
agreement change; the gate's outcomes and exit codes. The judge is the openai SDK against the local LLM server."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from conftest import run_cli
from llmserver import LLMServer
from test_llm_judges import ENV, KEY, configure

from evalharness.compare.trustgate import Drift, TrustCheck, classify, trust_results
from evalharness.config import TrustConfig

GOLD_QUERIES = (20, 26)  # demo query rows used as the gold set: outside the 8 queries the runs compare


@pytest.fixture
def llm():
    server = LLMServer(api_key=KEY)
    yield server
    server.close()


def _gold_labels(project: Path) -> int:
    """people's labels (here: the offline judge's, one in three flipped) for the top 3 of v2 on gold queries."""
    from evalharness.project import Project
    from evalharness.store import Store
    from evalharness.store.runread import pair_pool, stored_pairs

    rows = (project / "queries" / "demo.csv").read_text().splitlines()
    (project / "queries" / "gold.csv").write_text("\n".join([rows[0], *rows[GOLD_QUERIES[0]:GOLD_QUERIES[1]]]) + "\n")
    r = run_cli(project, "run", "-e", "v2", "-q", "queries/gold.csv", "--top-k", "3", "--judge", "offline", "--json")
    assert r.returncode == 0, r.stderr
    run_id = json.loads(r.stdout)["run_id"]
    store = Store(Project(project).store_url())
    try:
        judged = pair_pool(store, json.loads(r.stdout)["judge_id"], stored_pairs(store.run_queries(run_id))).labels
        pairs = [(q.text, h.doc_id, judged[q.guideline_hash][h.doc_id][0]) for q in store.run_queries(run_id) for h in q.hits]
    finally:
        store.close()
    flip = {"relevant": "irrelevant", "irrelevant": "substitute", "substitute": "relevant"}
    with (project / "gold.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["query", "doc_id", "label"])
        w.writerows((q, d, flip[lab] if i % 3 == 0 else lab) for i, (q, d, lab) in enumerate(pairs))
    assert run_cli(project, "labels", "import", "gold.csv", "--as", "gold").returncode == 0
    return len(pairs)


def test_edited_prompt_rejudges_only_the_gold_set_once(project: Path, llm: LLMServer) -> None:
    n_gold = _gold_labels(project)
    configure(project, llm, "openai", queries=8)
    cfg = project / "evalharness.toml"
    cfg.write_text(cfg.read_text() + '\n[gate.trust]\nsource = "human:gold"\nuse_corrected = false\nmax_agreement_drop = 0.5\n')
    for engine in ("v1", "v2"):
        assert run_cli(project, "run", "-e", engine, "--top-k", "3", "--judge", "openai:m", env=ENV).returncode == 0
    llm.configure()
    measured = run_cli(project, "agreement", "--human", "gold", "--judge", "openai:m", "--json", "--bootstrap", "200", env=ENV)
    assert measured.returncode == 0, measured.stderr
    before = json.loads(measured.stdout)["judges"][0]
    assert llm.total_requests == n_gold == before["pairs"]  # the gold set, judged once

    llm.configure()
    same = run_cli(project, "gate", "-b", "v1", "-c", "v2", "--json", env=ENV)
    assert same.returncode in (0, 1), same.stderr
    gate = json.loads(same.stdout)["gate"]
    assert llm.total_requests == 0 and gate["trust"]["status"] == "trusted" and gate["trust"]["drift"] is None

    assert run_cli(project, "prompts", "init").returncode == 0
    template = project / "prompts" / "judge_user.j2"
    template.write_text(template.read_text().replace("Label this product for the query.",
                                                     "Label this product for the query. Colour matters most here."))
    llm.configure()
    edited = run_cli(project, "gate", "-b", "v1", "-c", "v2", "--json", env=ENV)
    assert edited.returncode in (0, 1), edited.stderr
    data = json.loads(edited.stdout)
    drift = data["gate"]["trust"]["drift"]
    assert drift["reference_judge"] == before["judge_id"] and drift["judge"] != before["judge_id"]
    assert drift["judge"] == data["comparison"]["judge_id"]
    # the new judge saw the compared runs' missing pairs (the comparison's own work) and the gold set, nothing else
    assert drift["rejudged_pairs"] == n_gold
    assert llm.total_requests == data["comparison"]["judged_new"] + n_gold
    assert drift["before"] == pytest.approx(before["kappa"]) and drift["change"] == pytest.approx(drift["after"] - drift["before"])
    check = next(x for x in data["gate"]["results"] if x["name"] == "judge drift")
    assert check["status"] == "pass" and f"re-judged {n_gold} gold pairs" in check["detail"] and "change" in check["detail"]

    llm.configure()  # paid once per judge: the next gate re-judges nothing and still reports the change
    again = json.loads(run_cli(project, "gate", "-b", "v1", "-c", "v2", "--json", env=ENV).stdout)
    assert llm.total_requests == 0 and again["gate"]["trust"]["drift"]["rejudged_pairs"] == 0
    assert again["gate"]["trust"]["drift"]["after"] == pytest.approx(drift["after"])


def test_drift_beyond_the_drop_fails_and_outcomes() -> None:
    cfg = TrustConfig(source="human:gold", min_kappa=0.5, max_agreement_drop=0.05)
    assert cfg.statistic == ("kappa", 0.5)
    dropped = TrustCheck("human:gold", "j2", "kappa", 0.5, "trusted", 0.6, (0.55, 0.65), 300, 40,
                         drift=Drift("j1", "j2", 0.7, 0.6, 300))
    results = trust_results(cfg, dropped)
    drift = next(r for r in results if r.name == "judge drift")
    assert drift.status == "FAIL" and "change -0.1000" in drift.detail
    steady = TrustCheck("human:gold", "j2", "kappa", 0.5, "trusted", 0.68, (0.6, 0.75), 300, 40, drift=Drift("j1", "j2", 0.7, 0.68, 0))
    assert all(r.status == "pass" for r in trust_results(cfg, steady))
    # agreement CI straddling the minimum: uncertain, with the queries likely to settle it (half-width ~ 1/sqrt(n))
    status, more = classify(0.55, (0.45, 0.65), 0.5, 40)
    assert status == "uncertain" and more == 40 * 4 - 40
    assert classify(0.3, (0.2, 0.4), 0.5, 40) == ("untrusted", None)
    assert classify(0.7, (0.6, 0.8), 0.5, 40) == ("trusted", None)
    uncertain = TrustCheck("human:gold", "j", "kappa", 0.5, "uncertain", 0.55, (0.45, 0.65), 300, 40, more_queries=120)
    agreement = trust_results(cfg, uncertain)[0]
    assert agreement.status == "INCONCLUSIVE" and agreement.more_gold == 120 and "about 120 more gold queries" in agreement.detail
    with pytest.raises(ValueError, match="one minimum"):
        TrustConfig(source="human:gold", min_kappa=0.4, min_alpha=0.4)
