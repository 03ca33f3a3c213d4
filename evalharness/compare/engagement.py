"""Engagement beside relevance: a comparison's ranked lists scored on a behaviour source (`compare --behaviour`).

For each compared config, over each query's first k hits:
- coverage: the share of hits the source has enough impressions for (a labelled pair); the holes are reported,
  never filled;
- nDCG'@k on implicit grades: nDCG over the condensed list (hits without a behaviour label removed, Sakai 2007),
  the ideal ranking from every pair of the query the source labelled; gains are the project's label gains;
- ExpClicks@k: expected clicks under the source's position-based model, the sum over covered hits of
  examination(position) x attractiveness, at each hit's own position; with holes it is a lower bound, so it is
  reported with the share of queries whose first k hits are all covered.
Means are over the queries with at least one covered hit (their number is given).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class SideEngagement:
    """One config's engagement measures."""

    name: str
    hits: int
    covered: int
    queries_covered: int
    queries_full: int
    ndcg: float | None
    exp_clicks: float | None

    @property
    def coverage(self) -> float:
        return self.covered / self.hits if self.hits else 0.0

    def to_json(self) -> dict[str, Any]:
        return {"config": self.name, "hits": self.hits, "covered_hits": self.covered, "coverage": self.coverage,
                "queries_with_coverage": self.queries_covered, "queries_fully_covered": self.queries_full,
                "ndcg_condensed": self.ndcg, "expected_clicks": self.exp_clicks}


@dataclass(frozen=True)
class Engagement:
    """Every side's engagement on one behaviour source."""

    source: str
    k: int
    queries: int
    sides: list[SideEngagement]

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "k": self.k, "queries": self.queries, "configs": [s.to_json() for s in self.sides],
                "note": "nDCG' on the condensed list (hits without enough impressions removed); expected clicks over covered "
                        "hits only (a lower bound where coverage < 100%); means over queries with at least one covered hit"}


def _dcg(gains: Sequence[float]) -> float:
    return float(sum(g / np.log2(i + 2) for i, g in enumerate(gains)))


def side_engagement(name: str, lists: Sequence[Sequence[str]], query_keys: Sequence[str], labels: Mapping[tuple[str, str], str],
                    alphas: Mapping[tuple[str, str], float], gains: Mapping[str, int], theta: Sequence[float], k: int) -> SideEngagement:
    """Engagement of one config's lists (aligned with query_keys)."""
    hits = covered = q_cov = q_full = 0
    ndcgs, clicks = [], []
    by_query: dict[str, list[int]] = {}
    for (qkey, _), label in labels.items():
        by_query.setdefault(qkey, []).append(gains[label])
    for docs, qkey in zip(lists, query_keys):
        top = list(docs[:k])
        hits += len(top)
        here = [d for d in top if (qkey, d) in labels]
        covered += len(here)
        if not here:
            continue
        q_cov += 1
        q_full += len(here) == len(top)
        ideal = _dcg(sorted(by_query.get(qkey, []), reverse=True)[:k])
        ndcgs.append(_dcg([gains[labels[(qkey, d)]] for d in here]) / ideal if ideal > 0 else 0.0)
        clicks.append(sum(theta[i] * alphas.get((qkey, d), 0.0) for i, d in enumerate(top) if i < len(theta) and (qkey, d) in labels))
    return SideEngagement(name, hits, covered, q_cov, q_full, float(np.mean(ndcgs)) if ndcgs else None,
                          float(np.mean(clicks)) if clicks else None)


def comparison_engagement(store: Any, source: str, comparison: Any, gains: Mapping[str, int], k: int) -> Engagement:
    """Engagement of every side of a Comparison on a stored behaviour source."""
    from evalharness.store.behaviour import behaviour_model, check_behaviour_source, evidence_for
    from evalharness.textnorm import normalize_query

    check_behaviour_source(source)
    model = behaviour_model(store, source)
    texts = [q.text for q in comparison.queries]
    evidence = evidence_for(store, source, texts)
    labels = {key: row["label"] for key, row in evidence.items() if row["label"] is not None}
    alphas = {key: row["pbm"] for key, row in evidence.items() if row["label"] is not None and row["pbm"] is not None}
    keys = [normalize_query(t) for t in texts]
    sides = [side_engagement(s.name, s.doc_ids, keys, labels, alphas, gains, model["theta"], k) for s in comparison.sides]
    return Engagement(source, k, len(texts), sides)
