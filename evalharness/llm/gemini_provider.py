"""Gemini generateContent (`responseSchema`, inline image bytes) through the official google-genai SDK."""

from __future__ import annotations

import base64
import copy
import json
from dataclasses import replace
from typing import Any

from evalharness.config import JudgeConfig
from evalharness.errors import EvalHarnessError
from evalharness.llm.logprobs import gemini_logprobs
from evalharness.llm.providers import LLMReply, Provider, RetryableError, retry_after_of

FILTERED = {"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY", "IMAGE_PROHIBITED_CONTENT",
            "IMAGE_RECITATION", "MODEL_ARMOR"}  # finish reasons that mean a content filter stopped the answer


def gemini_reply(parts: list[dict[str, Any]], finish: str, blocked: bool, tokens: tuple[int, int, int]) -> LLMReply:
    """An answer from a candidate's parts (REST form): its text without thoughts, else a function call's arguments
    (a model that answered with a tool call), and why an incomplete answer stopped."""
    text = "".join(p.get("text") or "" for p in parts if not p.get("thought"))
    call = next((p["functionCall"] for p in parts if p.get("functionCall")), None)
    if not text.strip() and call is not None:
        text = json.dumps(call.get("args") or {}, ensure_ascii=False)
    stop = "length" if finish == "MAX_TOKENS" else "filtered" if blocked or finish in FILTERED else ""
    return LLMReply(text, *tokens, stop=stop)


def gemini_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """Gemini's response schema (an OpenAPI subset) has no additionalProperties; property order is explicit."""
    out = copy.deepcopy(schema)
    stack = [out]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            node.pop("additionalProperties", None)
            if isinstance(node.get("properties"), dict) and "propertyOrdering" not in node:
                node["propertyOrdering"] = list(node["properties"])
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return out


