"""Whole runs against the local LLM server in its other answer styles, through the real openai, google-genai and
anthropic SDKs: `minimal` (the smallest answer valid against the schema sent: every demo and ESCI pair judged,
no failure, no repair) and `realistic` (answers as models write them: every label kept as the exact style gives
it, the answers that are not labels failed with their reason, no repair)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from conftest import needs_shared_data, run_cli
from esci_project import make_esci_project
from llmserver import LLMServer
from llmserver_shapes import NOT_LABELS
from test_llm_judges import ENV, KEY, configure

PROVIDERS = ["openai", "gemini", "anthropic"]


def _run(project: Path, *args: str) -> dict:
    result = run_cli(project, "run", "--json", *args, env=ENV)
    assert result.returncode in (0, 2) and result.stdout, result.stderr
    return json.loads(result.stdout)


def _labels(project: Path, judge_id: str) -> dict[tuple[str, str], tuple[str, str]]:
    db = sqlite3.connect(project / ".evalharness" / "cache.db")
    try:
        rows = db.execute("SELECT query, doc_id, label, details FROM judgments WHERE judge_id = ?", (judge_id,)).fetchall()
    finally:
        db.close()
    return {(q, d): (label, details) for q, d, label, details in rows}


@pytest.mark.parametrize("provider", PROVIDERS)
def test_minimal_answers_judge_every_demo_pair(project: Path, provider: str) -> None:
    server = LLMServer(api_key=KEY, answer_style="minimal")
    try:
        configure(project, server, provider, queries=20)
        data = _run(project, "-e", "v2", "--top-k", "10", "--judge", f"{provider}:minimal-model")
        counts = data["counts"]
        assert counts["failed"] == 0 and data["failures"] == [] and counts["judged_new"] == counts["hits"] > 100
        assert server.total_requests == counts["hits"]  # no repair call
        stored = _labels(project, data["judge_id"])
        verdicts = [v for _, details in stored.values() for v in json.loads(details)["verdicts"]]
        assert verdicts and {v["verdict"] for v in verdicts} == {"met"}  # the first enum value, one per requirement
    finally:
        server.close()


@needs_shared_data()
@pytest.mark.parametrize("provider", PROVIDERS)
def test_minimal_answers_judge_every_esci_pair(tmp_path: Path, provider: str) -> None:
    server = LLMServer(api_key=KEY, answer_style="minimal")
    try:
        root = make_esci_project(tmp_path / "esci", n_queries=25)
        base = f"{server.url}/v1" if provider == "openai" else server.url
        with (root / "evalharness.toml").open("a") as fh:
            fh.write(f'\n[judge]\nbase_url = "{base}"\napi_key_env = "EH_LLM_KEY"\ntimeout_s = 5.0\n')
        data = _run(root, "-e", "wide", "--judge", f"{provider}:minimal-model")
        counts = data["counts"]
        assert counts["failed"] == 0 and counts["judged_new"] == counts["hits"] > 150
        assert server.total_requests == counts["hits"]
    finally:
        server.close()


@pytest.mark.parametrize("provider", PROVIDERS)
def test_realistic_answers_keep_every_label(project: Path, provider: str) -> None:
    """The same pairs judged from exact answers and from realistic ones: the realistic run stores the same label for
    every pair it judged, fails exactly the answers that were not labels (each with its reason) and pays no repair."""
    server = LLMServer(api_key=KEY, answer_style="exact")
    try:
        configure(project, server, provider, queries=20)
        exact = _run(project, "-e", "v2", "--top-k", "10", "--judge", f"{provider}:exact-model")
        assert exact["counts"]["failed"] == 0
        server.configure()
        server.set_answer_style("realistic", seed=7)
        real = _run(project, "-e", "v2", "--top-k", "10", "--judge", f"{provider}:realistic-model")
        shapes = server.shapes()
        counts = real["counts"]
        assert sum(shapes.values()) == counts["hits"] == server.total_requests  # one answer per pair: no repair
        not_labels = sum(n for shape, n in shapes.items() if shape in NOT_LABELS)
        assert len(shapes) >= 8 and not_labels > 0
        assert counts["failed"] == not_labels and counts["judged_new"] == counts["hits"] - not_labels
        reasons = {f["reason"].split(":")[0] for f in real["failures"]}  # the reason itself, no exception name
        expected = {NOT_LABELS[s] for s in shapes if s in NOT_LABELS}
        if provider == "anthropic":  # the Messages API has no content filter outcome: it says stop_reason "refusal"
            expected = {"refused" if r == "content filtered" else r for r in expected}
        assert reasons == expected and not any("NoLabel" in f["reason"] for f in real["failures"])
        before, after = _labels(project, exact["judge_id"]), _labels(project, real["judge_id"])
        assert after and all(label == before[pair][0] for pair, (label, _) in after.items())
        noted = [json.loads(d).get("answer_notes") for _, d in after.values()]
        lenient = sum(n for shape, n in shapes.items() if shape not in {"exact", "tool_call", *NOT_LABELS})
        assert sum(1 for n in noted if n) == lenient > 0  # each lenient read is noted with its judgment
    finally:
        server.close()
