"""Provider adapters over the official SDKs: openai (OpenAI and every OpenAI-compatible server) and google-genai.

Each does one structured (or free-text) call and reports token usage; SDK-level retries are turned off
so that the harness's own backoff (with Retry-After) is the only one.
"""

from __future__ import annotations

import base64
import copy
import os
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

from evalharness.config import JudgeConfig, env_secret
from evalharness.errors import EvalHarnessError, JudgeOutputError

DEFAULT_KEY_ENV = {"openai": "OPENAI_API_KEY", "gemini": "GEMINI_API_KEY"}


@dataclass(frozen=True)
class LLMReply:
    text: str
    input_tokens: int
    output_tokens: int


class RetryableError(Exception):
    """A transient provider failure (429, 5xx, timeout, connection); `retry_after` in seconds when the server said.
    `unreachable` marks a failure to connect at all (wrong base_url, server down)."""

    def __init__(self, message: str, retry_after: float | None = None, unreachable: bool = False) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.unreachable = unreachable


def _retry_after(headers: Any) -> float | None:
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
    async def complete(self, system: str, user: str, *, image: bytes | None = None, image_mime: str = "image/jpeg",
                       schema: dict[str, Any] | None = None, schema_name: str = "answer", temperature: float = 0.0,
                       extra_user: str | None = None, previous: str | None = None) -> LLMReply:
        """One call; raises RetryableError for transient failures."""

    async def aclose(self) -> None:
        """Release the HTTP client."""


class OpenAIProvider(Provider):
    """Chat Completions with `response_format` json_schema; base_url for vLLM, Ollama, llama.cpp, LM Studio, Azure."""

    name = "openai"

    def __init__(self, model: str, cfg: JudgeConfig) -> None:
        super().__init__(model, cfg)
        import openai

        from evalharness.httpclient import module_of

        self._openai = openai
        limits = module_of(openai.DefaultAsyncHttpxClient).Limits(max_connections=max(64, cfg.max_concurrency * 2),
                                                                  max_keepalive_connections=max(32, cfg.max_concurrency))
        self.client = openai.AsyncOpenAI(api_key=self.api_key, base_url=cfg.base_url or os.environ.get("OPENAI_BASE_URL") or None,
                                         max_retries=0, timeout=cfg.timeout_s,
                                         http_client=openai.DefaultAsyncHttpxClient(limits=limits, timeout=cfg.timeout_s))

    async def complete(self, system: str, user: str, *, image: bytes | None = None, image_mime: str = "image/jpeg",
                       schema: dict[str, Any] | None = None, schema_name: str = "answer", temperature: float = 0.0,
                       extra_user: str | None = None, previous: str | None = None) -> LLMReply:
        openai = self._openai
        content: Any = user
        if image is not None:
            url = f"data:{image_mime};base64,{base64.b64encode(image).decode()}"
            content = [{"type": "text", "text": user}, {"type": "image_url", "image_url": {"url": url}}]
        messages: list[dict[str, Any]] = [{"role": "system", "content": system}, {"role": "user", "content": content}]
        if extra_user is not None:
            messages += [{"role": "assistant", "content": previous or ""}, {"role": "user", "content": extra_user}]
        kwargs: dict[str, Any] = {}
        if schema is not None:
            kwargs["response_format"] = {"type": "json_schema", "json_schema": {"name": schema_name, "strict": True, "schema": schema}}
        try:
            resp = await self.client.chat.completions.create(model=self.model, messages=messages, temperature=temperature, **kwargs)
        except (openai.RateLimitError, openai.InternalServerError) as exc:
            raise RetryableError(f"{exc.status_code} from the provider", _retry_after(exc.response.headers)) from None
        except openai.APITimeoutError as exc:
            raise RetryableError(type(exc).__name__) from None
        except openai.APIConnectionError:
            raise RetryableError(f"cannot connect to {self.client.base_url}", unreachable=True) from None
        except openai.AuthenticationError:
            raise EvalHarnessError("the OpenAI-compatible server rejected the API key; check the variable named by [judge] "
                                   "api_key_env") from None
        except openai.APIStatusError as exc:
            if exc.status_code in (408, 409, 429) or exc.status_code >= 500:
                raise RetryableError(f"{exc.status_code} from the provider", _retry_after(exc.response.headers)) from None
            raise
        choice = resp.choices[0] if resp.choices else None
        text = (choice.message.content or "") if choice else ""
        usage = resp.usage
        return LLMReply(text, getattr(usage, "prompt_tokens", 0) or 0, getattr(usage, "completion_tokens", 0) or 0)

    async def aclose(self) -> None:
        await self.client.close()


