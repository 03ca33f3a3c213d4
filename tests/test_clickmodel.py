"""The click models against known truth: a simulated position-based log, a direct likelihood fit, and COEC by hand."""

from __future__ import annotations

import random
from collections import Counter

import numpy as np
import pytest
from scipy.optimize import minimize
from scipy.stats import spearmanr

from evalharness.labels.clickmodel import Cells, coec, fit_pbm, log_likelihood, position_ctr

# The simulation's stated log size: 30 queries x 10 documents, 300 searches per query, each showing all 10
# documents in a random order (90,000 impressions), clicks drawn from P(click) = theta[position] * alpha[grade].
QUERIES, DOCS, SEARCHES = 30, 10, 300
TRUE_THETA = np.array([1.0 / (k + 1) ** 0.8 for k in range(DOCS)])
GRADE_ALPHA = {0: 0.05, 1: 0.2, 2: 0.5, 3: 0.8}


def simulate(seed: int = 7) -> tuple[list[tuple[int, int, int]], list[int]]:
    """Impression records (pair, position, clicked) and each pair's true grade."""
    rng = random.Random(seed)
    grades = [rng.randrange(4) for _ in range(QUERIES * DOCS)]
    records = []
    for q in range(QUERIES):
        pairs = list(range(q * DOCS, (q + 1) * DOCS))
        for _ in range(SEARCHES):
            rng.shuffle(pairs)
            for pos, pair in enumerate(pairs):
                clicked = rng.random() < TRUE_THETA[pos] * GRADE_ALPHA[grades[pair]]
                records.append((pair, pos, int(clicked)))
    return records, grades


def cells_of(records: list[tuple[int, int, int]]) -> Cells:
    shown, clicked = Counter(), Counter()
    for pair, pos, c in records:
        shown[(pair, pos)] += 1
        clicked[(pair, pos)] += c
    keys = sorted(shown)
    return Cells.of([k[0] for k in keys], [k[1] for k in keys], [shown[k] for k in keys], [clicked[k] for k in keys])


def test_pbm_recovers_examination_and_orders_by_relevance() -> None:
    records, grades = simulate()
    fit = fit_pbm(cells_of(records))
    assert fit.converged
    assert np.max(np.abs(fit.theta - TRUE_THETA)) < 0.03, fit.theta
    true_alpha = np.array([GRADE_ALPHA[g] for g in grades])
    assert np.mean(np.abs(fit.alpha - true_alpha)) < 0.04
    rho = spearmanr(fit.alpha, grades).statistic
    assert rho >= 0.9, rho
    # Raw CTR is confounded by position only through the shuffle's noise here; COEC orders as well.
    assert spearmanr(coec(cells_of(records)), grades).statistic >= 0.9


def test_pbm_em_reaches_the_direct_maximum_likelihood() -> None:
    """EM's optimum equals scipy's maximisation of the same likelihood (on a small log), up to the theta * alpha scale."""
    rng = np.random.default_rng(3)
    pair = np.repeat(np.arange(6), 4)
    pos = np.tile(np.arange(4), 6)
    n = rng.integers(40, 120, size=pair.size)
    p = np.array([0.9, 0.6, 0.4, 0.25])[pos] * np.array([0.7, 0.5, 0.3, 0.2, 0.1, 0.6])[pair]
    c = rng.binomial(n, p)
    cells = Cells.of(pair, pos, n, c)
    fit = fit_pbm(cells, max_iter=20_000, tol=1e-10, prior=(0.0, 0.0))

    def nll(x: np.ndarray) -> float:
        theta = np.concatenate([[1.0], 1 / (1 + np.exp(-x[:3]))])  # theta[0] fixed at 1: the model's scale
        alpha = 1 / (1 + np.exp(-x[3:]))
        return -log_likelihood(cells, theta, alpha)

    best = minimize(nll, np.zeros(3 + 6), method="L-BFGS-B")
    theta_ref = np.concatenate([[1.0], 1 / (1 + np.exp(-best.x[:3]))])
    alpha_ref = 1 / (1 + np.exp(-best.x[3:]))
    assert fit.log_likelihood == pytest.approx(-best.fun, abs=1e-3)
    assert np.allclose(fit.theta, theta_ref, atol=0.01)
    assert np.allclose(fit.alpha, alpha_ref, atol=0.01)


