"""Anthropic Messages through the official anthropic SDK: structured output by a forced tool call (default) or
by a JSON output format (`[judge] structured = "json"`), images as base64 blocks, usage with prompt-cache reads.

Current Messages requests take no temperature (the SDK has no such parameter): the model samples as it does, so
n self-consistency samples of a Claude model differ by the model's own sampling."""

from __future__ import annotations

import base64
import json
import os
from typing import Any

from evalharness.config import JudgeConfig
from evalharness.errors import EvalHarnessError
from evalharness.llm.providers import LLMReply, Provider, RetryableError, retry_after_of
from evalharness.runtime.httpclient import connect_failed, sdk_async_client

MAX_TOKENS = 1024  # Messages requires max_tokens; a judgment or a guideline is far shorter


class AnthropicProvider(Provider):
    """The request body is the Messages API's (what a message-batch line carries)."""

    name = "anthropic"

    def __init__(self, model: str, cfg: JudgeConfig) -> None:
        super().__init__(model, cfg)
        import anthropic

        self._anthropic = anthropic
        self.client = anthropic.AsyncAnthropic(api_key=self.api_key, base_url=cfg.base_url or os.environ.get("ANTHROPIC_BASE_URL") or None,
                                               max_retries=0, timeout=cfg.timeout_s,
                                               http_client=sdk_async_client(anthropic, cfg.max_concurrency, cfg.timeout_s))

    def build_request(self, system: str, user: str, *, image: bytes | None = None, image_mime: str = "image/jpeg",
                      schema: dict[str, Any] | None = None, schema_name: str = "answer", temperature: float = 0.0,
                      extra_user: str | None = None, previous: str | None = None) -> dict[str, Any]:
        content: list[dict[str, Any]] = []
        if image is not None:  # images first, as Anthropic recommends
            content.append({"type": "image", "source": {"type": "base64", "media_type": image_mime,
                                                        "data": base64.b64encode(image).decode()}})
        content.append({"type": "text", "text": user})
        messages: list[dict[str, Any]] = [{"role": "user", "content": content}]
        if extra_user is not None:
            messages += [{"role": "assistant", "content": previous or "(no answer)"}, {"role": "user", "content": extra_user}]
        body: dict[str, Any] = {"model": self.model, "max_tokens": MAX_TOKENS, "system": system, "messages": messages}
        if schema is not None and self.cfg.structured == "tool":
            body["tools"] = [{"name": schema_name, "description": f"Record the {schema_name}.", "input_schema": schema}]
            body["tool_choice"] = {"type": "tool", "name": schema_name}
        elif schema is not None:
            body["output_config"] = {"format": {"type": "json_schema", "schema": schema}}
        return body

    async def send(self, body: dict[str, Any]) -> LLMReply:
        anthropic = self._anthropic
        try:
            raw = await self.client.messages.with_raw_response.create(**body)
        except anthropic.APITimeoutError as exc:
            if connect_failed(exc):
                raise RetryableError(f"cannot connect to {self.client.base_url}", unreachable=True) from None
            raise RetryableError(type(exc).__name__) from None
        except anthropic.APIConnectionError:
            raise RetryableError(f"cannot connect to {self.client.base_url}", unreachable=True) from None
        except (anthropic.AuthenticationError, anthropic.PermissionDeniedError):
            raise EvalHarnessError("Anthropic rejected the API key; check the variable named by [judge] api_key_env "
                                   "(default ANTHROPIC_API_KEY)") from None
        except anthropic.APIStatusError as exc:
            if exc.status_code in (408, 409, 429) or exc.status_code >= 500:  # 529: overloaded
                raise RetryableError(f"{exc.status_code} from the provider", retry_after_of(exc.response.headers)) from None
            raise
        return self.parse_response(raw.http_response.json())

    async def preflight(self) -> None:
        """GET /v1/models/{model}: the key and the model in one request, nothing judged."""
        anthropic = self._anthropic
        try:
            await self.client.models.retrieve(self.model)
        except (anthropic.AuthenticationError, anthropic.PermissionDeniedError):
            raise EvalHarnessError("Anthropic rejected the API key; check the variable named by [judge] api_key_env "
                                   "(default ANTHROPIC_API_KEY)") from None
        except anthropic.NotFoundError:
            raise EvalHarnessError(f"Anthropic does not know model '{self.model}'; check the model name in --judge / "
                                   "[judge] spec") from None
        except anthropic.APIConnectionError:
            return  # transient or unreachable: the run's retries and unreachable-abort decide
        except anthropic.APIStatusError as exc:
            if exc.status_code in (408, 409, 429) or exc.status_code >= 500:
                return
            raise EvalHarnessError(f"Anthropic answered {exc.status_code} to a models lookup; check [judge] base_url") from None

    def parse_response(self, data: dict[str, Any]) -> LLMReply:
        blocks = data.get("content") or []
        tool = next((b for b in blocks if b.get("type") == "tool_use"), None)
        text = json.dumps(tool.get("input"), ensure_ascii=False) if tool is not None else \
            "".join(b.get("text", "") for b in blocks if b.get("type") == "text")
        usage = data.get("usage") or {}
        cached = usage.get("cache_read_input_tokens") or 0
        total_in = (usage.get("input_tokens") or 0) + cached + (usage.get("cache_creation_input_tokens") or 0)
        stop = {"max_tokens": "length", "refusal": "refusal"}.get(data.get("stop_reason") or "", "")
        return LLMReply(text, total_in, usage.get("output_tokens") or 0, cached, stop=stop)

    async def aclose(self) -> None:
        await self.client.close()
