"""The answer-shape corpus: answers as real models write them, each sent verbatim by the local LLM server through a
real SDK to an LLM judge, with its documented outcome (the label kept, or the reason it is not a label) and the
repair calls it cost. A repair is paid only when the label itself is unusable."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from llmserver import LLMServer

from evalharness.config import ProjectConfig
from evalharness.errors import JudgeOutputError, NoLabel
from evalharness.judges import JudgeRequest, make_judge
from evalharness.models import Guideline, Hit, Query, Requirement

KEY = "sk-shapes-test-key"
REQS = (Requirement("product_type", "mug", "must"), Requirement("color", "purple", "should"))
GUIDELINE = Guideline("purple mug", REQS, "Relevant: a purple mug.", "offline")
HIT = Hit("d1", 1, 1.0, title="Purple ceramic mug", color="purple")
GOOD = '{"rationale": "a purple mug", "requirement_verdicts": {"r1_product_type": "met", "r2_color": "met"}, "label": "relevant"}'
KEYED = '{"r1_product_type": "met", "r2_color": "not met"}'
HOLES = [None, None]


@dataclass(frozen=True)
class Shape:
    """One answer as sent, what the judge makes of it, and the repair calls it costs."""

    name: str
    text: str
    label: str | None  # the label kept; None: a failure
    reason: str = ""  # the failure's reason (the start of its message)
    repairs: int = 0
    verdicts: list[str | None] | None = None  # the stored verdicts, when the row checks them
    wire: str = ""  # what the provider's response says apart from the text (llmserver_shapes)
    provider: str = "openai"
    scheme: str = "three-level"
    reasoning: str = "before"


CORPUS = [
    Shape("exact", GOOD, "relevant", verdicts=["met", "met"]),
    Shape("code fence", f"```json\n{GOOD}\n```", "relevant", verdicts=["met", "met"]),
    Shape("bare code fence", f"```\n{GOOD}\n```", "relevant"),
    Shape("prose first", f"Here is my judgment of the product:\n\n{GOOD}", "relevant", verdicts=["met", "met"]),
    Shape("prose after", f"{GOOD}\n\nLet me know if you need anything else!", "relevant"),
    Shape("think block", f"<think>The query asks for a mug {{purple}}; the title says purple mug.</think>\n{GOOD}", "relevant"),
    Shape("think block with JSON inside", '<think>maybe {"label": "irrelevant"}?</think>' + GOOD, "relevant"),
    Shape("closing think tag only", f"the shopper wants a mug, so...</think>\n\n{GOOD}", "relevant"),
    Shape("label upper case", GOOD.replace('"relevant"}', '"RELEVANT"}'), "relevant"),
    Shape("label title case, padded", GOOD.replace('"relevant"}', '"  Relevant "}'), "relevant"),
    Shape("label with underscore", '{"rationale": "no", "label": "Not_Relevant"}', "irrelevant", verdicts=HOLES),
    Shape("label with a full stop", '{"rationale": "close", "label": "substitute."}', "substitute"),
    Shape("synonym", '{"rationale": "close", "label": "partially relevant"}', "substitute"),
    Shape("ESCI letter code", '{"rationale": "fits", "label": "E"}', "exact", scheme="esci"),
    Shape("graded number as integer", '{"rationale": "fits", "label": 3}', "perfectly", scheme="graded-0-3"),
    Shape("key in other case", '{"Rationale": "fits", "Label": "relevant"}', "relevant"),
    Shape("extra keys", GOOD[:-1] + ', "confidence": 0.9, "notes": "n/a"}', "relevant", verdicts=["met", "met"]),
    Shape("missing verdicts", '{"rationale": "fits", "label": "relevant"}', "relevant", verdicts=HOLES),
    Shape("one verdict of two", '{"rationale": "x", "requirement_verdicts": {"r2_color": "met"}, "label": "relevant"}',
          "relevant", verdicts=[None, "met"]),
    Shape("extra verdict keys", '{"rationale": "x", "requirement_verdicts": {"r1_product_type": "met", "r2_color": "met", '
          '"r3_size": "met"}, "label": "relevant"}', "relevant", verdicts=["met", "met"]),
    Shape("verdict words in other case", '{"rationale": "x", "requirement_verdicts": {"R1_PRODUCT_TYPE": "Met", '
          '"r2_color": "NOT_MET"}, "label": "substitute"}', "substitute", verdicts=["met", "not met"]),
    Shape("unreadable verdict", '{"rationale": "x", "requirement_verdicts": {"r1_product_type": "maybe", "r2_color": "met"}, '
          '"label": "relevant"}', "relevant", verdicts=[None, "met"]),
    Shape("verdicts as a list", '{"rationale": "x", "requirement_verdicts": [{"attribute": "product_type", "value": "mug", '
          '"verdict": "met"}, {"attribute": "color", "value": "purple", "verdict": "unknown"}], "label": "relevant"}',
          "relevant", verdicts=["met", "unknown"]),
    Shape("verdict list too short", '{"rationale": "x", "requirement_verdicts": [{"attribute": "color", "value": "purple", '
          '"verdict": "met"}], "label": "relevant"}', "relevant", verdicts=[None, "met"]),
    Shape("verdict list duplicated", '{"rationale": "x", "requirement_verdicts": [{"attribute": "color", "value": "purple", '
          '"verdict": "met"}, {"attribute": "color", "value": "purple", "verdict": "not met"}], "label": "relevant"}',
          "relevant", verdicts=[None, "met"]),
    Shape("verdicts not an object", '{"rationale": "x", "requirement_verdicts": "all met", "label": "relevant"}',
          "relevant", verdicts=HOLES),
    Shape("missing rationale", '{"requirement_verdicts": ' + KEYED + ', "label": "substitute"}', "substitute",
          verdicts=["met", "not met"]),
    Shape("bare label word", "relevant", "relevant", verdicts=HOLES),
    Shape("two objects, same label", '{"label": "relevant"}\n' + GOOD, "relevant"),
    Shape("tool call (OpenAI-compatible)", GOOD, "relevant", wire="tool_call", verdicts=["met", "met"]),
    Shape("tool call (Gemini function call)", GOOD, "relevant", wire="tool_call", provider="gemini"),
    Shape("answer as text (Anthropic tool mode)", f"```json\n{GOOD}\n```", "relevant", provider="anthropic"),
    Shape("label-first order", '{"label": "irrelevant", "rationale": "a plate", "requirement_verdicts": ' + KEYED + "}",
          "irrelevant", reasoning="after"),
    # not labels: named failures, no repair turn
    Shape("truncated (finish_reason=length)", GOOD[:40], None, "truncated", wire="length"),
    Shape("truncated Gemini (MAX_TOKENS)", GOOD[:40], None, "truncated", wire="length", provider="gemini"),
    Shape("truncated Anthropic (max_tokens)", GOOD[:40], None, "truncated", wire="length", provider="anthropic"),
    Shape("refusal field (OpenAI)", "I can't help with that.", None, "refused", wire="refusal"),
    Shape("refusal stop reason (Anthropic)", "I can't help with that.", None, "refused", wire="refusal", provider="anthropic"),
    Shape("refusal in words", "I'm sorry, but I can't assist with this request.", None, "refused"),
    Shape("empty", "", None, "empty"),
    Shape("whitespace only", "  \n ", None, "empty"),
    Shape("reasoning only", "<think>hmm, a mug</think>", None, "empty"),
    Shape("content filtered (OpenAI)", "", None, "content filtered", wire="filtered"),
    Shape("content filtered (Gemini SAFETY)", "", None, "content filtered", wire="filtered", provider="gemini"),
    # unusable labels: one repair turn each (the repair answer is the scripted good one)
    Shape("unknown label, repaired", '{"rationale": "x", "label": "perfect!!"}', "relevant", repairs=1),
    Shape("no label key, repaired", '{"rationale": "x", "relevance": "high"}', "relevant", repairs=1),
    Shape("not JSON, repaired", "{label: relevant, oops", "relevant", repairs=1),
    Shape("conflicting labels, repaired", '{"label": "relevant"} {"label": "irrelevant"}', "relevant", repairs=1),
    Shape("unclosed think block, repaired", "<think>the shopper wants", "relevant", repairs=1),
    Shape("label of another scheme, repaired", '{"rationale": "x", "label": "relevant"}', "exact", repairs=1, scheme="esci"),
]


@pytest.fixture(scope="module")
def llm():
    server = LLMServer(api_key=KEY)
    yield server
    server.close()


def _config(server: LLMServer, shape: Shape) -> ProjectConfig:
    base = f"{server.url}/v1" if shape.provider == "openai" else server.url
    return ProjectConfig.model_validate({"judge": {"base_url": base, "api_key_env": "EH_SHAPES_KEY", "max_retries": 0,
                                                   "timeout_s": 5.0, "reasoning": shape.reasoning},
                                         "labels": {"scheme": shape.scheme}})


async def _judge(judge, request: JudgeRequest):
    try:
        return await judge.judge(request)
    finally:
        await judge.aclose()


def test_the_corpus_is_large_and_documented() -> None:
    assert len(CORPUS) >= 30 and len({s.name for s in CORPUS}) == len(CORPUS)
    assert {s.reason for s in CORPUS if s.label is None} == {"truncated", "refused", "empty", "content filtered"}


@pytest.mark.parametrize("shape", CORPUS, ids=[s.name for s in CORPUS])
def test_answer_shape(shape: Shape, llm: LLMServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EH_SHAPES_KEY", KEY)
    llm.configure()
    llm.script_answers([(shape.text, shape.wire)])
    judge = make_judge(f"{shape.provider}:shapes-model", _config(llm, shape))
    request = JudgeRequest(Query("q1", "purple mug"), GUIDELINE, HIT)
    if shape.label is None:
        with pytest.raises(NoLabel) as caught:
            asyncio.run(_judge(judge, request))
        assert caught.value.reason == shape.reason and str(caught.value).startswith(shape.reason)
        assert caught.value.input_tokens > 0  # the call was paid for and is counted
    else:
        judgment = asyncio.run(_judge(judge, request))
        assert judgment.label == shape.label
        verdicts = judgment.details["verdicts"]
        assert [(v["attribute"], v["value"]) for v in verdicts] == [("product_type", "mug"), ("color", "purple")]
        if shape.verdicts is not None:
            assert [v["verdict"] for v in verdicts] == shape.verdicts
        holes = sum(v["verdict"] is None for v in verdicts)
        notes = " ".join(judgment.details.get("answer_notes", []))
        assert (holes > 0) == ("missing" in notes or "unreadable" in notes)  # every hole is noted
    assert llm.total_requests == 1 + shape.repairs


def test_an_unusable_repair_fails_with_both_calls_paid(llm: LLMServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EH_SHAPES_KEY", KEY)
    llm.configure()
    llm.script_answers([("{label: relevant", ""), ('{"label": "great"}', "")])
    judge = make_judge("openai:shapes-model", _config(llm, CORPUS[0]))
    with pytest.raises(JudgeOutputError, match="unusable answer after one repair: label 'great'") as caught:
        asyncio.run(_judge(judge, JudgeRequest(Query("q1", "purple mug"), GUIDELINE, HIT)))
    assert llm.total_requests == 2 and not isinstance(caught.value, NoLabel)
    repair = llm.recent()[-1]["body"]["messages"]
    assert repair[-2] == {"role": "assistant", "content": "{label: relevant"} and "could not be used" in repair[-1]["content"]


def test_schema_asks_for_one_verdict_per_requirement(llm: LLMServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The request's schema has one required verdict key per requirement (none without requirements), through each
    SDK; the keys are named in the prompt's requirement list."""
    monkeypatch.setenv("EH_SHAPES_KEY", KEY)
    for provider in ("openai", "gemini", "anthropic"):
        for guideline in (GUIDELINE, Guideline("mug", (), "Relevant: a mug.", "offline")):
            llm.configure()
            judge = make_judge(f"{provider}:shapes-model", _config(llm, Shape("x", "", None, provider=provider)))
            judgment = asyncio.run(_judge(judge, JudgeRequest(Query("q1", guideline.query), guideline, HIT)))
            body = llm.recent()[-1]["body"]
            schema = (body["response_format"]["json_schema"]["schema"] if provider == "openai" else
                      body["tools"][0]["input_schema"] if provider == "anthropic" else body["generationConfig"]["responseSchema"])
            keys = ["r1_product_type", "r2_color"] if guideline.requirements else []
            verdicts = schema["properties"].get("requirement_verdicts")
            if keys:
                assert verdicts["required"] == keys and list(verdicts["properties"]) == keys
                assert verdicts["properties"]["r2_color"]["enum"] == ["met", "not met", "unknown"]
                prompt = (body["messages"][1]["content"] if provider == "openai" else body["messages"][0]["content"][-1]["text"]
                          if provider == "anthropic" else body["contents"][0]["parts"][0]["text"])
                assert '"key": "r2_color"' in prompt
            else:
                assert verdicts is None and judgment.details["verdicts"] == []
            assert judgment.label == "relevant"


