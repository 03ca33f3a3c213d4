"""Agreement between people: Fleiss' kappa, Krippendorff's alpha, pairwise Cohen's kappa, and the gold label.

The input is one row per rated pair: the labels each rater gave and the pair's sampling weight (1 / its
inclusion probability in the rating sample, see evalharness.rating.sampling). Statistics come from maintained
libraries: statsmodels' `fleiss_kappa`, the `krippendorff` package, sklearn's `cohen_kappa_score` (whose
`sample_weight` gives the design-weighted kappa). The one formula written here is the weighted form of Fleiss'
kappa (each pair's agreement and the category shares averaged with the sampling weights), which statsmodels
does not offer; with integer weights it equals statsmodels on the table with each row repeated weight times.

The gold label of a pair is the majority of its raters' labels; a tie goes to the tied label with the lower
gain ("lower", the cautious default), the higher one ("higher"), or leaves the pair without gold ("none").
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from evalharness.errors import EvalHarnessError

TIE_RULES = ("lower", "higher", "none")


@dataclass(frozen=True)
class RatedPair:
    """One pair's labels by rater, its sampling weight and the judges' labels for it."""

    query: str
    doc_id: str
    ratings: dict[str, str]
    weight: float = 1.0
    judge_labels: dict[str, str] = field(default_factory=dict)


def _nan_to_none(value: float) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


def count_table(pairs: Sequence[RatedPair], labels: Sequence[str]) -> np.ndarray:
    """pairs x categories: how many raters gave each label."""
    index = {name: j for j, name in enumerate(labels)}
    table = np.zeros((len(pairs), len(labels)), dtype=float)
    for i, p in enumerate(pairs):
        for label in p.ratings.values():
            table[i, index[label]] += 1
    return table


def fleiss_weighted(table: np.ndarray, weights: Sequence[float]) -> float:
    """Fleiss' kappa with every row's agreement and the category shares averaged with these weights."""
    w = np.asarray(weights, dtype=float)
    n = table.sum(axis=1)
    if len(set(n.tolist())) != 1 or n[0] < 2:
        raise ValueError("Fleiss' kappa needs the same number (>= 2) of ratings on every pair")
    m = n[0]
    p_i = (np.square(table).sum(axis=1) - m) / (m * (m - 1))
    p_bar = float(np.sum(w * p_i) / w.sum())
    p_j = (w[:, None] * table).sum(axis=0) / (m * w.sum())
    p_e = float(np.sum(np.square(p_j)))
    return float("nan") if p_e == 1.0 else (p_bar - p_e) / (1 - p_e)


def gold_label(ratings: Sequence[str], gains: dict[str, float], tie: str = "lower") -> str | None:
    """The majority label; ties resolved by the tie rule (lower gain, higher gain, or no gold)."""
    if tie not in TIE_RULES:
        raise EvalHarnessError(f"--tie {tie!r} is not a tie rule; use one of: {', '.join(TIE_RULES)}")
    if not ratings:
        return None
    counts = Counter(ratings)
    top = max(counts.values())
    tied = [label for label, n in counts.items() if n == top]
    if len(tied) == 1:
        return tied[0]
    if tie == "none":
        return None
    ordered = sorted(tied, key=lambda label: (gains[label], label))
    return ordered[0] if tie == "lower" else ordered[-1]


def _kappa(a: Sequence[str], b: Sequence[str], labels: Sequence[str], weights: Sequence[float] | None) -> float | None:
    from sklearn.metrics import cohen_kappa_score

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # one category only: kappa is undefined (nan -> None)
        return _nan_to_none(cohen_kappa_score(list(a), list(b), labels=list(labels), sample_weight=weights))


def _share(hits: Sequence[bool], weights: Sequence[float]) -> float:
    w = np.asarray(weights, dtype=float)
    return float(np.sum(w * np.asarray(hits, dtype=float)) / w.sum())


@dataclass
class RaterAgreement:
    """Inter-rater agreement over a set of rated pairs, with the gold labels and judge-vs-gold figures."""

    raters: list[str]
    labels: list[str]
    pairs: int
    multi_rated: int
    fleiss: dict[str, Any]
    alpha: dict[str, Any]
    pairwise: list[dict[str, Any]]
    gold: dict[tuple[str, str], str]
    gold_ties: int
    judges: list[dict[str, Any]]

    def to_json(self) -> dict[str, Any]:
        return {"raters": self.raters, "labels": self.labels, "pairs": self.pairs, "multi_rated": self.multi_rated,
                "fleiss": self.fleiss, "krippendorff_alpha": self.alpha, "pairwise": self.pairwise,
                "gold": {"pairs": len(self.gold), "ties_unresolved_or_broken": self.gold_ties,
                         "distribution": dict(Counter(self.gold.values()))},
                "judges_vs_gold": self.judges}


def _fleiss(multi: Sequence[RatedPair], labels: Sequence[str]) -> dict[str, Any]:
    """Fleiss' kappa over the pairs that carry the most common number of ratings (it needs one number)."""
    from statsmodels.stats.inter_rater import fleiss_kappa

    counts = Counter(len(p.ratings) for p in multi)
    if not counts:
        return {"kappa": None, "kappa_weighted": None, "pairs": 0, "raters_per_pair": 0}
    m = max(counts, key=lambda k: (counts[k], k))
    rows = [p for p in multi if len(p.ratings) == m]
    table = count_table(rows, labels)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        kappa = _nan_to_none(fleiss_kappa(table, method="fleiss"))
        weighted = _nan_to_none(fleiss_weighted(table, [p.weight for p in rows]))
    return {"kappa": kappa, "kappa_weighted": weighted, "pairs": len(rows), "raters_per_pair": m}


