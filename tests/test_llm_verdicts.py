"""Per-requirement verdicts from LLM judges: the request schema asks for them (openai, gemini, anthropic through the
real SDKs against the local server), they are stored with the judgment and a cached re-run keeps them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import run_cli
from llmserver import LLMServer
from test_llm_judges import ENV, KEY, configure

from evalharness.project import Project
from evalharness.store import Store
from evalharness.store.verdicts import verdict_pool

METRICS = '"Judged@10", "AttrMatch(color)@10", "ReqMet@10"]'


@pytest.fixture
def llm():
    server = LLMServer(api_key=KEY)
    yield server
    server.close()


def _schema(provider: str, body: dict) -> dict:
    if provider == "openai":
        return body["response_format"]["json_schema"]["schema"]
    if provider == "gemini":
        return body["generationConfig"]["responseSchema"]
    return body["tools"][0]["input_schema"]


@pytest.mark.parametrize("provider", ["openai", "gemini", "anthropic"])
def test_llm_verdicts_requested_stored_and_cached(project: Path, llm: LLMServer, provider: str) -> None:
    configure(project, llm, provider, queries=6)
    toml = project / "evalharness.toml"
    toml.write_text(toml.read_text().replace('"Judged@10"]', METRICS))
    (project / "queries" / "demo.csv").write_text("id,query,count,segment\na1,navy watch,5,head\na2,purple mug,3,torso\n"
                                                  "a3,kestrel black lamp,2,tail\na4,lamp,9,head\n")
    first = run_cli(project, "run", "-e", "v2", "--top-k", "4", "--judge", f"{provider}:m", "--json", env=ENV)
    assert first.returncode == 0, first.stderr
    data = json.loads(first.stdout)
    judge_calls = [r["body"] for r in llm.recent() if "product_data" in json.dumps(r["body"])]
    schema = _schema(provider, judge_calls[0])
    keyed = schema["properties"]["requirement_verdicts"]  # one required key per requirement of the guideline
    assert keyed["required"] == list(keyed["properties"]) and keyed["required"][0].startswith("r1_")
    assert all(p["enum"] == ["met", "not met", "unknown"] for p in keyed["properties"].values())
    assert "requirement_verdicts" in schema["required"]
    store = Store(Project(project).store_url())
    try:
        queries = store.run_queries(data["run_id"])
        pool = verdict_pool(store, [q.guideline_hash for q in queries], data["judge_id"])
    finally:
        store.close()
    judged = sum(len(docs) for docs in pool.values())
    assert judged == data["counts"]["hits"] > 0  # every judgment carries its verdicts
    verdicts = [v for docs in pool.values() for vs in docs.values() for v in vs]
    assert {v["verdict"] for v in verdicts} >= {"met", "not met"}
    assert 0 < data["metrics"]["ReqMet@10"] <= 1 and data["metrics"]["AttrMatch(color)@10"] is not None
    llm.configure()
    again = run_cli(project, "run", "-e", "v2", "--top-k", "4", "--judge", f"{provider}:m", "--json", env=ENV)
    assert again.returncode == 0, again.stderr
    cached = json.loads(again.stdout)
    assert llm.total_requests == 0 and cached["counts"]["judged_cached"] == data["counts"]["hits"]
    assert cached["metrics"] == data["metrics"]  # the verdicts came back from the cache with the labels


def test_an_answer_without_verdicts_keeps_its_label() -> None:
    """Verdicts are auxiliary: an answer without them keeps its label and rationale, each verdict a hole (None)."""
    from evalharness.judges.answer import parse_answer
    from evalharness.labels.schemes import scheme_named
    from evalharness.models import Requirement

    reqs = (Requirement("product_type", "lamp", "must"),)
    scheme = scheme_named("three-level")
    answer = parse_answer(json.dumps({"rationale": "ok", "requirement_verdicts": {"r1_product_type": "met"}, "label": "relevant"}),
                          scheme, "before", reqs)
    assert answer.label == "relevant" and answer.verdicts == [{"attribute": "product_type", "value": "lamp", "verdict": "met"}]
    answer = parse_answer(json.dumps({"rationale": "ok", "label": "relevant"}), scheme, "before", reqs)
    assert (answer.label, answer.rationale) == ("relevant", "ok") and answer.notes == ["1 of 1 verdicts missing"]
    assert answer.verdicts == [{"attribute": "product_type", "value": "lamp", "verdict": None}]
