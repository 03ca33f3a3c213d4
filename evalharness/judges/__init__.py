"""Judges: label each (query, hit) pair irrelevant / substitute / relevant with a rationale."""

from evalharness.judges.base import Judge, JudgeRequest
from evalharness.judges.registry import make_judge

__all__ = ["Judge", "JudgeRequest", "make_judge"]