def _gemini_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """Gemini's response_schema (an OpenAPI subset) has no additionalProperties."""
    out = copy.deepcopy(schema)
    stack = [out]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            node.pop("additionalProperties", None)
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return out


class GeminiProvider(Provider):
    """google-genai generateContent with response_schema; inline image bytes."""

    name = "gemini"

    def __init__(self, model: str, cfg: JudgeConfig) -> None:
        super().__init__(model, cfg)
        from google import genai
        from google.genai import types

        self._types = types
        options = types.HttpOptions(base_url=cfg.base_url or None, timeout=int(cfg.timeout_s * 1000),
                                    retry_options=types.HttpRetryOptions(attempts=1))
        self.client = genai.Client(api_key=self.api_key, http_options=options)

    async def complete(self, system: str, user: str, *, image: bytes | None = None, image_mime: str = "image/jpeg",
                       schema: dict[str, Any] | None = None, schema_name: str = "answer", temperature: float = 0.0,
                       extra_user: str | None = None, previous: str | None = None) -> LLMReply:
        from google.genai import errors

        from evalharness.httpclient import CONNECT_ERRORS, TRANSPORT_ERRORS

        types = self._types
        parts = [types.Part.from_text(text=user)]
        if image is not None:
            parts.append(types.Part.from_bytes(data=image, mime_type=image_mime))
        contents = [types.Content(role="user", parts=parts)]
        if extra_user is not None:
            contents += [types.Content(role="model", parts=[types.Part.from_text(text=previous or "")]),
                         types.Content(role="user", parts=[types.Part.from_text(text=extra_user)])]
        config = types.GenerateContentConfig(system_instruction=system, temperature=temperature,
                                             response_mime_type="application/json" if schema else None,
                                             response_schema=_gemini_schema(schema) if schema else None)
        try:
            resp = await self.client.aio.models.generate_content(model=self.model, contents=contents, config=config)
        except errors.APIError as exc:
            code = getattr(exc, "code", 0) or 0
            if code in (408, 429) or code >= 500:
                raise RetryableError(f"{code} from the provider", _retry_after(getattr(getattr(exc, "response", None), "headers", None))) from None
            if code in (401, 403):
                raise EvalHarnessError("Gemini rejected the API key; check the variable named by [judge] api_key_env") from None
            raise
        except TRANSPORT_ERRORS as exc:
            raise RetryableError(type(exc).__name__, unreachable=isinstance(exc, CONNECT_ERRORS)) from None
        usage = resp.usage_metadata
        text = resp.text or ""
        return LLMReply(text, getattr(usage, "prompt_token_count", 0) or 0, getattr(usage, "candidates_token_count", 0) or 0)

    async def aclose(self) -> None:
        await self.client.aio.aclose()


PROVIDERS: dict[str, type[Provider]] = {"openai": OpenAIProvider, "gemini": GeminiProvider}
T = TypeVar("T")


async def complete_parsed(provider: Provider, system: str, user: str, parse: Callable[[str], T], repair: Callable[[str], str], *,
                          schema: dict[str, Any], schema_name: str, temperature: float, image: bytes | None = None,
                          image_mime: str = "image/jpeg") -> tuple[T, int, int]:
    """One structured call parsed strictly; an unusable answer gets one repair turn (`repair(problem)`), then
    JudgeOutputError. Returns (parsed, input tokens, output tokens) of both calls."""
    ask = partial(provider.complete, system, user, image=image, image_mime=image_mime, schema=schema, schema_name=schema_name,
                  temperature=temperature)
    reply = await ask()
    try:
        return parse(reply.text), reply.input_tokens, reply.output_tokens
    except JudgeOutputError as first:
        try:
            again = await ask(extra_user=repair(str(first)), previous=reply.text[:2000])
        except RetryableError as exc:
            raise JudgeOutputError(f"{first}; the repair call failed too ({exc})") from None
        try:
            parsed = parse(again.text)
        except JudgeOutputError as second:
            raise JudgeOutputError(f"unusable answer after one repair: {second}") from None
        return parsed, reply.input_tokens + again.input_tokens, reply.output_tokens + again.output_tokens


def make_provider(provider: str, model: str, cfg: JudgeConfig) -> Provider:
    return PROVIDERS[provider](model, cfg)
