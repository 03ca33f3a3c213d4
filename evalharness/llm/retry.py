"""Backoff for transient provider errors: Retry-After when the server gave one, else jittered exponential."""

from __future__ import annotations

import random


def retry_delay(exc: BaseException, attempt: int) -> float:
    """Seconds to wait before attempt `attempt + 1` (Retry-After capped at 60 s; else 0.25 * 2**attempt, jittered)."""
    retry_after = getattr(exc, "retry_after", None)
    if isinstance(retry_after, (int, float)) and retry_after >= 0:
        return min(float(retry_after), 60.0) + random.uniform(0, 0.1)
    return min(0.25 * (2 ** attempt), 20.0) * random.uniform(0.5, 1.5)
