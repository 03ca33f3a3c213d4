"""Per-hit image scores for VQ@k and LowQ@k: each hit's image scored (cached) by the project's [images] scorer."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from operator import attrgetter

from evalharness.images.scorers import make_scorer
from evalharness.images.scoring import score_images
from evalharness.metrics.measures import HitMeasure, MeasureContext, RankedQuery


def image_scores_per_hit(ctx: MeasureContext, queries: Sequence[RankedQuery], measures: Sequence[HitMeasure]
                         ) -> Mapping[str, list[int | None]]:
    """Query id -> the image score of each of its top hits (None for a hit whose image is missing or unreadable:
    it is left out of VQ and LowQ rather than counted as any score)."""
    depth = max(m.k for m in measures)
    config = ctx.project.config
    scorer = make_scorer(config.images.scorer, config)
    refs = [h.image_url for q in queries for h in q.hits[:depth] if h.image_url]
    outcome = score_images(ctx.project, ctx.store, scorer, refs, max_retries=config.judge.max_retries)
    score_of = {url: found.score for url, found in outcome.scores.items()}.get
    return {q.id: list(map(score_of, map(_IMAGE_URL, q.hits[:depth]))) for q in queries}


_IMAGE_URL = attrgetter("image_url")
