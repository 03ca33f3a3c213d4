"""Rebuild the judge request of a pair recorded in `batch_pairs`, from the run that submitted it: its stored hit,
query and guideline, and the image read again (its bytes must hash as they did, or the pair is not the same)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select, tuple_

from evalharness.images import ImageLoader, ImageUnavailable
from evalharness.judges.base import JudgeRequest
from evalharness.models import Hit, Query
from evalharness.project import Project
from evalharness.store import Store, content_hash
from evalharness.store.runread import stored_guidelines
from evalharness.store.tables import run_queries_t, run_results_t

_CHUNK = 400


def rebuild_requests(project: Project, store: Store, rows: Sequence[Any], with_images: bool
                     ) -> dict[str, JudgeRequest | str]:
    """cache key -> the pair's JudgeRequest, or why it cannot be rebuilt (then the pair fails with that reason)."""
    out: dict[str, JudgeRequest | str] = {}
    guidelines = stored_guidelines(store, {r.guideline_hash for r in rows})
    loader = ImageLoader(project) if with_images else None
    r_c, q_c = run_results_t.c, run_queries_t.c
    with store.engine.connect() as conn:
        for start in range(0, len(rows), _CHUNK):
            chunk = rows[start:start + _CHUNK]
            hits = {(h.run_id, h.query_id, h.rank): h for h in conn.execute(
                select(r_c.run_id, r_c.query_id, r_c.rank, r_c.hit).where(
                    tuple_(r_c.run_id, r_c.query_id, r_c.rank).in_([(r.run_id, r.query_id, r.rank) for r in chunk])))}
            queries = {(q.run_id, q.query_id): q for q in conn.execute(
                select(q_c.run_id, q_c.query_id, q_c.text, q_c.count, q_c.segment).where(
                    tuple_(q_c.run_id, q_c.query_id).in_(list({(r.run_id, r.query_id) for r in chunk}))))}
            for r in chunk:
                out[r.cache_key] = _request(r, hits.get((r.run_id, r.query_id, r.rank)), queries.get((r.run_id, r.query_id)),
                                            guidelines, loader)
    return out


def _request(r: Any, hit_row: Any, query_row: Any, guidelines: dict, loader: ImageLoader | None) -> JudgeRequest | str:
    if hit_row is None or query_row is None:
        return f"run {r.run_id} no longer holds this hit, so its request cannot be rebuilt"
    guideline = guidelines.get(r.guideline_hash)
    if guideline is None:
        return f"guideline {r.guideline_hash[:12]} is not recorded in the store"
    hit = Hit.from_json(hit_row.hit if isinstance(hit_row.hit, dict) else json.loads(hit_row.hit))
    image, image_sha = None, ""
    if loader is not None and not r.fallback:
        try:
            image, image_sha = loader.load(hit.image_url)
        except ImageUnavailable as exc:
            return f"image: {exc}"
    if content_hash(hit, image_sha) != r.content_hash:
        return "the product or its image changed since the pair was submitted"
    query = Query(query_row.query_id, query_row.text, query_row.count, query_row.segment)
    return JudgeRequest(query, guideline, hit, image, content_hash=r.content_hash)
