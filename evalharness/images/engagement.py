"""Image quality against engagement (the Mercari check): do better photos draw more clicks than their positions predict?

Per product, the position-corrected CTR is its clicks over expected clicks summed over every query of a behaviour
source (COEC at product level: 1 = clicked as often as an average hit at the same positions). Products shown fewer
than `min_impressions` times are left out. The product's first image is scored (cached like `images score`), and
the scores are rank-correlated with the corrected CTR overall and per category (first level of the category path),
with 95 % CIs (labels/correlation.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from evalharness.labels.correlation import RankCorrelation, rank_correlation


@dataclass(frozen=True)
class ProductEngagement:
    """A product's evidence summed over queries."""

    product_id: str
    impressions: int
    clicks: int
    expected_clicks: float
    purchases: int

    @property
    def corrected_ctr(self) -> float | None:
        return self.clicks / self.expected_clicks if self.expected_clicks > 0 else None


@dataclass
class ImageEngagement:
    """Correlations of image scores with corrected CTR, overall and per category."""

    source: str
    scorer_id: str
    min_impressions: int
    products: int
    overall: RankCorrelation
    by_category: dict[str, RankCorrelation] = field(default_factory=dict)
    mean_ctr_by_score: dict[int, tuple[int, float]] = field(default_factory=dict)  # score -> (products, mean corrected CTR)
    unscored: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "scorer_id": self.scorer_id, "min_impressions": self.min_impressions, "products": self.products,
                "unscored": self.unscored, "overall": self.overall.to_json(),
                "by_category": {k: v.to_json() for k, v in self.by_category.items()},
                "mean_corrected_ctr_by_score": {str(k): {"products": n, "mean": m} for k, (n, m) in self.mean_ctr_by_score.items()}}


def product_engagement(evidence: dict[tuple[str, str], dict[str, Any]]) -> dict[str, ProductEngagement]:
    """Evidence rows of a behaviour source summed per product over its queries."""
    sums: dict[str, list[float]] = {}
    for (_, doc), row in evidence.items():
        s = sums.setdefault(doc, [0, 0, 0.0, 0])
        s[0] += row["impressions"]
        s[1] += row["clicks"]
        s[2] += row["expected_clicks"]
        s[3] += row["purchases"]
    return {doc: ProductEngagement(doc, int(s[0]), int(s[1]), float(s[2]), int(s[3])) for doc, s in sums.items()}


def category_of(product: dict[str, Any]) -> str:
    path = product.get("category_path")
    if isinstance(path, list) and path:
        return str(path[0])
    return str(product.get("category") or "").split(">")[0].strip() or "(none)"


def image_engagement(source: str, scorer_id: str, engagement: dict[str, ProductEngagement], scores: dict[str, int],
                     categories: dict[str, str], min_impressions: int, min_category: int = 10) -> ImageEngagement:
    """Correlate image scores (by product id) with corrected CTR; categories with fewer than min_category products are
    left out of the per-category table (they still count overall)."""
    kept = [e for e in engagement.values() if e.impressions >= min_impressions and e.corrected_ctr is not None]
    scored = [e for e in kept if e.product_id in scores]
    xs = [scores[e.product_id] for e in scored]
    ys = [e.corrected_ctr or 0.0 for e in scored]
    by_cat: dict[str, tuple[list[int], list[float]]] = {}
    for e, x, y in zip(scored, xs, ys):
        cx, cy = by_cat.setdefault(categories.get(e.product_id, "(none)"), ([], []))
        cx.append(x)
        cy.append(y)
    per_score: dict[int, list[float]] = {}
    for x, y in zip(xs, ys):
        per_score.setdefault(x, []).append(y)
    return ImageEngagement(
        source, scorer_id, min_impressions, len(scored), rank_correlation(xs, ys),
        {c: rank_correlation(cx, cy) for c, (cx, cy) in sorted(by_cat.items()) if len(cx) >= min_category},
        {k: (len(v), sum(v) / len(v)) for k, v in sorted(per_score.items())}, len(kept) - len(scored))
