"""Rank correlation with a confidence interval: scipy's Spearman rho and Kendall tau-b, Fisher's z CI for rho.

The CI uses the Bonett-Wright standard error of z = atanh(rho), sqrt((1 + rho^2 / 2) / (n - 3)), which suits
Spearman's rho better than Pearson's 1 / sqrt(n - 3).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class RankCorrelation:
    """Spearman rho (with a 95 % CI and p-value) and Kendall tau-b over n pairs; None where undefined."""

    n: int
    spearman: float | None
    ci: tuple[float, float] | None
    p: float | None
    kendall: float | None

    def to_json(self) -> dict[str, Any]:
        return {"n": self.n, "spearman": self.spearman, "spearman_ci95": list(self.ci) if self.ci else None,
                "p_spearman": self.p, "kendall_tau_b": self.kendall}

    def text(self) -> str:
        rho = "—" if self.spearman is None else f"{self.spearman:.3f}"
        ci = f" [{self.ci[0]:.3f}, {self.ci[1]:.3f}]" if self.ci else ""
        tau = "—" if self.kendall is None else f"{self.kendall:.3f}"
        return f"Spearman rho {rho}{ci}, Kendall tau-b {tau}"


def fisher_ci(rho: float, n: int, level: float = 0.95) -> tuple[float, float] | None:
    """CI of a Spearman correlation by Fisher's z with the Bonett-Wright standard error (None for n <= 3 or |rho| = 1)."""
    from scipy.stats import norm

    if n <= 3 or abs(rho) >= 1:
        return None
    half = float(norm.ppf(0.5 + level / 2)) * math.sqrt((1 + rho * rho / 2) / (n - 3))
    z = math.atanh(rho)
    return math.tanh(z - half), math.tanh(z + half)


def rank_correlation(x: Sequence[float], y: Sequence[float]) -> RankCorrelation:
    """Spearman and Kendall of paired values (undefined when either side is constant or n < 3)."""
    from scipy.stats import kendalltau, spearmanr

    n = len(x)
    if n < 3 or len(set(x)) < 2 or len(set(y)) < 2:
        return RankCorrelation(n, None, None, None, None)
    res = spearmanr(x, y)
    rho = float(res.statistic)
    return RankCorrelation(n, rho, fisher_ci(rho, n), float(res.pvalue), float(kendalltau(x, y).statistic))
