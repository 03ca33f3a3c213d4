"""LLM providers through their official SDKs: openai (OpenAI and every OpenAI-compatible server), google-genai
and anthropic.

Each provider separates three steps so that live calls and batch files share one request shape:
`build_request(...)` returns the wire-format request body (a JSON-able dict), `send(body)` sends it through the
SDK, and `parse_response(data)` reads a wire-format response (text and token usage). SDK-level retries are
off, so the harness's own backoff (with Retry-After) is the only one.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from evalharness.config import JudgeConfig, env_secret
from evalharness.errors import EvalHarnessError, JudgeOutputError, NoLabel
from evalharness.llm.calls import count_call, count_send
from evalharness.llm.logprobs import TokenLogprob
from evalharness.llm.retry import retry_delay
from evalharness.runtime.gcpause import gc_paused

DEFAULT_KEY_ENV = {"openai": "OPENAI_API_KEY", "gemini": "GEMINI_API_KEY", "anthropic": "ANTHROPIC_API_KEY"}
PROVIDERS = {  # provider name -> "module:class", imported on first use (each SDK loads only when needed)
    "openai": "evalharness.llm.openai_provider:OpenAIProvider",
    "gemini": "evalharness.llm.gemini_provider:GeminiProvider",
    "anthropic": "evalharness.llm.anthropic_provider:AnthropicProvider",
}
SDKS = {"openai": "openai", "gemini": "google.genai", "anthropic": "anthropic"}  # provider -> the SDK it imports


@dataclass(frozen=True)
class LLMReply:
    """A model's answer: its text (for a forced tool call, the tool input as JSON) and token usage."""

    text: str
    input_tokens: int
    output_tokens: int
    cached_tokens: int = 0  # input tokens the provider served from its prompt cache (billed at the cached price)
    logprobs: tuple[TokenLogprob, ...] | None = None  # the answer's tokens with their log-probabilities, when asked
    stop: str = ""  # why the answer ended when it is not a complete answer: "length", "refusal" or "filtered"
    refusal: str = ""  # the model's refusal message, when the provider gives one apart from the text


def check_reply(reply: LLMReply) -> None:
    """Raise NoLabel for an answer cut off by the token limit, refused, or stopped by a content filter: no text
    it holds is a label, and a repair turn would not make one."""
    if reply.stop == "length":
        raise NoLabel("truncated", "the answer hit the output token limit (finish_reason=length)")
    if reply.stop == "refusal" or reply.refusal:
        raise NoLabel("refused", (reply.refusal or reply.text).strip()[:120] or "the model declined to answer")
    if reply.stop == "filtered":
        raise NoLabel("content filtered", "the provider's content filter stopped the answer")


class RetryableError(Exception):
    """A transient provider failure (429, 5xx, timeout, connection); `retry_after` in seconds when the server said.
    `unreachable` marks a failure to connect at all (wrong base_url, server down)."""

    def __init__(self, message: str, retry_after: float | None = None, unreachable: bool = False) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.unreachable = unreachable


def retry_after_of(headers: Any) -> float | None:
    """Seconds from a Retry-After header (None when absent or not a number)."""
    try:
        value = headers.get("retry-after") if headers is not None else None
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


class Provider(ABC):
    """One call to a model: system + user text, optional image, optional JSON schema."""

    name = ""

    def __init__(self, model: str, cfg: JudgeConfig) -> None:
        if not model:
            raise EvalHarnessError(f"the {self.name} judge needs a model: --judge {self.name}:<model>")
        self.model = model
        self.cfg = cfg
        var = cfg.api_key_env or DEFAULT_KEY_ENV[self.name]
        self.api_key = env_secret(var, f"the {self.name} judge")

    @abstractmethod
    def build_request(self, system: str, user: str, *, image: bytes | None = None, image_mime: str = "image/jpeg",
                      schema: dict[str, Any] | None = None, schema_name: str = "answer", temperature: float = 0.0,
                      extra_user: str | None = None, previous: str | None = None) -> dict[str, Any]:
        """The wire-format request body (what a batch file line carries). `extra_user`/`previous` add a repair turn."""

    @abstractmethod
    async def send(self, body: dict[str, Any]) -> LLMReply:
        """Send one request body; raises RetryableError for transient failures."""

    @abstractmethod
    def parse_response(self, data: dict[str, Any]) -> LLMReply:
        """Text and usage of a wire-format response body."""

    async def preflight(self) -> None:
        """Check the key and the model once before fanning out: by default one tiny call (providers with a models
        lookup override this). A rejected key raises EvalHarnessError from `send`. A transient failure (429, 5xx,
        no connection) says nothing about key or model: the run's own retries and unreachable-abort take over."""
        try:
            await self.send(self.build_request("Answer with one word.", "ping"))
        except RetryableError:
            return

    async def complete(self, system: str, user: str, **kwargs: Any) -> LLMReply:
        """build_request + send."""
        count_send()
        return await self.send(self.build_request(system, user, **kwargs))

    async def aclose(self) -> None:
        """Release the HTTP client."""


