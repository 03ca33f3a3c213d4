"""Per-requirement verdicts: for one (query, hit) pair, whether the hit meets each of the guideline's requirements.

A judge puts them in `Judgment.details["verdicts"]` as a list aligned with the guideline's requirements:
`{"attribute", "value", "verdict"}` with verdict `met`, `not met`, `unknown`, or `null` (a *hole*: the answer gave
no usable verdict for that requirement; the label still stands). They are part of the cached answer (no extra
call). Attribute metrics (`AttrMatch(color)@k`, `ReqMet@k`) are computed from them.

An LLM is asked for them as an object with one required key per requirement (`r1_product_type`, `r2_color`, …):
every provider's structured-output mode enforces required keys, while few enforce an array's length.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

from evalharness.labels.schemes import label_key
from evalharness.models import Requirement

VERDICTS = ("met", "not met", "unknown")
VERDICTS_KEY = "requirement_verdicts"  # the property of an LLM judge's structured answer
_SLUG = re.compile(r"[^a-z0-9]+")
_WORDS = {**{v: v for v in VERDICTS}, "unmet": "not met", "not_met": "not met", "yes": "met", "no": "not met",
          "true": "met", "false": "not met", "n/a": "unknown", "na": "unknown", "not stated": "unknown", "unclear": "unknown"}


def verdict_entry(req: Requirement, verdict: str | None) -> dict[str, str | None]:
    """One stored verdict (None: a hole)."""
    return {"attribute": req.attribute, "value": req.value, "verdict": verdict}


def verdict_keys(requirements: Sequence[Requirement]) -> list[str]:
    """The answer's key for each requirement, in the guideline's order: `r<n>_<attribute>`."""
    try:
        return list(_keys(tuple(requirements)))
    except TypeError:  # a requirement that cannot be hashed (a value that is not text): computed each time
        return list(_keys.__wrapped__(tuple(requirements)))


@lru_cache(maxsize=4096)
def _keys(requirements: tuple[Requirement, ...]) -> tuple[str, ...]:
    """verdict_keys of one guideline's requirements, computed once (every pair of a query asks for them)."""
    keys = []
    for i, r in enumerate(requirements, 1):
        slug = _SLUG.sub("_", r.attribute.casefold()).strip("_")[:30]
        keys.append(f"r{i}_{slug}" if slug else f"r{i}")
    return tuple(keys)


@lru_cache(maxsize=4096)
def _key_index(requirements: tuple[Requirement, ...]) -> dict[str, int]:
    """Each requirement's position by its case-folded key (read-only: shared by every answer of a guideline)."""
    return {k.casefold(): i for i, k in enumerate(_keys(requirements))}


def verdict_schema(requirements: Sequence[Requirement]) -> dict[str, Any] | None:
    """JSON schema of the verdicts: an object whose required keys are the requirements' keys, each one of VERDICTS.
    None without requirements (Gemini rejects an object schema without properties; the answer then has no verdicts)."""
    if not requirements:
        return None
    keys = verdict_keys(requirements)
    return {"type": "object", "properties": {k: {"type": "string", "enum": list(VERDICTS)} for k in keys},
            "required": keys, "additionalProperties": False}


VERDICT_SHAPE = ('"requirement_verdicts": {"<requirement key>": "met" | "not met" | "unknown"} with one entry per '
                 'guideline requirement, keyed by its "key" (omit it when the guideline has no requirements)')


def _verdict(value: Any) -> str | None:
    """A verdict word (case and spacing ignored, yes/no and true/false read as met/not met), else None."""
    if isinstance(value, Mapping):
        value = value.get("verdict")
    if isinstance(value, bool):
        return "met" if value else "not met"
    if not isinstance(value, str):
        return None
    return _WORDS.get(value) or _WORDS.get(label_key(value))  # the words asked for, as they are, first


def read_verdicts(raw: Any, requirements: Sequence[Requirement]) -> tuple[list[dict[str, str | None]], list[str]]:
    """The verdicts an answer gives, aligned with the requirements (holes where none is usable), and notes on what
    was missing, extra, duplicated or unreadable. Takes the keyed object asked for, or a list of {attribute, value,
    verdict} (matched by attribute and value, else by position); never raises: the label does not depend on it."""
    n = len(requirements)
    got: list[str | None] = [None] * n
    extra = dup = bad = 0
    if isinstance(raw, Mapping):
        try:
            index = _key_index(tuple(requirements))
        except TypeError:  # as in verdict_keys
            index = {k.casefold(): i for i, k in enumerate(verdict_keys(requirements))}
        for key, value in raw.items():
            i = index.get(str(key).strip().casefold())
            if i is None:
                extra += 1
            elif (v := _verdict(value)) is None:
                bad += 1
            else:
                got[i] = v
    elif isinstance(raw, list):
        seen = [False] * n
        for pos, item in enumerate(raw):
            i = _list_slot(item, pos, requirements, seen)
            if i is None:
                extra += 1
            elif seen[i]:
                dup += 1
            else:
                seen[i] = True
                got[i] = _verdict(item)
                bad += got[i] is None
    elif raw is not None:
        bad = n
    missing = sum(v is None for v in got) - bad
    counts = ((missing, f"of {n} verdicts missing"), (bad, "unreadable verdicts"), (extra, "extra verdicts ignored"),
              (dup, "duplicated verdicts, the first kept"))
    notes = [f"{k} {how}" for k, how in counts if k > 0] + (["verdicts as a list"] if isinstance(raw, list) and n else [])
    return [verdict_entry(r, v) for r, v in zip(requirements, got)], notes


def _list_slot(item: Any, pos: int, requirements: Sequence[Requirement], seen: list[bool]) -> int | None:
    """Which requirement a list item answers: the same attribute and value, else the same attribute (first not yet
    answered), else its position when it names no attribute."""
    if isinstance(item, Mapping) and item.get("attribute") is not None:
        attr, value = label_key(str(item.get("attribute"))), label_key(str(item.get("value") or ""))
        same = [i for i, r in enumerate(requirements) if label_key(r.attribute) == attr]
        exact = [i for i in same if label_key(requirements[i].value) == value]
        for group in (exact, same):
            if group:
                return next((i for i in group if not seen[i]), group[0])
        return None
    return pos if pos < len(requirements) else None


def verdicts_of(details: Mapping[str, Any] | None) -> list[dict[str, str]]:
    """The verdict list stored with a judgment ([] for judgments made before verdicts existed)."""
    value = (details or {}).get("verdicts")
    return value if isinstance(value, list) else []


def hit_meets(verdicts: Sequence[Mapping[str, str]], attribute: str) -> bool:
    """Whether every requirement on this attribute is met (unknown counts as not met)."""
    found = [v for v in verdicts if v.get("attribute") == attribute]
    return bool(found) and all(v.get("verdict") == "met" for v in found)
