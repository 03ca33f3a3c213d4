"""Counting a judging run's calls by kind: preflight checks, first attempts, repair turns and retries.

A judging run sets `CALLS` to its counter; the provider layer counts each request it sends into whatever counter
the current task sees (none outside a judging run: guideline writers and other callers count nothing). The
judging loop marks a re-sent pair with `ATTEMPT`, so its first request counts as a retry.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import asdict, dataclass

KINDS = ("preflight", "first", "repair", "retry")


@dataclass
class CallCounts:
    """Requests sent to a provider during one judging run, by kind."""

    preflight: int = 0
    first: int = 0
    repair: int = 0
    retry: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


CALLS: ContextVar[CallCounts | None] = ContextVar("evalharness_calls", default=None)
ATTEMPT: ContextVar[int] = ContextVar("evalharness_attempt", default=0)  # 0 on a pair's first attempt


def count_call(kind: str) -> None:
    """Count one request of this kind in the current judging run (if any)."""
    counts = CALLS.get()
    if counts is not None:
        setattr(counts, kind, getattr(counts, kind) + 1)


def count_send() -> None:
    """Count a pair's opening request: a first attempt, or a retry when the judging loop is re-sending it."""
    count_call("retry" if ATTEMPT.get() else "first")
