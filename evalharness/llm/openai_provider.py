"""OpenAI Chat Completions (`response_format` json_schema) for OpenAI and every OpenAI-compatible server
(vLLM, Ollama, llama.cpp, LM Studio, Azure) through the official openai SDK."""

from __future__ import annotations

import base64
import os
from typing import Any

from evalharness.config import JudgeConfig
from evalharness.errors import EvalHarnessError
from evalharness.llm.logprobs import openai_logprobs
from evalharness.llm.providers import LLMReply, Provider, RetryableError, retry_after_of
from evalharness.llm.wire import ON_WIRE, SdkWire
from evalharness.runtime.httpclient import connect_failed, module_of, sdk_async_client


class OpenAIProvider(Provider):
    """Chat Completions; images as data URLs; the wire request and response are used as they are (no SDK models per call)."""

    name = "openai"

    def __init__(self, model: str, cfg: JudgeConfig) -> None:
        super().__init__(model, cfg)
        import openai

        self._openai = openai
        http_client = sdk_async_client(openai, cfg.max_concurrency, cfg.timeout_s)
        # The body from build_request is sent as it is through the client's post (auth, headers, errors and
        # timeouts as in `chat.completions.create`), skipping create()'s walk over its typed parameters (a fifth
        # of the harness's CPU per call); the response comes back raw and parse_response reads it.
        self._response_type = module_of(type(http_client)).Response
        fields = getattr(getattr(openai, "_models", None), "FinalRequestOptions", None)
        self._options: Any = {"security": {"bearer_auth": True}} if "security" in getattr(fields, "model_fields", {}) else {}
        self.client = openai.AsyncOpenAI(api_key=self.api_key, base_url=cfg.base_url or os.environ.get("OPENAI_BASE_URL") or None,
                                         max_retries=0, timeout=cfg.timeout_s, http_client=http_client)
        self._wire = SdkWire.attach(openai, self.client, "/chat/completions")  # after the first call: the SDK's bytes, less CPU

    def build_request(self, system: str, user: str, *, image: bytes | None = None, image_mime: str = "image/jpeg",
                      schema: dict[str, Any] | None = None, schema_name: str = "answer", temperature: float = 0.0,
                      extra_user: str | None = None, previous: str | None = None, top_logprobs: int = 0) -> dict[str, Any]:
        content: Any = user
        if image is not None:
            url = f"data:{image_mime};base64,{base64.b64encode(image).decode()}"
            content = [{"type": "text", "text": user}, {"type": "image_url", "image_url": {"url": url}}]
        messages: list[dict[str, Any]] = [{"role": "system", "content": system}, {"role": "user", "content": content}]
        if extra_user is not None:
            messages += [{"role": "assistant", "content": previous or ""}, {"role": "user", "content": extra_user}]
        body: dict[str, Any] = {"model": self.model, "messages": messages, "temperature": temperature}
        if schema is not None:
            body["response_format"] = {"type": "json_schema", "json_schema": {"name": schema_name, "strict": True, "schema": schema}}
        if top_logprobs:
            body.update(logprobs=True, top_logprobs=top_logprobs)
        return body

    async def send(self, body: dict[str, Any]) -> LLMReply:
        openai = self._openai
        try:
            wire = self._wire
            if wire is None:
                data = await self._sdk_post(body)
            elif wire.ready:
                data = await wire.post(body)
            else:  # one SDK call records the request; calls that start meanwhile wait for it, then take the wire
                data = await wire.through_sdk(lambda: self._sdk_post(body))
                if data is ON_WIRE:
                    data = await wire.post(body)
        except (openai.RateLimitError, openai.InternalServerError) as exc:
            raise RetryableError(f"{exc.status_code} from the provider", retry_after_of(exc.response.headers)) from None
        except openai.APITimeoutError as exc:
            if connect_failed(exc):
                raise RetryableError(f"cannot connect to {self.client.base_url}", unreachable=True) from None
            raise RetryableError(type(exc).__name__) from None
        except openai.APIConnectionError:
            raise RetryableError(f"cannot connect to {self.client.base_url}", unreachable=True) from None
        except openai.AuthenticationError:
            raise EvalHarnessError("the OpenAI-compatible server rejected the API key; check the variable named by [judge] "
                                   "api_key_env") from None
        except openai.APIStatusError as exc:
            if exc.status_code in (408, 409, 429) or exc.status_code >= 500:
                raise RetryableError(f"{exc.status_code} from the provider", retry_after_of(exc.response.headers)) from None
            raise
        return self.parse_response(data)

    async def _sdk_post(self, body: dict[str, Any]) -> dict[str, Any]:
        """The request through the SDK client (its post, the response left raw)."""
        response = await self.client.post("/chat/completions", body=body, cast_to=self._response_type, options=self._options)
        return response.json()  # type: ignore[no-any-return]

    async def preflight(self) -> None:
        """GET /models/{model}: the key and the model in one request, nothing judged. A server without that route
        (some OpenAI-compatible ones) gets one tiny chat call instead."""
        openai = self._openai
        try:
            await self.client.models.retrieve(self.model)
            return
        except openai.AuthenticationError:
            raise EvalHarnessError("the OpenAI-compatible server rejected the API key; check the variable named by [judge] "
                                   "api_key_env") from None
        except openai.APIConnectionError:
            return  # transient or unreachable: the run's retries and unreachable-abort decide
        except openai.NotFoundError:
            pass  # an unknown model, or no models route: one tiny call tells which
        except openai.APIStatusError as exc:
            if exc.status_code in (408, 409, 429) or exc.status_code >= 500:
                return
            raise EvalHarnessError(f"the OpenAI-compatible server answered {exc.status_code} to a models lookup; "
                                   "check [judge] base_url") from None
        try:
            await super().preflight()
        except openai.NotFoundError:
            raise EvalHarnessError(f"the OpenAI-compatible server does not know model '{self.model}'; "
                                   "check the model name in --judge / [judge] spec") from None

    def parse_response(self, data: dict[str, Any]) -> LLMReply:
        """Text (or, when the model answered with a tool call instead, its arguments), usage, and why an
        incomplete answer stopped (finish_reason length / content_filter, a refusal)."""
        choices = data.get("choices") or []
        choice = choices[0] if choices else {}
        message = choice.get("message") or {}
        text = message.get("content") or ""
        calls = message.get("tool_calls") or []
        if not text.strip() and calls:
            text = ((calls[0] or {}).get("function") or {}).get("arguments") or ""
        usage = data.get("usage") or {}
        cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0
        stop = {"length": "length", "content_filter": "filtered"}.get(choice.get("finish_reason") or "", "")
        return LLMReply(text, usage.get("prompt_tokens") or 0, usage.get("completion_tokens") or 0, cached,
                        openai_logprobs(choices[0]) if choices else None, stop=stop, refusal=message.get("refusal") or "")

    async def aclose(self) -> None:
        await self.client.close()
