"""Which pairs people rate: a stratified, disagreement-weighted sample with known inclusion probabilities.

The pool is every (query, product) pair of one or more stored runs, with every label any judge gave it.
Each pair gets a selection size: `disagree` when judges gave it different labels or an ensemble's votes split,
`boundary` when a judge put it on a middle label of the scheme (or reported low confidence), else `agree`;
the design's multipliers (default 4 / 2 / 1) turn that class into the size.

Strata are segment x query type. The sample size is allocated to strata in proportion to their total size
(largest remainder, at least one per stratum while the sample allows), and within a stratum pairs are drawn
by systematic probability-proportional-to-size sampling over a random order (Madow's method), which gives
every pair the exact inclusion probability pi = n_h * size / S_h (capped at 1, the excess spread over the
rest). The sampling weight 1/pi is stored with each pair, so agreement measured on the sample estimates the
agreement on the whole pool without the bias the oversampling of hard pairs would otherwise bring.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from evalharness.compare.runs import judge_spec_of
from evalharness.errors import EvalHarnessError
from evalharness.guidelines.querytypes import classify
from evalharness.store.db import Store, StoredQuery
from evalharness.store.tables import judgments_t
from evalharness.store.verdicts import guideline_requirements
from evalharness.textnorm import normalize_query

DEFAULT_MULTIPLIERS = {"disagree": 4.0, "boundary": 2.0, "agree": 1.0}
LOW_CONFIDENCE = 0.6


@dataclass
class PoolPair:
    """One candidate pair with what the judges said about it."""

    query: str
    query_key: str
    doc_id: str
    segment: str
    query_type: str
    guideline_hash: str
    content_hash: str
    hit: dict[str, Any]
    judge_labels: dict[str, str] = field(default_factory=dict)
    split_vote: bool = False
    low_confidence: bool = False

    @property
    def stratum(self) -> str:
        return f"{self.segment or '-'}|{self.query_type or '-'}"


@dataclass(frozen=True)
class Drawn:
    """A sampled pair with its design values."""

    pair: PoolPair
    reason: str
    size: float
    inclusion_prob: float

    @property
    def weight(self) -> float:
        return 1.0 / self.inclusion_prob


def _votes_split(details: dict[str, Any]) -> bool:
    """Whether an ensemble's stored votes disagree (a list of labels, or a label -> count mapping)."""
    votes = details.get("votes")
    if isinstance(votes, dict):
        return sum(1 for n in votes.values() if isinstance(n, (int, float)) and n > 0) > 1
    if isinstance(votes, list):
        labels = {v.get("label") if isinstance(v, dict) else v for v in votes}
        labels.discard(None)
        return len(labels) > 1
    return False


def pool_from_runs(store: Store, queries_by_run: Iterable[Sequence[StoredQuery]]) -> list[PoolPair]:
    """Every distinct (query, doc) pair of these stored runs' result lists, with its query type (from the guideline's
    requirements) and all judges' labels for it.

    Reads the guidelines and judgments of these queries only, so the cost follows the runs, not the store.
    """
    runs = [list(queries) for queries in queries_by_run]
    requirements = guideline_requirements(store, [q.guideline_hash for queries in runs for q in queries])
    pairs: dict[tuple[str, str], PoolPair] = {}
    for queries in runs:
        for q in queries:
            key = normalize_query(q.text)
            qtype = classify(q.text, requirements.get(q.guideline_hash, ()), len(q.hits))
            for hit, chash in zip(q.hits, q.content_hashes):
                pairs.setdefault((key, hit.doc_id), PoolPair(q.text, key, hit.doc_id, q.segment, qtype, q.guideline_hash,
                                                             chash, hit.to_json()))
    by_guideline: dict[tuple[str, str], PoolPair] = {(p.guideline_hash, p.doc_id): p for p in pairs.values()}
    hashes = sorted({p.guideline_hash for p in pairs.values()})
    c = judgments_t.c
    with store.engine.connect() as conn:
        for start in range(0, len(hashes), 500):
            stmt = (select(c.guideline_hash, c.doc_id, c.content_hash, c.judge_id, c.label, c.details)
                    .where(c.guideline_hash.in_(hashes[start:start + 500])).order_by(c.created_at))
            for row in conn.execute(stmt):
                pair = by_guideline.get((row.guideline_hash, row.doc_id))
                if pair is None or pair.content_hash != row.content_hash:
                    continue
                pair.judge_labels[judge_spec_of(row.judge_id)] = row.label
                details = row.details if isinstance(row.details, dict) else {}
                pair.split_vote = pair.split_vote or _votes_split(details)
                confidence = details.get("confidence")
                if isinstance(confidence, (int, float)) and confidence < LOW_CONFIDENCE:
                    pair.low_confidence = True
    return list(pairs.values())


def reason_of(pair: PoolPair, middle_labels: set[str]) -> str:
    """disagree | boundary | agree for one pair."""
    if pair.split_vote or len(set(pair.judge_labels.values())) > 1:
        return "disagree"
    if pair.low_confidence or any(label in middle_labels for label in pair.judge_labels.values()):
        return "boundary"
    return "agree"


def allocate(n: int, totals: dict[str, float], counts: dict[str, int]) -> dict[str, int]:
    """Split n over strata in proportion to their total size: at least one each while n allows, never more than a
    stratum holds, largest remainders first."""
    strata = sorted(totals)
    alloc = {h: 0 for h in strata}
    n = min(n, sum(counts.values()))
    if n <= 0:
        return alloc
    if n >= len(strata):
        for h in strata:
            alloc[h] = 1
    remaining = n - sum(alloc.values())
    while remaining > 0:
        open_strata = [h for h in strata if alloc[h] < counts[h]]
        total = sum(totals[h] for h in open_strata)
        shares = {h: remaining * totals[h] / total for h in open_strata}
        floors = {h: min(int(math.floor(shares[h])), counts[h] - alloc[h]) for h in open_strata}
        given = sum(floors.values())
        for h in open_strata:
            alloc[h] += floors[h]
        left = remaining - given
        order = sorted(open_strata, key=lambda h: (-(shares[h] - math.floor(shares[h])), h))
        for h in order:
            if left == 0:
                break
            if alloc[h] < counts[h]:
                alloc[h] += 1
                left -= 1
        remaining = n - sum(alloc.values())
    return alloc


