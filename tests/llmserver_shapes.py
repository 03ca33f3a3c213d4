"""Answer styles of the local LLM server (tests/llmserver.py): how the scripted answer is written back.

- `exact` (default): the scripted answer as the schema asks, every time.
- `minimal`: the *minimal instance* of the JSON schema the request carried, for every request with a schema:
  strings "x" (or `minLength` x's), the first enum value, 0 / `minimum` for numbers, false, arrays as short as
  `minItems` allows, only the required keys. What an independent server that merely validates against the schema
  may send.
- `realistic`: judgment answers in the shapes real models write, each request's shape drawn at the rates of
  `REALISTIC` from a hash of (seed, request text, model), so a run is reproducible whatever the concurrency.
  Other requests (guidelines, captions, image scores) are answered exactly.

Chosen by `LLMServer(answer_style=...)`, by `--answer-style` when the server runs as its own process, by the
environment variable EVALHARNESS_TEST_ANSWER_STYLE (read when neither says), or by POST /_config
{"answer_style": ...}. GET /_stats reports the shapes served under "shapes".
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections import Counter, deque
from typing import Any

STYLES = ("exact", "minimal", "realistic")
ENV = "EVALHARNESS_TEST_ANSWER_STYLE"

# shape -> share of judgment answers in the realistic style; the last four are not labels (failures, no repair)
REALISTIC: dict[str, float] = {
    "exact": 0.39, "fenced": 0.08, "prose": 0.07, "think": 0.07, "trailing": 0.04, "case": 0.06, "spaced": 0.03,
    "synonym": 0.05, "extra_keys": 0.05, "missing_verdicts": 0.05, "verdict_list": 0.03, "tool_call": 0.03,
    "truncated": 0.015, "refusal": 0.015, "empty": 0.01, "filtered": 0.01,
}
NOT_LABELS = {"truncated": "truncated", "refusal": "refused", "empty": "empty", "filtered": "content filtered"}
TEXT_WRAPPERS = {"fenced", "prose", "think", "trailing", "tool_call"}  # shapes of the text around the JSON
# words a model writes for a label, that the built-in label schemes declare as synonyms
SYNONYM = {"relevant": "exact match", "irrelevant": "not relevant", "substitute": "partially relevant", "exact": "E",
           "complement": "C", "somewhat": "1", "mostly": "2", "perfectly": "3"}
REFUSAL = "I'm sorry, but I can't help with that request."


def style_from(value: str | None) -> str:
    """The style asked for (argument, else the environment variable, else exact); ValueError when unknown."""
    style = value or os.environ.get(ENV) or "exact"
    if style not in STYLES:
        raise ValueError(f"answer style {style!r} is not one of {', '.join(STYLES)}")
    return style


def _kind(schema: dict[str, Any]) -> str:
    t = schema.get("type")
    t = t[0] if isinstance(t, list) else t
    return str(t or ("object" if "properties" in schema else "string")).lower()


def _int(value: Any, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def minimal_instance(schema: dict[str, Any]) -> Any:
    """The smallest value valid against a JSON schema (or Gemini's OpenAPI-style schema, as the SDK sends it)."""
    for alt in ("anyOf", "any_of", "oneOf"):
        if schema.get(alt):
            return minimal_instance(schema[alt][0])
    if schema.get("enum"):
        return schema["enum"][0]
    kind = _kind(schema)
    if kind == "object":
        props = schema.get("properties") or {}
        return {k: minimal_instance(props.get(k) or {}) for k in schema.get("required") or []}
    if kind == "array":
        return [minimal_instance(schema.get("items") or {}) for _ in range(_int(schema.get("minItems", schema.get("min_items"))))]
    if kind in ("integer", "number"):
        return _int(schema.get("minimum"), 0)
    if kind == "boolean":
        return False
    if kind == "null":
        return None
    return "x" * max(1, _int(schema.get("minLength", schema.get("min_length")), 1))


def strict_problem(schema: Any, path: str = "schema") -> str:
    """What OpenAI's strict structured-output mode rejects in a schema ("" when nothing): an object whose
    properties are not all required, or that allows additional properties."""
    if not isinstance(schema, dict):
        return ""
    if _kind(schema) == "object":
        props = schema.get("properties") or {}
        if schema.get("additionalProperties") is not False:
            return f"{path}: additionalProperties must be false"
        if sorted(schema.get("required") or []) != sorted(props):
            return f"{path}: every property must be required"
        for name, sub in props.items():
            if problem := strict_problem(sub, f"{path}.{name}"):
                return problem
    return strict_problem(schema.get("items"), f"{path}.items") if "items" in schema else ""


def keyed(verdicts: list[dict[str, str]], schema: dict[str, Any] | None) -> Any:
    """The verdicts in the form the schema asks: an object keyed by requirement (in the schema's key order), or a list."""
    if not schema or str(schema.get("type", "")).lower() != "object":
        return verdicts
    keys = schema.get("propertyOrdering") or schema.get("property_ordering") or list(schema.get("properties") or {})
    return {k: v["verdict"] for k, v in zip(keys, verdicts)}


def empty_object(schema: Any) -> bool:
    """Whether a Gemini response schema holds an OBJECT without properties (the Gemini API rejects it)."""
    if not isinstance(schema, dict):
        return False
    props = schema.get("properties")
    if str(schema.get("type", "")).lower() == "object" and not props:
        return True
    return any(empty_object(v) for v in (props or {}).values()) or empty_object(schema.get("items"))


def pick_shape(seed: int, key: str, tool_mode: bool = False) -> str:
    """The realistic shape of one request (tool_mode: the answer is a forced tool call's input, so no text around it)."""
    draw = int(hashlib.sha256(f"{seed}|{key}".encode()).hexdigest()[:12], 16) / float(16 ** 12)
    shape = "exact"
    for name, rate in REALISTIC.items():
        if draw < rate:
            shape = name
            break
        draw -= rate
    return "exact" if tool_mode and shape in TEXT_WRAPPERS else shape


def _relabel(data: dict[str, Any], how: str) -> dict[str, Any]:
    label = data.get("label")
    if not isinstance(label, str):
        return data
    new = {"case": label.upper() if len(label) % 2 else label.title(), "spaced": f"  {label.replace(' ', '_')} ",
           "synonym": SYNONYM.get(label, label.title())}[how]
    return {**data, "label": new}


def _verdicts_as_list(data: dict[str, Any]) -> dict[str, Any]:
    """The keyed verdicts written as a list of {attribute, value, verdict} in the key order (attribute from the key)."""
    raw = data.get("requirement_verdicts")
    if not isinstance(raw, dict):
        return data
    items = [{"attribute": k.split("_", 1)[-1], "verdict": v} for k, v in raw.items()]
    return {**data, "requirement_verdicts": items}


def reshape(shape: str, text: str) -> tuple[str, str]:
    """(answer text, wire signal) of the exact answer `text` in `shape`. The wire signal is what the provider's
    response says apart from the text: "", "length", "refusal", "filtered" or "tool_call"."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return text, ""
    if shape in ("case", "spaced", "synonym"):
        return json.dumps(_relabel(data, shape)), ""
    if shape == "extra_keys":
        return json.dumps({**data, "confidence": 0.8, "notes": "scripted extra key"}), ""
    if shape == "missing_verdicts":
        raw = data.get("requirement_verdicts")
        if not raw:
            return text, ""
        kept = dict(list(raw.items())[: len(raw) // 2]) if isinstance(raw, dict) else []
        return json.dumps({**data, "requirement_verdicts": kept}), ""
    if shape == "verdict_list":
        return json.dumps(_verdicts_as_list(data)), ""
    wrapped = {"fenced": f"```json\n{text}\n```", "prose": f"Here is my assessment of the product.\n\n{text}",
               "think": f"<think>The shopper asks for this; let me check {{the fields}} one by one.</think>\n{text}",
               "trailing": f"{text}\nLet me know if you need anything else."}
    if shape in wrapped:
        return wrapped[shape], ""
    if shape == "truncated":
        return text[: max(1, len(text) // 2)], "length"
    if shape == "refusal":
        return REFUSAL, "refusal"
    if shape == "empty":
        return "", ""
    if shape == "filtered":
        return "", "filtered"
    if shape == "tool_call":
        return text, "tool_call"
    return text, ""


class AnswerStyle:
    """The server's answer style and a count of the shapes it served (judgment answers in the realistic style)."""

    def __init__(self, style: str | None = None, seed: int = 0) -> None:
        self.name = style_from(style)
        self.seed = seed
        self.served: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.queued: deque[tuple[str, str]] = deque()

    def script(self, answers: list[tuple[str, str]]) -> None:
        """Answer the next judgment requests with these (text, wire signal) pairs, verbatim, in order."""
        with self.lock:
            self.queued.extend(answers)

    def apply(self, text: str, schema_name: str | None, schema: dict[str, Any] | None, key: str, tool_mode: bool = False
              ) -> tuple[str, str, str]:
        """(shape, text, wire signal) of the scripted answer `text` to a request with this schema."""
        if schema_name == "judgment" and self.queued:
            with self.lock:
                queued = self.queued.popleft() if self.queued else None
            if queued is not None:
                return "scripted", *queued
        if self.name == "minimal" and schema:
            return "minimal", json.dumps(minimal_instance(schema)), ""
        if self.name == "minimal" and schema_name is None:
            return "minimal", "x", ""
        if self.name != "realistic" or schema_name != "judgment":
            return "exact", text, ""
        shape = pick_shape(self.seed, key, tool_mode)
        out, wire = reshape(shape, text)
        if (out, wire) == (text, "") and shape != "empty":
            shape = "exact"  # nothing to reshape (e.g. no verdicts to drop): served as the exact answer
        with self.lock:
            self.served[shape] += 1
        return shape, out, wire
