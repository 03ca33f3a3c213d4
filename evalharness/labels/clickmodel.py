"""Position-bias corrections for click logs: COEC and a position-based click model (PBM) fitted by EM.

Both read the same sufficient statistics: for each (pair, position) cell, how often the pair was shown there
(impressions) and how often it was clicked there. A pair is one (query, document).

COEC (clicks over expected clicks; Cheng & Cantú-Paz, as OpenSearch's Search Relevance Workbench computes its
implicit judgments): the global CTR of each position is clicks / impressions at that position over every pair;
a pair's expected clicks are the sum of that CTR over the positions it was shown at; COEC = clicks / expected.
SRW takes one observed rank per pair; summing over each impression's own position is the same number when a pair
is always shown at one position, and the paper's definition when it moves.

PBM (Craswell et al. 2008; EM as in Chuklin, Markov & de Rijke, "Click Models for Web Search", 2015): a click
happens when the position is examined (theta_k) and the document attracts (alpha_p): P(click) = theta_k * alpha_p.
No maintained Python library fits this (the `clickmodels` package is Python 2 and unmaintained), so the EM is
written here and tested against a direct maximum-likelihood fit (scipy) and a simulation with known parameters.
Only products theta * alpha are identified: results are scaled so the first position's theta is 1, which makes
alpha the pair's click probability at the top position.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Cells:
    """Impressions and clicks per (pair, position): parallel arrays, pairs numbered 0..n_pairs-1, positions 0-based.

    Clicks are counted as logged (COEC counts every click, as SRW does); the click model, which needs at most one
    click per impression, caps them at the cell's impressions."""

    pair: np.ndarray
    position: np.ndarray
    impressions: np.ndarray
    clicks: np.ndarray
    n_pairs: int

    @classmethod
    def of(cls, pair: list[int] | np.ndarray, position: list[int] | np.ndarray, impressions: list[int] | np.ndarray,
           clicks: list[int] | np.ndarray, n_pairs: int | None = None) -> Cells:
        p = np.asarray(pair, dtype=np.int64)
        n = np.asarray(impressions, dtype=np.float64)
        c = np.asarray(clicks, dtype=np.float64)
        return cls(p, np.asarray(position, dtype=np.int64), n, c, int(n_pairs if n_pairs is not None else (p.max() + 1 if p.size else 0)))

    @property
    def n_positions(self) -> int:
        return int(self.position.max()) + 1 if self.position.size else 0


def position_ctr(cells: Cells) -> np.ndarray:
    """Global CTR per position: clicks / impressions over every pair (0 where a position has no impressions)."""
    k = cells.n_positions
    shown = np.bincount(cells.position, weights=cells.impressions, minlength=k)
    clicked = np.bincount(cells.position, weights=cells.clicks, minlength=k)
    return np.divide(clicked, shown, out=np.zeros(k), where=shown > 0)


def expected_clicks(cells: Cells, ctr: np.ndarray | None = None) -> np.ndarray:
    """Each pair's expected clicks: the sum over its impressions of its position's global CTR."""
    ctr = position_ctr(cells) if ctr is None else ctr
    return np.bincount(cells.pair, weights=cells.impressions * ctr[cells.position], minlength=cells.n_pairs)


def coec(cells: Cells, engagement: np.ndarray | None = None) -> np.ndarray:
    """Clicks (or a weighted engagement per pair) over expected clicks; NaN where no click was expected."""
    clicks = np.bincount(cells.pair, weights=cells.clicks, minlength=cells.n_pairs) if engagement is None else engagement
    exp = expected_clicks(cells)
    return np.divide(clicks, exp, out=np.full(cells.n_pairs, np.nan), where=exp > 0)


@dataclass(frozen=True)
class PBMFit:
    """A fitted position-based model: examination per position (theta[0] = 1) and attractiveness per pair."""

    theta: np.ndarray
    alpha: np.ndarray
    iterations: int
    converged: bool
    log_likelihood: float  # plus the prior's log density (up to a constant) when a prior is used

    def expected_clicks_at(self, alphas: list[float], k: int) -> float:
        """Expected clicks on a ranked list's first k documents (alphas in rank order; positions past theta count 0)."""
        n = min(k, len(alphas), self.theta.size)
        return float(np.dot(self.theta[:n], np.asarray(alphas[:n], dtype=np.float64)))


def log_likelihood(cells: Cells, theta: np.ndarray, alpha: np.ndarray) -> float:
    """Bernoulli log-likelihood of the cells under P(click) = theta[position] * alpha[pair]."""
    p = np.clip(theta[cells.position] * alpha[cells.pair], 1e-12, 1 - 1e-12)
    return float(np.sum(cells.clicks * np.log(p) + (cells.impressions - cells.clicks) * np.log1p(-p)))


def fit_pbm(cells: Cells, max_iter: int = 2000, tol: float = 1e-6, prior: tuple[float, float] = (1.0, 1.0)) -> PBMFit:
    """Fit theta and alpha by EM (each step is closed form over the cells), then scale so theta[0] = 1.

    `prior` adds pseudo-counts to each alpha (attracted, not attracted): a Beta(1 + a, 1 + b) prior whose MAP
    estimate keeps a pair seen twice and clicked twice from claiming alpha = 1 and dragging theta with it.
    (0, 0) is the plain maximum-likelihood fit. Stops when no parameter moves by more than tol."""
    k = cells.n_positions
    theta = np.full(k, 0.5)
    alpha = np.full(cells.n_pairs, 0.5)
    pair_n = np.bincount(cells.pair, weights=cells.impressions, minlength=cells.n_pairs)
    pos_n = np.bincount(cells.position, weights=cells.impressions, minlength=k)
    clicks = np.minimum(cells.clicks, cells.impressions)  # a log can hold several clicks on one impression
    cells = Cells(cells.pair, cells.position, cells.impressions, clicks, cells.n_pairs)
    unclicked = cells.impressions - clicks
    converged = False
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007 - the count is reported
        t, a = theta[cells.position], alpha[cells.pair]
        miss = np.maximum(1.0 - t * a, 1e-12)
        # E step: among unclicked impressions, the expected number where the document attracted (not examined),
        # and where the position was examined (not attractive).
        attracted = cells.clicks + unclicked * a * (1.0 - t) / miss
        examined = cells.clicks + unclicked * t * (1.0 - a) / miss
        new_alpha = np.divide(np.bincount(cells.pair, weights=attracted, minlength=cells.n_pairs) + prior[0], pair_n + sum(prior),
                              out=alpha.copy(), where=pair_n + sum(prior) > 0)
        new_theta = np.divide(np.bincount(cells.position, weights=examined, minlength=k), pos_n, out=theta.copy(), where=pos_n > 0)
        delta = max(float(np.max(np.abs(new_alpha - alpha), initial=0.0)), float(np.max(np.abs(new_theta - theta), initial=0.0)))
        theta, alpha = new_theta, new_alpha
        if delta < tol:
            converged = True
            break
    ll = log_likelihood(cells, theta, alpha) + float(np.sum(prior[0] * np.log(np.clip(alpha, 1e-12, 1)) +
                                                           prior[1] * np.log(np.clip(1 - alpha, 1e-12, 1))))
    top = theta[0] if k and theta[0] > 0 else 1.0
    return PBMFit(theta / top, np.clip(alpha * top, 0.0, 1.0), it, converged, ll)
