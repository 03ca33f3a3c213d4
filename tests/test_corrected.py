"""Corrected (PPI++) estimates: equal to ppi_py's, and their intervals cover a known true delta in simulation."""

from __future__ import annotations

import numpy as np
import pytest
from ppi_py import ppi_mean_ci, ppi_mean_pointestimate

from evalharness.compare.corrected import gold_needed, ppi_mean

K = 10  # hits per query and config
TRUE_DELTA = 0.06


def _population(rng: np.random.Generator, n_queries: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-query P@10 delta (candidate - baseline) on people's labels and on a judge's labels.

    Each query has a difficulty u; a baseline hit is relevant with probability u, a candidate hit with u + 0.06,
    so the true mean delta is exactly 0.06. The judge keeps 85 % of relevant hits, and calls irrelevant hits
    relevant 8 % of the time for the baseline but 30 % for the candidate: a bias that depends on the config."""
    u = rng.uniform(0.1, 0.8, n_queries)[:, None]
    rel_b = rng.random((n_queries, K)) < u
    rel_c = rng.random((n_queries, K)) < u + TRUE_DELTA
    keep = 0.85
    judge_b = np.where(rel_b, rng.random((n_queries, K)) < keep, rng.random((n_queries, K)) < 0.08)
    judge_c = np.where(rel_c, rng.random((n_queries, K)) < keep, rng.random((n_queries, K)) < 0.30)
    human = rel_c.mean(1) - rel_b.mean(1)
    judge = judge_c.mean(1) - judge_b.mean(1)
    return human, judge


def _judge_only_ci(judge: np.ndarray) -> tuple[float, float]:
    se = judge.std(ddof=1) / np.sqrt(judge.size)
    return judge.mean() - 1.96 * se, judge.mean() + 1.96 * se


def test_corrected_ci_covers_the_true_delta_where_the_judge_alone_does_not() -> None:
    rng = np.random.default_rng(2028)
    reps, n_queries, n_gold = 500, 800, 150
    covered = judge_covered = 0
    for _ in range(reps):
        human, judge = _population(rng, n_queries)
        gold = rng.choice(n_queries, n_gold, replace=False)
        est = ppi_mean(human[gold], judge[gold], judge)
        covered += est.ci_low <= TRUE_DELTA <= est.ci_high
        lo, hi = _judge_only_ci(judge)
        judge_covered += lo <= TRUE_DELTA <= hi
    coverage, judge_coverage = covered / reps, judge_covered / reps
    print(f"corrected CI coverage {coverage:.1%}, judge-only CI coverage {judge_coverage:.1%} over {reps} gold samples")
    assert coverage >= 0.93
    assert judge_coverage <= 0.05  # the config-dependent bias moves the judge's delta far from the truth


def test_weighted_gold_sample_still_covers() -> None:
    """Gold queries drawn with unequal probabilities (oversampling judge disagreement, as the rating page's sampler
    does) enter with weights 1 / pi; the interval still covers."""
    rng = np.random.default_rng(7)
    reps, n_queries, n_gold = 500, 800, 150
    covered = 0
    for _ in range(reps):
        human, judge = _population(rng, n_queries)
        size = 1.0 + 3.0 * (np.abs(judge) > 0.2)  # larger selection size where the judge sees a big move
        pi = np.minimum(1.0, n_gold * size / size.sum())
        gold = np.flatnonzero(rng.random(n_queries) < pi)  # Poisson sampling with inclusion probabilities pi
        est = ppi_mean(human[gold], judge[gold], judge, w=1 / pi[gold])
        assert est.n_effective < gold.size
        covered += est.ci_low <= TRUE_DELTA <= est.ci_high
    print(f"weighted corrected CI coverage {covered / reps:.1%}")
    assert covered / reps >= 0.93


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("lam", [None, 0.0, 0.5, 1.0])
def test_equals_ppi_py(weighted: bool, lam: float | None) -> None:
    rng = np.random.default_rng(3)
    human, judge = _population(rng, 600)
    gold = rng.choice(600, 90, replace=False)
    w = rng.uniform(0.5, 4.0, 90) if weighted else None
    ours = ppi_mean(human[gold], judge[gold], judge, w, alpha=0.05, lam=lam)
    point = float(np.squeeze(ppi_mean_pointestimate(human[gold], judge[gold], judge, lam=lam, w=w)))
    lo, hi = ppi_mean_ci(human[gold], judge[gold], judge, alpha=0.05, lam=lam, w=w)
    assert ours.estimate == pytest.approx(point, abs=1e-9)
    assert ours.ci_low == pytest.approx(float(np.squeeze(lo)), abs=1e-9)
    assert ours.ci_high == pytest.approx(float(np.squeeze(hi)), abs=1e-9)


def test_gold_needed_reaches_the_half_width() -> None:
    """The gold-query count for a target half-width, from observed variances: with that many gold queries drawn from
    the same population, the interval is about that wide."""
    rng = np.random.default_rng(11)
    human, judge = _population(rng, 2000)
    est = ppi_mean(human[:100], judge[:100], judge, lam=0.8)
    target = est.half_width * 0.6
    need = gold_needed(est, target)
    assert need is not None and need > 100
    bigger = ppi_mean(human[:need], judge[:need], judge, lam=0.8)
    assert bigger.half_width == pytest.approx(target, rel=0.15)
    assert gold_needed(est, 1e-6) is None  # narrower than the judge's own spread over the queries allows


def test_query_unit_draw_takes_whole_queries_with_their_probability() -> None:
    """rate --unit query: every pair of a drawn query, all with the query's inclusion probability; over many draws each
    query is drawn with that probability (queries with judge disagreement oversampled)."""
    from collections import Counter

    from evalharness.rating.sampling import PoolPair, draw_queries

    pool = []
    for q in range(12):
        for d in range(3):
            labels = {"a": "relevant", "b": "irrelevant" if q % 4 == 0 and d == 0 else "relevant"}
            pool.append(PoolPair(f"q{q}", f"q{q}", f"d{d}", "head" if q < 6 else "tail", "", "g", "c", {}, labels))
    seen: Counter[str] = Counter()
    probability: dict[str, float] = {}
    draws = 3000
    for seed in range(draws):
        drawn = draw_queries(pool, 4, seed, {"substitute"})
        by_query: dict[str, list] = {}
        for x in drawn:
            by_query.setdefault(x.pair.query_key, []).append(x)
        assert len(by_query) == 4 and all(len(xs) == 3 for xs in by_query.values())
        for key, xs in by_query.items():
            assert len({x.inclusion_prob for x in xs}) == 1
            probability[key] = xs[0].inclusion_prob
            seen[key] += 1
    assert probability["q0"] == pytest.approx(4 * probability["q1"])  # disagreement: selection size 4 against 1
    for key, pi in probability.items():
        assert seen[key] / draws == pytest.approx(pi, abs=0.03)
