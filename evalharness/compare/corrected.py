"""Corrected (prediction-powered) estimates: a judge's per-query metrics corrected by a gold set of queries.

The sampling unit is the query. Every compared query has the judge's value f_i; the gold queries also have the
value people's labels give, y_i. The PPI++ estimate of a mean (Angelopoulos, Duchi & Zrnic 2024) is

    theta = lambda * mean_all(f) + mean_gold(w * (y - lambda * f)),

with lambda power-tuned (clipped to [0, 1]; 0 is the gold labels alone, 1 is plain PPI) and the normal interval
built from the two variances. Gold queries drawn with unequal probabilities enter with weights 1 / pi (normalised
to mean 1). The formulas are ppi_py's `ppi_mean_pointestimate` / `ppi_mean_ci` (a test checks equality to 1e-9);
they are written out here because importing ppi_py costs about two seconds (scipy.stats, statsmodels, sklearn).
The paired delta of two configs is the mean of per-query differences, so it is estimated the same way.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Any

import numpy as np


@dataclass(frozen=True)
class PPIEstimate:
    """One corrected mean: point, interval, the lambda chosen and the gold queries it rests on."""

    estimate: float
    ci_low: float
    ci_high: float
    lam: float
    n_gold: int
    n_effective: float  # Kish's effective number of gold queries, (sum w)^2 / sum w^2
    n_all: int
    var_imputed: float  # per-query variance of lambda * f over all queries (ppi_py's, ddof 0)
    var_rectifier: float  # per-query variance of w * (y - lambda * f) over the gold queries

    @property
    def half_width(self) -> float:
        return (self.ci_high - self.ci_low) / 2

    def to_json(self) -> dict[str, Any]:
        return {"estimate": self.estimate, "ci95": [self.ci_low, self.ci_high], "lambda": self.lam, "n_gold": self.n_gold,
                "n_effective": self.n_effective}


def _normalised(w: np.ndarray | None, n: int) -> np.ndarray:
    """Weights scaled to mean 1 (ppi_py's construct_weight_vector)."""
    if w is None:
        return np.ones(n)
    w = np.asarray(w, dtype=float)
    if w.shape != (n,) or (w <= 0).any() or not np.isfinite(w).all():
        raise ValueError("gold weights need one positive, finite value per gold query")
    return w / w.sum() * n


def tuned_lambda(y: np.ndarray, f: np.ndarray, f_all: np.ndarray, w: np.ndarray, w_all: np.ndarray) -> float:
    """PPI++'s power-tuning lambda for a mean (ppi_py's _calc_lam_glm with an identity Hessian), clipped to [0, 1]."""
    n, big_n = y.size, f_all.size
    pointest = float((w_all * f_all).mean() + (w * (y - f)).mean())
    grads, grads_hat = w * (y - pointest), w * (f - pointest)
    cov = 2 * float(((grads - grads.mean()) * (grads_hat - grads_hat.mean())).sum()) / n
    var_hat = float(np.var(np.concatenate([grads_hat, w_all * (f_all - pointest)]), ddof=1))
    if var_hat <= 0:
        return 0.0
    return float(np.clip(cov / (2 * (1 + n / big_n) * var_hat), 0.0, 1.0))


def ppi_mean(y: Sequence[float], f: Sequence[float], f_all: Sequence[float], w: Sequence[float] | None = None,
             alpha: float = 0.05, lam: float | None = None) -> PPIEstimate:
    """The PPI++ estimate and (1 - alpha) normal interval of a mean: y and f on the gold queries, f_all on all queries."""
    y_, f_, fa = (np.asarray(a, dtype=float) for a in (y, f, f_all))
    n, big_n = y_.size, fa.size
    if n < 2 or f_.size != n or big_n < 1:
        raise ValueError("a corrected estimate needs at least two gold queries with both values, and the judge's values")
    wn, w_all = _normalised(None if w is None else np.asarray(w, dtype=float), n), np.ones(big_n)
    if lam is None:
        lam = tuned_lambda(y_, f_, fa, wn, w_all)
    estimate = float((w_all * lam * fa).mean() + (wn * (y_ - lam * f_)).mean())
    var_imp = float(np.var(w_all * lam * fa))
    var_rect = float(np.var(wn * (y_ - lam * f_)))
    se = math.sqrt(var_imp / big_n + var_rect / n)
    z = NormalDist().inv_cdf(1 - alpha / 2)
    raw = None if w is None else np.asarray(w, dtype=float)
    n_eff = float(n if raw is None else raw.sum() ** 2 / (raw ** 2).sum())
    return PPIEstimate(estimate, estimate - z * se, estimate + z * se, float(lam), n, n_eff, big_n, var_imp, var_rect)


def gold_needed(est: PPIEstimate, half_width: float, alpha: float = 0.05) -> int | None:
    """Gold queries whose corrected interval would be about `half_width` wide on each side, from the observed
    variances (lambda held); None when the judge's own spread over all queries already exceeds it."""
    z = NormalDist().inv_cdf(1 - alpha / 2)
    room = (half_width / z) ** 2 - est.var_imputed / est.n_all
    if half_width <= 0 or room <= 0:
        return None
    design = est.n_gold / est.n_effective if est.n_effective else 1.0  # unequal weights cost gold queries
    return max(2, math.ceil(est.var_rectifier / room * design))


@dataclass(frozen=True)
class CorrectedRow:
    """One (candidate, metric): corrected means of both configs and of the paired delta, beside the judge-only delta."""

    candidate: str
    metric: str
    baseline: PPIEstimate
    cand: PPIEstimate
    delta: PPIEstimate
    judge_delta: float
    judge_ci: tuple[float, float]

    def to_json(self) -> dict[str, Any]:
        return {"candidate": self.candidate, "metric": self.metric, "baseline": self.baseline.to_json(),
                "candidate_mean": self.cand.to_json(), "delta": self.delta.to_json(),
                "judge_only": {"delta": self.judge_delta, "ci95": list(self.judge_ci)}}


@dataclass
class Corrected:
    """A comparison's corrected figures: which source corrected which judge, on how many gold queries."""

    source: str
    judge_id: str
    gold_queries: int
    all_queries: int
    n_effective: float
    weighted: bool
    rows: list[CorrectedRow] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def row(self, candidate: str, metric: str) -> CorrectedRow | None:
        return next((r for r in self.rows if r.candidate == candidate and r.metric == metric), None)

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "judge_id": self.judge_id, "gold_queries": self.gold_queries,
                "queries": self.all_queries, "effective_gold_queries": self.n_effective, "weighted": self.weighted,
                "method": "PPI++ (power-tuned prediction-powered inference), query as the sampling unit",
                "rows": [r.to_json() for r in self.rows], "notes": self.notes}


