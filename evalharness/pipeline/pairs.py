"""A run's pairs: (query, hit) pairs built with their cache keys, those a covering label source holds taken out, and the
run's row started."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import Any, NamedTuple

from evalharness.images import ImageLoader, ImageUnavailable
from evalharness.judges.base import Judge, JudgeRequest
from evalharness.judges.fallback import ImageOrText
from evalharness.models import Guideline, Hit, Query
from evalharness.pipeline.judging import Pair
from evalharness.pipeline.runstate import this_process
from evalharness.pipeline.runtypes import RunRequest
from evalharness.store import Store, judgment_cache_key
from evalharness.store.keys import content_hasher


def new_run_id(engine: str) -> str:
    return f"{engine}-{datetime.now(timezone.utc).strftime('%Y%m%dT%H%M%S')}-{secrets.token_hex(2)}"


def begin_run(store: Store, req: RunRequest, described: dict[str, str]) -> tuple[str, str]:
    """Record a new `running` run of the request (its engine config, backend facts and process): (run id, catalog)."""
    run_id = new_run_id(req.engine.name)
    catalog = described.get("catalog") or (f"{req.engine.config.backend} index {req.engine.config.index}"
                                           if req.engine.config.index else described.get("url", ""))
    store.start_run({"run_id": run_id, "engine_config": req.engine.name, "config_hash": req.engine.hash,
                     "config": {"engine": req.engine.config.model_dump(mode="json"), "backend": described,
                                "path": str(req.engine.path), "catalog": catalog, "process": this_process()},
                     "judge_id": req.judge.judge_id, "top_k": req.top_k, "queries_source": req.queries_source})
    return run_id, catalog


class PairSeed(NamedTuple):
    """A pair's parts before it is built (`build_pairs(seeds=True)`): a cached pair never becomes a Pair."""

    key: str
    query: Query
    guideline: Guideline
    hit: Hit
    image: Any
    content_hash: str
    judge_id: str  # the judge id in the key (the text-mode one for an image that fell back)

    def pair(self) -> Pair:
        """The Pair, with the key an earlier release stored it under (the guideline file's bytes hash: store/rekey.py)."""
        g = self.guideline
        legacy = judgment_cache_key(self.query.text, self.content_hash, g.file_hash, self.judge_id) if g.file_hash else ""
        return Pair(self.key, JudgeRequest(self.query, g, self.hit, self.image, content_hash=self.content_hash),
                    self.content_hash, legacy)


def build_pairs(queries: Sequence[Query], guidelines: dict[str, Guideline], hits: dict[str, list[Hit]],
                judge: Judge, images: ImageLoader | None, legacy: bool = True,
                hash_of: Callable[[Hit, str], str] | None = None, seeds: bool = False
                ) -> tuple[list[Any], dict[str, list[str]], dict[str, str], list[dict[str, str]]]:
    """Pairs to judge, each query's content hashes, pair key -> 'query id<TAB>doc id', and pairs that cannot be
    judged (an unreadable image): those are listed as failed, never labelled — unless the judge falls back to
    text (`ImageOrText`): then the pair is judged without its image, under the text-mode cache key. A hit no judge
    can label (`Hit.unjudgeable`: a ranked document not in the catalog) is neither judged nor a failure. `legacy=False`:
    the pairs' keys of earlier releases are left out. `seeds=True`: PairSeeds instead of Pairs, and no key map (a
    streamed run builds only the uncached pairs, with their earlier keys: pipeline/streamrun.py)."""
    pairs, hashes, where, failed = [], {}, {}, []
    fallback = judge.text_judge_id if isinstance(judge, ImageOrText) else None
    hash_of = hash_of or content_hasher()  # a product listed for many queries is hashed once (`hash_of`: per command)
    for q in queries:
        g = guidelines[q.id]
        hashes[q.id] = []
        for hit in hits[q.id]:
            if hit.unjudgeable:
                hashes[q.id].append(hash_of(hit, "unjudgeable"))
                continue
            image, image_sha, judge_id = None, "", judge.judge_id
            if images is not None:
                try:
                    image, image_sha = images.load(hit.image_url)
                except ImageUnavailable as exc:
                    if fallback is None:
                        hashes[q.id].append(hash_of(hit, "unavailable"))
                        failed.append({"query_id": q.id, "doc_id": hit.doc_id, "reason": f"image: {exc}"})
                        continue
                    judge_id = fallback  # the text-mode key: never mistaken for an image judgment
            chash = hash_of(hit, image_sha)
            key = judgment_cache_key(q.text, chash, g.hash, judge_id)
            if seeds:
                hashes[q.id].append(chash)
                pairs.append(PairSeed(key, q, g, hit, image, chash, judge_id))
                continue
            earlier = judgment_cache_key(q.text, chash, g.file_hash, judge_id) if legacy and g.file_hash else ""
            hashes[q.id].append(chash)
            pairs.append(Pair(key, JudgeRequest(q, g, hit, image, content_hash=chash), chash, earlier))
            where[key] = f"{q.id}\t{hit.doc_id}"
    return pairs, hashes, where, failed


def drop_covered(store: Store, req: RunRequest, pairs: list[Any], queries: Sequence[Query] | None = None
                 ) -> tuple[list[Any], int]:
    """The pairs left to judge once those a covering human source labelled are taken out, and how many were (the
    pairs (Pairs or PairSeeds) of `queries`, default the request's)."""
    if not req.cover:
        return pairs, 0
    from evalharness.store.labels import labels_for
    from evalharness.textnorm import normalize_query

    queries = req.queries if queries is None else queries
    covered = {pair for source in req.cover for pair in labels_for(store, source, [q.text for q in queries])}
    if not covered:
        return pairs, 0
    norm = {q.text: normalize_query(q.text) for q in queries}
    left = [p for p in pairs if (norm[p.query.text], p.hit.doc_id) not in covered] if pairs and isinstance(pairs[0], PairSeed) \
        else [p for p in pairs if (norm[p.request.query.text], p.request.hit.doc_id) not in covered]
    return left, len(pairs) - len(left)
