"""Implicit labels: a search log's impressions, clicks, add-to-carts and purchases per (query, document), position-bias
corrected, and mapped onto the project's label scheme as the label source `behaviour:NAME`.

The estimate (`[behaviour] estimate`):
- `coec` (default): weighted engagement / expected clicks, where engagement = clicks + cart_weight x add-to-carts +
  purchase_weight x purchases and expected clicks come from each position's global CTR (clickmodel.coec). With both
  weights 0 it is OpenSearch SRW's COEC. 1 means "clicked as often as an average hit at its positions".
- `pbm`: the position-based model's attractiveness (the click probability at the top position), multiplied by
  engagement / clicks when the pair was clicked, so conversions weigh as configured.
Labels: a pair with at least `min_impressions` impressions gets the project's label whose band holds its estimate:
`thresholds` are n-1 ascending cut points for the n labels, lowest gain first (estimate < t1: lowest label;
t1 <= estimate < t2: the next; ...). Defaults for three-label schemes: coec 0.5, 1.0; pbm 0.05, 0.2. Pairs with
fewer impressions keep their evidence but no label (a hole, never a guess).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from evalharness.errors import EvalHarnessError
from evalharness.labels.clickmodel import Cells, PBMFit, coec, expected_clicks, fit_pbm, position_ctr

if TYPE_CHECKING:
    from evalharness.config import BehaviourConfig
    from evalharness.querylog.events import EventCounts

DEFAULT_THRESHOLDS = {"coec": (0.5, 1.0), "pbm": (0.05, 0.2)}


@dataclass(frozen=True)
class Evidence:
    """What the log says about one (query, document)."""

    query_key: str
    query: str
    doc_id: str
    impressions: int
    clicks: int
    carts: int
    purchases: int
    mean_position: float | None
    expected_clicks: float
    coec: float | None
    pbm: float | None
    estimate: float | None
    label: str | None

    def to_json(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass
class ImplicitLabels:
    """Every pair's evidence, the fitted models and what was read."""

    estimate: str
    thresholds: tuple[float, ...]
    labels: tuple[str, ...]
    min_impressions: int
    weights: dict[str, float]
    evidence: list[Evidence]
    ctr_by_position: list[float]
    theta: list[float]
    pbm_iterations: int
    pbm_converged: bool
    events: int
    skipped: dict[str, int] = field(default_factory=dict)

    @property
    def labelled(self) -> list[Evidence]:
        return [e for e in self.evidence if e.label is not None]

    def distribution(self) -> dict[str, int]:
        counts = Counter(e.label for e in self.labelled)
        return {name: counts.get(name, 0) for name in self.labels}

    def model(self) -> dict[str, Any]:
        """What compare and agreement need later: the position model and how labels were made."""
        return {"estimate": self.estimate, "thresholds": list(self.thresholds), "labels": list(self.labels),
                "min_impressions": self.min_impressions, "weights": self.weights, "ctr_by_position": self.ctr_by_position,
                "theta": self.theta, "pbm_iterations": self.pbm_iterations, "pbm_converged": self.pbm_converged,
                "events": self.events, "skipped": self.skipped}

    def summary(self) -> dict[str, Any]:
        return {**self.model(), "pairs": len(self.evidence), "labelled_pairs": len(self.labelled),
                "below_min_impressions": sum(1 for e in self.evidence if e.impressions < self.min_impressions),
                "queries": len({e.query_key for e in self.evidence}), "distribution": self.distribution()}


def thresholds_for(cfg: BehaviourConfig, estimate: str, labels: tuple[str, ...]) -> tuple[float, ...]:
    """The configured cut points, checked against the scheme's size; defaults for three-label schemes."""
    cuts = tuple(cfg.thresholds) or (DEFAULT_THRESHOLDS[estimate] if len(labels) == 3 else ())
    if len(cuts) != len(labels) - 1:
        raise EvalHarnessError(f"[behaviour] thresholds needs {len(labels) - 1} ascending values for the labels "
                               f"{', '.join(labels)} (got {len(cuts)}); e.g. thresholds = {list(np.linspace(0.5, 1.5, len(labels) - 1))}")
    if any(b <= a for a, b in zip(cuts, cuts[1:])):
        raise EvalHarnessError(f"[behaviour] thresholds must ascend (got {list(cuts)})")
    return cuts