class GeminiProvider(Provider):
    """The request body is generateContent's REST form (what a batch line carries); `send` hands it to the SDK."""

    name = "gemini"

    def __init__(self, model: str, cfg: JudgeConfig) -> None:
        super().__init__(model, cfg)
        from google import genai
        from google.genai import types

        from evalharness.runtime.httpclient import CONNECT_ERRORS, TRANSPORT_ERRORS, aiohttp_errors

        self._types = types
        aio_transport, aio_connect = aiohttp_errors()  # google-genai runs on aiohttp itself when it is installed
        self._transport_errors, self._connect_errors = TRANSPORT_ERRORS + aio_transport, CONNECT_ERRORS + aio_connect
        options = types.HttpOptions(base_url=cfg.base_url or None, timeout=int(cfg.timeout_s * 1000),
                                    retry_options=types.HttpRetryOptions(attempts=1))
        self.client = genai.Client(api_key=self.api_key, http_options=options)

    def build_request(self, system: str, user: str, *, image: bytes | None = None, image_mime: str = "image/jpeg",
                      schema: dict[str, Any] | None = None, schema_name: str = "answer", temperature: float = 0.0,
                      extra_user: str | None = None, previous: str | None = None, top_logprobs: int = 0) -> dict[str, Any]:
        parts: list[dict[str, Any]] = [{"text": user}]
        if image is not None:
            parts.append({"inlineData": {"mimeType": image_mime, "data": base64.b64encode(image).decode()}})
        contents = [{"role": "user", "parts": parts}]
        if extra_user is not None:
            contents += [{"role": "model", "parts": [{"text": previous or ""}]}, {"role": "user", "parts": [{"text": extra_user}]}]
        config: dict[str, Any] = {"temperature": temperature}
        if schema is not None:
            config.update(responseMimeType="application/json", responseSchema=gemini_schema(schema))
        if top_logprobs:
            config.update(responseLogprobs=True, logprobs=top_logprobs)
        return {"model": self.model, "contents": contents, "systemInstruction": {"parts": [{"text": system}]},
                "generationConfig": config}

    def _sdk_args(self, body: dict[str, Any]) -> dict[str, Any]:
        types = self._types
        contents = []
        for c in body["contents"]:
            parts = [types.Part.from_bytes(data=base64.b64decode(p["inlineData"]["data"]), mime_type=p["inlineData"]["mimeType"])
                     if "inlineData" in p else types.Part.from_text(text=p["text"]) for p in c["parts"]]
            contents.append(types.Content(role=c["role"], parts=parts))
        gen = body.get("generationConfig") or {}
        system = "".join(p["text"] for p in (body.get("systemInstruction") or {}).get("parts", []))
        schema = types.Schema.model_validate(gen["responseSchema"]) if gen.get("responseSchema") else None  # keeps propertyOrdering
        config = types.GenerateContentConfig(system_instruction=system or None, temperature=gen.get("temperature"),
                                             response_mime_type=gen.get("responseMimeType"), response_schema=schema,
                                             response_logprobs=gen.get("responseLogprobs"), logprobs=gen.get("logprobs"))
        return {"model": body["model"], "contents": contents, "config": config}

    async def send(self, body: dict[str, Any]) -> LLMReply:
        from google.genai import errors

        try:
            resp = await self.client.aio.models.generate_content(**self._sdk_args(body))
        except errors.APIError as exc:
            code = getattr(exc, "code", 0) or 0
            if code in (408, 429) or code >= 500:
                raise RetryableError(f"{code} from the provider", retry_after_of(getattr(getattr(exc, "response", None), "headers", None))) from None
            if code in (401, 403):
                raise EvalHarnessError("Gemini rejected the API key; check the variable named by [judge] api_key_env") from None
            raise
        except self._transport_errors as exc:
            raise RetryableError(type(exc).__name__, unreachable=isinstance(exc, self._connect_errors)) from None
        usage = resp.usage_metadata
        cand = resp.candidates[0] if resp.candidates else None
        parts = [{"text": p.text, "thought": p.thought, "functionCall": {"args": p.function_call.args} if p.function_call else None}
                 for p in ((cand.content.parts if cand is not None and cand.content is not None else None) or [])]
        finish = getattr(getattr(cand, "finish_reason", None), "value", None) or ""
        blocked = bool(getattr(resp.prompt_feedback, "block_reason", None))
        result = getattr(cand, "logprobs_result", None)
        reply = gemini_reply(parts, str(finish), blocked, (getattr(usage, "prompt_token_count", 0) or 0,
                                                           getattr(usage, "candidates_token_count", 0) or 0,
                                                           getattr(usage, "cached_content_token_count", 0) or 0))
        return replace(reply, logprobs=gemini_logprobs(result.model_dump(exclude_none=True))) if result is not None else reply

    async def preflight(self) -> None:
        """GET models/{model}: the key and the model in one request, nothing judged. Gemini reports a bad key as 400
        (API_KEY_INVALID) as well as 401/403. A Gemini-compatible server without that route (404/405) gets one
        tiny generateContent call instead, as the OpenAI path does."""
        from google.genai import errors

        try:
            await self.client.aio.models.get(model=self.model)
        except errors.APIError as exc:
            code = getattr(exc, "code", 0) or 0
            if code in (401, 403) or (code == 400 and "api key" in str(exc).lower()):
                raise EvalHarnessError("Gemini rejected the API key; check the variable named by [judge] api_key_env") from None
            if code in (408, 429) or code >= 500:
                return  # transient: the run's retries decide
            if code in (404, 405):
                return await self._tiny_call()
            raise EvalHarnessError(f"Gemini answered {code} to a models lookup; check [judge] base_url") from None
        except self._transport_errors:
            return  # transient or unreachable: the run's retries and unreachable-abort decide

    async def _tiny_call(self) -> None:
        """The preflight without a models route: one tiny call; a 404 to it means the model is unknown."""
        from google.genai import errors

        try:
            await Provider.preflight(self)
        except errors.APIError as exc:
            code = getattr(exc, "code", 0) or 0
            if code == 404:
                raise EvalHarnessError(f"Gemini does not know model '{self.model}'; check the model name in --judge / "
                                       "[judge] spec") from None
            raise EvalHarnessError(f"Gemini answered {code} to a one-word call; check [judge] base_url") from None

    def parse_response(self, data: dict[str, Any]) -> LLMReply:
        candidates = data.get("candidates") or []
        cand = candidates[0] if candidates else {}
        usage = data.get("usageMetadata") or {}
        reply = gemini_reply((cand.get("content") or {}).get("parts") or [], cand.get("finishReason") or "",
                             bool((data.get("promptFeedback") or {}).get("blockReason")),
                             (usage.get("promptTokenCount") or 0, usage.get("candidatesTokenCount") or 0,
                              usage.get("cachedContentTokenCount") or 0))
        return replace(reply, logprobs=gemini_logprobs(cand["logprobsResult"])) if cand.get("logprobsResult") else reply

    async def aclose(self) -> None:
        await self.client.aio.aclose()
