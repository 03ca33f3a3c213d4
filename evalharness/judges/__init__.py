"""Judges: label each (query, hit) pair irrelevant / substitute / relevant with a rationale."""

from evalharness.judges.base import Judge, JudgeRequest, make_judge

__all__ = ["Judge", "JudgeRequest", "make_judge"]
