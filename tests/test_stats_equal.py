"""The resampling steps give the numbers they gave before they were made cheaper (one BLAS thread, in-place
temporaries, smaller bootstrap chunks): same draws from the same seed and the same products; a multi-threaded BLAS
may round a product's last bit differently, which moves a bootstrap bound by ~1e-17 and, through a tie with the
observed sum, a randomization p-value by a few resamples in 10,000."""

from __future__ import annotations

import numpy as np
import pytest

from evalharness.compare import stats
from evalharness.compare.stats import N_RESAMPLES, bootstrap_ci, paired_tests, randomization_p

OLD_CHUNK_CELLS = 2_000_000


def _old_chunks(total: int, n: int) -> list[int]:
    size = max(1, OLD_CHUNK_CELLS // max(n, 1))
    return [min(size, total - s) for s in range(0, total, size)]


def old_bootstrap_ci(d: np.ndarray, w: np.ndarray, seed: int, n_resamples: int = N_RESAMPLES,
                     confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """bootstrap_ci as it was."""
    n = d.shape[0]
    rng = np.random.default_rng(seed)
    wd = d * w[:, None]
    means = np.empty((n_resamples, d.shape[1]))
    row = 0
    for size in _old_chunks(n_resamples, n):
        idx = rng.integers(0, n, size=(size, n))
        counts = np.bincount((idx + n * np.arange(size)[:, None]).ravel(), minlength=size * n).reshape(size, n).astype(float)
        means[row:row + size] = (counts @ wd) / (counts @ w)[:, None]
        row += size
    tail = (1 - confidence) / 2
    return np.percentile(means, 100 * tail, axis=0), np.percentile(means, 100 * (1 - tail), axis=0)


def old_randomization_p(d: np.ndarray, w: np.ndarray, seed: int, n_resamples: int = N_RESAMPLES) -> np.ndarray:
    """randomization_p as it was (sampled branch)."""
    n = d.shape[0]
    wd = d * w[:, None] / w.sum()
    observed = wd.sum(axis=0)
    rng = np.random.default_rng(seed)
    nulls = []
    for size in _old_chunks(n_resamples, n):
        bits = np.unpackbits(rng.integers(0, 256, size=(size, (n + 7) // 8), dtype=np.uint8), axis=1)[:, :n]
        nulls.append((1 - 2 * bits.astype(float)) @ wd)
    return stats._two_sided(np.vstack(nulls), observed, exact=False)


def _data(n: int, cols: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Paired per-query values like a comparison's: graded metrics on a 0.1 grid (many ties, many zero differences)
    and continuous ones."""
    rng = np.random.default_rng(seed)
    x = rng.random((n, cols))
    y = np.clip(x + rng.normal(0.005, 0.15, (n, cols)), 0, 1)
    x[:, ::2], y[:, ::2] = np.round(x[:, ::2], 1), np.round(y[:, ::2], 1)
    return x, y


# n = 2999: chunks that do not divide the resamples evenly; 20: one chunk; 10,000: a comparison's size.
@pytest.mark.parametrize("n", [20, 2999, 10_000])
@pytest.mark.parametrize("weighted", [False, True])
def test_resampling_gives_the_numbers_it_gave_before(n: int, weighted: bool) -> None:
    x, y = _data(n, 4, seed=n)
    d = y - x
    w = np.random.default_rng(1).random(n) * 4 + 0.1 if weighted else np.ones(n)
    low, high = bootstrap_ci(d, w, seed=7)
    old_low, old_high = old_bootstrap_ci(d, w, seed=7)
    # The same resamples: each bound is one resample's mean, rounded perhaps otherwise (n * eps * |mean| at most).
    scale = np.abs(d).max()
    assert np.allclose(low, old_low, rtol=0, atol=1e-12 * scale) and np.allclose(high, old_high, rtol=0, atol=1e-12 * scale)
    # The same sign flips: a null sum's last bit matters only for a flip that ties the observed sum (counted within
    # scipy's 100 eps); on graded metrics such ties are a few of 10,000 resamples.
    assert np.abs(randomization_p(d, w, seed=7) - old_randomization_p(d, w, seed=7)).max() <= 2 * 3 / (N_RESAMPLES + 1)


def test_a_fixed_seed_gives_identical_tests_run_to_run() -> None:
    x, y = _data(5000, 6, seed=2)
    first = paired_tests(x, y, seed=11)
    assert paired_tests(x, y, seed=11) == first
    assert paired_tests(x, y, seed=12) != first  # the seed is used


def test_resampling_memory_stays_flat_at_a_comparisons_size() -> None:
    import tracemalloc

    x, y = _data(10_000, 10, seed=3)
    tracemalloc.start()
    paired_tests(x, y, seed=0)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    # one chunk of 200 x 10,000 sign flips as float64 (16 MB) plus the resampled means: not per column
    assert peak < 40 * 1024 * 1024, peak
