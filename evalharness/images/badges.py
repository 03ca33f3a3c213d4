"""Image-quality badges for reports: the cached scores of the images a report shows, and each configuration's
worst images. Nothing is scored here: a report shows what runs, comparisons or `images score` already stored."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from evalharness.images.loading import ImageLoader
from evalharness.images.scorers import ImageScore, make_scorer
from evalharness.images.scoring import hash_images, stored_scores
from evalharness.project import Project
from evalharness.store import Store


def cached_image_scores(project: Project, refs: Iterable[str]) -> dict[str, ImageScore]:
    """image reference -> its stored score by the project's [images] scorer (images never scored are absent)."""
    return cached_images(project, refs)[0]


def cached_images(project: Project, refs: Iterable[str]) -> tuple[dict[str, ImageScore], dict[str, str]]:
    """cached_image_scores, and image reference -> the sha256 of its bytes (for the images that could be read)."""
    wanted = [r for r in dict.fromkeys(refs) if r]
    if not wanted:
        return {}, {}
    scorer_id = make_scorer(project.config.images.scorer, project.config).scorer_id
    store = Store(project.store_url())
    try:
        hashes, _ = hash_images(store, ImageLoader(project), wanted)
        by_sha = stored_scores(store, list(hashes.values()), scorer_id)
    finally:
        store.close()
    return {ref: by_sha[sha] for ref, sha in hashes.items() if sha in by_sha}, hashes


@dataclass(frozen=True)
class WorstImage:
    """One of the lowest-scoring images a configuration shows, and in how many of its result lists."""

    doc_id: str
    title: str
    image: str
    score: int
    rationale: str
    lists: int


def worst_images(hits: Sequence[Sequence[Mapping[str, object]]], scores: Mapping[str, ImageScore], n: int = 8) -> list[WorstImage]:
    """The n lowest-scoring distinct products among result lists (each hit a mapping with doc_id, title, image_url);
    ties: the product shown in more lists first."""
    seen: dict[str, dict[str, object]] = {}
    lists: dict[str, int] = {}
    for result in hits:
        for doc in {str(h.get("doc_id")): h for h in result}.values():
            ref = str(doc.get("image_url") or "")
            if ref in scores:
                key = str(doc.get("doc_id"))
                seen.setdefault(key, dict(doc))
                lists[key] = lists.get(key, 0) + 1
    return _ranked(seen, lists, scores, n)


def worst_images_by_content(doc_ids: Sequence[Sequence[str]], content_hashes: Sequence[Sequence[str]],
                            products: Mapping[str, Mapping[str, object]], scores: Mapping[str, ImageScore], n: int = 8
                            ) -> list[WorstImage]:
    """worst_images of result lists given as doc ids and content hashes (a comparison's lists), each hit's fields
    those of `products[content hash]`: the same result, without a mapping per hit (a 10k-query comparison has 1M)."""
    scored = {chash: product for chash, product in products.items() if str(product.get("image_url") or "") in scores}
    seen: dict[str, dict[str, object]] = {}
    lists: dict[str, int] = {}
    for docs, hashes in zip(doc_ids, content_hashes):
        for doc, chash in dict(zip(docs, hashes)).items():  # a doc once per list, its last place (as worst_images)
            product = scored.get(chash)
            if product is not None:
                key = str(doc)
                if key not in seen:
                    seen[key] = {**product, "doc_id": doc}
                lists[key] = lists.get(key, 0) + 1
    return _ranked(seen, lists, scores, n)


def _ranked(seen: Mapping[str, Mapping[str, object]], lists: Mapping[str, int], scores: Mapping[str, ImageScore], n: int
            ) -> list[WorstImage]:
    ranked = sorted(seen, key=lambda d: (scores[str(seen[d].get("image_url"))].score, -lists[d], d))[:n]
    return [WorstImage(d, str(seen[d].get("title") or ""), str(seen[d].get("image_url")), scores[str(seen[d].get("image_url"))].score,
                       scores[str(seen[d].get("image_url"))].rationale, lists[d]) for d in ranked]
