"""Plain data objects passed between stages: Query, Requirement, Guideline, Hit, Judgment."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, fields
from operator import attrgetter
from typing import Any

IMPORTANCE = ("must", "should", "nice")
# A product's fields: what backends search, the free attributes, and attributes no judge or rater ever sees
SEARCHABLE_FIELDS = (
    "title", "description", "bullet_points", "brand", "color", "category",
    "product_type", "material", "audience", "size",
)
ATTRIBUTE_FIELDS = ("product_type", "material", "audience", "size", "degradation")
VOCABULARY_ATTRIBUTES = ("product_type", "brand", "color", "material", "audience", "size")
# Ground truth a judge must never see (the demo catalog's image-quality label): not in prompts, not in cache keys.
HIDDEN_ATTRIBUTES = ("degradation",)


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no whitespace: the only input to hashes and cache keys."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def sha256_hex(data: str | bytes) -> str:
    """Hex sha256 of text (UTF-8) or bytes."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    return hashlib.sha256(data).hexdigest()


UNJUDGEABLE = "unjudgeable"  # a Hit attribute: why the hit keeps its rank but cannot be judged


@dataclass(frozen=True)
class Query:
    """One query of a query set."""

    id: str
    text: str
    count: int = 1
    segment: str = ""


@dataclass(frozen=True)
class Requirement:
    """One thing a relevant product must (or should) satisfy for a query."""

    attribute: str
    value: str
    importance: str = "must"


@dataclass(frozen=True)
class Guideline:
    """Per-query requirements and guideline text, as stored in guidelines/<slug>.md."""

    query: str
    requirements: tuple[Requirement, ...]
    text: str
    writer: str
    model: str = ""
    created: str = ""
    hash: str = ""  # what the judge reads (query, requirements, text): guidelines.files.guideline_hash
    path: str = ""
    file_hash: str = ""  # sha256 of the file's bytes: tells an unchanged file without parsing it


@dataclass
class Hit:
    """One search result and the product fields a judge sees."""

    doc_id: str
    rank: int
    score: float
    title: str = ""
    description: str = ""
    brand: str = ""
    color: str = ""
    category: str = ""
    price: float | None = None
    image_url: str = ""
    attributes: dict[str, Any] = field(default_factory=dict)

    @property
    def unjudgeable(self) -> str:
        """Why no judge can label this hit (e.g. its document is not in the catalog), or "" when one can."""
        return str(self.attributes.get(UNJUDGEABLE, "") or "")

    def judged_fields(self) -> dict[str, Any]:
        """The fields that change a judgment (rank and score do not)."""
        data = self.to_json()
        for key in ("rank", "score"):
            data.pop(key)
        return data

    def to_json(self) -> dict[str, Any]:
        """The fields as a dict (what `asdict` gives, without its recursive deep copy: attributes are copied one
        level down, and their values are JSON scalars or lists)."""
        data = {name: getattr(self, name) for name in _HIT_FIELDS}
        data["attributes"] = {k: list(v) if isinstance(v, list) else v for k, v in self.attributes.items()}
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Hit":
        return cls(**data)


_HIT_FIELDS = tuple(f.name for f in fields(Hit))
_hit_values = attrgetter(*_HIT_FIELDS)


class PlacedHit(Hit):
    """A decoded hit at one place of a stored list (store.runread.run_hits): its rank and score are its own (slots,
    which attribute lookup finds before the instance dict), its other fields the product's, in one dict shared by
    every place of that product (half the cost of a dict per place over a million places; one dict, one product).
    Read it like any Hit; to change a field, make a new Hit (`dataclasses.replace`) rather than assigning."""

    __slots__ = ("rank", "score")

    def __eq__(self, other: object) -> bool:
        """Equal to any Hit (placed or not) with equal fields, as two Hits are."""
        if not isinstance(other, Hit):
            return NotImplemented
        return _hit_values(self) == _hit_values(other)  # as tuples compare: a field that is itself (NaN) is equal

    __hash__ = None  # type: ignore[assignment]  # mutable like Hit: not hashable


@dataclass(frozen=True)
class Judgment:
    """A label for one (query, hit) pair with the judge's rationale and what it cost."""

    label: str
    rationale: str
    judge_id: str
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    latency_ms: float = 0.0
    details: dict[str, Any] = field(default_factory=dict, compare=False)  # votes, verdicts, image fallback, ...
    # The probability the judge gave its label (label tokens' log-probabilities renormalised over the scheme's
    # names, or the share of agreeing samples / votes); None when the judge gives none.
    confidence: float | None = None
