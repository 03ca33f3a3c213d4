"""The judgment's structured answer: one function builds its JSON schema for a request (the label scheme's enum,
the rationale before or after the label, one required verdict key per guideline requirement), one reads an answer
as models write it (see answer_text) and keeps every valid label.

What is accepted, and what is not a label, is listed in `parse_answer`'s docstring (and the README)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from evalharness.errors import JudgeOutputError
from evalharness.judges.answer_text import find_answer, label_field
from evalharness.judges.verdicts import VERDICT_SHAPE, VERDICTS_KEY, read_verdicts, verdict_schema
from evalharness.labels.schemes import LabelScheme
from evalharness.models import Requirement

RATIONALE_KEYS = ("rationale", "reasoning", "explanation", "reason")


def judgment_schema(scheme: LabelScheme, reasoning: str = "before", requirements: Sequence[Requirement] = ()) -> dict[str, Any]:
    """JSON schema of a judgment: {"rationale", "requirement_verdicts", "label"} in that order by default (reasoning
    and the per-requirement verdicts first), or the label first (`after`), or no rationale (`none`). Property order
    is the order models generate in. The verdicts are an object with one required key per requirement (left out when
    the guideline has none). Every property is required and no other is allowed: the subset OpenAI strict mode,
    Gemini's responseSchema and Anthropic's tool input schema all enforce."""
    label = {"type": "string", "enum": list(scheme.names)}
    rationale = {"type": "string"}
    verdicts = verdict_schema(requirements)
    if reasoning == "none":
        order: list[tuple[str, Any]] = [(VERDICTS_KEY, verdicts), ("label", label)]
    elif reasoning == "after":
        order = [("label", label), ("rationale", rationale), (VERDICTS_KEY, verdicts)]
    else:
        order = [("rationale", rationale), (VERDICTS_KEY, verdicts), ("label", label)]
    properties = {k: v for k, v in order if v is not None}
    return {"type": "object", "properties": properties, "required": list(properties), "additionalProperties": False}


def answer_shape(scheme: LabelScheme, reasoning: str = "before") -> str:
    """The answer's shape in words, for the prompts (follows the schema's order)."""
    label = '"label": ' + " | ".join(f'"{n}"' for n in scheme.names)
    rationale = '"rationale": one or two sentences naming the requirement that decided'
    parts = {"none": [VERDICT_SHAPE, label], "after": [label, rationale, VERDICT_SHAPE]}.get(reasoning, [rationale, VERDICT_SHAPE, label])
    return "{" + ", ".join(parts) + "}"


@dataclass
class Answer:
    """A usable judgment: its label, rationale ("" when none was given), verdicts aligned with the requirements
    (holes as verdict None) and notes on anything read leniently."""

    label: str
    rationale: str
    verdicts: list[dict[str, str | None]]
    notes: list[str] = field(default_factory=list)


def parse_answer(text: str, scheme: LabelScheme, reasoning: str, requirements: Sequence[Requirement]) -> Answer:
    """Read an answer; raise JudgeOutputError only when it gives no usable label (NoLabel when a repair turn would
    not help). Accepted: JSON alone, in a code fence, after prose or a <think> block, or followed by a remark; the
    label in any case or spacing, with `_`/`-` for spaces, or a synonym the scheme declares; a bare label word;
    extra keys (ignored); a missing rationale (kept as ""); missing, extra, duplicated or unreadable verdicts
    (holes, noted). Not labels: empty text, a refusal, an unknown label, JSON objects with conflicting labels."""
    found = find_answer(text)
    data = found.data or {}
    raw = label_field(data) if found.data is not None else found.word
    label = scheme.resolve(raw)
    if label is None:
        shown = str(raw)[:40] if raw is not None else None
        raise JudgeOutputError("the answer has no label" if shown is None else
                               f"label {shown!r} is not one of {', '.join(scheme.names)}")
    notes = list(found.notes)
    if raw != label:
        notes.append(f"label {str(raw)[:40]!r} read as {label!r}")
    folded = _folded(data)
    rationale = ""
    if reasoning != "none":
        rationale = next((v.strip() for k, v in folded.items() if k in RATIONALE_KEYS and isinstance(v, str) and v.strip()), "")
        if not rationale:
            notes.append("no rationale")
    verdicts, verdict_notes = read_verdicts(folded.get(VERDICTS_KEY), requirements)
    extra = sorted(set(folded) - {"label", VERDICTS_KEY, *RATIONALE_KEYS})
    if extra:
        verdict_notes.append(f"extra keys ignored: {', '.join(extra)[:80]}")
    return Answer(label, rationale, verdicts, notes + verdict_notes)


def answer_details(answer: Answer) -> dict[str, Any]:
    """What a judgment stores of its answer besides label and rationale: the verdicts, and notes when any."""
    return {"verdicts": answer.verdicts, **({"answer_notes": answer.notes} if answer.notes else {})}


def _folded(data: dict[str, Any]) -> dict[str, Any]:
    return {str(k).strip().casefold(): v for k, v in data.items()}


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
    """(label, rationale) of an answer, read as `parse_answer` reads it."""
    answer = parse_answer(text, scheme, reasoning, ())
    return answer.label, answer.rationale
