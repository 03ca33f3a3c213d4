"""What the judge calls of a dry run would cost: each paid call's estimated tokens at its own model's price.

A single judge prices every uncached pair; an ensemble (`vote(...)`) prices each paid member over the pairs that
member has not judged yet (its own cache), so a member reused from an earlier run costs nothing and a free member
(`offline`) is never counted.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from evalharness.judges.base import Judge, JudgeRequest

if TYPE_CHECKING:
    from evalharness.pipeline.judging import Pair
    from evalharness.store import Store


@dataclass
class CallEstimate:
    """Estimated judge calls, tokens and cost."""

    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0

    def add(self, judge: Judge, request: JudgeRequest, price: tuple[float, float] | None) -> None:
        """One call of `judge` for `request`: at `price` per million tokens, or (None) at the judge's own estimate."""
        tokens_in, tokens_out = judge.estimate_tokens(request)
        self.calls += 1
        self.input_tokens += tokens_in
        self.output_tokens += tokens_out
        self.cost_usd += judge.estimate_cost(request) if price is None else (tokens_in * price[0] + tokens_out * price[1]) / 1e6


def estimate_calls(store: Store, judge: Judge, todo: Sequence[Pair],
                   price: Callable[[Judge], tuple[float, float]] | None = None) -> CallEstimate:
    """The calls judging `todo` (pairs not cached for `judge`) would send; `price(judge)` gives a judge's price per
    million tokens (default: the judge's own estimate of each call, `Judge.estimate_cost`)."""
    est = CallEstimate()
    member_keys = getattr(judge, "member_keys", None)
    if member_keys is None:
        p = price(judge) if price else None
        for pair in todo:
            est.add(judge, pair.request, p)
        return est
    calls = [(key, member, pair.request) for pair in todo for key, member in member_keys(pair.request)]
    cached = store.judged_keys([key for key, _, _ in calls])
    prices: dict[int, tuple[float, float] | None] = {}
    for key, member, request in calls:
        if key not in cached:
            if id(member) not in prices:
                prices[id(member)] = price(member) if price else None
            est.add(member, request, prices[id(member)])
    return est
