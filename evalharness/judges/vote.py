"""Ensembles and self-consistency: `vote(openai:gpt-4o-mini, gemini:gemini-2.5-flash, anthropic:claude-haiku-4-5)`,
`vote(openai:gpt-4o-mini, n=5)`, or `[judge] spec = "vote"` with `ensemble = [...]`, `tie`, `samples`.

Every member labels the pair; each member's judgment is a normal cached judgment under the member's own judge id
(so adding a member pays only for that member, and a member reused alone costs nothing). The majority wins;
a tie goes to the lowest gain, the highest gain, or a named member (`tie=`). The vote's own judgment stores the
members' votes and the share of agreeing votes (its confidence) in `Judgment.details`.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from evalharness.config import ProjectConfig
from evalharness.errors import EvalHarnessError, JudgeOutputError
from evalharness.judges.base import Judge, JudgeRequest
from evalharness.judges.specs import parse_vote_spec
from evalharness.labels.schemes import LabelScheme, scheme_of
from evalharness.models import Judgment, sha256_hex
from evalharness.store.keys import content_hash, judgment_cache_key

if TYPE_CHECKING:
    from evalharness.store import Store


def member_key(request: JudgeRequest, member: Judge) -> tuple[str, str]:
    """(cache key of a member's judgment of this pair, the pair's content hash)."""
    chash = request.content_hash or content_hash(request.hit, sha256_hex(request.image) if request.image else "")
    return judgment_cache_key(request.query.text, chash, request.guideline.hash, member.judge_id), chash


async def member_judgment(store: Store | None, request: JudgeRequest, member: Judge) -> tuple[Judgment, bool]:
    """A member's judgment from the cache, or a new one stored at once (so a failed ensemble never loses it);
    True when it is new (paid now)."""
    key, chash = member_key(request, member)
    if store is not None:
        cached = store.cached_judgments([key])
        if key in cached:
            return cached[key], False
    j = await member.judge(request)
    if store is not None:
        store.put_judgment(key, request.query.text, request.hit.doc_id, chash, request.guideline.hash, j)
    return j, True


def majority(votes: list[tuple[str, str]], scheme: LabelScheme, tie: str) -> tuple[str, float, bool]:
    """(label, share of votes agreeing with it, whether a tie was broken) from (member spec, label) votes."""
    counts = Counter(label for _, label in votes)
    top = max(counts.values())
    tied = [label for label, c in counts.items() if c == top]
    if len(tied) == 1:
        return tied[0], top / len(votes), False
    if tie == "highest":
        label = max(tied, key=scheme.gain)
    elif tie == "lowest":
        label = min(tied, key=scheme.gain)
    else:
        named = [label for spec, label in votes if spec == tie and label in tied]
        label = named[0] if named else min(tied, key=scheme.gain)
    return label, top / len(votes), True


class VoteJudge(Judge):
    """Majority of member judges; members' judgments cached on their own."""

    def __init__(self, members: list[tuple[str, Judge]], tie: str, n: int, scheme: LabelScheme) -> None:
        self.members, self.tie, self.scheme = members, tie, scheme
        modes = {j.mode for _, j in members}
        if len(modes) > 1:
            raise EvalHarnessError("the members of a vote must share one [judge] mode")
        self.mode = modes.pop()
        self.paid = any(j.paid for _, j in members)
        self.max_concurrency = min(j.max_concurrency for _, j in members)
        specs = list(dict.fromkeys(spec for spec, _ in members))
        options = ([f"n={n}"] if n > 1 else []) + ([f"tie={tie}"] if tie != "lowest" else [])
        digest = sha256_hex("\x00".join([tie, *(j.judge_id for _, j in members)]))[:12]
        self.judge_id = f"vote({', '.join(specs + options)})#{digest}"
        self.store: Store | None = None
        self._unreported: dict[str, tuple[int, int, float]] = {}  # pair -> usage of members stored by a failed vote

    def attach_store(self, store: Store) -> None:
        self.store = store
        for _, j in self.members:
            j.attach_store(store)

    async def preflight(self) -> None:
        for _, j in self.members:
            await j.preflight()

    def check_ready(self) -> None:
        for _, j in self.members:
            j.check_ready()

    def should_retry(self, exc: BaseException) -> bool:
        return any(j.should_retry(exc) for _, j in self.members)

    def estimate_tokens(self, request: JudgeRequest) -> tuple[int, int]:
        ins, outs = zip(*(j.estimate_tokens(request) for _, j in self.members))
        return sum(ins), sum(outs)

    def price_per_mtok(self) -> tuple[float, float]:
        """The members' mean price: `estimate_tokens` sums every member's tokens (members see the same prompt), so
        tokens x mean price is the vote's estimated cost (an upper bound when some members are cached)."""
        prices = [j.price_per_mtok() for _, j in self.members]
        if any(j.paid and p == (0.0, 0.0) for (_, j), p in zip(self.members, prices)):
            return (0.0, 0.0)  # a member without a price: the total is unknown
        return sum(p[0] for p in prices) / len(prices), sum(p[1] for p in prices) / len(prices)

    def _key(self, request: JudgeRequest, member: Judge) -> tuple[str, str]:
        return member_key(request, member)

    async def _member(self, request: JudgeRequest, member: Judge) -> tuple[Judgment, bool]:
        return await member_judgment(self.store, request, member)

    async def judge(self, request: JudgeRequest) -> Judgment:
        results = await asyncio.gather(*(self._member(request, j) for _, j in self.members), return_exceptions=True)
        pair = self._key(request, self)[0]
        used_in, used_out, cost = self._unreported.pop(pair, (0, 0, 0.0))
        for r in results:
            if isinstance(r, tuple) and r[1]:
                used_in, used_out, cost = used_in + r[0].input_tokens, used_out + r[0].output_tokens, cost + r[0].cost_usd
        failed = [(spec, r) for (spec, _), r in zip(self.members, results) if isinstance(r, BaseException)]
        if failed:
            spec, exc = failed[0]
            for _, r in failed:  # a malformed member answer was paid for
                used_in, used_out = used_in + getattr(r, "input_tokens", 0), used_out + getattr(r, "output_tokens", 0)
                cost += getattr(r, "cost_usd", 0.0)
            if isinstance(exc, (JudgeOutputError, EvalHarnessError)) or not self.should_retry(exc):
                if isinstance(exc, EvalHarnessError):
                    raise exc
                out = JudgeOutputError(f"member {spec}: {exc}")
                out.input_tokens, out.output_tokens, out.cost_usd = used_in, used_out, cost
                raise out from None
            self._unreported[pair] = (used_in, used_out, cost)  # retried: members stored now are cached next time
            raise exc
        votes = [(spec, r[0].label) for (spec, _), r in zip(self.members, results) if isinstance(r, tuple)]
        label, confidence, tie_broken = majority(votes, self.scheme, self.tie)
        agree = sum(1 for _, v in votes if v == label)
        why = next(r[0].rationale for r in results if isinstance(r, tuple) and r[0].label == label)
        details: dict[str, Any] = {"votes": [{"member": spec, "judge_id": j.judge_id, "label": v}
                                             for (spec, j), (_, v) in zip(self.members, votes)],
                                   "confidence": round(confidence, 4), "tie_broken": tie_broken}
        return Judgment(label, f"{agree} of {len(votes)} votes: {why}", self.judge_id, used_in, used_out, cost, 0.0, details,
                        round(confidence, 4))

    async def aclose(self) -> None:
        for _, j in self.members:
            await j.aclose()


def make_vote_judge(spec: str, config: ProjectConfig, make_member: Callable[[str, ProjectConfig], Judge]) -> VoteJudge:
    """Build the members (n samples each, each made by `make_member`, the registry's single-judge factory) and the vote."""
    specs, tie, n = parse_vote_spec(spec, config)
    members: list[tuple[str, Judge]] = []
    for member_spec in specs:
        base = make_member(member_spec, config)
        if n == 1:
            members.append((member_spec, base))
        else:
            members.extend((member_spec, base.sampled(i)) for i in range(1, n + 1))
    return VoteJudge(members, tie, n, scheme_of(config))
