"""The thinner wire path (evalharness/llm/wire.py) sends the openai SDK's bytes and fails as the SDK path does."""

import asyncio
import json
import urllib.request
from pathlib import Path

import pytest
from llmserver import Faults, LLMServer

from evalharness.config import ProjectConfig
from evalharness.errors import EvalHarnessError
from evalharness.llm.providers import RetryableError, make_provider

KEY = "sk-wire-test-key"
SCHEMA = {"type": "object", "properties": {"label": {"type": "string", "enum": ["irrelevant", "substitute", "relevant"]},
                                           "rationale": {"type": "string"}},
          "required": ["rationale", "label"], "additionalProperties": False}


@pytest.fixture
def server():
    s = LLMServer(api_key=KEY)
    yield s
    s.close()


def provider_for(server: LLMServer, monkeypatch: pytest.MonkeyPatch, key: str = KEY, timeout: float = 10.0):
    monkeypatch.setenv("EH_WIRE_KEY", key)
    cfg = ProjectConfig.model_validate({"judge": {"api_key_env": "EH_WIRE_KEY", "base_url": f"{server.url}/v1",
                                                  "max_concurrency": 4, "timeout_s": timeout}})
    return make_provider("openai", "wire-model", cfg.judge)


def record(server: LLMServer, path: Path) -> None:
    req = urllib.request.Request(f"{server.url}/_config", data=json.dumps({"record": str(path)}).encode(), method="POST")
    with urllib.request.urlopen(req) as resp:
        assert json.loads(resp.read())["ok"]


def judge_body(provider, user: str) -> dict:
    user = f'Search query: "red mug"\n<product_data>\n{json.dumps({"title": user}, ensure_ascii=False)}\n</product_data>\n'
    return provider.build_request("You judge — «relevance».", user, schema=SCHEMA, schema_name="judgment")


