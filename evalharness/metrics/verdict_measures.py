"""Attribute metrics from per-requirement verdicts: `AttrMatch(<attribute>)@k`, `ReqMet@k` and `ReqCov@k`.

- `AttrMatch(color)@10`: the share of the top 10 positions holding a hit that is *useful* (its label is relevant
  or substitute: a label anchored there in the project's scheme) **and** meets the query's requirement on colour.
  A wrong product in the right colour does not count, so the measure cannot flatter a list of wrong products: it
  is at most P@k of the useful hits. Like P@k, an empty position or an unjudged hit does not count; `unknown` and a
  hole (below) are not met. Only queries whose guideline has a colour requirement are in its population.
- `ReqMet@10`: over the top 10 positions, the mean share of the query's *must* requirements a hit meets; queries
  without a must requirement have no value.
- `ReqCov@10`: the share of the per-requirement verdicts of the judged top 10 hits that the judge actually gave.
  A verdict `null` (`{"attribute", "value", "verdict": null}`) is a *hole*: the judge labelled the hit but said
  nothing about that requirement. Holes count as not met (as an unjudged hit counts as not relevant in Judged@k)
  and this coverage says how many there were; queries with no judged hit carrying verdicts have no value.

Verdicts and labels come from the same cached judgments of the evaluation's judge, requirements from the
guidelines the store recorded.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

from evalharness.judges.verdicts import hit_meets
from evalharness.models import Requirement
from evalharness.store.verdicts import guideline_requirements, labelled_verdict_pool

Verdicts = Sequence[Mapping[str, Any]]
USEFUL = ("relevant", "substitute")  # the three-level anchors of the labels AttrMatch counts


@dataclass(frozen=True)
class JudgedHit:
    """One judged hit as the attribute measures see it: whether its label is useful, and its verdicts."""

    useful: bool
    verdicts: Verdicts


def attr_match(per_hit: Sequence[JudgedHit | None], requirements: Sequence[Requirement], attribute: str, k: int) -> float | None:
    """AttrMatch(attribute)@k of one query; None when the query has no requirement on the attribute."""
    if not any(r.attribute == attribute for r in requirements):
        return None
    return sum(1 for h in per_hit[:k] if h and h.useful and hit_meets(h.verdicts, attribute)) / k


def req_met(per_hit: Sequence[JudgedHit | None], requirements: Sequence[Requirement], k: int) -> float | None:
    """ReqMet@k of one query; None when the query has no must requirement."""
    musts = {(r.attribute, r.value) for r in requirements if r.importance == "must"}
    if not musts:
        return None
    total = 0.0
    for h in per_hit[:k]:
        if h:
            met = {(v.get("attribute"), v.get("value")) for v in h.verdicts if v.get("verdict") == "met"}
            total += len(musts & met) / len(musts)
    return total / k


def verdict_holes(per_hit: Sequence[JudgedHit | None], k: int) -> tuple[int, int]:
    """(holes, verdicts) over the judged top k hits: how many per-requirement verdicts are null, of how many."""
    given = [v for h in per_hit[:k] if h for v in h.verdicts]
    return sum(1 for v in given if v.get("verdict") is None), len(given)


def req_coverage(per_hit: Sequence[JudgedHit | None], k: int) -> float | None:
    """ReqCov@k of one query: the share of verdicts given (not holes); None when no judged hit has verdicts."""
    holes, total = verdict_holes(per_hit, k)
    return (total - holes) / total if total else None


def _memo_key(judge_id: str, hashes: frozenset[str]) -> tuple[str, str, frozenset[str]]:
    return ("verdicts", judge_id, hashes)


def prime_verdicts(ctx: Any, guideline_hashes: Sequence[str], pool: Mapping[str, Mapping[str, Verdicts]],
                   labels: Mapping[str, Mapping[str, tuple[str, str]]],
                   requirements: Mapping[str, tuple[Requirement, ...]] | None = None) -> None:
    """Give the provider verdicts already read (with the judgment pool and its labels, in one pass) for queries of
    these guidelines; `requirements` (guideline hash -> its requirements) when the caller has them, else they are read
    from the store."""
    hashes = frozenset(guideline_hashes)
    none: Mapping[str, tuple[str, str]] = {}
    labelled = {g: {doc: (labels.get(g, none).get(doc, ("", ""))[0], v) for doc, v in docs.items()}
                for g, docs in pool.items()}
    reqs = guideline_requirements(ctx.store, hashes) if requirements is None else \
        {g: tuple(requirements[g]) for g in hashes if g in requirements}
    ctx.memo[_memo_key(ctx.judge_id, hashes)] = labelled, reqs


def _usefulness(project: Any) -> Any:
    """label -> whether AttrMatch counts it (anchored relevant or substitute in the project's scheme)."""
    from evalharness.labels.schemes import DEFAULT_SCHEME, scheme_named, scheme_of

    scheme = scheme_of(project.config) if project is not None else scheme_named(DEFAULT_SCHEME)
    useful = {d.name for d in scheme.labels if d.anchor in USEFUL}
    return useful.__contains__


def verdicts_per_hit(store: Any, judge_id: str, queries: Sequence[Any], memo: dict[Any, Any] | None = None,
                     depth: int | None = None, project: Any = None
                     ) -> tuple[dict[str, list[JudgedHit | None]], dict[str, tuple[Requirement, ...]]]:
    """query id -> each hit's JudgedHit in rank order (None: unjudged or judged without verdicts), the top `depth`
    hits only when given, and query id -> its guideline's requirements. Labels count as useful by the project's
    scheme (the default scheme without a project). `memo` keeps the reads for the next run of the same guidelines."""
    hashes = frozenset(q.guideline_hash for q in queries)
    memo = {} if memo is None else memo
    key = _memo_key(judge_id, hashes)
    if key not in memo:
        memo[key] = labelled_verdict_pool(store, hashes, judge_id), guideline_requirements(store, hashes)
    pool, reqs = memo[key]
    useful = _usefulness(project)
    none: dict[str, tuple[str, Verdicts]] = {}
    per_hit = {}
    made: dict[int, JudgedHit] = {}  # id of a pool entry (alive in `pool`) -> its JudgedHit
    for q in queries:
        judged = pool.get(q.guideline_hash, none)
        row: list[JudgedHit | None] = []
        for j in map(judged.get, map(_DOC_ID, q.hits[:depth])):
            if j is None:
                row.append(None)
                continue
            hit = made.get(id(j))  # a doc listed by many queries of one guideline, or by both runs: one JudgedHit
            if hit is None:
                hit = made[id(j)] = JudgedHit(useful(j[0]), j[1])
            row.append(hit)
        per_hit[q.id] = row
    return per_hit, {q.id: reqs.get(q.guideline_hash, ()) for q in queries}


_DOC_ID = attrgetter("doc_id")


def verdicts_provider(ctx: Any, queries: Sequence[Any], measures: Sequence[Any]) -> dict[str, Any]:
    """The `verdicts` provider of the measure registry: each query's per-hit verdicts (from the judge of the
    evaluation) with its guideline's requirements as query-level information."""
    from evalharness.metrics.measures import QueryHits

    depth = max((m.k for m in measures), default=None)  # a measure reads only its top k
    per_hit, requirements = verdicts_per_hit(ctx.store, ctx.judge_id, queries, ctx.memo, depth, ctx.project)
    return {qid: QueryHits(values, requirements[qid]) for qid, values in per_hit.items()}


def compute_attr_match(per_hit: Sequence[Any], measure: Any, requirements: Sequence[Requirement]) -> float:
    """AttrMatch(attribute)@k for the registry; NaN outside the population (no requirement on the attribute)."""
    value = attr_match(per_hit, requirements, measure.arg, measure.k)
    return math.nan if value is None else value


def compute_req_met(per_hit: Sequence[Any], measure: Any, requirements: Sequence[Requirement]) -> float:
    """ReqMet@k for the registry; NaN outside the population (no must requirement)."""
    value = req_met(per_hit, requirements, measure.k)
    return math.nan if value is None else value


def compute_req_coverage(per_hit: Sequence[Any], measure: Any, requirements: Sequence[Requirement]) -> float:
    """ReqCov@k for the registry; NaN when no judged hit of the top k has verdicts."""
    value = req_coverage(per_hit, measure.k)
    return math.nan if value is None else value
