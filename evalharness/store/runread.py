"""Read paths for comparing stored runs: ranked lists and content hashes without decoding hits, the labels of
exactly the compared pairs (the pool rule), and hits decoded only where a report or a missing pair needs them.

Every function costs in proportion to the runs and guidelines asked for, never to the size of the store.
"""

from __future__ import annotations

import json
from collections.abc import Container, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import chain
from typing import Any, TypeVar

from sqlalchemy import Text, select, type_coerce

from evalharness.errors import EvalHarnessError
from evalharness.models import Guideline, Hit, PlacedHit, Requirement
from evalharness.runtime.gcpause import gc_paused
from evalharness.store.db import Store, StoredRun
from evalharness.store.ranked import parse_ranked
from evalharness.store.rawrows import raw_rows, raw_sql_batches, raw_sql_rows
from evalharness.store.tables import guidelines_t, run_queries_t, run_results_t, runs_t
from evalharness.store.verdicts import verdicts_in

CHUNK = 500
K = TypeVar("K")


@dataclass
class RunLists:
    """One query of a stored run: its metadata and ranked list (doc ids, the content hashes the run judged, ranks,
    scores and image URLs), read without decoding a hit."""

    id: str
    text: str
    count: int
    segment: str
    guideline_hash: str
    error: str | None
    doc_ids: list[str] = field(default_factory=list)
    content_hashes: list[str] = field(default_factory=list)
    ranks: list[int] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    image_urls: list[str] = field(default_factory=list)
    results_run: str | None = None  # the run whose rows hold these hits, when an earlier run's (shared: unchanged list)


def run_lists(store: Store, run_id: str, query_ids: Sequence[str] | None = None, with_lists: bool = True,
              strings: dict[str, str] | None = None) -> list[RunLists]:
    """A run's queries, each with its ranked list: one row per query (its compact list), not per hit.

    All of them ordered by query id, or those of `query_ids` in that order; `with_lists=False` reads only their
    metadata (what matching runs' queries needs). `strings` de-duplicates doc ids, hashes and URLs (pass one dict
    to share them across runs)."""
    q = run_queries_t.c
    cols = [q.query_id, q.text, q.count, q.segment, q.guideline_hash, q.error, q.results_run] + ([q.ranked] if with_lists else [])
    if query_ids is None:
        stmts = [select(*cols).where(q.run_id == run_id).order_by(q.query_id)]
    else:
        stmts = [select(*cols).where(q.run_id == run_id, q.query_id.in_(query_ids[start:start + CHUNK]))
                 for start in range(0, len(query_ids), CHUNK)]
    out = []
    strings = {} if strings is None else strings  # one copy of each doc id, hash and URL however often it recurs
    with gc_paused(), store.engine.connect() as conn:
        for stmt in stmts:
            for row in raw_rows(conn, stmt):
                lists = RunLists(*row[:6])
                if row[6] is not None and row[6] != run_id:
                    lists.results_run = row[6]
                if with_lists:
                    if row[7] is None:  # every stored query has one (migration 0008 filled those stored before it)
                        raise EvalHarnessError(f"run {run_id} query {row[0]!r} has no ranked list in the store; "
                                               "run `evalharness store upgrade`")
                    lists.doc_ids, lists.content_hashes, lists.ranks, lists.scores, lists.image_urls = parse_ranked(row[7], strings)
                out.append(lists)
    if query_ids is None:
        return out
    by_id = {lists.id: lists for lists in out}
    absent = [qid for qid in query_ids if qid not in by_id]
    if absent:
        raise EvalHarnessError(f"run {run_id} in the store lacks {len(absent)} of its queries (first: {absent[0]!r}); "
                               "it changed while being compared: compare again")
    return [by_id[qid] for qid in query_ids]


# Fewer distinct products than this share of a run's hits: fetch each by key; more: one scan of the run's hits.
LOOKUP_SHARE = 0.3


