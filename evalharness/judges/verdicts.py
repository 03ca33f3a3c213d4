"""Per-requirement verdicts: for one (query, hit) pair, whether the hit meets each of the guideline's requirements.

A judge puts them in `Judgment.details["verdicts"]` as a list aligned with the guideline's requirements:
`{"attribute", "value", "verdict"}` with verdict `met`, `not met` or `unknown`. They are part of the cached
answer (no extra call). Attribute metrics (`AttrMatch(color)@k`, `ReqMet@k`) are computed from them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from evalharness.errors import JudgeOutputError
from evalharness.models import Requirement

VERDICTS = ("met", "not met", "unknown")
VERDICTS_KEY = "requirement_verdicts"  # the property of an LLM judge's structured answer


def verdict_entry(req: Requirement, verdict: str) -> dict[str, str]:
    """One stored verdict."""
    return {"attribute": req.attribute, "value": req.value, "verdict": verdict}


def parse_verdicts(raw: Any, requirements: Sequence[Requirement]) -> list[dict[str, str]]:
    """Strictly check an LLM's verdict list against the guideline's requirements (same order, known verdicts)."""
    if not isinstance(raw, list):
        raise JudgeOutputError(f"{VERDICTS_KEY} is missing or not a list")
    if len(raw) != len(requirements):
        raise JudgeOutputError(f"{VERDICTS_KEY} has {len(raw)} entries; the guideline has {len(requirements)} requirements")
    out = []
    for item, req in zip(raw, requirements):
        verdict = item.get("verdict") if isinstance(item, dict) else None
        if verdict not in VERDICTS:
            raise JudgeOutputError(f"verdict {str(verdict)[:30]!r} is not one of {', '.join(VERDICTS)}")
        out.append(verdict_entry(req, verdict))
    return out


def verdict_schema() -> dict[str, Any]:
    """JSON schema of the verdict list: one {attribute, value, verdict} per requirement, in the guideline's order
    (the count is checked when parsing: strict structured-output modes do not all take minItems/maxItems)."""
    item = {"type": "object", "properties": {"attribute": {"type": "string"}, "value": {"type": "string"},
                                             "verdict": {"type": "string", "enum": list(VERDICTS)}},
            "required": ["attribute", "value", "verdict"], "additionalProperties": False}
    return {"type": "array", "items": item}


VERDICT_SHAPE = ('"requirement_verdicts": one {"attribute", "value", "verdict": "met" | "not met" | "unknown"} per '
                 "guideline requirement, in the guideline's order")


def verdicts_of(details: Mapping[str, Any] | None) -> list[dict[str, str]]:
    """The verdict list stored with a judgment ([] for judgments made before verdicts existed)."""
    value = (details or {}).get("verdicts")
    return value if isinstance(value, list) else []


def hit_meets(verdicts: Sequence[Mapping[str, str]], attribute: str) -> bool:
    """Whether every requirement on this attribute is met (unknown counts as not met)."""
    found = [v for v in verdicts if v.get("attribute") == attribute]
    return bool(found) and all(v.get("verdict") == "met" for v in found)
