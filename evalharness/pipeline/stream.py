"""A run streamed in chunks of queries: search, pairs, stored lists and the cache lookup one chunk at a time, then
the metrics computed per chunk from what the store holds.

Memory holds one chunk's hits and pairs (plus what judging has in flight) whatever the number of queries; nothing
keeps a whole run's hits, pairs or lists. A query's metric values need only its own qrels and hits, so scoring a run
chunk by chunk gives the values scoring it at once gives: queries sharing a guideline (whose pool is one) are scored
with each other's pairs in the pool, and ir-measures sees whether the run as a whole has hits.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from sqlalchemy import func, select

from evalharness.models import Query
from evalharness.pipeline.judging import Pair
from evalharness.pipeline.pairs import PairSeed
from evalharness.store import Store, judgment_cache_key
from evalharness.store.db import StoredQuery
from evalharness.store.runread import RunLists, Wanted, add_pairs, pair_pool, run_hits, run_lists
from evalharness.store.tables import run_queries_t

CHUNK_HITS = 5000  # hits (queries x top k) searched, stored and looked up at a time
FIRST_CHUNK_HITS = 1000  # a run's first chunk: judging starts once it is searched (the rest are searched meanwhile)
_ANY_HITS = "\x00run-has-hits"  # a query id no query has: tells ir-measures the run has hits when a chunk has none
BUILTIN_PROVIDERS = ("image_scores", "verdicts")  # per-hit providers that read only a hit's doc id and image URL


def query_chunks(queries: Sequence[Query], top_k: int, hits: int = CHUNK_HITS, first: int | None = None) -> Iterator[Sequence[Query]]:
    """The queries in order, a chunk at a time: about `hits` hits per chunk at `top_k` hits per query (about `first`
    in the first chunk when given)."""
    size = max(1, hits // max(1, top_k))
    start = 0
    if first is not None and queries:
        start = max(1, first // max(1, top_k))
        yield queries[:start]
    for at in range(start, len(queries), size):
        yield queries[at:at + size]


@dataclass
class Tally:
    """What a streamed run counts as its chunks pass (its counts, without keeping the hits)."""

    hits: int = 0
    zero_hit_queries: int = 0
    unjudgeable: int = 0
    image_fallbacks: int = 0
    covered: int = 0
    cached: int = 0  # pairs found in the store before judging
    failures: list[dict[str, str]] = field(default_factory=list)  # pairs that could not be judged (unreadable image)
    guideline_hashes: set[str] = field(default_factory=set)


class RankedHit(NamedTuple):
    """A place in a stored ranked list, as the built-in per-hit providers read it (no hit decoded)."""

    doc_id: str
    rank: int
    score: float
    image_url: str


def uncached(store: Store, seeds: Sequence[PairSeed], tally: Tally, advance: Callable[[int], None]) -> Iterator[Pair]:
    """The chunk's pairs not cached yet, each key once: the cache looked up here, so judging sees only what is left (a
    fully cached rerun hands it nothing, and builds no Pair)."""
    unique = {s.key: s for s in seeds}
    cached = store.judged_keys(list(unique))
    tally.cached += len(cached)
    advance(len(seeds) - len(unique) + len(cached))
    for key, seed in unique.items():
        if key not in cached:
            yield seed.pair()


def light_queries(lists: Sequence[RunLists]) -> list[StoredQuery]:
    """Stored queries whose hits are places (doc id, rank, score, image URL): what qrels and built-in measures read."""
    return [StoredQuery(q.id, q.text, q.count, q.segment, q.guideline_hash,
                        list(map(RankedHit._make, zip(q.doc_ids, q.ranks, q.scores, q.image_urls))),
                        q.content_hashes, q.error) for q in lists]


def needs_full_hits(names: Sequence[str]) -> bool:
    """Whether a per-hit measure among `names` comes from a provider other than the built-in ones (it may read any
    field of a hit, so it gets decoded hits)."""
    from evalharness.metrics.measures import families, parse_hit_measure, split_measures

    _, ours = split_measures(names)
    known = families()
    for name in ours:
        m = parse_hit_measure(name)
        if m is not None and m.family in known and known[m.family].provider not in BUILTIN_PROVIDERS:
            return True
    return False


def shared_guidelines(store: Store, run_id: str) -> dict[str, list[str]]:
    """Guideline hash -> the query ids of a run that share it (only hashes more than one query has)."""
    c = run_queries_t.c
    with store.engine.connect() as conn:
        dup = [r[0] for r in conn.execute(select(c.guideline_hash).where(c.run_id == run_id).group_by(c.guideline_hash)
                                          .having(func.count() > 1))]
        out: dict[str, list[str]] = {}
        for start in range(0, len(dup), 500):
            for qid, g in conn.execute(select(c.query_id, c.guideline_hash)
                                       .where(c.run_id == run_id, c.guideline_hash.in_(dup[start:start + 500]))):
                out.setdefault(g, []).append(qid)
    return out


def score_streamed(project: Any, store: Store, run_id: str, judge_id: str, queries: Sequence[Query], names: Sequence[str],
                   top_k: int, run_has_hits: bool) -> dict[str, dict[str, float]]:
    """Per-query metric values of a stored run against its pool (the labels of its own pairs), a chunk at a time."""
    return score_streamed_runs(project, store, [run_id], judge_id, queries, names, top_k, [run_has_hits])[0]


def score_streamed_runs(project: Any, store: Store, run_ids: Sequence[str], judge_id: str, queries: Sequence[Query],
                        names: Sequence[str], top_k: int, runs_have_hits: Sequence[bool]) -> list[dict[str, dict[str, float]]]:
    """Per-query metric values of stored runs of the same queries against their shared pool (the labels of the pairs
    in these runs, nothing else: what `evaluate_together` gives), a chunk of queries at a time."""
    from evalharness.labels.schemes import scheme_of
    from evalharness.metrics.ir import per_query_metrics
    from evalharness.metrics.measures import MeasureContext, add_hit_measures, split_measures
    from evalharness.pipeline.scoring import pool_qrels

    scheme = scheme_of(project.config)
    full = needs_full_hits(names)
    hit_measures = bool(split_measures(names)[1])
    siblings = [shared_guidelines(store, run_id) for run_id in run_ids]
    strings: dict[str, str] = {}
    outs: list[dict[str, dict[str, float]]] = [{} for _ in run_ids]
    for chunk in query_chunks(queries, top_k):
        strings.clear()
        ids = [q.id for q in chunk]
        own = set(ids)
        wanted: Wanted = {}
        sides = []
        for run_id in run_ids:
            lists = run_lists(store, run_id, ids, strings=strings)
            for q in lists:
                add_pairs(wanted, q.guideline_hash, q.doc_ids, q.content_hashes)
            sides.append((lists, light_queries(lists)))
        hashes = set(wanted)
        for run_id, sib in zip(run_ids, siblings):
            extra = sorted({qid for g in hashes for qid in sib.get(g, ()) if qid not in own})
            if extra:  # queries of other chunks sharing a guideline: their pairs are in its pool too
                for other in run_lists(store, run_id, extra, strings=strings):
                    add_pairs(wanted, other.guideline_hash, other.doc_ids, other.content_hashes)
        pool = pair_pool(store, judge_id, wanted, rationales=False, strings=strings).labels
        ctx = MeasureContext(project, store, judge_id)  # one per chunk, shared by the runs (their reads overlap)
        for run_id, (lists, stored), has_hits, out in zip(run_ids, sides, runs_have_hits, outs):
            qrels = pool_qrels(pool, stored, scheme)
            run = {q.id: [h.doc_id for h in q.hits] for q in stored}
            if has_hits:
                run[_ANY_HITS] = [_ANY_HITS]
            values = per_query_metrics(names, qrels, run, ids)
            if hit_measures:
                if full:
                    decoded = run_hits(store, run_id, lists)
                    stored = [dataclasses.replace(q, hits=decoded[q.id]) for q in stored]
                add_hit_measures(values, names, ctx, stored)
            out.update(values)
    return outs


def locate_failures(store: Store, run_id: str, queries: Sequence[Query], top_k: int, failed: dict[str, str],
                    judge_ids: Sequence[str]) -> list[dict[str, str]]:
    """The (query, doc) of each failed pair key, found by recomputing the keys of the run's stored lists (only when
    something failed: a streamed run keeps no map of its pairs)."""
    where: dict[str, tuple[str, str]] = {}
    left = set(failed)
    for chunk in query_chunks(queries, top_k):
        if not left:
            break
        for q in run_lists(store, run_id, [q.id for q in chunk]):
            for doc, chash in zip(q.doc_ids, q.content_hashes):
                for jid in judge_ids:
                    key = judgment_cache_key(q.text, chash, q.guideline_hash, jid)
                    if key in left:
                        where[key] = (q.id, doc)
                        left.discard(key)
    return [{"query_id": where[k][0], "doc_id": where[k][1], "reason": reason} for k, reason in failed.items() if k in where]