def test_wire_sends_the_sdk_bytes(server: LLMServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    provider = provider_for(server, monkeypatch)
    assert provider._wire is not None  # aiohttp is installed: the wire path is in use
    bodies = [judge_body(provider, "Red mug ü \u2028 😀"), judge_body(provider, "A longer title: red ceramic mug, 350 ml")]
    path = tmp_path / "requests.jsonl"
    record(server, path)

    async def go() -> list:
        wire = provider._wire
        replies = [await provider.send(bodies[0])]  # the first call goes through the SDK; the wire records it
        assert wire.ready
        replies.append(await provider.send(bodies[0]))  # the same body through the wire
        replies.append(await provider.send(bodies[1]))  # a body of another length through the wire
        provider._wire = None
        replies.append(await provider.send(bodies[1]))  # ... and through the SDK
        provider._wire = wire
        await provider.aclose()
        return replies

    replies = asyncio.run(go())
    record(server, "")  # closes the file
    lines = [{k: v for k, v in json.loads(line).items() if k != "t"} for line in path.read_text().splitlines()]  # t: arrival time
    assert len(lines) == 4
    sdk_first, wire_first, wire_second, sdk_second = lines
    assert wire_first == sdk_first  # path, every header (names, case, order, values) and the body bytes
    assert wire_second == sdk_second
    assert [k.lower() for k, _ in sdk_first["headers"]].count("authorization") == 1
    assert dict((k.lower(), v) for k, v in wire_second["headers"])["content-length"] == str(len(wire_second["body"].encode()))
    assert json.loads(wire_second["body"]) == bodies[1]
    assert replies[0] == replies[1] and replies[2] == replies[3] and json.loads(replies[2].text)["label"]


def test_wire_errors_match_the_sdk_path(server: LLMServer, monkeypatch: pytest.MonkeyPatch) -> None:
    provider = provider_for(server, monkeypatch)

    async def go() -> None:
        await provider.send(judge_body(provider, "warm-up"))
        assert provider._wire.ready
        server.configure(faults=Faults(sequence=["429"], retry_after="2"))
        with pytest.raises(RetryableError) as limited:
            await provider.send(judge_body(provider, "x"))
        assert limited.value.retry_after == 2.0 and "429" in str(limited.value)
        server.configure(faults=Faults(sequence=["500"]))
        with pytest.raises(RetryableError, match="500"):
            await provider.send(judge_body(provider, "x"))
        server.configure()
        assert (await provider.send(judge_body(provider, "red mug"))).text
        await provider.aclose()

    asyncio.run(go())


def test_wire_rejected_key_and_unreachable_server(server: LLMServer, monkeypatch: pytest.MonkeyPatch) -> None:
    wrong = provider_for(server, monkeypatch, key="sk-wrong")

    async def rejected() -> None:
        for _ in range(2):  # the SDK path, then the wire
            with pytest.raises(EvalHarnessError, match="rejected the API key"):
                await wrong.send(judge_body(wrong, "x"))
        assert wrong._wire.ready
        await wrong.aclose()

    asyncio.run(rejected())
    monkeypatch.setenv("EH_WIRE_KEY", KEY)
    cfg = ProjectConfig.model_validate({"judge": {"api_key_env": "EH_WIRE_KEY", "base_url": "http://127.0.0.1:1/v1", "timeout_s": 2}})
    nowhere = make_provider("openai", "wire-model", cfg.judge)

    async def gone() -> None:
        for _ in range(2):  # the SDK path, then the wire
            with pytest.raises(RetryableError) as down:
                await nowhere.send(judge_body(nowhere, "x"))
            assert down.value.unreachable and "cannot connect" in str(down.value)
        assert nowhere._wire.ready
        await nowhere.aclose()

    asyncio.run(gone())


def test_wire_timeout_is_retryable(server: LLMServer, monkeypatch: pytest.MonkeyPatch) -> None:
    provider = provider_for(server, monkeypatch, timeout=0.5)

    async def go() -> None:
        await provider.send(judge_body(provider, "warm-up"))
        assert provider._wire.ready
        server.configure(latency=2.0)
        with pytest.raises(RetryableError) as slow:
            await provider.send(judge_body(provider, "x"))
        assert not slow.value.unreachable
        await provider.aclose()

    asyncio.run(go())


def test_concurrent_first_calls_wait_for_one_sdk_call(server: LLMServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Every worker sends at once at the start of a run: one call goes through the SDK, the others wait until it is
    recorded and then send the same bytes on the wire."""
    provider = provider_for(server, monkeypatch)
    sdk_calls = []
    sdk_post = provider._sdk_post

    async def counted(body: dict) -> dict:
        sdk_calls.append(body)
        return await sdk_post(body)

    monkeypatch.setattr(provider, "_sdk_post", counted)
    bodies = [judge_body(provider, f"mug {i} ü") for i in range(6)]
    path = tmp_path / "requests.jsonl"
    record(server, path)

    async def go() -> list:
        replies = await asyncio.gather(*(provider.send(b) for b in bodies))
        await provider.aclose()
        return replies

    replies = asyncio.run(go())
    record(server, "")
    assert len(sdk_calls) == 1 and all(json.loads(r.text)["label"] for r in replies)
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert sorted(json.loads(line["body"])["messages"][1]["content"] for line in lines) == \
        sorted(b["messages"][1]["content"] for b in bodies)
    shapes = {json.dumps([(k, v) for k, v in line["headers"] if k.lower() != "content-length"]) for line in lines}
    assert len(shapes) == 1  # the SDK's headers on every request, the wire's as the SDK's
    for line in lines:
        assert dict((k.lower(), v) for k, v in line["headers"])["content-length"] == str(len(line["body"].encode()))


def test_wire_encodes_bodies_as_the_sdk_does(server: LLMServer, monkeypatch: pytest.MonkeyPatch) -> None:
    from datetime import datetime, timezone

    from openai._utils._json import openapi_dumps

    wire = provider_for(server, monkeypatch)._wire
    bodies = [judge_body(make_provider("openai", "m", ProjectConfig.model_validate({"judge": {"api_key_env": "EH_WIRE_KEY"}}).judge), t)
              for t in ("plain", "ü \u2028 😀 \\ \" </tag> \x00", "")]
    bodies += [{"temperature": 0.7, "n": [1, 2.5, -0.0, True, None], "nested": {"a": {"b": ["c"]}}},
               {"when": datetime(2025, 1, 2, 3, 4, 5, tzinfo=timezone.utc)}]  # a type plain JSON lacks: the SDK's encoder
    for body in bodies:
        assert wire.dumps(body) == openapi_dumps(body)
    with pytest.raises(ValueError):
        wire.dumps({"x": float("nan")})
    with pytest.raises(ValueError):
        openapi_dumps({"x": float("nan")})