def run_hits(store: Store, run_id: str, lists: Sequence[RunLists]) -> dict[str, list[Hit]]:
    """Decoded hits (ordered by rank) of some queries of a run, keyed by query id.

    Each distinct product (doc id, content hash, image URL) is decoded once, from the row of its first place: fetched
    by key when products recur, found in one scan of the run's hits when most are distinct."""
    first: dict[tuple[str, str, str], tuple[str, int]] = {}
    keys = []  # per query, each place's product key
    total = 0
    for q in lists:
        total += len(q.doc_ids)
        own = list(zip(q.doc_ids, q.content_hashes, q.image_urls))
        keys.append(own)
        for key, rank in zip(own, q.ranks):
            if key not in first:
                first[key] = (q.id, rank)
    products = _products(store, run_id, first, lookup=len(first) <= LOOKUP_SHARE * total, sources=_sources(lists))
    fields = {key: _product_fields(hit) for key, hit in products.items()}
    new = object.__new__
    out: dict[str, list[Hit]] = {}
    with gc_paused():
        for q, own in zip(lists, keys):
            placed = out[q.id] = [new(PlacedHit) for _ in own]
            for hit, key, rank, score in zip(placed, own, q.ranks, q.scores):
                hit.__dict__ = fields[key]  # the product's decoded fields, shared by its places
                hit.rank, hit.score = rank, score
    return out


def _product_fields(hit: Hit) -> dict[str, Any]:
    """A decoded product's fields without its place (rank and score), as its PlacedHits share them."""
    shared = dict(vars(hit))
    del shared["rank"], shared["score"]
    return shared


def _sources(lists: Sequence[RunLists]) -> dict[str, str]:
    """query id -> the earlier run whose rows hold its hits, for the queries of a run that share them."""
    return {q.id: q.results_run for q in lists if q.results_run}


def _products(store: Store, run_id: str, first: Mapping[K, tuple[str, int]], lookup: bool,
              sources: Mapping[str, str] | None = None) -> dict[K, Hit]:
    """Each distinct product of a run decoded once, from the row of its first place: fetched by key, or found in one
    scan of the run's hits. A place of a query whose hits an earlier run holds (`sources`) is fetched there by key."""
    r = run_results_t.c
    sources = sources or {}
    by_place = {(sources.get(place[0], run_id), *place): key for key, place in first.items()}
    elsewhere: dict[str, list[tuple[str, int]]] = {}
    for source, qid, rank in by_place:
        if source != run_id:
            elsewhere.setdefault(source, []).append((qid, rank))
    out: dict[K, Hit] = {}
    with gc_paused(), store.engine.connect() as conn:
        if lookup:
            places = sorted(place[1:] for place in by_place if place[0] == run_id)
            batches = [_tagged(run_id, _place_rows(conn, run_id, places[start:start + CHUNK]))
                       for start in range(0, len(places), CHUNK)]
        else:
            batches = [_tagged(run_id, raw_rows(conn, select(r.query_id, r.rank, type_coerce(r.hit, Text)).where(r.run_id == run_id)))]
        for source, places in elsewhere.items():
            places.sort()
            batches += [_tagged(source, _place_rows(conn, source, places[start:start + CHUNK]))
                        for start in range(0, len(places), CHUNK)]
        for rows in batches:
            for source, qid, rank, raw in rows:
                key = by_place.get((source, qid, rank))
                if key is not None:
                    out[key] = Hit.from_json(json.loads(raw) if isinstance(raw, str) else raw)
    if len(out) < len(first):
        raise EvalHarnessError(f"run {run_id} in the store lacks {len(first) - len(out)} hit(s) its ranked lists name; "
                               "run it again")
    return out


def _tagged(run_id: str, rows: Iterable[tuple[Any, ...]]) -> Iterator[tuple[Any, ...]]:
    """Rows (query id, rank, hit) as (run id, query id, rank, hit)."""
    for row in rows:
        yield (run_id, *row)


def _place_rows(conn: Any, run_id: str, places: Sequence[tuple[str, int]]) -> Iterator[tuple[Any, ...]]:
    """The hits at these (query id, rank) places of a run: each place one primary-key lookup (a join with the places
    as a VALUES list; SQLite would scan all of the run's hits for a row-value IN)."""
    sql = (f"WITH places(qid, place) AS (VALUES {', '.join(['(?, ?)'] * len(places))}) "
           "SELECT run_results.query_id, run_results.rank, run_results.hit FROM places JOIN run_results "
           "ON run_results.run_id = ? AND run_results.query_id = places.qid AND run_results.rank = places.place")
    return raw_sql_rows(conn, sql, [*(v for place in places for v in place), run_id])


