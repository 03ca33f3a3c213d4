"""Paired statistics for comparing systems over the same queries, Holm correction, power, list overlap.

Resampling stays flat in memory: bootstrap resamples and randomization sign flips are drawn in
chunks and turned into sums by one matrix product per chunk (on one BLAS thread), for every column
(candidate x metric) at once. A fixed seed gives identical results, and a column's result does not depend on the other
columns. Optional per-query weights (e.g. traffic) enter every mean, interval and test.
scipy.special is imported only where a distribution function is needed (not scipy.stats: it is slow to import).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import accumulate
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from evalharness.runtime.forked import map_steps

N_RESAMPLES = 10_000
TIE_TOLERANCE = 1e-12
CHUNK_CELLS = 2_000_000  # resamples x queries of sign flips drawn at once (about 16 MB of float64)
BOOTSTRAP_CELLS = 250_000  # resamples x queries of bootstrap draws at once: bincount's bins (2 MB) stay in cache
PARALLEL_CELLS = 20_000  # queries x tested columns from which two processes pay for their start
POWER = 0.8


@dataclass(frozen=True)
class PairedTest:
    """Paired difference (candidate - baseline) of one metric over queries (weighted means when weighted)."""

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
    se: float = 0.0  # standard error of the (weighted) mean difference
    mde: float = 0.0  # minimum detectable |delta| at the test's alpha and 80 % power


def _weights(w: Sequence[float] | np.ndarray | None, n: int) -> np.ndarray:
    if w is None:
        return np.ones(n)
    arr = np.asarray(w, dtype=float)
    if arr.shape != (n,) or (arr < 0).any() or arr.sum() <= 0:
        raise ValueError("weights need one non-negative value per query and a positive sum")
    return arr


def weighted_se(d: np.ndarray, w: np.ndarray) -> float:
    """Standard error of the weighted mean of d (sandwich form; equals s/sqrt(n) for equal weights)."""
    n = d.size
    if n < 2:
        return 0.0
    mean = float(np.dot(w, d) / w.sum())
    return float(np.sqrt(n / (n - 1) * np.sum((w * (d - mean)) ** 2)) / w.sum())


def min_detectable_effect(se: float, n: int, alpha: float = 0.05, power: float = POWER) -> float:
    """The smallest true mean difference a two-sided paired t-test at `alpha` detects with `power`.

    Solves power(delta) = P(|T| > t_crit) for T ~ noncentral t(df = n - 1, nc = delta / se), with scipy.special's
    Student t and noncentral t distribution functions (power rises with nc, so bisection finds it).
    """
    if n < 2 or se <= 0:
        return 0.0
    from scipy import special

    df = n - 1
    crit = float(special.stdtrit(df, 1 - alpha / 2))

    def achieved(nc: float) -> float:
        lower = float(special.nctdtr(df, nc, -crit))  # negligible, and NaN far out in the tail
        return 1.0 - float(special.nctdtr(df, nc, crit)) + (0.0 if np.isnan(lower) else lower)

    lo, hi = 0.0, crit + 10.0
    while achieved(hi) < power:
        lo, hi = hi, hi * 2
    for _ in range(80):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if achieved(mid) < power else (lo, mid)
    return hi * se


def _t_pvalue(delta: float, se: float, n: int) -> float:
    from scipy import special

    if se == 0:
        return 1.0 if delta == 0 else 0.0
    return float(2 * special.stdtr(n - 1, -abs(delta / se)))


def _two_sided(null: np.ndarray, observed: np.ndarray, exact: bool) -> np.ndarray:
    """scipy.stats.permutation_test's two-sided p-value from a null distribution (rows) per column."""
    gamma = np.abs(np.finfo(float).eps * 100 * observed)  # scipy's relative tolerance for ties
    adjustment = 0 if exact else 1
    less = ((null <= observed + gamma).sum(axis=0) + adjustment) / (null.shape[0] + adjustment)
    greater = ((null >= observed - gamma).sum(axis=0) + adjustment) / (null.shape[0] + adjustment)
    return np.clip(2 * np.minimum(less, greater), 0, 1)


def one_blas_thread() -> threadpool_limits:
    """BLAS on one thread: these products are too small to gain from more, its extra threads spin on cores that
    the other resampling process (or another job) needs, and a product's last bits then do not depend on how many
    cores the machine has."""
    return threadpool_limits(1, user_api="blas")