def correct_values(judge: dict[str, np.ndarray], human: dict[str, np.ndarray], gold: np.ndarray,
                   weights: np.ndarray | None, alpha: float) -> dict[str, PPIEstimate]:
    """Corrected means for named per-query value arrays (NaN: outside the measure's population, left out)."""
    out = {}
    for key, f_all in judge.items():
        y = human[key]
        keep_all = ~np.isnan(f_all)
        keep_gold = gold & keep_all & ~np.isnan(y)
        if keep_gold.sum() < 2:
            continue
        w = weights[keep_gold] if weights is not None else None
        out[key] = ppi_mean(y[keep_gold], f_all[keep_gold], f_all[keep_all], w, alpha)
    return out


def gold_needed_without_gold(f_all: Sequence[float], half_width: float, alpha: float = 0.05) -> int | None:
    """Before any gold query exists: the gold queries for a half-width if the judge were no help (lambda 0) and
    people's per-query values varied as the judge's do, z^2 var(f) / h^2 (a pilot to refine once some are labelled)."""
    f = np.asarray(f_all, dtype=float)
    f = f[~np.isnan(f)]
    if half_width <= 0 or f.size < 2:
        return None
    z = NormalDist().inv_cdf(1 - alpha / 2)
    return max(2, math.ceil(z * z * float(np.var(f, ddof=1)) / half_width ** 2))
