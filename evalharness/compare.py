"""Compare stored runs: N candidates against one baseline, paired statistics per candidate x metric.

Works from what the store already knows: each run's ranked doc ids and content hashes, and one pass
over the judgment pool of the compared guidelines, which also says which (guideline, content) pairs
were never judged. Only those are decoded, built into pairs and sent to the judge; hits that still lack
a judgment are counted as unjudged and shown, never silently scored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from evalharness.checks.compared import population_tests, query_type, side_findings
from evalharness.comparison import ComparedQuery, Comparison, MetricRow, Side
from evalharness.errors import EvalHarnessError
from evalharness.forked import map_steps
from evalharness.gcpause import gc_paused
from evalharness.judges.base import Judge
from evalharness.models import Query
from evalharness.project import Project
from evalharness.stats import holm
from evalharness.store import Store, StoredRun
from evalharness.store.runread import RunLists, judgment_pool, newest_run, products_by_content, run_hits, run_lists

CLEAN_STATUSES = ("finished",)
_NONE: frozenset[str] = frozenset()
DEFAULT_HOLM_EXCLUDE = ("Judged",)


def judge_spec_of(judge_id: str) -> str:
    """The --judge spec that produced a judge id ('openai:gpt-4o-mini:text:p…' -> 'openai:gpt-4o-mini';
    'vote(a, b)#…' -> 'vote(a, b)')."""
    if judge_id.startswith("vote("):
        return judge_id.rpartition("#")[0]
    provider, _, rest = judge_id.partition(":")
    return provider if provider == "offline" else f"{provider}:{rest.partition(':')[0]}"


def judge_mode_of(judge_id: str) -> str:
    """The mode (text, image, caption) recorded in a judge id, or '' when it cannot be read."""
    parts = judge_id.split(":")
    return parts[2] if len(parts) > 2 and parts[2] in ("text", "image", "caption") else ""


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
) -> Comparison:
    """Judge what is missing, score every run against the shared judgment pool and test each candidate.

    `workers` > 1 scores the compared runs in parallel in forked workers (see evalharness.forked; the command line
    does, library callers need a parent without other threads).

    The cyclic garbage collector is paused throughout: the millions of objects a large comparison builds form no
    cycles and are freed by reference counting, while each collection would rescan all of them."""
    with gc_paused():
        return _compare_runs(project, store, baseline, candidates, judge, metrics, alpha=alpha, weight=weight,
                             holm_exclude=holm_exclude, stages=stages, seed=seed, for_report=for_report, labels=labels,
                             workers=workers)


def _compare_runs(
    project: Project, store: Store, baseline: StoredRun, candidates: Sequence[StoredRun], judge: Judge,
    metrics: Sequence[str], *, alpha: float, weight: str, holm_exclude: Sequence[str], stages: object | None, seed: int,
    for_report: bool, labels: str | None, workers: int,
) -> Comparison:
    from evalharness.checks.runner import enabled_checks, enabled_names
    from evalharness.guidelines.cached import load_guidelines
    from evalharness.judging import judge_pairs
    from evalharness.labels.schemes import scheme_of
    from evalharness.measures import MeasureContext, add_hit_measures, split_measures, verdict_measures_in
    from evalharness.metrics import per_query_metrics
    from evalharness.pipeline import SilentStages, graded

    runs = [baseline, *candidates]
    lists = [run_lists(store, r.run_id) for r in runs]
    common, aligned, left_out = match_queries(lists)
    if not common:
        raise EvalHarnessError(f"runs {', '.join(r.run_id for r in runs)} share no query (by id or exact text); "
                               "compare runs of the same query set")
    base_q = aligned[0]
    queries = [Query(q.id, q.text, q.count, q.segment) for q in base_q]
    guidelines = load_guidelines(project, store, queries, project.config.guidelines.writer)
    ghash = [guidelines[q.id].hash for q in queries]

    with_verdicts = verdict_measures_in(metrics)
    pool = judgment_pool(store, ghash, judge.judge_id, for_report, with_verdicts)
    pairs, failed = _missing_pairs(project, store, runs, aligned, queries, guidelines, ghash, judge, pool.covered)
    stages = stages or SilentStages()
    with stages.stage("judge missing", len(pairs)) as advance:  # type: ignore[attr-defined]
        outcome = judge_pairs(judge, store, pairs, progress=advance)
    if outcome.new:
        pool = judgment_pool(store, ghash, judge.judge_id, for_report, with_verdicts)

    ids = [q.id for q in queries]
    scheme = scheme_of(project.config)
    qrels = {q.id: graded(pool.labels.get(g, {}), scheme) for q, g in zip(queries, ghash)}
    if labels:  # a label source (--labels): e.g. people's labels where they exist, then the judge
        from evalharness.labels.sources import qrels_for_queries

        qrels = qrels_for_queries(project.config, store, labels, queries, ghash)
    cq = [ComparedQuery(q.id, q.text, q.segment, q.count, g,
                        {"type": query_type(q.text, guidelines[q.id].requirements, len(bq.doc_ids))})
          for q, bq, g in zip(queries, base_q, ghash)]
    by_hash = {g.hash: g for g in guidelines.values()}
    checked = bool(enabled_checks(project.config.checks))
    hit_measures = bool(split_measures(metrics)[1])
    check_k = max(r.top_k for r in runs)
    measure_ctx = MeasureContext(project, store, judge.judge_id)  # one context: providers share reads across runs
    if pool.verdicts is not None:
        from evalharness.verdict_measures import prime_verdicts

        prime_verdicts(measure_ctx, ghash, pool.verdicts)
    names = _side_names(runs)

    def score(k: int) -> tuple[dict[str, np.ndarray], list, tuple[dict[str, int], int, float]]:
        """One compared run's per-query values, rule-check findings and label coverage (its hits read, used and
        dropped here; each scoring process builds what only it needs)."""
        side_q = aligned[k]
        per = per_query_metrics(metrics, qrels, dict(zip(ids, (q.doc_ids for q in side_q))), ids)
        own_ids = [q.id for q in side_q]
        decoded = run_hits(store, runs[k].run_id, side_q) if checked or hit_measures else {}
        if hit_measures:
            ranked = [_Ranked(qid, decoded.get(own, []), g) for qid, own, g in zip(ids, own_ids, ghash)]
            add_hit_measures(per, metrics, measure_ctx, ranked)
        found = []
        if checked:
            plain = {g: {d: lab for d, (lab, _) in pool.labels.get(g, {}).items()} for g in set(ghash)}
            found = side_findings(project, cq, by_hash, plain, decoded, own_ids, check_k)
        return ({m: np.array([per[i][m] for i in ids], dtype=float) for m in metrics}, found,
                _coverage([q.doc_ids for q in side_q], ghash, pool.labels))

    sides, findings = [], {}
    scored = map_steps(score, len(runs), workers, before_fork=store.engine.dispose)
    for run, name, side_q, out, (values, found, (counts, unjudged, judged)) in zip(runs, names, aligned, left_out, scored):
        findings[name] = found
        sides.append(Side(name, run, [q.doc_ids for q in side_q], [q.content_hashes for q in side_q], values, judged,
                          unjudged, counts, only_here=out))

    weights = np.array([float(q.count) for q in queries]) if weight == "traffic" else None
    rows = _tests(sides, list(metrics), weights, alpha, holm_exclude, seed, workers)
    c = Comparison(sides, cq, list(metrics), rows, judge.judge_id, alpha, weight, weights, pool.size, outcome.new,
                   outcome.cost_usd, len(lists[0]), pool_labels=pool.labels,
                   guidelines=by_hash, scheme=scheme)
    if for_report:
        c.products = products_by_content(store, [(r.run_id, side_q) for r, side_q in zip(runs, aligned)])
    c.findings, c.check_names = findings, enabled_names(project.config.checks)
    c.failures = [f"{f['query_id']} {f['doc_id']}: {f['reason']}" for f in failed] + list(outcome.failures.values())
    c.warnings = _warnings(c, judge.judge_id)
    return c


def _missing_pairs(project: Project, store: Store, runs: Sequence[StoredRun], aligned: list[list[RunLists]],
                   queries: list[Query], guidelines: dict, ghash: list[str], judge: Judge, covered: dict[str, set[str]]
                   ) -> tuple[list, list[dict[str, str]]]:
    """Pairs never judged: found from stored content hashes; only their queries' hits are decoded."""
    from evalharness.images import ImageLoader
    from evalharness.pipeline import build_pairs

    images = ImageLoader(project, judge) if judge.mode != "text" else None
    pairs: dict[str, object] = {}
    failed: list[dict[str, str]] = []
    for run, side_q in zip(runs, aligned):
        hashes_usable = (judge_mode_of(run.judge_id) == "text") == (judge.mode == "text") and judge_mode_of(run.judge_id) != ""
        need = [i for i, q in enumerate(side_q)
                if not hashes_usable or not covered.get(ghash[i], _NONE).issuperset(q.content_hashes)]
        if not need:
            continue
        decoded = run_hits(store, run.run_id, [side_q[i] for i in need])
        for i in need:
            q = queries[i]
            built, _, _, pre_failed = build_pairs([q], guidelines, {q.id: decoded.get(side_q[i].id, [])}, judge, images)
            for p in built:
                pairs.setdefault(p.key, p)
            failed += pre_failed
    return list(pairs.values()), failed


