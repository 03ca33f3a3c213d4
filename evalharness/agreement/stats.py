"""Agreement statistics between two label lists on an ordinal scale.

Point estimates come straight from the libraries: sklearn (accuracy, Cohen's kappa unweighted, linear and
quadratic, confusion matrix, per-label precision / recall), the krippendorff package (ordinal alpha) and
scipy (Spearman). The 95 % confidence intervals resample *queries* (scipy.stats.bootstrap over query
indices); for speed each resample is scored from its summed confusion matrix with the textbook formulas
in `from_confusion`, which a test checks against the library values on the full sample.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import krippendorff
import numpy as np
from scipy import stats
from sklearn.metrics import accuracy_score, cohen_kappa_score, confusion_matrix, precision_recall_fscore_support

STATS = ("accuracy", "kappa", "kappa_linear", "kappa_quadratic", "alpha_ordinal", "spearman")


def _nan_to_none(x: float) -> float | None:
    return None if x is None or not np.isfinite(x) else float(x)


def point_stats(human: Sequence[int], judge: Sequence[int], n_labels: int) -> dict[str, float | None]:
    """Each statistic on codes 0..n_labels-1 (ordered from the lowest gain to the highest)."""
    h, j = np.asarray(human), np.asarray(judge)
    labels = list(range(n_labels))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = {
            "accuracy": accuracy_score(h, j),
            "kappa": cohen_kappa_score(h, j, labels=labels),
            "kappa_linear": cohen_kappa_score(h, j, labels=labels, weights="linear"),
            "kappa_quadratic": cohen_kappa_score(h, j, labels=labels, weights="quadratic"),
            "alpha_ordinal": krippendorff.alpha(reliability_data=np.vstack([h, j]).astype(float), level_of_measurement="ordinal",
                                                value_domain=labels) if len(set(h) | set(j)) > 1 else float("nan"),
            "spearman": stats.spearmanr(h, j).statistic if len(h) > 1 else float("nan"),
        }
    return {k: _nan_to_none(v) for k, v in out.items()}


def confusion(human: Sequence[int], judge: Sequence[int], n_labels: int) -> np.ndarray:
    """Rows: human label, columns: judge label (sklearn)."""
    return confusion_matrix(human, judge, labels=list(range(n_labels)))


def per_label(human: Sequence[int], judge: Sequence[int], names: Sequence[str]) -> dict[str, dict[str, float]]:
    """Precision, recall, F1 and support of the judge for each label, taking the humans as truth (sklearn)."""
    p, r, f, s = precision_recall_fscore_support(human, judge, labels=list(range(len(names))), zero_division=0)
    return {name: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])}
            for i, name in enumerate(names)}


def from_confusion(c: np.ndarray) -> dict[str, np.ndarray]:
    """Every statistic from confusion matrices c[..., human, judge] (vectorized over leading axes)."""
    c = np.asarray(c, dtype=float)
    n_labels = c.shape[-1]
    n = c.sum(axis=(-2, -1))
    rows, cols = c.sum(axis=-1), c.sum(axis=-2)
    idx = np.arange(n_labels)
    diff = np.abs(idx[:, None] - idx[None, :]).astype(float)
    expected = rows[..., :, None] * cols[..., None, :] / n[..., None, None]
    out: dict[str, np.ndarray] = {}
    with np.errstate(divide="ignore", invalid="ignore"):
        out["accuracy"] = np.trace(c, axis1=-2, axis2=-1) / n
        for name, w in (("kappa", (diff > 0).astype(float)), ("kappa_linear", diff), ("kappa_quadratic", diff ** 2)):
            out[name] = 1 - (c * w).sum(axis=(-2, -1)) / (expected * w).sum(axis=(-2, -1))
        # Krippendorff's alpha, two coders, no missing values: coincidence matrix o = c + c^T, ordinal distance.
        o = c + np.swapaxes(c, -1, -2)
        nv = o.sum(axis=-1)
        total = nv.sum(axis=-1)
        cum = np.cumsum(nv, axis=-1)
        lo, hi = np.minimum(idx[:, None], idx[None, :]), np.maximum(idx[:, None], idx[None, :])
        between = np.take(cum, hi, axis=-1) - np.take(cum, lo, axis=-1) + np.take(nv, lo, axis=-1)
        delta2 = (between - (nv[..., :, None] + nv[..., None, :]) / 2) ** 2
        observed = (o * delta2).sum(axis=(-2, -1))
        chance = (nv[..., :, None] * nv[..., None, :] * delta2).sum(axis=(-2, -1))
        out["alpha_ordinal"] = 1 - (total - 1) * observed / chance
        # Spearman: Pearson correlation of mid-ranks, each cell weighted by its count.
        rh = np.cumsum(rows, axis=-1) - (rows - 1) / 2
        rj = np.cumsum(cols, axis=-1) - (cols - 1) / 2
        mh = (rows * rh).sum(axis=-1) / n
        mj = (cols * rj).sum(axis=-1) / n
        dh, dj = rh - mh[..., None], rj - mj[..., None]
        cov = (c * dh[..., :, None] * dj[..., None, :]).sum(axis=(-2, -1))
        vh, vj = (rows * dh ** 2).sum(axis=-1), (cols * dj ** 2).sum(axis=-1)
        out["spearman"] = cov / np.sqrt(vh * vj)
    return out


def bootstrap_cis(per_query: np.ndarray, n_resamples: int = 2000, seed: int = 0,
                  confidence: float = 0.95) -> dict[str, tuple[float, float] | None]:
    """Percentile CIs resampling queries: per_query[q] is query q's confusion matrix."""
    if per_query.shape[0] < 2:
        return {name: None for name in STATS}
    out: dict[str, tuple[float, float] | None] = {}
    indices = np.arange(per_query.shape[0])
    for name in STATS:
        def statistic(idx: np.ndarray, axis: int = -1, _name: str = name) -> np.ndarray:
            return from_confusion(per_query[idx].sum(axis=-3))[_name]

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = stats.bootstrap((indices,), statistic, n_resamples=n_resamples, confidence_level=confidence,
                                  method="percentile", vectorized=True, rng=np.random.default_rng(seed))
        lo, hi = res.confidence_interval
        out[name] = (float(lo), float(hi)) if np.isfinite(lo) and np.isfinite(hi) else None
    return out
