"""The Anthropic Messages API wire format for the local LLM server (tests/llmserver.py dispatches POST /v1/messages).

Reads a Messages request as the official anthropic SDK sends it (system, messages with text and base64 image
blocks, tools with a forced tool_choice) and answers like the API: a `tool_use` block when a tool is forced,
else a text block, with usage. Checks what the real API rejects (no max_tokens, no model, a forced tool that is
not among the tools).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any


def _error(kind: str, message: str) -> tuple[int, dict[str, Any]]:
    return 400, {"type": "error", "error": {"type": kind, "message": message}}


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except json.JSONDecodeError:
        return False
    return True


def anthropic_reply(req: dict[str, Any], malformed: bool, answer: Callable[..., str], style: Any = None) -> tuple[int, dict[str, Any]]:
    """(status, body) for one Messages request; `answer(prompt, schema_name, image, schema, model)` scripts the text,
    `style` (llmserver_shapes.AnswerStyle) how it is written back."""
    if not req.get("model") or not isinstance(req.get("max_tokens"), int):
        return _error("invalid_request_error", "model and max_tokens are required")
    texts: list[str] = []
    image = None
    system = req.get("system") or ""
    texts.append(system if isinstance(system, str) else "".join(b.get("text", "") for b in system))
    for message in req.get("messages", []):
        content = message.get("content")
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content or []
        for block in blocks:
            if block.get("type") == "text":
                texts.append(block["text"])
            elif block.get("type") == "image":
                source = block["source"]
                if source.get("type") != "base64" or not source.get("media_type", "").startswith("image/"):
                    return _error("invalid_request_error", "image source must be base64 with an image media_type")
                image = base64.b64decode(source["data"])
    tools = {t["name"]: t for t in req.get("tools") or []}
    choice = req.get("tool_choice") or {}
    forced = tools.get(choice.get("name", "")) if choice.get("type") == "tool" else None
    if choice.get("type") == "tool" and forced is None:
        return _error("invalid_request_error", "tool_choice names a tool that is not in tools")
    prompt = "\n".join(texts)
    output_format = (req.get("output_config") or {}).get("format") or {}
    if forced is not None:
        name, schema = forced["name"], forced.get("input_schema")
    elif output_format.get("type") == "json_schema":
        schema = output_format["schema"]
        name = "guideline" if "requirements" in schema.get("properties", {}) else "judgment"
    else:
        name, schema = None, None
    if malformed and name:
        text = '{"label": "RELEVANT!!", "oops": true}' if forced is not None else "{label: relevant, oops"
    else:
        text = answer(prompt, name, image, schema, req["model"])
    wire, shape = "", ""
    if style is not None:
        shape, text, wire = style.apply(text, name, schema, prompt + req["model"], tool_mode=forced is not None)
    if wire in ("refusal", "filtered"):  # the Messages API signals a declined answer by stop_reason "refusal"
        content_out: list[dict[str, Any]] = [{"type": "text", "text": text or "I can't help with that."}]
        stop = "refusal"
    elif shape == "empty" or not (text or wire):
        content_out, stop = [], "end_turn"
    elif (forced is not None or wire == "tool_call") and (_is_json(text) or wire == "length"):
        tool_input = json.loads(text) if _is_json(text) else {}  # cut off: the tool input is incomplete
        content_out = [{"type": "tool_use", "id": "toolu_local", "name": name or "answer", "input": tool_input}]
        stop = "tool_use"
    else:  # a text answer (also when the model wrote text instead of calling the forced tool)
        content_out, stop = [{"type": "text", "text": text}], "end_turn"
    if wire == "length":
        stop = "max_tokens"
    prompt_tokens = len(prompt) // 4 + (1600 if image else 0)
    return 200, {"id": "msg_local", "type": "message", "role": "assistant", "model": req["model"], "content": content_out,
                 "stop_reason": stop, "stop_sequence": None,
                 "usage": {"input_tokens": prompt_tokens, "output_tokens": max(1, len(text) // 4),
                           "cache_read_input_tokens": 0, "cache_creation_input_tokens": 0}}
