"""Is a judge's confidence honest? Its calibration against people, and the cascade threshold it supports.

Reliability table: confidence bins (equal width) against the share of pairs where the judge agrees with the human
label (sklearn's `calibration_curve` gives each bin's accuracy and mean confidence); the expected calibration error
is the bins' |accuracy - confidence| weighted by their share of pairs. The accuracy-coverage curve: at each threshold,
the share of pairs with confidence at or above it and the agreement on those pairs.

`choose_threshold` simulates `cascade(CHEAP, STRONG, min_confidence=t)` on a gold set both members labelled: the
cheap label where its confidence reaches t, the strong label elsewhere; it picks the threshold that sends the fewest
pairs to STRONG while the chosen agreement statistic still meets the target, with a 95 % CI resampling queries.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from sklearn.calibration import calibration_curve

from evalharness.agreement.stats import bootstrap_cis, from_confusion

THRESHOLDS = (0.0, 0.4) + tuple(round(x, 2) for x in np.arange(0.5, 1.0, 0.05)) + (0.99,)


@dataclass(frozen=True)
class ConfidentPair:
    """One gold pair as the calibration sees it: codes 0..n-1 (lowest gain first), the judge's confidence, its cost."""

    query: int
    human: int
    judge: int
    confidence: float | None
    cost_usd: float = 0.0


@dataclass(frozen=True)
class Calibration:
    """A judge's reliability table, expected calibration error and accuracy-coverage curve."""

    pairs: int  # pairs with a confidence
    without: int  # pairs the judge gave no confidence for (left out)
    bins: list[dict[str, float]]  # {lower, upper, pairs, confidence, accuracy}
    ece: float
    coverage: list[dict[str, float]]  # {threshold, share, pairs, accuracy, kappa_quadratic}

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def calibration(pairs: Sequence[ConfidentPair], n_labels: int, n_bins: int = 10) -> Calibration | None:
    """The judge's calibration on the pairs it gave a confidence for; None when it gave none."""
    have = [p for p in pairs if p.confidence is not None]
    if not have:
        return None
    conf = np.array([p.confidence for p in have], dtype=float)
    right = np.array([p.human == p.judge for p in have], dtype=int)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    counts = np.bincount(np.searchsorted(edges[1:-1], conf), minlength=n_bins)  # calibration_curve's bins: (lower, upper]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        acc, mean_conf = calibration_curve(right, conf, n_bins=n_bins, strategy="uniform", pos_label=1)
    filled = [i for i in range(n_bins) if counts[i] > 0]
    bins = [{"lower": float(edges[i]), "upper": float(edges[i + 1]), "pairs": int(counts[i]), "confidence": float(c),
             "accuracy": float(a)} for i, a, c in zip(filled, acc, mean_conf)]
    ece = float(sum(b["pairs"] * abs(b["accuracy"] - b["confidence"]) for b in bins) / len(have))
    coverage = []
    for t in THRESHOLDS:
        kept = [p for p in have if p.confidence >= t]
        if not kept:
            continue
        stats = from_confusion(_confusion([(p.human, p.judge) for p in kept], n_labels))
        coverage.append({"threshold": t, "share": len(kept) / len(have), "pairs": len(kept),
                         "accuracy": float(stats["accuracy"]), "kappa_quadratic": _finite(stats["kappa_quadratic"])})
    return Calibration(len(have), len(pairs) - len(have), bins, ece, coverage)


def _all_same(per_query: np.ndarray, statistic: str, value: float) -> bool:
    """Whether the statistic is `value` for every single query that has it (so every resample gives it too)."""
    each = from_confusion(per_query)[statistic]
    return bool(np.all(np.isclose(each[np.isfinite(each)], value))) and value == 1.0


def _finite(x: Any) -> float | None:
    x = float(x)
    return x if np.isfinite(x) else None


def _confusion(codes: Sequence[tuple[int, int]], n_labels: int) -> np.ndarray:
    c = np.zeros((n_labels, n_labels))
    for h, j in codes:
        c[h, j] += 1
    return c


@dataclass(frozen=True)
class ThresholdChoice:
    """The cheapest cascade threshold that meets the target on the gold set, and every threshold tried."""

    statistic: str
    target: float
    threshold: float | None  # None: no threshold meets the target (not even STRONG alone)
    value: float | None
    ci95: tuple[float, float] | None
    escalated_share: float | None
    cost_usd: float | None  # the cascade's cost on the gold set at the threshold
    strong_alone_usd: float
    pairs: int
    queries: int
    curve: list[dict[str, Any]]  # {threshold, escalated_share, <statistic>, cost_usd}

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["ci95"] = list(self.ci95) if self.ci95 else None
        return data


def choose_threshold(cheap: Sequence[ConfidentPair], strong: Sequence[ConfidentPair], n_labels: int, statistic: str,
                     target: float, n_resamples: int = 2000) -> ThresholdChoice:
    """`cheap` and `strong` are the same gold pairs in the same order (each member's label, confidence and cost)."""
    seen = sorted({p.confidence for p in cheap if p.confidence is not None})
    # thresholds between consecutive confidences (so a printed, rounded threshold splits the pairs the same way)
    candidates = [0.0, *(round((a + b) / 2, 6) for a, b in zip(seen, seen[1:])), *([1.0] if seen and seen[-1] < 1.0 else [])]
    strong_alone = float(sum(p.cost_usd for p in strong))
    curve, best = [], None
    for t in candidates:
        up = [c.confidence is None or c.confidence < t for c in cheap]
        labels = [(s.human, s.judge) if e else (c.human, c.judge) for c, s, e in zip(cheap, strong, up)]
        value = _finite(from_confusion(_confusion(labels, n_labels))[statistic])
        cost = float(sum(c.cost_usd for c in cheap) + sum(s.cost_usd for s, e in zip(strong, up) if e))
        share = sum(up) / len(up)
        curve.append({"threshold": round(t, 6), "escalated_share": share, statistic: value, "cost_usd": cost})
        if value is not None and value >= target and (best is None or (share, cost) < (best[1], best[2])):
            best = (t, share, cost, value, up)
    queries = len({p.query for p in cheap})
    if best is None:
        return ThresholdChoice(statistic, target, None, None, None, None, None, strong_alone, len(cheap), queries, curve)
    t, share, cost, value, up = best
    per_query = np.zeros((max(p.query for p in cheap) + 1, n_labels, n_labels))
    for c, s, e in zip(cheap, strong, up):
        per_query[c.query, s.human, s.judge if e else c.judge] += 1
    per_query = per_query[per_query.sum(axis=(1, 2)) > 0]
    ci = bootstrap_cis(per_query, n_resamples).get(statistic)
    if ci is None and len(per_query) > 1 and _all_same(per_query, statistic, value):
        ci = (value, value)  # every query agrees alike (e.g. perfect agreement): the resamples cannot differ
    return ThresholdChoice(statistic, target, round(t, 6), value, ci, share, cost, strong_alone, len(cheap), queries, curve)