def _chunks(total: int, n: int, cells: int = CHUNK_CELLS) -> list[int]:
    size = max(1, cells // max(n, 1))
    return [min(size, total - s) for s in range(0, total, size)]


def bootstrap_ci(d: np.ndarray, w: np.ndarray, seed: int, n_resamples: int = N_RESAMPLES,
                 confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Percentile bootstrap interval of the weighted mean of each column of d (queries x columns)."""
    n = d.shape[0]
    rng = np.random.default_rng(seed)
    wd = d * w[:, None]
    unweighted = bool((w == 1).all())  # then every resample's weight total is exactly n
    means = np.empty((n_resamples, d.shape[1]))
    row = 0
    with one_blas_thread():
        for size in _chunks(n_resamples, n, BOOTSTRAP_CELLS):
            idx = rng.integers(0, n, size=(size, n))
            idx += np.arange(0, size * n, n)[:, None]  # resample r counts into bins r*n .. r*n + n - 1
            counts = np.bincount(idx.ravel(), minlength=size * n).reshape(size, n).astype(float)
            del idx
            totals = float(n) if unweighted else (counts @ w)[:, None]
            means[row:row + size] = (counts @ wd) / totals
            row += size
            del counts  # before the next chunk's is made: one chunk in memory at a time
    tail = (1 - confidence) / 2
    return np.percentile(means, 100 * tail, axis=0), np.percentile(means, 100 * (1 - tail), axis=0)


def randomization_p(d: np.ndarray, w: np.ndarray, seed: int, n_resamples: int = N_RESAMPLES) -> np.ndarray:
    """Two-sided paired randomization (sign-flip) p-value of the weighted mean of each column of d.

    Exact (all 2**n sign assignments) when that is no more than n_resamples, as scipy does.
    """
    n = d.shape[0]
    wd = d * w[:, None] / w.sum()
    observed = wd.sum(axis=0)
    if 2 ** n <= n_resamples:
        bits = (np.arange(2 ** n)[:, None] >> np.arange(n)) & 1
        return _two_sided((1 - 2 * bits.astype(float)) @ wd, observed, exact=True)
    rng = np.random.default_rng(seed)
    null = np.empty((n_resamples, d.shape[1]))
    row = 0
    with one_blas_thread():
        for size in _chunks(n_resamples, n):
            signs = np.unpackbits(rng.integers(0, 256, size=(size, (n + 7) // 8), dtype=np.uint8), axis=1)[:, :n].astype(float)
            signs *= -2  # bit 1 flips the sign: 1 - 2 * bit, in place
            signs += 1
            null[row:row + size] = signs @ wd
            row += size
            del signs
    return _two_sided(null, observed, exact=False)


def paired_tests(base: np.ndarray, cand: np.ndarray, weights: Sequence[float] | np.ndarray | None = None, seed: int = 0,
                 alpha: float = 0.05, confidence: float = 0.95, n_resamples: int = N_RESAMPLES, workers: int = 1
                 ) -> list[PairedTest]:
    """One PairedTest per column of base/cand (queries x columns), sharing resamples across columns. With `workers` > 1
    and enough queries, the bootstrap and the randomization test run at once in two processes (same results)."""
    steps, finish = paired_test_steps(base, cand, weights, seed, alpha, confidence, n_resamples)
    return finish(map_steps(lambda i: steps[i](), len(steps), steps.workers(workers)))


class _Steps(list):  # type: ignore[type-arg]
    """The independent steps of paired tests, and how many (query x column) cells they resample."""

    cells = 0

    def workers(self, requested: int) -> int:
        """Processes worth using: two resampling steps over enough cells to pay for a second process, else one."""
        return requested if len(self) == 2 and self.cells >= PARALLEL_CELLS else 1


def paired_test_steps(base: np.ndarray, cand: np.ndarray, weights: Sequence[float] | np.ndarray | None = None,
                      seed: int = 0, alpha: float = 0.05, confidence: float = 0.95, n_resamples: int = N_RESAMPLES,
                      ) -> tuple[_Steps, Callable[[list[Any]], list[PairedTest]]]:
    """paired_tests as independent steps (the bootstrap; the randomization test with scipy.special's t-test p-values
    and minimum detectable effects), for a caller that runs them where it likes, and what turns their results, in
    order, into the PairedTests."""
    x, y = np.atleast_2d(np.asarray(base, dtype=float).T).T, np.atleast_2d(np.asarray(cand, dtype=float).T).T
    if x.shape != y.shape or x.shape[0] == 0:
        raise ValueError("paired tests need two non-empty samples of the same shape")
    n = x.shape[0]
    w = _weights(weights, n)
    d = y - x
    varied = [j for j in range(d.shape[1]) if n >= 2 and not np.allclose(d[:, j], d[0, j])]
    deltas = [float(np.dot(w, d[:, j]) / w.sum()) for j in range(d.shape[1])]
    ses = [weighted_se(d[:, j], w) for j in range(d.shape[1])]

    def analytic() -> list[tuple[float | None, float]]:
        """Each column's t-test p-value (varied columns) and minimum detectable effect: scipy.special's work, done
        beside the bootstrap (in the second process, with its import, when there are two)."""
        return [(_t_pvalue(deltas[j], ses[j], n) if j in varied else None, min_detectable_effect(ses[j], n, alpha))
                for j in range(d.shape[1])]

    steps = _Steps()
    if varied:
        dv = d[:, varied]
        steps.extend([lambda: bootstrap_ci(dv, w, seed, n_resamples, confidence),
                      lambda: (randomization_p(dv, w, seed, n_resamples), analytic())])
        steps.cells = n * len(varied)
    else:
        steps.append(analytic)

    def finish(results: list[Any]) -> list[PairedTest]:
        if varied:
            (lows, highs), (ps, analytics) = results
        else:
            lows = highs = ps = np.zeros(0)
            analytics = results[0]
        out = []
        for j in range(d.shape[1]):
            dj = d[:, j]
            mean_base, mean_cand = float(np.dot(w, x[:, j]) / w.sum()), float(np.dot(w, y[:, j]) / w.sum())
            delta, se = deltas[j], ses[j]
            wins, losses = int((dj > TIE_TOLERANCE).sum()), int((dj < -TIE_TOLERANCE).sum())
            t_p, mde = analytics[j]
            if j in varied:
                k = varied.index(j)
                lo, hi, p_r = float(lows[k]), float(highs[k]), float(ps[k])
                p_t = float(t_p)
            else:
                # Constant differences: every resample has the same mean. All zero: nothing to reject.
                # A constant non-zero shift: the t statistic is infinite (p=0) and the exact randomization p-value
                # is 2 / 2**n (only the two all-same-sign assignments are as extreme).
                lo = hi = delta
                p_t, p_r = (1.0, 1.0) if delta == 0 or n < 2 else (0.0, float(2.0 ** (1 - n)))
            out.append(PairedTest(n, mean_base, mean_cand, delta, delta / mean_base if mean_base else None, lo, hi, p_t,
                                  p_r, wins, n - wins - losses, losses, se, mde))
        return out

    return steps, finish


def paired_test(base: Sequence[float], cand: Sequence[float], seed: int = 0, confidence: float = 0.95,
                weights: Sequence[float] | None = None, alpha: float = 0.05) -> PairedTest:
    """Bootstrap CI of the mean paired difference, paired t-test and paired randomization test p-values."""
    return paired_tests(np.asarray(base, dtype=float)[:, None], np.asarray(cand, dtype=float)[:, None], weights, seed,
                        alpha, confidence)[0]


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


@dataclass(frozen=True)
class RBO:
    """Rank-biased overlap of two rankings seen to some depth (Webber, Moffat and Zobel 2010): `ext` the extrapolated
    point estimate, `min` the lower bound (no further overlap), `res` the residual (max = min + res)."""

    ext: float
    min: float
    res: float

    @property
    def max(self) -> float:
        return self.min + self.res


def _overlaps(short: Sequence[str], long_: Sequence[str]) -> list[int]:
    """X_d for d = 0 .. len(long_): how many items the first min(d, s) of `short` and the first d of `long_` share.

    When neither list repeats an item, an item both hold joins at the deeper of its two places (counted once per depth
    from there on); else they are walked depth by depth, as the definition reads."""
    at = {item: j for j, item in enumerate(long_)}
    if len(at) == len(long_) and len(set(short)) == len(short):
        joined = [0] * (len(long_) + 1)
        for i, item in enumerate(short):
            j = at.get(item)
            if j is not None:
                joined[(i if i > j else j) + 1] += 1
        return list(accumulate(joined))
    return walked_overlaps(short, long_)


def walked_overlaps(short: Sequence[str], long_: Sequence[str]) -> list[int]:
    """`_overlaps` walked depth by depth, as the definition reads (the overlap a depth adds: its two new items'
    matches); right also when a list repeats an item."""
    seen_s: set[str] = set()
    seen_l: set[str] = set()
    x = [0]
    for d, item_l in enumerate(long_, 1):
        gained = 0
        if d <= len(short):
            item_s = short[d - 1]
            gained = 1 if item_s == item_l else (item_s in seen_l) + (item_l in seen_s)
            seen_s.add(item_s)
        else:
            gained = item_l in seen_s
        seen_l.add(item_l)
        x.append(x[-1] + gained)
    return x


@lru_cache(maxsize=4096)
def _tail(p: float, n: int) -> float:
    """sum over d > n of p**d / d (the series of -ln(1 - p) less its first n terms)."""
    return -math.log(1 - p) - _series(p, 1, n)


@lru_cache(maxsize=4096)
def _series(p: float, lo: int, hi: int) -> float:
    """sum of p**d / d for d = lo .. hi, in that order (remembered: compare computes it for every query's lists)."""
    return sum(p ** d / d for d in range(lo, hi + 1))


@lru_cache(maxsize=64)
def _powers(p: float, n: int) -> tuple[float, ...]:
    """p**d for d = 0 .. n (each the value `p ** d` gives)."""
    return tuple(p ** d for d in range(n + 1))


def rbo_prefixes(a: Sequence[str], b: Sequence[str], p: float = 0.9) -> RBO:
    """RBO of two rankings known only by these prefixes, of equal or uneven length s <= l (Webber et al. 2010):
    RBO_ext by eq. 32 (eq. 30 when s = l), RBO_min with no overlap beyond what is seen (eq. 11 at depth l, with S's
    unseen items matching nothing) and RBO_res by eq. 30's bound. The shorter prefix is assumed to go on agreeing as
    it did: [x] against [x, y, z] extrapolates to 1.0, with a low minimum and a large residual."""
    if not 0 < p < 1:
        raise ValueError("RBO's persistence p must lie strictly between 0 and 1")
    short, long_ = (a, b) if len(a) <= len(b) else (b, a)
    s, ell = len(short), len(long_)
    if s == 0:  # nothing seen of one ranking: anything is possible beyond
        return RBO(0.0, 0.0, 1.0) if ell else RBO(1.0, 0.0, 1.0)
    x = _overlaps(short, long_)
    xs, xl = x[s], x[ell]
    c = (1 - p) / p
    f = ell + s - xl  # the depth by which every unseen item could have matched
    pw = _powers(p, f)  # pw[d] is p ** d
    seen = sum(x[d] / d * pw[d] for d in range(1, ell + 1))
    ext = c * (seen + sum(xs * (d - s) / (s * d) * pw[d] for d in range(s + 1, ell + 1))) + ((xl - xs) / ell + xs / s) * pw[ell]
    low = c * (seen + xl * _tail(p, ell))
    res = (pw[s] + pw[ell] - pw[f] - c * (s * _series(p, s + 1, f) + ell * _series(p, ell + 1, f) + xl * _tail(p, f)))
    return RBO(float(ext), float(low), float(max(res, 0.0)))


def rbo_bounds(a: Sequence[str], b: Sequence[str], p: float = 0.9, depth: int | None = None) -> RBO:
    """RBO of two search result lists asked for `depth` hits each (default: the longer list's length).

    A list shorter than `depth` is complete (the engine had nothing more), not a prefix of a longer ranking: it ends.
    Its agreement with the other at depth d is their overlap over the longer of the two seen to d, and beyond both
    ends it stays what it was. That is `rbo_prefixes` on the lists padded to equal length with items that match
    nothing (a 6-hit list cut to its top hit reads 0.302 at p = 0.9, not eq. 32's 1.0), and exact (residual 0) when
    both lists are complete. With one complete list the residual is eq. 30's bound for prefixes, an upper bound."""
    if not a and not b:
        return RBO(1.0, 1.0, 0.0)
    depth = max(len(a), len(b)) if depth is None else depth
    found = rbo_prefixes(*_padded(a, b, max(len(a), len(b))), p)
    if len(a) < depth and len(b) < depth:
        return RBO(found.ext, found.ext, 0.0)
    return found


def _padded(a: Sequence[str], b: Sequence[str], n: int) -> tuple[list[str], list[str]]:
    """Both lists to length n with items that match nothing (objects no document id equals)."""
    return [*a, *(object() for _ in range(n - len(a)))], [*b, *(object() for _ in range(n - len(b)))]  # type: ignore[list-item]


def rbo(a: Sequence[str], b: Sequence[str], p: float = 0.9, depth: int | None = None) -> float:
    """RBO_ext of two search result lists (see `rbo_bounds`: a list shorter than `depth` is complete)."""
    return rbo_bounds(a, b, p, depth).ext
