"""Paired statistics equal scipy's on a fixed worked example; Holm correction; list overlap."""

import numpy as np
import pytest
from scipy import stats

from evalharness.stats import N_RESAMPLES, holm, jaccard, paired_test, rbo

BASE = [0.30, 0.55, 0.10, 0.80, 0.42, 0.67, 0.05, 0.90, 0.33, 0.48, 0.71, 0.25]
CAND = [0.45, 0.50, 0.30, 0.85, 0.60, 0.66, 0.20, 0.95, 0.31, 0.70, 0.80, 0.40]


def test_interval_and_p_values_equal_scipy() -> None:
    result = paired_test(BASE, CAND, seed=7)
    x, y = np.array(BASE), np.array(CAND)
    d = y - x
    boot = stats.bootstrap((d,), np.mean, n_resamples=N_RESAMPLES, method="percentile", rng=np.random.default_rng(7))
    perm = stats.permutation_test((x, y), lambda a, b, axis: np.mean(b - a, axis=axis), permutation_type="samples",
                                  n_resamples=N_RESAMPLES, vectorized=True, rng=np.random.default_rng(7))
    assert result.delta == pytest.approx(d.mean())
    assert result.ci_low == pytest.approx(boot.confidence_interval.low)
    assert result.ci_high == pytest.approx(boot.confidence_interval.high)
    assert result.p_ttest == pytest.approx(stats.ttest_rel(y, x).pvalue)
    assert result.p_randomization == pytest.approx(perm.pvalue)
    # 12 pairs -> 4096 sign assignments < 10,000 resamples: scipy computes the exact distribution.
    assert (result.wins, result.ties, result.losses) == (9, 0, 3)
    assert result.ci_low < d.mean() < result.ci_high


def test_constant_differences_are_handled_without_nan() -> None:
    same = paired_test([0.5, 0.5, 0.5], [0.5, 0.5, 0.5])
    assert (same.delta, same.p_ttest, same.p_randomization, same.ties) == (0.0, 1.0, 1.0, 3)
    shift = paired_test([0.1, 0.2, 0.3, 0.4], [0.2, 0.3, 0.4, 0.5])
    assert shift.ci_low == pytest.approx(0.1) and shift.ci_high == pytest.approx(0.1)
    assert shift.p_randomization == pytest.approx(2 / 2 ** 4)


def test_holm_matches_hand_computation() -> None:
    # sorted: 0.01*3=0.03, 0.03*2=0.06, 0.04*1=0.04 -> monotone 0.06
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])
    assert holm([]) == []


def test_overlap_measures() -> None:
    assert jaccard(["a", "b"], ["b", "c"]) == pytest.approx(1 / 3)
    assert jaccard([], []) == 1.0
    assert rbo(list("abcde"), list("abcde")) == pytest.approx(1.0)
    assert rbo(list("abc"), list("xyz")) == 0.0
    swapped = rbo(list("abcd"), list("bacd"))
    assert 0.8 < swapped < 1.0
    # top-weighted: a disagreement at the top costs more than one at the bottom
    assert rbo(list("abcdef"), list("bacdef")) < rbo(list("abcdef"), list("abcdfe"))
