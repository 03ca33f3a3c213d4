"""Confidence with every judgment: the label's probability from scripted token log-probabilities (OpenAI and
Gemini wire formats through the real SDKs), stored with the judgment, exported and shown by `disagreements`."""

from __future__ import annotations

import asyncio
import json
import math
import sqlite3
from pathlib import Path

import pytest
from conftest import run_cli
from llmserver import LLMServer, script_logprobs

from evalharness.judges.base import JudgeRequest
from evalharness.judges.confidence import label_distribution
from evalharness.llm.logprobs import TokenLogprob
from evalharness.models import Guideline, Hit, Query

KEY = "sk-conf-test"
ENV = {"EH_CONF_KEY": KEY}


@pytest.fixture
def llm():
    server = LLMServer(api_key=KEY)
    yield server
    script_logprobs({})
    server.close()


def configure(project: Path, server: LLMServer, provider: str, logprobs: int = 5) -> None:
    cfg = project / "evalharness.toml"
    base = f"{server.url}/v1" if provider == "openai" else server.url
    text = cfg.read_text().replace('api_key_env = ""', 'api_key_env = "EH_CONF_KEY"').replace('base_url = ""', f'base_url = "{base}"')
    cfg.write_text(text.replace("[judge]\n", f"[judge]\nlogprobs = {logprobs}\n", 1))
    lines = (project / "queries" / "demo.csv").read_text().splitlines()
    (project / "queries" / "demo.csv").write_text("\n".join(lines[:9]) + "\n")


def hand_probability(dist: dict[str, float], label: str, tail: float, label_tokens: int) -> float:
    """The renormalised probability by hand: the chosen label's first token p x (1 - junk), its later tokens `tail`
    each; other labels only their first token p x (1 - junk); the whitespace token's mass dropped."""
    junk = 0.02
    chosen = dist[label] * (1 - junk) * tail ** (label_tokens - 1)
    others = sum(p * (1 - junk) for n, p in dist.items() if n != label)
    return chosen / (chosen + others)


@pytest.mark.parametrize("provider", ["openai", "gemini"])
def test_label_probability_matches_a_hand_computation(project: Path, llm: LLMServer, provider: str, monkeypatch) -> None:
    from evalharness.judges import make_judge
    from evalharness.project import Project

    configure(project, llm, provider)
    monkeypatch.setenv("EH_CONF_KEY", KEY)
    query, title = "red running shoes", "Red Running Shoes Deluxe"  # every query word in the title: scripted "relevant"
    dist = {"relevant": 0.7, "substitute": 0.2, "irrelevant": 0.1}
    script_logprobs({("cheap-m", query, title): dist}, tail=0.9)
    judge = make_judge(f"{provider}:cheap-m", Project(project).config)
    assert judge.judge_id.split(":")[-2:] == ["rv1", "lp5"] or ":lp5" in judge.judge_id
    request = JudgeRequest(Query("q1", query), Guideline(query, (), "Relevant: red running shoes.", "offline", hash="g1"),
                           Hit("d1", 1, 1.0, title=title, description="A shoe."))

    async def go():
        try:
            return await judge.judge(request)
        finally:
            await judge.aclose()

    j = asyncio.run(go())
    assert j.label == "relevant"
    # "relevant" is two scripted tokens ("releva", "nt"): p 0.7 x 0.98 x 0.9 against 0.2 x 0.98 and 0.1 x 0.98
    expected = hand_probability(dist, "relevant", 0.9, 2)
    assert expected == pytest.approx(0.7 * 0.9 / (0.7 * 0.9 + 0.3))
    assert j.confidence == pytest.approx(expected, abs=1e-6)
    assert j.details["label_probs"]["substitute"] == pytest.approx(0.2 / (0.7 * 0.9 + 0.3), abs=1e-6)
    sent = llm.recent()[-1]["body"]
    if provider == "openai":
        assert sent["logprobs"] is True and sent["top_logprobs"] == 5
    else:
        assert sent["generationConfig"]["responseLogprobs"] is True and sent["generationConfig"]["logprobs"] == 5