@dataclass(frozen=True)
class _Ranked:
    """A query's ranked hits as per-hit measures see them (id aligned with the baseline's)."""

    id: str
    hits: list
    guideline_hash: str


def _coverage(doc_ids: list[list[str]], ghash: list[str], labels: dict[str, dict[str, tuple[str, str]]]
              ) -> tuple[dict[str, int], int, float]:
    """A side's hits per label ('unjudged' too), how many are unjudged, and the judged share."""
    counts: dict[str, int] = {}
    total = judged = 0
    for g, docs in zip(ghash, doc_ids):
        known = labels.get(g, {})
        for doc in docs:
            lab = known.get(doc)
            key = lab[0] if lab else "unjudged"
            counts[key] = counts.get(key, 0) + 1
            judged += lab is not None
            total += 1
    return counts, total - judged, judged / total if total else 1.0


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
        p = adj_r.get(k, t.p_randomization)
        rows.append(MetricRow(cand, metric, t, adj_t.get(k), adj_r.get(k), p < alpha))
    return rows


def _warnings(c: Comparison, judge_id: str) -> list[str]:
    out = []
    other = [s for s in c.sides if s.run.judge_id != judge_id]
    if other:
        was = "; ".join(f"{s.name} by {s.run.judge_id}" for s in other)
        out.append(f"judge differs: this comparison labels with {judge_id}, but {was} was judged")
    if any(s.only_here for s in c.sides):
        left = ", ".join(f"{s.name} {s.only_here}" for s in c.sides if s.only_here)
        out.append(f"query sets differ: {len(c.queries)} queries compared ({c.overlap:.1%} of the baseline's "
                   f"{c.baseline_queries}); left out: {left}")
    return out
