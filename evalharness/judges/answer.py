"""The judgment's structured answer: one function builds its JSON schema (the label scheme's enum, the rationale
before or after the label), one parses an answer strictly against it."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from evalharness.errors import JudgeOutputError
from evalharness.judges.verdicts import VERDICT_SHAPE, VERDICTS_KEY, parse_verdicts, verdict_schema
from evalharness.labels.schemes import LabelScheme
from evalharness.models import Requirement


def judgment_schema(scheme: LabelScheme, reasoning: str = "before") -> dict[str, Any]:
    """JSON schema of a judgment: {"rationale", "requirement_verdicts", "label"} in that order by default (reasoning
    and the per-requirement verdicts first), or the label first (`after`), or no rationale (`none`). Property order
    is the order models generate in."""
    label = {"type": "string", "enum": list(scheme.names)}
    rationale = {"type": "string"}
    verdicts = verdict_schema()
    if reasoning == "none":
        properties: dict[str, Any] = {VERDICTS_KEY: verdicts, "label": label}
    elif reasoning == "after":
        properties = {"label": label, "rationale": rationale, VERDICTS_KEY: verdicts}
    else:
        properties = {"rationale": rationale, VERDICTS_KEY: verdicts, "label": label}
    return {"type": "object", "properties": properties, "required": list(properties), "additionalProperties": False}


def answer_shape(scheme: LabelScheme, reasoning: str = "before") -> str:
    """The answer's shape in words, for the prompts (follows the schema's order)."""
    label = '"label": ' + " | ".join(f'"{n}"' for n in scheme.names)
    rationale = '"rationale": one or two sentences naming the requirement that decided'
    parts = {"none": [VERDICT_SHAPE, label], "after": [label, rationale, VERDICT_SHAPE]}.get(reasoning, [rationale, VERDICT_SHAPE, label])
    return "{" + ", ".join(parts) + "}"


def parse_answer(text: str, scheme: LabelScheme, reasoning: str, requirements: Sequence[Requirement]
                 ) -> tuple[str, str, list[dict[str, str]]]:
    """Strictly parse an answer into (label, rationale, one verdict per requirement)."""
    label, rationale = parse_judgment(text, scheme, reasoning)
    return label, rationale, parse_verdicts(json.loads(text).get(VERDICTS_KEY), requirements)


def json_object(text: str) -> dict[str, Any]:
    """The answer as a JSON object; JudgeOutputError when it is not JSON or not an object."""
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, TypeError):
        raise JudgeOutputError("the answer is not JSON") from None
    if not isinstance(data, dict):
        raise JudgeOutputError("the answer is not a JSON object")
    return data


def parse_judgment(text: str, scheme: LabelScheme, reasoning: str = "before") -> tuple[str, str]:
    """Strictly parse an answer into (label, rationale); raise JudgeOutputError saying what was wrong."""
    data = json_object(text)
    label = data.get("label")
    if label not in scheme.names:
        raise JudgeOutputError(f"label {str(label)[:40]!r} is not one of {', '.join(scheme.names)}")
    if reasoning == "none":
        return label, ""
    rationale = data.get("rationale")
    if not isinstance(rationale, str) or not rationale.strip():
        raise JudgeOutputError("the rationale is missing")
    return label, rationale.strip()