def products_by_content(store: Store, runs: Sequence[tuple[str, Sequence[RunLists]]]) -> dict[str, dict[str, Any]]:
    """content hash -> the fields of a hit with that content (the first place it holds in the runs' lists, in order),
    each distinct product decoded once: `runs` are (run id, its lists)."""
    out: dict[str, dict[str, Any]] = {}
    for run_id, lists in runs:
        first: dict[str, tuple[str, int]] = {}
        total = 0
        for q in lists:
            total += len(q.content_hashes)
            for chash, rank in zip(q.content_hashes, q.ranks):
                if chash not in out:
                    first.setdefault(chash, (q.id, rank))
        if first:
            for chash, hit in _products(store, run_id, first, lookup=len(first) <= LOOKUP_SHARE * total,
                                        sources=_sources(lists)).items():
                out[chash] = hit.to_json()
    return out


@dataclass
class Pool:
    """The labels one judge gave some (guideline, doc, content) pairs: labels by doc id, and what (guideline, content)
    they cover; with `verdicts`, each doc's per-requirement verdicts too (guideline hash -> doc id -> verdicts)."""

    labels: dict[str, dict[str, tuple[str, str]]]
    covered: dict[str, set[str]]  # guideline hash -> the content hashes judged under it
    size: int
    verdicts: dict[str, dict[str, list[dict[str, str]]]] | None = None
    sizes: dict[str, int] = field(default_factory=dict)  # guideline hash -> labels read under it


# The pool rule, said in every comparison's output: a comparison is scored on its own inputs.
POOL_RULE = ("qrels hold only the labels of the pairs in the runs compared (and of the label sources named); "
             "other runs, judges and labels in the store change no figure")

# (guideline, doc) pairs per lookup statement: on PostgreSQL 5,000 (15,001 parameters, within its limit: fewer round
# trips); on SQLite 500, whose statement of 5,000 VALUES rows costs more to prepare and run than ten of 500
# (646,410 lookups: 1.22 -> 0.92 s CPU)
PAIR_CHUNK = 5000
SQLITE_PAIR_CHUNK = 500
# guideline hash -> doc id -> the content hashes listed: one hash (a str, as most docs are listed with one content),
# a set of several, or None (any content counts)
Wanted = dict[str, dict[str, "str | set[str] | None"]]


def add_pairs(wanted: Wanted, guideline_hash: str, doc_ids: Sequence[str], content_hashes: Sequence[str] | None) -> Wanted:
    """Add one ranked list's (guideline, doc, content) pairs to `wanted`; `content_hashes` None when the list's hashes
    are not the judge's (a run judged in another mode): then a judgment of the doc in any content counts."""
    docs = wanted.setdefault(guideline_hash, {})
    if content_hashes is None:
        for doc in doc_ids:
            docs[doc] = None
        return wanted
    if not docs:  # the guideline's first list: its docs as they come, unless one repeats
        docs.update(zip(doc_ids, content_hashes))
        if len(docs) == len(doc_ids):
            return wanted
        docs.clear()
    for doc, chash in zip(doc_ids, content_hashes):
        known = docs.get(doc, _ABSENT)
        if known is _ABSENT:
            docs[doc] = chash
        elif known is None or known == chash:
            continue
        elif type(known) is str:
            docs[doc] = {known, chash}
        else:
            known.add(chash)
    return wanted


def listed(contents: str | set[str] | None, chash: str) -> bool:
    """Whether a content hash is one `wanted` lists for a doc (`contents` as add_pairs keeps them)."""
    return contents is None or contents == chash or (type(contents) is not str and chash in contents)


_ABSENT: Any = object()  # add_pairs: a doc not yet in `wanted` (None there means any content)


def stored_pairs(queries: Iterable[Any]) -> Wanted:
    """The (guideline, doc, content) pairs of stored queries (StoredQuery: hits and content hashes)."""
    wanted: Wanted = {}
    for q in queries:
        add_pairs(wanted, q.guideline_hash, [h.doc_id for h in q.hits], q.content_hashes)
    return wanted


