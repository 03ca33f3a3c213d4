"""Preflight: an LLM judge checks its key and model once (a models lookup) before fanning out; a wrong key or an
unknown model stops with one line and no judgment request, even at 256 requests in flight."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import assert_user_error, run_cli
from llmserver import LLMServer
from test_llm_judges import ENV, KEY, configure


@pytest.fixture
def llm():
    server = LLMServer(api_key=KEY)
    yield server
    server.close()


def _wide(project: Path, llm: LLMServer, provider: str) -> None:
    configure(project, llm, provider, queries=30)
    toml = project / "evalharness.toml"
    toml.write_text(toml.read_text().replace("max_concurrency = 16", "max_concurrency = 256"))


@pytest.mark.parametrize("provider", ["openai", "gemini", "anthropic"])
def test_wrong_key_sends_no_judgment_request(project: Path, llm: LLMServer, provider: str) -> None:
    _wide(project, llm, provider)
    result = run_cli(project, "run", "-e", "v2", "--judge", f"{provider}:m", env={"EH_LLM_KEY": "sk-wrong-key-abcdef"})
    assert_user_error(result, "rejected the API key")
    assert "sk-wrong-key-abcdef" not in result.stderr + result.stdout
    assert llm.total_requests == 0 and llm.state.lookups == 1  # one models lookup, not one rejected call per pair


@pytest.mark.parametrize("provider", ["openai", "gemini", "anthropic"])
def test_unknown_model_stops_before_judging(project: Path, llm: LLMServer, provider: str) -> None:
    _wide(project, llm, provider)
    result = run_cli(project, "run", "-e", "v2", "--judge", f"{provider}:no-such-model", env=ENV)
    assert_user_error(result, "does not know model 'no-such-model'")
    assert llm.total_requests == 0


def test_preflight_once_per_judge_and_never_for_a_cached_run(project: Path, llm: LLMServer) -> None:
    configure(project, llm, "openai", queries=3)
    result = run_cli(project, "run", "-e", "v2", "-b", "v1", "--top-k", "3", "--judge", "openai:m", "--json", env=ENV)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert llm.state.lookups == 1 and llm.total_requests == data["counts"]["judged_new"] + data["baseline"]["counts"]["judged_new"]
    llm.configure()
    again = run_cli(project, "run", "-e", "v2", "--top-k", "3", "--judge", "openai:m", "--json", env=ENV)
    assert again.returncode == 0, again.stderr
    assert llm.state.lookups == 0 and llm.total_requests == 0  # nothing to send: no check needed either


def test_gemini_preflight_falls_back_to_a_tiny_call_without_a_models_route(project: Path) -> None:
    """A Gemini-compatible server with no GET models/{id} route: the preflight sends one tiny generateContent call
    instead (as the OpenAI path does), which tells a good model from an unknown one and a wrong key."""
    server = LLMServer(api_key=KEY, model_lookup=False)
    try:
        configure(project, server, "gemini", queries=3)
        result = run_cli(project, "run", "-e", "v2", "--top-k", "3", "--judge", "gemini:m", "--json", env=ENV)
        assert result.returncode == 0, result.stderr
        data = json.loads(result.stdout)
        assert data["counts"]["failed"] == 0 and server.total_requests == data["counts"]["judged_new"] + 1  # + the tiny call
        server.configure()
        assert_user_error(run_cli(project, "run", "-e", "v2", "--judge", "gemini:no-such-model", env=ENV),
                          "does not know model 'no-such-model'")
        assert_user_error(run_cli(project, "run", "-e", "v2", "--judge", "gemini:m2", env={"EH_LLM_KEY": "sk-wrong-key-abcdef"}),
                          "rejected the API key")
        assert server.total_requests == 0
    finally:
        server.close()
