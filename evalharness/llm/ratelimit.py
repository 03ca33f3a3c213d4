"""Requests-per-minute and tokens-per-minute limits as async token buckets."""

from __future__ import annotations

import asyncio
import time


class TokenBucket:
    """Capacity `per_minute`, refilled continuously; `acquire(n)` waits until n units are available."""

    def __init__(self, per_minute: int) -> None:
        self.capacity = float(per_minute)
        self.tokens = float(per_minute)
        self.rate = per_minute / 60.0
        self.updated = time.monotonic()
        self.lock = asyncio.Lock()

    async def acquire(self, n: float = 1.0) -> None:
        n = min(n, self.capacity)
        async with self.lock:
            while True:
                now = time.monotonic()
                self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
                self.updated = now
                if self.tokens >= n:
                    self.tokens -= n
                    return
                await asyncio.sleep((n - self.tokens) / self.rate)


class RateLimiter:
    """Both limits (0 = unlimited)."""

    def __init__(self, requests_per_minute: int = 0, tokens_per_minute: int = 0) -> None:
        self.requests = TokenBucket(requests_per_minute) if requests_per_minute else None
        self.tokens = TokenBucket(tokens_per_minute) if tokens_per_minute else None

    async def acquire(self, tokens: int) -> None:
        if self.requests:
            await self.requests.acquire(1)
        if self.tokens:
            await self.tokens.acquire(tokens)
