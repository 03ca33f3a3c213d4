"""Paired statistics equal scipy's on a fixed worked example; Holm correction; list overlap."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from scipy import stats

from evalharness.compare.stats import N_RESAMPLES, holm, jaccard, paired_test, rbo

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


def test_weighted_test_equals_hand_computation() -> None:
    import itertools

    from evalharness.compare.stats import paired_tests

    w = np.array([5.0, 1, 1, 2, 8, 1, 1, 3, 1, 1, 2, 1])
    x, y = np.array(BASE), np.array(CAND)
    d = y - x
    (t,) = paired_tests(x[:, None], y[:, None], w, seed=3)
    assert t.mean_base == pytest.approx(np.sum(w * x) / w.sum()) and t.delta == pytest.approx(np.sum(w * d) / w.sum())
    # weighted t: sandwich standard error, n - 1 degrees of freedom
    mean = np.sum(w * d) / w.sum()
    se = np.sqrt(len(d) / (len(d) - 1) * np.sum((w * (d - mean)) ** 2)) / w.sum()
    assert t.p_ttest == pytest.approx(2 * stats.t.sf(abs(mean / se), len(d) - 1))
    # exact weighted sign-flip test, enumerated by hand
    observed = abs(np.sum(w * d))
    flips = [abs(np.sum(w * d * np.array(s))) for s in itertools.product((1, -1), repeat=len(d))]
    assert t.p_randomization == pytest.approx(sum(f >= observed - 1e-12 for f in flips) / len(flips))
    assert t.ci_low < t.delta < t.ci_high
    # equal weights give the unweighted test
    assert paired_tests(x[:, None], y[:, None], np.ones(12), seed=7)[0] == paired_test(BASE, CAND, seed=7)


def test_large_sample_matches_scipy_within_resampling_noise_and_seed_is_stable() -> None:
    rng = np.random.default_rng(1)
    x = rng.random(3000)
    y = np.clip(x + rng.normal(0.01, 0.2, 3000), 0, 1)
    ours = paired_test(x, y, seed=5)
    assert paired_test(x, y, seed=5) == ours  # fixed seed -> identical
    d = y - x
    boot = stats.bootstrap((d,), np.mean, n_resamples=N_RESAMPLES, method="percentile", rng=np.random.default_rng(5))
    perm = stats.permutation_test((x, y), lambda a, b, axis: np.mean(b - a, axis=axis), permutation_type="samples",
                                  n_resamples=N_RESAMPLES, vectorized=True, rng=np.random.default_rng(5))
    se = d.std(ddof=1) / np.sqrt(d.size)
    assert abs(ours.ci_low - boot.confidence_interval.low) < 0.05 * se * 4
    assert abs(ours.ci_high - boot.confidence_interval.high) < 0.05 * se * 4
    assert abs(ours.p_randomization - perm.pvalue) < 0.02


def test_resampling_memory_stays_flat() -> None:
    import tracemalloc

    from evalharness.compare.stats import paired_tests

    rng = np.random.default_rng(0)
    x, y = rng.random((10_000, 5)), rng.random((10_000, 5))
    tracemalloc.start()
    paired_tests(x, y, seed=0)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 200 * 1024 * 1024, peak


def test_minimum_detectable_effect_has_80_percent_power_by_simulation() -> None:
    from evalharness.compare.stats import min_detectable_effect

    n, sd, alpha = 30, 0.2, 0.05
    mde = min_detectable_effect(sd / np.sqrt(n), n, alpha)
    # independent check: simulate paired differences with that true mean and count t-test rejections
    sims = np.random.default_rng(11).normal(mde, sd, size=(40_000, n))
    p = stats.ttest_1samp(sims, 0.0, axis=1).pvalue
    assert (p < alpha).mean() == pytest.approx(0.8, abs=0.01)
    # large n: the normal approximation (z_{1-alpha/2} + z_{0.8}) * se
    se = 0.01
    assert min_detectable_effect(se, 5000, alpha) == pytest.approx((stats.norm.ppf(0.975) + stats.norm.ppf(0.8)) * se, rel=2e-3)


def test_two_processes_give_the_very_same_tests() -> None:
    from evalharness.compare.stats import paired_tests
    from evalharness.runtime.forked import usable_workers

    if usable_workers(2) < 2:
        pytest.skip("needs fork and two usable cores")
    rng = np.random.default_rng(3)
    x = rng.random((5000, 4))
    y = x + rng.normal(0.01, 0.1, size=x.shape)
    assert paired_tests(x, y, seed=7, workers=2) == paired_tests(x, y, seed=7)


TWO_PROCESSES = """
import json
import numpy as np
from evalharness.checks.compared import population_tests
from evalharness.runtime.forked import usable_workers
from evalharness.compare.stats import paired_tests
rng = np.random.default_rng(3)
x = rng.random((8000, 6))  # 3 varied full columns x 8,000 >= PARALLEL_CELLS: two processes
y = x + rng.normal(0.01, 0.1, size=x.shape)
x[rng.random(8000) < 0.6, 4] = np.nan  # two columns outside their population on some queries (AttrMatch-like)
y[rng.random(8000) < 0.3, 5] = np.nan
x[:, 3] = y[:, 3]  # and one column without any difference
usable = usable_workers(2)
full = [0, 1, 2, 3]
w = rng.random(8000) + 0.5
print(json.dumps({"usable": usable,
                  "paired": paired_tests(x[:, full], y[:, full], seed=7, workers=2) == paired_tests(x[:, full], y[:, full], seed=7),
                  "population": population_tests(x, y, None, 7, 0.05, workers=2) == population_tests(x, y, None, 7, 0.05),
                  "weighted": population_tests(x, y, w, 7, 0.05, workers=2) == population_tests(x, y, w, 7, 0.05)}))
"""


@pytest.mark.skipif(not hasattr(os, "fork") or len(os.sched_getaffinity(0)) < 2, reason="needs fork and two usable cores")
def test_two_processes_give_the_very_same_tests_also_by_population() -> None:
    """In a fresh interpreter (a pytest worker may hold threads, and then everything rightly runs in one process): the
    bootstrap here, the randomization test, scipy's t-tests and the columns with NaN in a second process."""
    done = subprocess.run([sys.executable, "-c", TWO_PROCESSES], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"usable": 2, "paired": True, "population": True, "weighted": True}
