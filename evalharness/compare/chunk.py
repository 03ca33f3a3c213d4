"""One chunk of a comparison: a contiguous share of the compared queries, scored on every compared run.

`compare` splits its queries into chunks and scores them at once in forked workers (evalharness.runtime.forked). Each chunk
reads only its own queries' ranked lists, guidelines and judgment pool; looks for (guideline, content) pairs never
judged; and, when none is missing (or when told to score anyway), scores every compared run on its queries: per-query
values, rule-check findings and label coverage. What a chunk returns is either per query (concatenated in query
order) or keyed by guideline or content hash (merged), so the comparison does not depend on how queries were split.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from operator import itemgetter
from typing import Any

import numpy as np

from evalharness.checks.base import Finding
from evalharness.checks.compared import query_type, side_findings
from evalharness.compare.comparison import ComparedQuery
from evalharness.compare.stats import jaccard, rbo
from evalharness.judges.base import Judge
from evalharness.models import Guideline, Query
from evalharness.project import Project
from evalharness.store import Store, StoredRun
from evalharness.store.runread import RunLists, Wanted, add_pairs, pair_pool, products_by_content, run_hits, run_lists

_NONE: frozenset[str] = frozenset()
_FINDING_FIELDS = [f.name for f in fields(Finding)]
_EMPTY: dict[str, str] = {}


@dataclass
class ChunkPlan:
    """What every chunk of one comparison shares (inherited by forked workers, never pickled)."""

    project: Project
    store: Store
    runs: Sequence[StoredRun]
    judge: Judge
    metrics: Sequence[str]
    queries: list[Query]  # every compared query (the baseline's ids)
    own_ids: list[list[str]]  # per run: its own query id of each compared query
    bounds: list[tuple[int, int]]  # each chunk's [start, end) in queries
    for_report: bool = False
    labels: str | None = None  # a --labels source spec
    check_k: int = 10
    checks: list[Any] = field(default_factory=list)  # the enabled rule checks, made once: shared by every run and chunk


@dataclass
class SideChunk:
    """One compared run on a chunk's queries."""

    doc_ids: list[list[str]]
    content_hashes: list[list[str]]
    values: dict[str, np.ndarray]
    findings: list[Finding]
    counts: dict[str, int]  # hits per label ('unjudged' too)
    unjudged: int
    hits: int
    overlap: tuple[list[float], list[float]] = ([], [])  # per query: Jaccard and RBO against the baseline's list
    sources: dict[str, int] = field(default_factory=dict)  # hits per label source that labelled them

    def __getstate__(self) -> dict[str, Any]:
        """Sent from a forked worker: the findings as columns of their fields (a third of pickling Finding objects)."""
        state = dict(vars(self))
        found = state.pop("findings")
        state["finding_columns"] = [[getattr(f, name) for f in found] for name in _FINDING_FIELDS] if found else []
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        columns = state.pop("finding_columns")
        state["findings"] = list(map(Finding, *columns)) if columns else []
        vars(self).update(state)


@dataclass
class ChunkResult:
    """A chunk scored (sides filled), or what it found missing: guideline files (`unwritten`) or pairs never judged
    (`missing`); sides are then empty."""

    compared: list[ComparedQuery] = field(default_factory=list)
    guidelines: dict[str, Guideline] = field(default_factory=dict)  # by file hash
    sides: list[SideChunk] = field(default_factory=list)
    pool_sizes: dict[str, int] = field(default_factory=dict)  # judgments read per guideline hash
    labels: dict[str, dict[str, tuple[str, str]]] = field(default_factory=dict)  # the pool's labels (reports only)
    products: list[dict[str, dict[str, Any]]] = field(default_factory=list)  # per run, by content hash (reports only)
    missing: list[Any] = field(default_factory=list)
    failed: list[dict[str, str]] = field(default_factory=list)
    unwritten: list[Query] = field(default_factory=list)  # queries whose guideline file does not exist yet


def chunk_bounds(n: int, chunks: int) -> list[tuple[int, int]]:
    """[start, end) of `chunks` contiguous, nearly equal shares of n queries."""
    chunks = max(1, min(chunks, n))
    edges = [round(i * n / chunks) for i in range(chunks + 1)]
    return list(zip(edges, edges[1:]))