T = TypeVar("T")


async def _send_retrying(provider: Provider, body: dict[str, Any], retries: int) -> LLMReply:
    """Send with backoff on transient errors (the repair call is retried like any call)."""
    for attempt in range(retries + 1):
        count_call("retry" if attempt else "repair")
        try:
            return await provider.send(body)
        except RetryableError as exc:
            if attempt == retries:
                raise
            await asyncio.sleep(retry_delay(exc, attempt))
    raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises


async def complete_parsed(provider: Provider, system: str, user: str, parse: Callable[[str], T], repair: Callable[[str], str], *,
                          schema: dict[str, Any], schema_name: str, temperature: float, image: bytes | None = None,
                          image_mime: str = "image/jpeg", repair_retries: int | None = None, top_logprobs: int = 0,
                          on_reply: Callable[[LLMReply], None] | None = None) -> tuple[T, int, int, int]:
    """One structured call, parsed; an unusable answer gets one repair turn (`repair(problem)`, retried on transient
    errors), then JudgeOutputError carrying the tokens already paid for (`input_tokens`, `output_tokens`,
    `cached_tokens`). An answer that is not one (NoLabel: truncated, refused, empty, filtered) gets no repair turn.
    Returns (parsed, input tokens, output tokens, cached input tokens) of both calls.
    `top_logprobs` > 0 asks for the answer's token log-probabilities; `on_reply` gets the reply that parsed."""
    kwargs: dict[str, Any] = {"image": image, "image_mime": image_mime, "schema": schema, "schema_name": schema_name,
                              "temperature": temperature, **({"top_logprobs": top_logprobs} if top_logprobs else {})}
    count_send()
    reply = await provider.send(provider.build_request(system, user, **kwargs))
    try:
        check_reply(reply)
        parsed = parse(reply.text)
        if on_reply is not None:
            on_reply(reply)
        return parsed, reply.input_tokens, reply.output_tokens, reply.cached_tokens
    except NoLabel as exc:
        raise with_usage(exc, reply.input_tokens, reply.output_tokens, reply.cached_tokens) from None
    except JudgeOutputError as first:
        paid = (reply.input_tokens, reply.output_tokens, reply.cached_tokens)
        body = provider.build_request(system, user, extra_user=repair(str(first)), previous=reply.text[:2000], **kwargs)
        retries = provider.cfg.max_retries if repair_retries is None else repair_retries
        try:
            again = await _send_retrying(provider, body, retries)
        except RetryableError as exc:
            raise with_usage(JudgeOutputError(f"{first}; the repair call failed too ({exc})"), *paid) from None
        paid = (paid[0] + again.input_tokens, paid[1] + again.output_tokens, paid[2] + again.cached_tokens)
        try:
            check_reply(again)
            parsed = parse(again.text)
        except NoLabel as second:
            raise with_usage(second, *paid) from None
        except JudgeOutputError as second:
            raise with_usage(JudgeOutputError(f"unusable answer after one repair: {second}"), *paid) from None
        if on_reply is not None:
            on_reply(again)
        return parsed, *paid


def with_usage(exc: JudgeOutputError, input_tokens: int, output_tokens: int, cached_tokens: int = 0) -> JudgeOutputError:
    """Attach the tokens of calls that were paid for but gave no usable answer (the judge adds their cost)."""
    exc.input_tokens = input_tokens
    exc.output_tokens = output_tokens
    exc.cached_tokens = cached_tokens
    return exc


def provider_class(provider: str) -> type[Provider]:
    module, _, cls = PROVIDERS[provider].partition(":")
    return getattr(importlib.import_module(module), cls)  # type: ignore[no-any-return]


def check_provider(provider: str, cfg: JudgeConfig) -> None:
    """What building the provider checks first (its API key is set, its SDK installed), without importing the SDK:
    a run that finds every pair cached never loads it."""
    env_secret(cfg.api_key_env or DEFAULT_KEY_ENV[provider], f"the {provider} judge")
    try:
        found = importlib.util.find_spec(SDKS[provider]) is not None
    except ModuleNotFoundError:  # the parent package (google) is absent
        found = False
    if not found:
        raise EvalHarnessError(f"the {provider} judge needs the {SDKS[provider].replace('.', '-')} package: "
                               f"pip install {SDKS[provider].replace('.', '-')}")


def make_provider(provider: str, model: str, cfg: JudgeConfig) -> Provider:
    """The provider's client, its SDK imported with the cyclic GC paused: an SDK's import builds thousands of
    long-lived classes and models, which young collections rescan for nothing (~0.035 s CPU of the openai SDK's
    import, before the first request can leave)."""
    with gc_paused():
        return provider_class(provider)(model, cfg)