def pair_pool(store: Store, judge_id: str, wanted: Wanted, rationales: bool = True, verdicts: bool = False,
              strings: dict[str, str] | None = None, verdict_docs: Mapping[str, Container[str]] | None = None) -> Pool:
    """The labels this judge gave exactly the pairs in `wanted` (the pool rule: nothing another run added counts).

    One indexed lookup per (guideline, doc); a judgment counts when its content is one the lists hold (any content
    where they hold None); the newest such judgment of a doc wins (by creation time, then cache key), and the newest
    with verdicts gives its verdicts (only of `verdict_docs`, guideline hash -> docs, when given: the places a measure
    reads). `covered` lists the contents judged. The rows are read in one pass and not kept; the few docs judged more
    than once are read again, with their times, to find the newest."""
    order = sorted(wanted)
    places = [(g, doc) for g in order for doc in sorted(wanted[g])]
    labels: dict[str, dict[str, tuple[str, str]]] = {g: {} for g in order}  # in guideline order, empty ones dropped
    covered: dict[str, set[str]] = {g: set() for g in order}
    found: dict[str, dict[str, list[dict[str, str]]]] = {}
    decoded: dict[str, Any] = {}
    one = ({} if strings is None else strings).setdefault
    again: set[tuple[str, str]] = set()  # (guideline, doc) pairs with more than one counted judgment
    bare: dict[str, tuple[str, str]] = {}
    cols = "j.content_hash, j.label, " + ("j.rationale" if rationales else "''") + (", CAST(j.details AS TEXT)" if verdicts else "")
    of_details: dict[str, Any] = {}  # details text -> its verdicts (None: none), each distinct text decoded once
    top: Container[str] | None = None  # the guideline's docs whose verdicts are kept (None: all)
    with gc_paused(), store.engine.connect() as conn:
        last = None
        for rows in _pair_batches(conn, judge_id, places, cols):
            for row in rows:  # (place index, content hash, label, rationale[, details])
                g, doc = places[row[0]]
                chash = row[1]
                if g is not last:
                    last, docs_listed, docs, contents_judged = g, wanted[g], labels[g], covered[g]
                    top = None if verdict_docs is None else verdict_docs.get(g, ())
                contents = docs_listed[doc]
                if contents is not None and contents != chash and (type(contents) is str or chash not in contents):
                    continue  # a judgment of content no compared list holds (`listed`, inline)
                contents_judged.add(contents if type(contents) is str else one(chash, chash))
                if doc in docs:
                    again.add((g, doc))
                if rationales:
                    docs[doc] = (one(row[2], row[2]), row[3])
                else:  # (label, '') is one shared tuple per label
                    docs[doc] = bare.get(row[2]) or bare.setdefault(row[2], (one(row[2], row[2]), ""))
                if verdicts and (top is None or doc in top):
                    text = row[4]  # the details as text (CAST), None when the judgment has none
                    v = of_details.get(text, _ABSENT) if type(text) is str else verdicts_in(text, decoded)
                    if v is _ABSENT:
                        v = of_details[text] = verdicts_in(text, decoded)  # None for "null" (no details)
                    if v is not None:
                        found.setdefault(g, {})[doc] = v
        if again:  # the newest judgment of each, in time order as stored
            redo = sorted(again)
            rows = sorted(chain.from_iterable(_pair_batches(conn, judge_id, redo, cols + ", j.created_at, j.cache_key")),
                          key=lambda r: (redo[r[0]][0], r[-2], r[-1]))
            for g, doc in again:
                found.get(g, {}).pop(doc, None)
            for row in rows:
                (g, doc), chash = redo[row[0]], row[1]
                if not listed(wanted[g][doc], chash):
                    continue
                labels[g][doc] = (one(row[2], row[2]), row[3])
                if verdicts and (verdict_docs is None or doc in verdict_docs.get(g, ())):
                    v = verdicts_in(row[4], decoded)
                    if v is not None:
                        found.setdefault(g, {})[doc] = v
    labels = {g: docs for g, docs in labels.items() if docs}
    covered = {g: chashes for g, chashes in covered.items() if chashes}
    sizes = {g: len(docs) for g, docs in labels.items()}
    return Pool(labels, covered, sum(sizes.values()), found if verdicts else None, sizes)


