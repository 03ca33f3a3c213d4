"""The Check protocol: a rule over one query's result list that needs no LLM, and what it finds."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from evalharness.models import Hit, Requirement


@dataclass(frozen=True)
class CheckContext:
    """One query's top-k list as a check sees it."""

    query_id: str
    query: str
    hits: Sequence[Hit]
    requirements: Sequence[Requirement]
    k: int
    labels: Mapping[str, str] = field(default_factory=dict)  # doc_id -> the judge's label, where judged


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem a check found: on a hit (doc_id, rank) or on the whole list (doc_id '')."""

    check: str
    query_id: str
    detail: str
    doc_id: str = ""
    rank: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"check": self.check, "query_id": self.query_id, "doc_id": self.doc_id, "rank": self.rank,
                "detail": self.detail}


@runtime_checkable
class Check(Protocol):
    """A named rule: `run(ctx)` returns its findings for one list (an empty list when all is well).

    Optionally `run_all(contexts)` returns, for many lists at once, one findings list per context (checks/batch.py)."""

    name: str
    description: str

    def run(self, ctx: CheckContext) -> list[Finding]: ...