def score_chunk(plan: ChunkPlan, index: int, find_missing: bool) -> ChunkResult:
    """Chunk `index` of the plan: its missing pairs when `find_missing` finds any, else its scores."""
    from evalharness.guidelines.cached import load_guidelines
    from evalharness.metrics.measures import verdict_depth

    start, end = plan.bounds[index]
    queries = plan.queries[start:end]
    store, project, judge = plan.store, plan.project, plan.judge
    strings: dict[str, str] = {}  # doc ids, hashes and URLs shared by every run's lists (and sent back once)
    lists = [run_lists(store, run.run_id, ids[start:end], strings=strings) for run, ids in zip(plan.runs, plan.own_ids)]
    unwritten: list[Query] = []
    guidelines = load_guidelines(project, store, queries, project.config.guidelines.writer, unwritten)
    if unwritten:  # written by the parent, once (two chunks may need the same file), then this chunk again
        return ChunkResult(unwritten=unwritten)
    ghash = [guidelines[q.id].hash for q in queries]
    wanted = compared_pairs(plan, lists, ghash)  # the pool rule: only the compared runs' pairs
    depth = verdict_depth(plan.metrics)  # verdicts are read for the places the verdict measures read, no deeper
    pool = pair_pool(store, judge.judge_id, wanted, plan.for_report, depth is not None, strings,
                     None if depth is None else _top_docs(lists, ghash, depth))
    result = ChunkResult(pool_sizes=pool.sizes, labels=pool.labels if plan.for_report else {})
    if find_missing:
        result.missing, result.failed = _missing_pairs(plan, lists, queries, guidelines, ghash, pool.covered)
        if result.missing:
            return result
    result.guidelines = {g.hash: g for g in guidelines.values()}
    result.compared = [ComparedQuery(q.id, q.text, q.segment, q.count, g,
                                     {"type": query_type(q.text, guidelines[q.id].requirements, len(bq.doc_ids))})
                       for q, bq, g in zip(queries, lists[0], ghash)]
    result.sides = _score_sides(plan, lists, queries, ghash, pool, result, wanted)
    if plan.for_report:
        result.products = [products_by_content(store, [(run.run_id, side_q)]) for run, side_q in zip(plan.runs, lists)]
    return result


def hashes_usable(run: StoredRun, judge: Judge) -> bool:
    """Whether a run's stored content hashes are the judge's (both judged text, or both the same non-text mode)."""
    mode = judge_mode_of(run.judge_id)
    return (mode == "text") == (judge.mode == "text") and mode != ""


def compared_pairs(plan: ChunkPlan, lists: list[list[RunLists]], ghash: list[str]) -> Wanted:
    """The (guideline, doc, content) pairs the compared runs list on the chunk's queries."""
    wanted: Wanted = {}
    for run, side_q in zip(plan.runs, lists):
        usable = hashes_usable(run, plan.judge)
        for g, q in zip(ghash, side_q):
            add_pairs(wanted, g, q.doc_ids, q.content_hashes if usable else None)
    return wanted


def _top_docs(lists: list[list[RunLists]], ghash: list[str], depth: int) -> dict[str, set[str]]:
    """guideline hash -> the docs some compared list ranks within `depth` for it."""
    top: dict[str, set[str]] = {}
    for side_q in lists:
        for g, q in zip(ghash, side_q):
            top.setdefault(g, set()).update(q.doc_ids[:depth])
    return top