def test_the_prior_is_a_map_estimate() -> None:
    """With pseudo-counts, EM reaches the maximum of likelihood + Beta log-prior, as scipy finds it (theta scale fixed
    at the first position by refitting with theta[0] = 1 in the optimizer too)."""
    pair = np.array([0, 0, 1, 1, 2, 2, 3])
    pos = np.array([0, 1, 0, 1, 0, 1, 1])
    n = np.array([30, 20, 25, 35, 2, 1, 3])
    c = np.array([12, 4, 5, 3, 2, 1, 0])
    cells = Cells.of(pair, pos, n, c)
    fit = fit_pbm(cells, max_iter=50_000, tol=1e-11, prior=(1.0, 1.0))

    def neg(x: np.ndarray) -> float:
        theta0 = 1 / (1 + np.exp(-x[0]))
        theta = np.array([theta0, theta0 / (1 + np.exp(-x[1]))])
        alpha = 1 / (1 + np.exp(-x[2:]))
        return -(log_likelihood(cells, theta, alpha) + np.sum(np.log(alpha) + np.log(1 - alpha)))

    best = minimize(neg, np.zeros(6), method="L-BFGS-B")
    theta0 = 1 / (1 + np.exp(-best.x[0]))
    assert fit.log_likelihood == pytest.approx(-best.fun, abs=1e-3)
    assert fit.theta[1] == pytest.approx(1 / (1 + np.exp(-best.x[1])), abs=0.01)
    assert np.allclose(fit.alpha, theta0 / (1 + np.exp(-best.x[2:])), atol=0.01)


def test_coec_equals_a_computation_by_hand() -> None:
    records, _ = simulate(seed=11)
    records = records[:20_000]
    shown_at, clicked_at = Counter(), Counter()
    for _, pos, c in records:
        shown_at[pos] += 1
        clicked_at[pos] += c
    ctr = {pos: clicked_at[pos] / shown_at[pos] for pos in shown_at}
    expected, clicks = Counter(), Counter()
    for pair, pos, c in records:
        expected[pair] += ctr[pos]
        clicks[pair] += c
    cells = cells_of(records)
    got = coec(cells)
    for pair in expected:
        assert got[pair] == pytest.approx(clicks[pair] / expected[pair], rel=1e-9)
    assert position_ctr(cells) == pytest.approx([ctr[k] for k in range(len(ctr))])


def test_repeated_clicks_never_exceed_impressions() -> None:
    cells = Cells.of([0, 1], [0, 1], [2, 3], [5, 1])
    assert coec(cells)[0] == pytest.approx(5 / (2 * 5 / 2))  # COEC counts every logged click
    fit = fit_pbm(cells)
    assert fit.alpha.max() <= 1.0 and np.isfinite(fit.log_likelihood)


def test_engagement_measures_by_hand() -> None:
    """Condensed nDCG', expected clicks and coverage of compare --behaviour on two lists, computed by hand."""
    from math import log2

    from evalharness.compare.engagement import side_engagement

    gains = {"irrelevant": 0, "substitute": 1, "relevant": 2}
    labels = {("q", "a"): "relevant", ("q", "c"): "substitute", ("q", "z"): "relevant", ("r", "x"): "irrelevant"}
    alphas = {("q", "a"): 0.5, ("q", "c"): 0.2, ("q", "z"): 0.6, ("r", "x"): 0.1}
    theta = [1.0, 0.5, 0.25]
    got = side_engagement("cfg", [["a", "b", "c"], ["y"]], ["q", "r"], labels, alphas, gains, theta, k=3)
    assert (got.hits, got.covered, got.queries_covered, got.queries_full) == (4, 2, 1, 0)
    assert got.coverage == 0.5
    # q: the condensed list is a (2), c (1); the ideal holds q's labelled documents z, a (2, 2) and c (1).
    ideal = 2 + 2 / log2(3) + 1 / log2(4)
    assert got.ndcg == pytest.approx((2 + 1 / log2(3)) / ideal)
    # expected clicks at the hits' own positions: a at 0, c at 2; b is a hole and counts nothing.
    assert got.exp_clicks == pytest.approx(1.0 * 0.5 + 0.25 * 0.2)
