"""Compare stored runs: N candidates against one baseline, paired statistics per candidate x metric.

Works from what the store already knows: each run's ranked doc ids and content hashes, and one pass
over the judgment pool of the compared guidelines, which also says which (guideline, content) pairs
were never judged. Only those are decoded, built into pairs and sent to the judge; hits that still lack
a judgment are counted as unjudged and shown, never silently scored.

The compared queries are split into contiguous chunks scored at once in forked workers (compare_chunk.py):
each reads its own lists, guidelines and judgments; this process judges what they found missing, merges
their per-query values in query order and runs the paired tests.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from evalharness.checks.compared import population_tests
from evalharness.compare.chunk import ChunkPlan, ChunkResult, chunk_bounds, score_chunk
from evalharness.compare.comparison import Comparison, MetricRow, Side
from evalharness.compare.stats import holm
from evalharness.errors import EvalHarnessError
from evalharness.judges.base import Judge
from evalharness.judges.specs import judge_spec_of as judge_spec_of  # re-exported: its callers import it from here
from evalharness.models import Query
from evalharness.project import Project
from evalharness.runtime.forked import map_steps, usable_workers
from evalharness.runtime.gcpause import gc_paused
from evalharness.store import Store, StoredRun
from evalharness.store.runread import RunLists, newest_run, run_lists

CLEAN_STATUSES = ("finished",)
DEFAULT_HOLM_EXCLUDE = ("Judged",)


def resolve_run(store: Store, ref: str) -> StoredRun:
    """A run id, or an engine config name meaning its newest run (whatever its status)."""
    run = store.get_run(ref) or newest_run(store, ref)
    if run is None:
        raise EvalHarnessError(f"no stored run for '{ref}'; run `evalharness run --engine-config {ref}` first")
    return run


def check_clean(run: StoredRun, allow_partial: bool) -> None:
    """Refuse a run that did not finish cleanly (partial, failed, interrupted, running) unless allowed."""
    if run.status in CLEAN_STATUSES or allow_partial:
        return
    if run.status == "waiting":
        raise EvalHarnessError(f"run {run.run_id} is waiting for provider batch results; run `evalharness batches collect` "
                               "(--wait to block until they end), then compare")
    raise EvalHarnessError(f"run {run.run_id} is '{run.status}', not finished, so its results are incomplete; "
                           f"run `evalharness run -e {run.engine_config}` again, or pass --allow-partial to compare it anyway")


def match_queries(runs: Sequence[list[RunLists]]) -> tuple[list[int], list[list[RunLists]], list[int]]:
    """Align every run's queries with the baseline's: by id, then by exact text (never by a normalized form).

    Returns the baseline indices present in every run, each run's aligned queries, and per run how many
    of its queries are left out.
    """
    base = runs[0]
    mappings: list[dict[int, RunLists]] = [{i: q for i, q in enumerate(base)}]
    for other in runs[1:]:
        by_id = {q.id: q for q in other}
        by_text: dict[str, list[RunLists]] = {}
        for q in other:
            by_text.setdefault(q.text, []).append(q)
        used: set[str] = set()
        mapping: dict[int, RunLists] = {}
        for i, b in enumerate(base):
            q = by_id.get(b.id)
            if q is not None:
                mapping[i] = q
                used.add(q.id)
        for i, b in enumerate(base):
            if i not in mapping:
                q = next((q for q in by_text.get(b.text, ()) if q.id not in used), None)
                if q is not None:
                    mapping[i] = q
                    used.add(q.id)
        mappings.append(mapping)
    common = [i for i in range(len(base)) if all(i in m for m in mappings)]
    aligned = [[m[i] for i in common] for m in mappings]
    left_out = [len(r) - len(common) for r in runs]
    return common, aligned, left_out


def _side_names(runs: Sequence[StoredRun]) -> list[str]:
    """Display names: the engine config, or the run id when two compared runs share an engine config."""
    configs = [r.engine_config for r in runs]
    return [r.engine_config if configs.count(r.engine_config) == 1 else r.run_id for r in runs]


def holm_family(metric: str, exclude: Sequence[str]) -> bool:
    """Whether a metric enters the Holm correction (Judged@k is reported but left out by default)."""
    return metric.split("@")[0].split("(")[0] not in exclude


def compare_runs(
    project: Project, store: Store, baseline: StoredRun, candidates: Sequence[StoredRun], judge: Judge,
    metrics: Sequence[str], *, alpha: float = 0.05, weight: str = "none", holm_exclude: Sequence[str] = DEFAULT_HOLM_EXCLUDE,
    stages: object | None = None, seed: int = 0, for_report: bool = True, labels: str | None = None, workers: int = 1,
    chunks: int | None = None,
) -> Comparison:
    """Judge what is missing, score every run against the shared judgment pool and test each candidate.

    The queries are scored in `chunks` contiguous shares (default: one per usable worker and at least one per
    CHUNK_MAX_QUERIES queries, each of at least CHUNK_QUERIES); `workers` > 1 scores them at once in forked workers (see
    evalharness.runtime.forked and `idle_workers`; library callers need a parent without other threads). The result is
    the same however they are split and wherever they run.

    The cyclic garbage collector is paused throughout: the millions of objects a large comparison builds form no
    cycles and are freed by reference counting, while each collection would rescan all of them."""
    with gc_paused():
        return _compare_runs(project, store, baseline, candidates, judge, metrics, alpha=alpha, weight=weight,
                             holm_exclude=holm_exclude, stages=stages, seed=seed, for_report=for_report, labels=labels,
                             workers=workers, chunks=chunks)


def _compare_runs(
    project: Project, store: Store, baseline: StoredRun, candidates: Sequence[StoredRun], judge: Judge,
    metrics: Sequence[str], *, alpha: float, weight: str, holm_exclude: Sequence[str], stages: object | None, seed: int,
    for_report: bool, labels: str | None, workers: int, chunks: int | None,
) -> Comparison:
    from evalharness.checks.runner import enabled_names
    from evalharness.guidelines.cached import load_guidelines
    from evalharness.labels.schemes import scheme_of
    from evalharness.pipeline.judging import judge_pairs
    from evalharness.pipeline.run import SilentStages

    runs = [baseline, *candidates]
    metas = [run_lists(store, r.run_id, with_lists=False) for r in runs]
    common, aligned, left_out = match_queries(metas)
    if not common:
        raise EvalHarnessError(f"runs {', '.join(r.run_id for r in runs)} share no query (by id or exact text); "
                               "compare runs of the same query set")
    queries = [Query(q.id, q.text, q.count, q.segment) for q in aligned[0]]
    if chunks is None:
        chunks = default_chunks(len(queries), usable_workers(workers))
    plan = ChunkPlan(project, store, runs, judge, metrics, queries, [[q.id for q in side_q] for side_q in aligned],
                     chunk_bounds(len(queries), chunks), for_report, labels, max(r.top_k for r in runs))
    results = _score_chunks(plan, range(len(plan.bounds)), True, workers)
    unwritten = {q.id: q for r in results for q in r.unwritten}
    if unwritten:  # guideline files no chunk may write at once: written here, then those chunks again
        load_guidelines(project, store, list(unwritten.values()), project.config.guidelines.writer)
        redo = [i for i, r in enumerate(results) if r.unwritten]
        for i, r in zip(redo, _score_chunks(plan, redo, True, workers)):
            if r.unwritten:
                raise EvalHarnessError(f"the guideline of query {r.unwritten[0].text!r} was not written to "
                                       f"{project.guidelines_dir}; check the [guidelines] writer and that folder")
            results[i] = r
    missing = {p.key: p for r in results for p in r.missing}
    failed = [f for r in results for f in r.failed]
    stages = stages or SilentStages()
    with stages.stage("judge missing", len(missing)) as advance:  # type: ignore[attr-defined]
        outcome = judge_pairs(judge, store, list(missing.values()), progress=advance)
    # Again: the chunks that found pairs missing, and those sharing a guideline with them (a query listed twice).
    judged = {p.request.guideline.hash for p in missing.values()}
    redo = [i for i, r in enumerate(results) if r.missing or judged & r.guidelines.keys()]
    for i, r in zip(redo, _score_chunks(plan, redo, False, workers)):
        results[i] = r

    names = _side_names(runs)
    sides, findings = [], {}
    for k, (run, name, out) in enumerate(zip(runs, names, left_out)):
        parts = [r.sides[k] for r in results]
        counts: dict[str, int] = {}
        for p in parts:
            for lab, n in p.counts.items():
                counts[lab] = counts.get(lab, 0) + n
        hits, unjudged = sum(p.hits for p in parts), sum(p.unjudged for p in parts)
        findings[name] = [f for p in parts for f in p.findings]
        sources: dict[str, int] = {}
        for p in parts:
            for src, n in p.sources.items():
                sources[src] = sources.get(src, 0) + n
        sides.append(Side(name, run, [d for p in parts for d in p.doc_ids], [h for p in parts for h in p.content_hashes],
                          {m: np.concatenate([p.values[m] for p in parts]) for m in metrics},
                          (hits - unjudged) / hits if hits else 1.0, unjudged, counts, only_here=out, sources=sources))
    cq = [q for r in results for q in r.compared]
    by_hash = {g: guideline for r in results for g, guideline in r.guidelines.items()}
    pool_sizes = {g: n for r in results for g, n in r.pool_sizes.items()}

    weights = np.array([float(q.count) for q in queries]) if weight == "traffic" else None
    rows = _tests(sides, list(metrics), weights, alpha, holm_exclude, seed, workers)
    c = Comparison(sides, cq, list(metrics), rows, judge.judge_id, alpha, weight, weights, sum(pool_sizes.values()),
                   outcome.new, outcome.cost_usd, len(metas[0]),
                   pool_labels={g: lab for r in results for g, lab in r.labels.items()}, guidelines=by_hash,
                   scheme=scheme_of(project.config), label_spec=labels)
    if for_report:
        for k in range(len(runs)):  # the first place a content holds in the runs' lists, in order
            for r in results:
                for chash, fields in r.products[k].items():
                    c.products.setdefault(chash, fields)
    for k, side in enumerate(sides[1:], start=1):  # computed by the chunks, in query order
        c.record_overlap(side.name, [v for r in results for v in r.sides[k].overlap[0]],
                         [v for r in results for v in r.sides[k].overlap[1]])
    c.findings, c.check_names = findings, enabled_names(project.config.checks)
    c.failures = [f"{f['query_id']} {f['doc_id']}: {f['reason']}" for f in failed] + list(outcome.failures.values())
    c.warnings = _warnings(c, judge.judge_id)
    return c


# A chunk (one forked worker's share) holds at least this many queries: smaller comparisons stay in one process.
CHUNK_QUERIES = 500
# ... and at most about this many (chunks scored one after the other when not forked): what a chunk holds at once (its
# decoded hits, judgment pool, qrels) stays bounded, at a small cost per chunk (own reads, evaluators, check batch).
CHUNK_MAX_QUERIES = 5000


def default_chunks(n: int, workers: int) -> int:
    """How many chunks n queries are scored in: one per worker and at least one per CHUNK_MAX_QUERIES, each of at
    least CHUNK_QUERIES queries (one chunk for fewer)."""
    return max(1, min(max(workers, -(-n // CHUNK_MAX_QUERIES)), -(-n // CHUNK_QUERIES)))


def configured_workers(configured: int) -> int:
    """Processes to score a comparison on, from `[compare] workers`: N as set (up to the usable cores, in map_steps),
    0 one per idle core (`idle_workers`)."""
    return configured or idle_workers(os.cpu_count() or 1)


def idle_workers(requested: int) -> int:
    """Processes worth scoring a comparison on: this one, and one more forked worker per core the machine leaves idle
    (cores less the 1-minute load average), up to `requested`. A forked worker costs CPU (copied pages, results sent
    back: a tenth to a fifth more in all) and pays only in wall time, and only where a core would otherwise idle; on a busy
    machine it made compare both costlier and slower. The figures are the same either way."""
    usable = usable_workers(requested)
    if usable <= 1:
        return 1
    try:
        load = os.getloadavg()[0]
    except OSError:  # no load average on this platform
        return usable
    return max(1, min(usable, 1 + round(usable - 1 - load)))


def _score_chunks(plan: ChunkPlan, which: Sequence[int], find_missing: bool, workers: int) -> list[ChunkResult]:
    """score_chunk of these chunks, at once in forked workers when there are several."""
    which = list(which)
    return map_steps(lambda i: score_chunk(plan, which[i], find_missing), len(which), workers,
                     before_fork=plan.store.engine.dispose)


def _tests(sides: list[Side], metrics: list[str], weights: np.ndarray | None, alpha: float, exclude: Sequence[str],
           seed: int, workers: int = 1) -> list[MetricRow]:
    base, cands = sides[0], sides[1:]
    x = np.column_stack([base.values[m] for _ in cands for m in metrics])
    y = np.column_stack([c.values[m] for c in cands for m in metrics])
    tests = population_tests(x, y, weights, seed, alpha, workers)  # NaN: a query outside a measure's population (AttrMatch)
    keys = [(c.name, m) for c in cands for m in metrics]
    family = [k for k, (_, m) in enumerate(keys) if holm_family(m, exclude)]
    adj_t = dict(zip(family, holm([tests[k].p_ttest for k in family])))
    adj_r = dict(zip(family, holm([tests[k].p_randomization for k in family])))
    rows = []
    for k, ((cand, metric), t) in enumerate(zip(keys, tests)):
        p = adj_r.get(k)  # only a Holm-family metric is declared significant (Judged@k is reported, never starred)
        rows.append(MetricRow(cand, metric, t, adj_t.get(k), p, p is not None and p < alpha))
    return rows


def _warnings(c: Comparison, judge_id: str) -> list[str]:
    out = []
    other = [s for s in c.sides if s.run.judge_id != judge_id]
    if other:
        was = "; ".join(f"{s.name} by {s.run.judge_id}" for s in other)
        out.append(f"judge differs: this comparison labels with {judge_id}, but {was} was judged")
    if c.label_spec and any(s.unjudged for s in c.sides):
        holes = ", ".join(f"{s.name} {s.unjudged}" for s in c.sides)
        out.append(f"label source {c.label_spec} leaves hits unlabelled ({holes}); they count as not relevant (Judged@k): "
                   f"list a judge after it (e.g. --labels {c.label_spec},{judge_spec_of(judge_id)}) to fill them")
    if any(s.only_here for s in c.sides):
        left = ", ".join(f"{s.name} {s.only_here}" for s in c.sides if s.only_here)
        out.append(f"query sets differ: {len(c.queries)} queries compared ({c.overlap:.1%} of the baseline's "
                   f"{c.baseline_queries}); left out: {left}")
    return out
