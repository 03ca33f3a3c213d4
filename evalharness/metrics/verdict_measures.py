"""Attribute metrics from per-requirement verdicts: `AttrMatch(<attribute>)@k` and `ReqMet@k`.

- `AttrMatch(color)@10`: the share of the top 10 positions holding a hit that meets the query's requirement on
  colour (like P@k, an empty position or an unjudged hit does not meet it; `unknown` does not either). Only
  queries whose guideline has a colour requirement are in its population; the others have no value.
- `ReqMet@10`: over the top 10 positions, the mean share of the query's *must* requirements a hit meets; queries
  without a must requirement have no value.

Verdicts come from the judgment pool of the evaluation's judge (the same cached answers that give the labels),
requirements from the guidelines the store recorded.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from evalharness.judges.verdicts import hit_meets
from evalharness.models import Requirement
from evalharness.store.verdicts import guideline_requirements, verdict_pool

Verdicts = Sequence[Mapping[str, str]]


def attr_match(per_hit: Sequence[Verdicts | None], requirements: Sequence[Requirement], attribute: str, k: int) -> float | None:
    """AttrMatch(attribute)@k of one query; None when the query has no requirement on the attribute."""
    if not any(r.attribute == attribute for r in requirements):
        return None
    return sum(1 for v in per_hit[:k] if v and hit_meets(v, attribute)) / k


def req_met(per_hit: Sequence[Verdicts | None], requirements: Sequence[Requirement], k: int) -> float | None:
    """ReqMet@k of one query; None when the query has no must requirement."""
    musts = {(r.attribute, r.value) for r in requirements if r.importance == "must"}
    if not musts:
        return None
    total = 0.0
    for verdicts in per_hit[:k]:
        if verdicts:
            met = {(v.get("attribute"), v.get("value")) for v in verdicts if v.get("verdict") == "met"}
            total += len(musts & met) / len(musts)
    return total / k


def _memo_key(judge_id: str, hashes: frozenset[str]) -> tuple[str, str, frozenset[str]]:
    return ("verdicts", judge_id, hashes)


def prime_verdicts(ctx: Any, guideline_hashes: Sequence[str], pool: dict[str, dict[str, list[dict[str, str]]]]) -> None:
    """Give the provider verdicts already read (with the judgment pool, in one pass) for queries of these guidelines."""
    hashes = frozenset(guideline_hashes)
    ctx.memo[_memo_key(ctx.judge_id, hashes)] = pool, guideline_requirements(ctx.store, hashes)


def verdicts_per_hit(store: Any, judge_id: str, queries: Sequence[Any], memo: dict[Any, Any] | None = None,
                     depth: int | None = None) -> tuple[dict[str, list[Verdicts | None]], dict[str, tuple[Requirement, ...]]]:
    """query id -> each hit's verdicts in rank order (None: unjudged or judged without verdicts), the top `depth`
    hits only when given, and query id -> its guideline's requirements. `memo` keeps the reads for the next run
    of the same guidelines."""
    hashes = frozenset(q.guideline_hash for q in queries)
    memo = {} if memo is None else memo
    key = _memo_key(judge_id, hashes)
    if key not in memo:
        memo[key] = verdict_pool(store, hashes, judge_id), guideline_requirements(store, hashes)
    pool, reqs = memo[key]
    none: dict[str, list[dict[str, str]]] = {}
    per_hit = {}
    for q in queries:
        verdicts = pool.get(q.guideline_hash, none)
        per_hit[q.id] = [verdicts.get(h.doc_id) for h in q.hits[:depth]]
    return per_hit, {q.id: reqs.get(q.guideline_hash, ()) for q in queries}


def verdicts_provider(ctx: Any, queries: Sequence[Any], measures: Sequence[Any]) -> dict[str, Any]:
    """The `verdicts` provider of the measure registry: each query's per-hit verdicts (from the judge of the
    evaluation) with its guideline's requirements as query-level information."""
    from evalharness.metrics.measures import QueryHits

    depth = max((m.k for m in measures), default=None)  # a measure reads only its top k
    per_hit, requirements = verdicts_per_hit(ctx.store, ctx.judge_id, queries, ctx.memo, depth)
    return {qid: QueryHits(values, requirements[qid]) for qid, values in per_hit.items()}


def compute_attr_match(per_hit: Sequence[Any], measure: Any, requirements: Sequence[Requirement]) -> float:
    """AttrMatch(attribute)@k for the registry; NaN outside the population (no requirement on the attribute)."""
    value = attr_match(per_hit, requirements, measure.arg, measure.k)
    return math.nan if value is None else value


def compute_req_met(per_hit: Sequence[Any], measure: Any, requirements: Sequence[Requirement]) -> float:
    """ReqMet@k for the registry; NaN outside the population (no must requirement)."""
    value = req_met(per_hit, requirements, measure.k)
    return math.nan if value is None else value
