"""The price-outlier rule over many lists at once with numpy, equal to PriceOutliers.run list by list.

Each row holds one list's prices in rank order, NaN where a hit has no usable price. The medians are taken as
`statistics.median` takes them (the middle value, or the mean of the two middle ones as (a + b) / 2), so every
value and comparison is the same float operation as in the per-list rule.
"""

from __future__ import annotations

import numpy as np


def row_medians(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Per row, the median of its first `counts` values once sorted (NaN sorts last); rows need counts >= 1."""
    s = np.sort(values, axis=1)
    rows = np.arange(len(values))
    mid = counts // 2
    upper = s[rows, mid]
    lower = s[rows, np.maximum(mid - 1, 0)]
    return np.where(counts % 2 == 1, upper, (lower + upper) / 2)


def outliers(prices: np.ndarray, z: float, ratio: float, min_priced: int) -> tuple[np.ndarray, np.ndarray]:
    """(flags, medians): flags[r, c] when price c of row r is an outlier of its row (rows with fewer than
    `min_priced` prices, or none, have no flag); medians per row (NaN where not computed)."""
    priced = ~np.isnan(prices)
    counts = priced.sum(axis=1)
    ok = counts >= max(min_priced, 1)
    flags = np.zeros(prices.shape, dtype=bool)
    medians = np.full(len(prices), np.nan)
    if not ok.any():
        return flags, medians
    p, n = prices[ok], counts[ok]
    median = row_medians(p, n)[:, None]
    dev = np.abs(p - median)
    mad = row_medians(dev, n)[:, None]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        far = np.maximum(p / median, median / p) >= ratio
        robust = (mad == 0) | (0.6745 * dev / mad > z)  # most prices equal: the ratio decides
    flags[ok] = far & robust & priced[ok]
    medians[ok] = median[:, 0]
    return flags, medians