def _score_sides(plan: ChunkPlan, lists: list[list[RunLists]], queries: list[Query], ghash: list[str], pool: Any,
                 result: ChunkResult, wanted: Wanted) -> list[SideChunk]:
    """Every compared run's per-query values, findings and coverage on the chunk's queries."""
    from evalharness.checks.runner import enabled_checks
    from evalharness.labels.schemes import scheme_of
    from evalharness.metrics.ir import per_query_metrics_runs
    from evalharness.metrics.measures import MeasureContext, add_hit_measures, split_measures

    project, store, metrics = plan.project, plan.store, plan.metrics
    ids = [q.id for q in queries]
    scheme = scheme_of(project.config)
    label_of = itemgetter(0)  # (label, rationale) -> label; the per-doc maps below are built in C (zip, map)
    plain = {g: dict(zip(docs, map(label_of, docs.values()))) for g in set(ghash)
             for docs in [pool.labels.get(g, _EMPTY)]}  # doc -> label
    gains = {lab: scheme.gain(lab) for lab in set().union(*map(dict.values, plain.values()))}
    gain_of = gains.__getitem__
    qrels = {q.id: dict(zip(docs, map(gain_of, docs.values()))) for q, g in zip(queries, ghash)
             for docs in [plain[g]]}  # as pipeline.graded
    known = [plain[g] for g in ghash]  # per query: doc -> label, what coverage counts
    origin: list[dict[str, str]] | None = None  # per query: doc -> the source that labelled it (None: the judge, all)
    if plan.labels:  # a label source (--labels): e.g. people's labels where they exist, then the judge
        from evalharness.labels.sources import qrels_for_queries

        sourced = qrels_for_queries(project.config, store, plan.labels, queries, ghash, wanted)
        qrels = sourced.qrels
        known = [sourced.labels[q.id] for q in queries]
        origin = [sourced.origin[q.id] for q in queries]
    if not plan.checks:
        plan.checks = enabled_checks(project.config.checks)
    checked = bool(plan.checks)
    hit_measures = bool(split_measures(metrics)[1])
    measure_ctx = MeasureContext(project, store, plan.judge.judge_id)  # one context: providers share reads across runs
    if pool.verdicts is not None:
        from evalharness.metrics.verdict_measures import prime_verdicts

        prime_verdicts(measure_ctx, ghash, pool.verdicts, pool.labels,
                       {h: g.requirements for h, g in result.guidelines.items()})
    from evalharness.judges.specs import judge_spec_of

    judge_name = judge_spec_of(plan.judge.judge_id)
    sides: list[SideChunk] = []
    scored = per_query_metrics_runs(metrics, qrels, [dict(zip(ids, (q.doc_ids for q in side_q))) for side_q in lists], ids)
    for run, side_q, per in zip(plan.runs, lists, scored):
        doc_ids = [q.doc_ids for q in side_q]
        own_ids = [q.id for q in side_q]
        decoded = run_hits(store, run.run_id, side_q) if checked or hit_measures else {}
        if hit_measures:
            ranked = [_Ranked(qid, decoded.get(own, []), g) for qid, own, g in zip(ids, own_ids, ghash)]
            add_hit_measures(per, metrics, measure_ctx, ranked)
        found = side_findings(project, result.compared, result.guidelines, plain, decoded, own_ids, plan.check_k,
                              plan.checks) if checked else []
        del decoded
        counts, unjudged, total = _coverage(doc_ids, known)
        sides.append(SideChunk(doc_ids, [q.content_hashes for q in side_q],
                               {m: np.array([per[i][m] for i in ids], dtype=float) for m in metrics},
                               found, counts, unjudged, total,
                               sources=_by_source(doc_ids, origin, judge_name) if origin is not None
                               else {judge_name: total - unjudged} if total > unjudged else {}))
        if len(sides) > 1:  # a candidate: how its lists overlap the baseline's (as Comparison.list_overlap computes it)
            base = sides[0].doc_ids
            sides[-1].overlap = ([jaccard(b, c) for b, c in zip(base, doc_ids)], [rbo(b, c) for b, c in zip(base, doc_ids)])
    return sides


def _missing_pairs(plan: ChunkPlan, lists: list[list[RunLists]], queries: list[Query], guidelines: dict,
                   ghash: list[str], covered: dict[str, set[str]]) -> tuple[list[Any], list[dict[str, str]]]:
    """Pairs never judged: found from stored content hashes; only their queries' hits are decoded."""
    from evalharness.images import ImageLoader
    from evalharness.pipeline.run import build_pairs

    judge = plan.judge
    images = ImageLoader(plan.project, judge) if judge.mode != "text" else None
    pairs: dict[str, Any] = {}
    failed: list[dict[str, str]] = []
    for run, side_q in zip(plan.runs, lists):
        usable = hashes_usable(run, judge)
        need = [i for i, q in enumerate(side_q)
                if not usable or not covered.get(ghash[i], _NONE).issuperset(q.content_hashes)]
        if not need:
            continue
        decoded = run_hits(plan.store, run.run_id, [side_q[i] for i in need])
        for i in need:
            q = queries[i]
            built, _, _, pre_failed = build_pairs([q], guidelines, {q.id: decoded.get(side_q[i].id, [])}, judge, images)
            for p in built:
                pairs.setdefault(p.key, p)
            failed += pre_failed
    return list(pairs.values()), failed


_JUDGE = ""  # the comparison's judge, as a source: named by its spec once the counts are made


def _by_source(doc_ids: list[list[str]], origin: list[dict[str, str]], judge: str) -> dict[str, int]:
    """A side's hits per label source that labelled them (the comparison's judge under its spec)."""
    counts: Counter[str] = Counter()
    for labelled, docs in zip(origin, doc_ids):
        counts.update(src for src in map(labelled.get, docs) if src is not None)
    return {(src or judge): n for src, n in counts.items()}


@dataclass(frozen=True)
class _Ranked:
    """A query's ranked hits as per-hit measures see them (id aligned with the baseline's)."""

    id: str
    hits: list
    guideline_hash: str


def _coverage(doc_ids: list[list[str]], known: list[dict[str, str]]) -> tuple[dict[str, int], int, int]:
    """A side's hits per label ('unjudged' too, each in the order first met), how many are unjudged, how many in all."""
    counts: Counter[str | None] = Counter()
    for labels, docs in zip(known, doc_ids):
        counts.update(map(labels.get, docs))  # None: not labelled
    total = sum(counts.values())
    return {("unjudged" if lab is None else lab): n for lab, n in counts.items()}, counts.get(None, 0), total


def judge_mode_of(judge_id: str) -> str:
    """The mode (text, image, caption) recorded in a judge id, or '' when it cannot be read."""
    parts = judge_id.split(":")
    return parts[2] if len(parts) > 2 and parts[2] in ("text", "image", "caption") else ""
