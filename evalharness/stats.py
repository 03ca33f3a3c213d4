"""Paired statistics for comparing two systems over the same queries (scipy), Holm correction, list overlap."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

N_RESAMPLES = 10_000
TIE_TOLERANCE = 1e-12


@dataclass(frozen=True)
class PairedTest:
    """Paired difference (candidate - baseline) of one metric over queries."""

    n: int
    mean_base: float
    mean_cand: float
    delta: float
    rel_delta: float | None
    ci_low: float
    ci_high: float
    p_ttest: float
    p_randomization: float
    wins: int
    ties: int
    losses: int


def _mean_diff(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(y - x, axis=axis)


def paired_test(base: Sequence[float], cand: Sequence[float], seed: int = 0, confidence: float = 0.95) -> PairedTest:
    """Bootstrap CI of the mean paired difference, paired t-test and paired randomization test p-values."""
    x = np.asarray(base, dtype=float)
    y = np.asarray(cand, dtype=float)
    if x.shape != y.shape or x.size == 0:
        raise ValueError("paired_test needs two non-empty samples of the same length")
    d = y - x
    delta = float(d.mean())
    mean_base = float(x.mean())
    rel = delta / mean_base if mean_base else None
    wins = int((d > TIE_TOLERANCE).sum())
    losses = int((d < -TIE_TOLERANCE).sum())
    ties = int(d.size - wins - losses)
    if d.size < 2 or np.allclose(d, d[0]):
        # Constant differences: every bootstrap resample has the same mean. All zero: nothing to reject.
        # A constant non-zero shift: the t statistic is infinite (p=0) and the exact randomization p-value
        # is 2 / 2**n (only the two all-same-sign assignments are as extreme).
        if delta == 0 or d.size < 2:
            p_t = p_r = 1.0
        else:
            p_t, p_r = 0.0, float(2.0 ** (1 - d.size))
        return PairedTest(int(d.size), mean_base, float(y.mean()), delta, rel, delta, delta, p_t, p_r, wins, ties, losses)
    boot = stats.bootstrap((d,), np.mean, n_resamples=N_RESAMPLES, confidence_level=confidence, method="percentile",
                           vectorized=True, rng=np.random.default_rng(seed))
    t = stats.ttest_rel(y, x)
    perm = stats.permutation_test((x, y), _mean_diff, permutation_type="samples", n_resamples=N_RESAMPLES,
                                  vectorized=True, alternative="two-sided", rng=np.random.default_rng(seed))
    return PairedTest(int(d.size), mean_base, float(y.mean()), delta, rel, float(boot.confidence_interval.low),
                      float(boot.confidence_interval.high), float(t.pvalue), float(perm.pvalue), wins, ties, losses)


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (step-down, monotone, capped at 1)."""
    m = len(pvalues)
    order = sorted(range(m), key=lambda i: pvalues[i])
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * pvalues[i]))
        adjusted[i] = running
    return adjusted


def jaccard(a: Sequence[str], b: Sequence[str]) -> float:
    """|A ∩ B| / |A ∪ B| of two result lists (1.0 when both are empty)."""
    sa, sb = set(a), set(b)
    return 1.0 if not sa and not sb else len(sa & sb) / len(sa | sb)


def rbo(a: Sequence[str], b: Sequence[str], p: float = 0.9) -> float:
    """Extrapolated rank-biased overlap (Webber et al. 2010, eq. 32), for lists of unequal length too."""
    if not a and not b:
        return 1.0
    if not a or not b:
        return 0.0
    short, long_ = (a, b) if len(a) <= len(b) else (b, a)
    s, ell = len(short), len(long_)
    seen_s: set[str] = set()
    seen_l: set[str] = set()
    overlap = 0
    x = [0] * (ell + 1)
    for d in range(1, ell + 1):
        item_l = long_[d - 1]
        if d <= s:
            item_s = short[d - 1]
            if item_s == item_l:
                overlap += 1
            else:
                overlap += (item_s in seen_l) + (item_l in seen_s)
            seen_s.add(item_s)
        else:
            overlap += item_l in seen_s
        seen_l.add(item_l)
        x[d] = overlap
    xs, xl = x[s], x[ell]
    total = sum(x[d] / d * p ** d for d in range(1, ell + 1))
    total += sum(xs * (d - s) / (s * d) * p ** d for d in range(s + 1, ell + 1))
    return float((1 - p) / p * total + ((xl - xs) / ell + xs / s) * p ** ell)