def test_distribution_of_a_label_split_over_tokens_with_a_leading_quote() -> None:
    """A token that carries the opening quote and the start of the value; an alternative that could still become
    two names is left out; a closing quote inside an alternative ends the value."""
    names = ("irrelevant", "substitute", "relevant", "relented")
    text = '{"label": "relevant"}'
    toks = [TokenLogprob('{"', 0.0), TokenLogprob("label", 0.0), TokenLogprob('":', 0.0), TokenLogprob(' "', 0.0),
            TokenLogprob("rele", math.log(0.6), (("rele", math.log(0.6)), ("sub", math.log(0.2)), ("rel", math.log(0.1)))),
            TokenLogprob("vant", math.log(0.8), (("vant", math.log(0.8)), ("nted", math.log(0.15)))),
            TokenLogprob('"}', 0.0)]
    dist = label_distribution(text, toks, names)
    assert dist is not None
    masses = {"relevant": 0.6 * 0.8, "substitute": 0.2, "relented": 0.6 * 0.15, "irrelevant": 0.0}  # "rel": two names, dropped
    total = sum(masses.values())
    for name, m in masses.items():
        assert dist[name] == pytest.approx(m / total)
    assert label_distribution(text, toks[:-1], names) is None  # the tokens do not spell the text


def test_confidence_is_stored_exported_and_shown(project: Path, llm: LLMServer) -> None:
    configure(project, llm, "openai", logprobs=3)
    run = run_cli(project, "run", "-e", "v2", "--top-k", "5", "--json", "--judge", "openai:cheap-m", env=ENV)
    assert run.returncode == 0, run.stderr
    db = next((project / ".evalharness").glob("*.db"))
    rows = sqlite3.connect(db).execute("SELECT label, confidence, details FROM judgments WHERE judge_id LIKE 'openai:cheap-m:%'").fetchall()
    assert rows and all(c is not None and 0 < c <= 1 for _, c, _ in rows)
    for label, c, details in rows:  # unscripted pairs: 0.9 on the answered label, the tail token 0.95 when it has two
        assert c == pytest.approx(json.loads(details)["label_probs"][label])
        assert c in (pytest.approx(0.9 / (0.9 + 0.1), abs=1e-6), pytest.approx(0.9 * 0.95 / (0.9 * 0.95 + 0.1), abs=1e-6))
    exported = run_cli(project, "labels", "export", "--source", "openai:cheap-m", "--format", "jsonl", env=ENV)
    assert exported.returncode == 0, exported.stderr
    lines = [json.loads(x) for x in exported.stdout.splitlines()]
    assert lines and all(x["confidence"] is not None for x in lines)
    shown = run_cli(project, "disagreements", "v2", "--below", "0.95", "--json", env=ENV)
    assert shown.returncode == 0, shown.stderr
    pairs = json.loads(shown.stdout)["disagreements"]
    assert pairs and all(p["confidence"] < 0.95 for p in pairs)
    assert [p["confidence"] for p in pairs] == sorted(p["confidence"] for p in pairs)


@pytest.mark.parametrize("provider", ["openai", "gemini"])
def test_batch_judgments_carry_the_confidence_too(project: Path, llm: LLMServer, provider: str) -> None:
    configure(project, llm, provider, logprobs=4)
    cfg = project / "evalharness.toml"
    cfg.write_text(cfg.read_text().replace("[judge]\n", "[judge]\nbatch_poll_s = 0.3\n", 1))
    r = run_cli(project, "run", "-e", "v2", "--top-k", "3", "--batch", "--wait", "--json", "--judge", f"{provider}:cheap-m", env=ENV)
    assert r.returncode == 0, r.stderr
    assert llm.batch_stats()["lines"].get(provider, 0) > 0
    db = next((project / ".evalharness").glob("*.db"))
    rows = sqlite3.connect(db).execute("SELECT confidence, details FROM judgments WHERE judge_id LIKE ?", (f"{provider}:cheap-m:%",)).fetchall()
    assert rows and all(c == pytest.approx(0.9 * 0.95 / (0.9 * 0.95 + 0.1), abs=1e-6) for c, _ in rows)
    assert all(json.loads(d)["batch"] for _, d in rows)
