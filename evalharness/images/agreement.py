"""Image scorers against people: percent agreement, weighted Cohen's kappa and Pearson's r on 1-5 scores.

People's scores come from a CSV file (`image`, `score`, optional `rater`): an image is named by its product
id (the product's first image) or by a path or URL; several raters per image are aggregated by majority, as in
Adevinta's study (a tie goes to the tied score nearest the median of all of that image's ratings, then the
lower). Statistics come from scikit-learn and scipy.
"""

from __future__ import annotations

import csv
import statistics
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evalharness.errors import EvalHarnessError

KAPPA_WEIGHTS = "quadratic"


@dataclass(frozen=True)
class HumanScores:
    """Aggregated people's scores by image reference, and how many ratings each came from."""

    scores: dict[str, int]
    ratings: dict[str, int]
    raters: int


def majority(values: Sequence[int]) -> int:
    """The most frequent score; a tie goes to the tied score nearest the median of all, then to the lower."""
    counts = Counter(values)
    top = max(counts.values())
    tied = [v for v, c in counts.items() if c == top]
    median = statistics.median(values)
    return min(tied, key=lambda v: (abs(v - median), v))


def read_human_scores(path: Path, resolve: Mapping[str, str], base: Path) -> HumanScores:
    """Read a human-score CSV; `resolve` maps product ids to their image reference; other values are paths or URLs
    (relative paths against `base`)."""
    try:
        fh = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise EvalHarnessError(f"cannot read --human {path}: {exc.strerror}; pass a CSV with columns image,score[,rater]") from None
    by_image: dict[str, list[int]] = {}
    raters: set[str] = set()
    with fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames or not {"image", "score"} <= set(reader.fieldnames):
            raise EvalHarnessError(f"{path}: needs a header with 'image' and 'score' columns (and optionally 'rater')")
        for n, row in enumerate(reader, 2):
            image = (row.get("image") or "").strip()
            raw = (row.get("score") or "").strip()
            if not image and not raw:
                continue
            try:
                score = int(raw)
            except ValueError:
                score = 0
            if not image or not 1 <= score <= 5:
                raise EvalHarnessError(f"{path}:{n}: needs an image and a score from 1 to 5 (got {raw[:20]!r})")
            ref = resolve.get(image) or (image if "://" in image or Path(image).is_absolute() else str(base / image))
            by_image.setdefault(ref, []).append(score)
            raters.add((row.get("rater") or "").strip())
    if not by_image:
        raise EvalHarnessError(f"{path}: no scores; add rows image,score")
    return HumanScores({ref: majority(v) for ref, v in by_image.items()}, {ref: len(v) for ref, v in by_image.items()},
                       len(raters))


@dataclass(frozen=True)
class ScorerAgreement:
    """One scorer (and prompt) against the people's majority scores."""

    scorer: str
    prompt: str
    scorer_id: str
    n: int
    percent_agreement: float
    within_one: float
    weighted_kappa: float
    pearson: float | None
    failed: int
    cost_usd: float

    def to_json(self) -> dict[str, Any]:
        return {"scorer": self.scorer, "prompt": self.prompt, "scorer_id": self.scorer_id, "n": self.n,
                "percent_agreement": self.percent_agreement, "within_one": self.within_one,
                "weighted_kappa": self.weighted_kappa, "kappa_weights": KAPPA_WEIGHTS, "pearson": self.pearson,
                "failed": self.failed, "cost_usd": self.cost_usd}


def agreement(scorer: str, prompt: str, scorer_id: str, human: Mapping[str, int], machine: Mapping[str, int],
              failed: int = 0, cost_usd: float = 0.0) -> ScorerAgreement:
    """Statistics over the images both people and the scorer scored."""
    import numpy as np
    from scipy.stats import pearsonr
    from sklearn.metrics import cohen_kappa_score

    common = [ref for ref in human if ref in machine]
    if not common:
        raise EvalHarnessError(f"scorer {scorer} scored none of the people's images; check the image column of --human")
    h = np.array([human[r] for r in common])
    m = np.array([machine[r] for r in common])
    exact = float((h == m).mean())
    within = float((np.abs(h - m) <= 1).mean())
    if len(set(h)) == 1 and len(set(m)) == 1:
        kappa = 1.0 if h[0] == m[0] else 0.0  # one category on both sides: kappa is undefined; agree or not
    else:
        kappa = float(cohen_kappa_score(h, m, labels=[1, 2, 3, 4, 5], weights=KAPPA_WEIGHTS))
    pearson = float(pearsonr(h, m).statistic) if len(common) > 1 and h.std() > 0 and m.std() > 0 else None
    return ScorerAgreement(scorer, prompt, scorer_id, len(common), exact, within, kappa, pearson, failed, cost_usd)


def leaderboard(rows: Sequence[ScorerAgreement]) -> list[ScorerAgreement]:
    """Best first: weighted kappa, then percent agreement."""
    return sorted(rows, key=lambda r: (-r.weighted_kappa, -r.percent_agreement, r.scorer, r.prompt))