def _post(url: str, body: dict, key: str) -> dict:
    import urllib.request

    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def test_answer_style_knobs_of_the_server_process() -> None:
    """The server run as its own process (as bench/ starts it) takes the style from EVALHARNESS_TEST_ANSWER_STYLE or
    --answer-style (the flag wins), and reports the shapes it served on GET /_stats."""
    import os
    import subprocess
    import sys
    import urllib.request

    from evalharness.judges.answer import judgment_schema
    from evalharness.labels.schemes import scheme_named

    schema = judgment_schema(scheme_named("three-level"), "before", REQS)
    server = Path(__file__).parent / "llmserver.py"
    for env_style, flag, expect in (("realistic", [], "realistic"), ("realistic", ["--answer-style", "minimal"], "minimal")):
        proc = subprocess.Popen([sys.executable, str(server), "--api-key", KEY, *flag], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True, env={**os.environ, "EVALHARNESS_TEST_ANSWER_STYLE": env_style})
        try:
            url = json.loads(proc.stdout.readline())["url"]
            answers = []
            for i in range(40):
                body = {"model": "m", "messages": [{"role": "user", "content": f"Search query: \"mug {i}\"\nLabel it."}],
                        "response_format": {"type": "json_schema", "json_schema": {"name": "judgment", "strict": True, "schema": schema}}}
                answers.append(_post(f"{url}/v1/chat/completions", body, KEY)["choices"][0])
            with urllib.request.urlopen(f"{url}/_stats", timeout=10) as resp:
                shapes = json.loads(resp.read())["shapes"]
        finally:
            proc.stdin.close()
            proc.wait(timeout=10)
        if expect == "minimal":
            minimal = {"rationale": "x", "requirement_verdicts": {"r1_product_type": "met", "r2_color": "met"}, "label": "irrelevant"}
            assert all(json.loads(a["message"]["content"]) == minimal for a in answers) and shapes == {}
        else:
            assert sum(shapes.values()) == 40 and len(shapes) >= 5  # a mix of shapes, counted