def label_of(value: float | None, cuts: tuple[float, ...], labels: tuple[str, ...]) -> str | None:
    """The label whose band holds value (labels lowest gain first)."""
    if value is None or math.isnan(value):
        return None
    return labels[int(np.searchsorted(np.asarray(cuts), value, side="right"))]


def compute_implicit(counts: EventCounts, cfg: BehaviourConfig, labels: tuple[str, ...], estimate: str | None = None,
                     min_impressions: int | None = None) -> ImplicitLabels:
    """Estimates and labels for every (query, document) the log shows or converts."""
    estimate = estimate or cfg.estimate
    if estimate not in DEFAULT_THRESHOLDS:
        raise EvalHarnessError(f"--estimate '{estimate}' must be one of: {', '.join(DEFAULT_THRESHOLDS)}")
    min_imp = min_impressions or cfg.min_impressions
    cuts = thresholds_for(cfg, estimate, labels)
    pair_index: dict[tuple[str, str], int] = {}
    for key, doc, _ in counts.cells:
        pair_index.setdefault((key, doc), len(pair_index))
    for pair in counts.conversions:
        pair_index.setdefault(pair, len(pair_index))
    if not any(v[0] for v in counts.cells.values()):
        raise EvalHarnessError(f"the log has no impression events within the first {counts.max_rank} positions "
                               f"({counts.events} events read); implicit labels need impressions with positions "
                               "(check --action-field, --doc-field and --position-field)")
    items = list(counts.cells.items())
    cells = Cells.of([pair_index[(k, d)] for (k, d, _), _ in items], [p for (_, _, p), _ in items], [v[0] for _, v in items],
                     [v[1] for _, v in items], len(pair_index))
    n = len(pair_index)
    shown = np.bincount(cells.pair, weights=cells.impressions, minlength=n)
    clicked = np.bincount(cells.pair, weights=cells.clicks, minlength=n)
    pos_sum = np.bincount(cells.pair, weights=cells.impressions * cells.position, minlength=n)
    conv = np.zeros((n, 2))
    for pair, (carts, buys) in counts.conversions.items():
        conv[pair_index[pair]] = (carts, buys)
    weights = {"click": 1.0, "add_to_cart": cfg.cart_weight, "purchase": cfg.purchase_weight}
    engagement = clicked + cfg.cart_weight * conv[:, 0] + cfg.purchase_weight * conv[:, 1]
    ctr = position_ctr(cells)
    expected = expected_clicks(cells, ctr)
    srw = coec(cells)
    fit: PBMFit = fit_pbm(cells)
    if estimate == "coec":
        values = np.divide(engagement, expected, out=np.full(n, np.nan), where=expected > 0)
    else:
        lift = np.divide(engagement, clicked, out=np.ones(n), where=clicked > 0)
        values = np.where(shown > 0, fit.alpha * lift, np.nan)
    evidence = []
    for (key, doc), i in pair_index.items():
        value = None if math.isnan(values[i]) else float(values[i])
        enough = shown[i] >= min_imp
        evidence.append(Evidence(
            key, counts.surfaces.get(key, key), doc, int(shown[i]), int(clicked[i]), int(conv[i, 0]), int(conv[i, 1]),
            float(pos_sum[i] / shown[i]) if shown[i] else None, float(expected[i]), _num(srw[i]),
            float(fit.alpha[i]) if shown[i] else None, value, label_of(value, cuts, labels) if enough else None))
    return ImplicitLabels(estimate, cuts, labels, min_imp, weights, evidence, [float(x) for x in ctr],
                          [float(x) for x in fit.theta], fit.iterations, fit.converged, counts.events, dict(counts.skipped))


def _num(x: float) -> float | None:
    return None if math.isnan(x) else float(x)