def _alpha(multi: Sequence[RatedPair], raters: Sequence[str], labels: Sequence[str]) -> dict[str, Any]:
    """Krippendorff's alpha, nominal and ordinal (labels ranked by gain), missing ratings allowed."""
    import krippendorff

    if not multi:
        return {"nominal": None, "ordinal": None, "pairs": 0}
    rank = {name: float(j) for j, name in enumerate(labels)}
    data = np.full((len(raters), len(multi)), np.nan)
    for u, p in enumerate(multi):
        for r, rater in enumerate(raters):
            if rater in p.ratings:
                data[r, u] = rank[p.ratings[rater]]
    out: dict[str, Any] = {"pairs": len(multi)}
    values = np.arange(len(labels), dtype=float)
    for level in ("nominal", "ordinal"):
        if len(set(data[~np.isnan(data)].tolist())) < 2:
            out[level] = None  # one value only: alpha is undefined
            continue
        out[level] = _nan_to_none(krippendorff.alpha(reliability_data=data, level_of_measurement=level, value_domain=values))
    return out


def check_raters(raters: Sequence[str], tie: str) -> None:
    """At least two distinct raters and a known tie rule."""
    if len(set(raters)) < 2:
        raise EvalHarnessError("--raters needs at least two names, e.g. --raters ann,bob")
    if tie not in TIE_RULES:
        raise EvalHarnessError(f"--tie {tie!r} is not a tie rule; use one of: {', '.join(TIE_RULES)}")


def rater_agreement(rated: Sequence[RatedPair], raters: Sequence[str], labels: Sequence[str],
                    gains: dict[str, float], tie: str = "lower") -> RaterAgreement:
    """Every figure `agreement --raters` shows. `labels` lists the scheme's labels by increasing gain."""
    check_raters(raters, tie)
    unknown = {label for p in rated for label in p.ratings.values()} - set(labels)
    if unknown:
        raise EvalHarnessError(f"labels {', '.join(sorted(unknown))} are not in the project's label scheme "
                               f"({', '.join(labels)}); relabel them or change the scheme")
    rated = [RatedPair(p.query, p.doc_id, {r: p.ratings[r] for r in raters if r in p.ratings}, p.weight, p.judge_labels)
             for p in rated]
    rated = [p for p in rated if p.ratings]
    multi = [p for p in rated if len(p.ratings) >= 2]
    pairwise = []
    for a, b in itertools.combinations(raters, 2):
        both = [p for p in rated if a in p.ratings and b in p.ratings]
        entry: dict[str, Any] = {"a": a, "b": b, "pairs": len(both), "agreement": None, "agreement_weighted": None,
                                 "kappa": None, "kappa_weighted": None}
        if both:
            la, lb, w = [p.ratings[a] for p in both], [p.ratings[b] for p in both], [p.weight for p in both]
            same = [x == y for x, y in zip(la, lb)]
            entry.update(agreement=_share(same, [1.0] * len(same)), agreement_weighted=_share(same, w),
                         kappa=_kappa(la, lb, labels, None), kappa_weighted=_kappa(la, lb, labels, w))
        pairwise.append(entry)
    gold: dict[tuple[str, str], str] = {}
    ties = 0
    for p in rated:
        counts = Counter(p.ratings.values())
        if len(counts) > 1 and list(counts.values()).count(max(counts.values())) > 1:
            ties += 1
        label = gold_label(list(p.ratings.values()), gains, tie)
        if label is not None:
            gold[(p.query, p.doc_id)] = label
    judges = _judges_vs_gold(rated, gold, labels)
    return RaterAgreement(list(raters), list(labels), len(rated), len(multi), _fleiss(multi, labels),
                          _alpha(multi, raters, labels), pairwise, gold, ties, judges)


def _judges_vs_gold(rated: Sequence[RatedPair], gold: dict[tuple[str, str], str], labels: Sequence[str]) -> list[dict[str, Any]]:
    """Each judge's accuracy and Cohen's kappa against the gold labels, plain and design-weighted."""
    specs = sorted({spec for p in rated for spec in p.judge_labels})
    out = []
    for spec in specs:
        rows = [(gold[(p.query, p.doc_id)], p.judge_labels[spec], p.weight) for p in rated
                if (p.query, p.doc_id) in gold and spec in p.judge_labels and p.judge_labels[spec] in labels]
        if not rows:
            continue
        g, j, w = zip(*rows)
        same = [x == y for x, y in zip(g, j)]
        out.append({"judge": spec, "pairs": len(rows), "accuracy": _share(same, [1.0] * len(same)),
                    "accuracy_weighted": _share(same, w), "kappa": _kappa(g, j, labels, None),
                    "kappa_weighted": _kappa(g, j, labels, w)})
    return out
