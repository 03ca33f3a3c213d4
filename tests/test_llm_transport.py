"""The providers' HTTP transport: the SDKs' aiohttp client when installed, httpx otherwise, with the same errors."""

from __future__ import annotations

import asyncio

import pytest
from llmserver import LLMServer

from evalharness.config import JudgeConfig
from evalharness.llm.providers import RetryableError, make_provider
from evalharness.runtime import httpclient

KEY = "sk-transport-test"


@pytest.fixture(params=["aiohttp", "httpx"])
def transport(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setattr(httpclient, "USE_AIOHTTP", request.param == "aiohttp")
    monkeypatch.setenv("EH_TRANSPORT_KEY", KEY)
    return str(request.param)


def _cfg(base_url: str, **extra: object) -> JudgeConfig:
    return JudgeConfig.model_validate({"api_key_env": "EH_TRANSPORT_KEY", "base_url": base_url, "timeout_s": 5, **extra})


def _complete_once(p: object) -> str:
    """One completion through a provider, its client closed afterwards; the reply's text."""

    async def call() -> str:
        try:
            return (await p.complete("Answer with one word.", "ping")).text  # type: ignore[attr-defined]
        finally:
            await p.aclose()  # type: ignore[attr-defined]

    return asyncio.run(call())


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_the_sdk_client_runs_on_the_chosen_transport_and_answers(provider: str, transport: str) -> None:
    server = LLMServer(api_key=KEY)
    try:
        base = f"{server.url}/v1" if provider == "openai" else server.url
        p = make_provider(provider, "m", _cfg(base, max_concurrency=100))
        inner = p.client._client  # type: ignore[attr-defined]
        assert (type(inner._transport).__name__ == "AiohttpTransport") == (transport == "aiohttp")
        assert _complete_once(p)
        assert server.total_requests == 1
    finally:
        server.close()


@pytest.mark.parametrize("provider", ["openai", "anthropic", "gemini"])
def test_a_refused_connection_is_retryable_and_unreachable(provider: str, transport: str) -> None:
    p = make_provider(provider, "m", _cfg("http://127.0.0.1:1/v1" if provider == "openai" else "http://127.0.0.1:1"))
    with pytest.raises(RetryableError) as info:
        _complete_once(p)
    assert info.value.unreachable, str(info.value)


def test_a_timeout_is_retryable_but_not_unreachable(transport: str) -> None:
    from llmserver import Faults

    server = LLMServer(api_key=KEY, faults=Faults(rate_hang=1.0, hang_s=5.0))
    try:
        p = make_provider("openai", "m", _cfg(f"{server.url}/v1", timeout_s=0.5))
        with pytest.raises(RetryableError) as info:
            _complete_once(p)
        assert not info.value.unreachable
    finally:
        server.close()