def _pair_batches(conn: Any, judge_id: str, places: Sequence[tuple[str, str]], cols: str) -> Iterator[list[tuple[Any, ...]]]:
    """The judge's judgments of these (guideline, doc) places, in batches of rows: each row the place's index in
    `places`, then `cols` of judgments `j`; PAIR_CHUNK places a statement (SQLITE_PAIR_CHUNK on SQLite; the index saves
    decoding the place's strings again). Batches, not rows: the caller's loop over a batch runs without a generator
    step per row."""
    chunk = SQLITE_PAIR_CHUNK if conn.dialect.name == "sqlite" else PAIR_CHUNK
    for start in range(0, len(places), chunk):
        part = places[start:start + chunk]
        # CROSS JOIN: SQLite keeps the pairs as the outer loop (one index seek each); with a plain JOIN of a few
        # hundred pairs its planner builds an automatic index over the whole judgments table instead.
        sql = (f"WITH pairs(i, g, doc) AS (VALUES {', '.join(['(?, ?, ?)'] * len(part))}) SELECT pairs.i, {cols} "
               "FROM pairs CROSS JOIN judgments j WHERE j.guideline_hash = pairs.g AND j.judge_id = ? "
               "AND j.doc_id = pairs.doc")
        params = [None] * (3 * len(part))  # (i, g, doc) per place, laid out by slices (no generator per value)
        params[0::3], params[1::3], params[2::3] = range(start, start + len(part)), *zip(*part)
        yield from raw_sql_batches(conn, sql, [*params, judge_id])


def stored_guidelines(store: Store, hashes: Iterable[str], by_file: bool = False) -> dict[str, Guideline]:
    """Guidelines recorded in the store under these guideline hashes, or (`by_file`) these files' sha256, keyed by
    the hash asked for (no YAML parsing)."""
    g = guidelines_t.c
    column = g.file_hash if by_file else g.hash
    wanted = sorted(set(hashes))
    out: dict[str, Guideline] = {}
    with gc_paused(), store.engine.connect() as conn:
        for start in range(0, len(wanted), CHUNK):
            stmt = select(column, g.hash, g.query, g.path, g.writer, g.model, type_coerce(g.requirements, Text), g.text,
                          g.file_hash).where(column.in_(wanted[start:start + CHUNK]))
            for key, digest, query, path, writer, model, reqs, text, file_hash in raw_rows(conn, stmt):
                reqs = json.loads(reqs) if isinstance(reqs, str) else reqs
                out[key] = Guideline(query, tuple(Requirement(**r) for r in reqs or ()), text, writer, model or "",
                                     hash=digest, path=path, file_hash=file_hash or "")
    return out


def newest_run(store: Store, engine_config: str) -> StoredRun | None:
    """The newest run of an engine config, whatever its status (a comparison then says if it is not clean)."""
    with store.engine.connect() as conn:
        row = conn.execute(select(runs_t).where(runs_t.c.engine_config == engine_config)
                           .order_by(runs_t.c.started_at.desc(), runs_t.c.run_id.desc())).first()
    return store._run_from_row(row) if row else None


def report_run(store: Store, ref: str | None) -> StoredRun:
    """The run `report` shows: a run id names that run whatever its status; an engine config name (or none) means
    its (the store's) latest finished run, never a failed, partial or interrupted one."""
    if ref is not None:
        named = store.get_run(ref)
        if named is not None:
            return named
    cond = runs_t.c.status == "finished"
    with store.engine.connect() as conn:
        row = conn.execute(select(runs_t).where(cond if ref is None else cond & (runs_t.c.engine_config == ref))
                           .order_by(runs_t.c.started_at.desc(), runs_t.c.run_id.desc())).first()
    if row is not None:
        return store._run_from_row(row)
    if ref is None:
        raise EvalHarnessError("no finished run in the store; run `evalharness run -e CONFIG` first, or name a run id")
    newest = newest_run(store, ref)
    if newest is None:
        raise EvalHarnessError(f"no stored run for '{ref}'; run `evalharness run --engine-config {ref}` first")
    raise EvalHarnessError(f"'{ref}' has no finished run; its newest run {newest.run_id} is '{newest.status}': "
                           f"name it to see it (`evalharness report {newest.run_id}`)")