def inclusion_probabilities(n: int, sizes: Sequence[float]) -> list[float]:
    """pi_i = n * s_i / sum(s), capping at 1 and spreading the excess over the others until none exceeds 1."""
    pis = [0.0] * len(sizes)
    free = list(range(len(sizes)))
    need = float(n)
    while free:
        total = sum(sizes[i] for i in free)
        over = [i for i in free if need * sizes[i] / total >= 1.0]
        if not over:
            for i in free:
                pis[i] = need * sizes[i] / total
            break
        for i in over:
            pis[i] = 1.0
        need -= len(over)
        free = [i for i in free if i not in set(over)]
        if need <= 0:
            break
    return pis


def systematic_pps(pis: Sequence[float], rng: random.Random) -> list[int]:
    """Madow's systematic sampling over a random order: unit i is drawn with probability exactly pis[i]."""
    order = list(range(len(pis)))
    rng.shuffle(order)
    start = rng.random()
    chosen, cum, k = [], 0.0, 0
    target = round(sum(pis))
    for pos, i in enumerate(order):
        lo, cum = cum, (cum + pis[i] if pos < len(order) - 1 else float(target))  # the last edge exact despite rounding
        while k < target and lo <= start + k < cum:
            chosen.append(i)
            k += 1
    return chosen


def draw_sample(pool: Sequence[PoolPair], n: int, seed: int, middle_labels: set[str],
                multipliers: dict[str, float] | None = None) -> list[Drawn]:
    """A stratified, size-weighted sample of n pairs with each pair's inclusion probability, in random order."""
    if not pool:
        raise EvalHarnessError("no pairs to sample from: run `evalharness run --engine-config NAME` first, or pick "
                               "another --from")
    mult = {**DEFAULT_MULTIPLIERS, **(multipliers or {})}
    reasons = [reason_of(p, middle_labels) for p in pool]
    sizes = [mult[r] for r in reasons]
    strata: dict[str, list[int]] = {}
    for i, p in enumerate(pool):
        strata.setdefault(p.stratum, []).append(i)
    alloc = allocate(n, {h: sum(sizes[i] for i in idx) for h, idx in strata.items()},
                     {h: len(idx) for h, idx in strata.items()})
    rng = random.Random(seed)
    drawn: list[Drawn] = []
    for h in sorted(strata):
        idx = strata[h]
        pis = inclusion_probabilities(alloc[h], [sizes[i] for i in idx])
        for j in systematic_pps(pis, rng):
            i = idx[j]
            drawn.append(Drawn(pool[i], reasons[i], sizes[i], pis[j]))
    rng.shuffle(drawn)
    return drawn


def draw_queries(pool: Sequence[PoolPair], n: int, seed: int, middle_labels: set[str],
                 multipliers: dict[str, float] | None = None) -> list[Drawn]:
    """A stratified, size-weighted sample of n whole queries: every pair of a drawn query, each carrying the query's
    inclusion probability (a query's size is its largest pair size, so queries with disagreement are oversampled).
    A corrected comparison (compare --correct-with) weighs each such gold query by 1 / that probability."""
    if not pool:
        raise EvalHarnessError("no pairs to sample from: run `evalharness run --engine-config NAME` first, or pick "
                               "another --from")
    mult = {**DEFAULT_MULTIPLIERS, **(multipliers or {})}
    reasons = [reason_of(p, middle_labels) for p in pool]
    by_query: dict[str, list[int]] = {}
    for i, p in enumerate(pool):
        by_query.setdefault(p.query_key, []).append(i)
    size = {k: max(mult[reasons[i]] for i in idx) for k, idx in by_query.items()}
    strata: dict[str, list[str]] = {}
    for k in sorted(by_query):
        strata.setdefault(pool[by_query[k][0]].stratum, []).append(k)
    alloc = allocate(n, {h: sum(size[k] for k in ks) for h, ks in strata.items()}, {h: len(ks) for h, ks in strata.items()})
    rng = random.Random(seed)
    drawn: list[Drawn] = []
    for h in sorted(strata):
        ks = strata[h]
        pis = inclusion_probabilities(alloc[h], [size[k] for k in ks])
        for j in systematic_pps(pis, rng):
            drawn += [Drawn(pool[i], reasons[i], size[ks[j]], pis[j]) for i in by_query[ks[j]]]
    rng.shuffle(drawn)
    return drawn


def assign_raters(n_items: int, raters: Sequence[str], per_pair: int) -> dict[str, list[int]]:
    """Each item to `per_pair` of the raters, rotating so every rater gets the same share (items as 0..n-1)."""
    if per_pair > len(raters):
        raise EvalHarnessError(f"--per-pair {per_pair} needs at least {per_pair} names in --raters (got {len(raters)})")
    out: dict[str, list[int]] = {r: [] for r in raters}
    for item in range(n_items):
        for t in range(per_pair):
            out[raters[(item + t) % len(raters)]].append(item)
    return out


def rater_order(items: Sequence[int], seed: int, rater: str) -> list[int]:
    """A rater's own random order of their items (fixed by the sample's seed and the rater's name)."""
    order = list(items)
    random.Random(f"{seed}:{rater}").shuffle(order)
    return order
