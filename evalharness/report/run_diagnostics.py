"""Diagnostics of one stored run: metrics with bootstrap CIs, label and check distributions, per-type and
per-segment tables, and the worst queries with their hits, requirements, verdicts, findings and rationales.

`build_run_diagnostics` gathers it from the store (no judge call: unjudged hits stay unjudged and are shown);
`report/run_report.py` renders it as the single-run HTML report.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats

from evalharness.checks.base import Finding
from evalharness.checks.registry import findings_by_hit
from evalharness.checks.runner import check_lists, enabled_names, finding_counts
from evalharness.compare.comparison import SEGMENT_ORDER
from evalharness.guidelines.querytypes import classify, type_order
from evalharness.models import Requirement
from evalharness.pipeline.run import evaluate_stored
from evalharness.project import Project
from evalharness.store import Store, StoredRun
from evalharness.store.db import StoredQuery
from evalharness.store.runread import pair_pool, stored_pairs
from evalharness.store.verdicts import guideline_requirements, verdict_pool


@dataclass(frozen=True)
class MetricSummary:
    """A metric's mean over the queries that have a value, with a 95 % percentile bootstrap CI."""

    name: str
    mean: float
    ci_low: float
    ci_high: float
    n: int


@dataclass
class HitDetail:
    """One hit of a shown query."""

    rank: int
    doc_id: str
    title: str
    brand: str
    color: str
    price: float | None
    image_url: str
    label: str
    rationale: str
    verdicts: list[dict[str, str]]
    findings: list[Finding]


@dataclass
class QueryDetail:
    """One query of the run with everything needed to see why it scored as it did."""

    id: str
    text: str
    segment: str
    qtype: str
    count: int
    metrics: dict[str, float | None]
    requirements: tuple[Requirement, ...]
    hits: list[HitDetail]
    findings: list[Finding]  # on the whole list (zero / few results)


@dataclass
class RunDiagnostics:
    """Everything the single-run report shows."""

    run: StoredRun
    judge_id: str
    metric_names: list[str]
    metrics: list[MetricSummary]
    labels: dict[str, int]
    checks: dict[str, int]
    by_type: list[dict[str, Any]]
    by_segment: list[dict[str, Any]]
    worst: list[QueryDetail]
    queries: int
    findings: list[Finding] = field(default_factory=list)

    @property
    def banner(self) -> str | None:
        """What a run that did not finish cleanly is, with its counts (None for a finished run)."""
        run = self.run
        if run.status == "finished":
            return None
        c = run.counts or {}
        hits = c.get("hits")
        unjudged = c.get("unjudged_hits", 0) + c.get("label_holes", 0)
        parts = [f"{unjudged} of {hits} hits without a label" if hits is not None else "no counts stored (the run did not end)"]
        parts += [f"{c[k]} {k.replace('_', ' ')}" for k in ("failed", "skipped_budget", "label_holes") if c.get(k)]
        return (f"run {run.run_id} is {run.status.upper()}: {', '.join(parts)}; its figures count unjudged hits as not "
                "relevant and are not those of a finished run")

    def to_json(self) -> dict[str, Any]:
        return {"run_id": self.run.run_id, "engine_config": self.run.engine_config, "judge_id": self.judge_id,
                "status": self.run.status, "counts": self.run.counts, "banner": self.banner, "queries": self.queries,
                "metrics": [{"metric": m.name, "mean": m.mean, "ci95": [m.ci_low, m.ci_high], "n": m.n} for m in self.metrics],
                "labels": self.labels, "checks": self.checks, "by_type": self.by_type, "by_segment": self.by_segment,
                "worst": [{"query_id": q.id, "query": q.text, "type": q.qtype, "metrics": q.metrics} for q in self.worst]}


def summarize(name: str, values: Sequence[float | None], seed: int = 0) -> MetricSummary:
    """Mean and 95 % bootstrap CI (10,000 resamples, percentile) of the values that exist."""
    x = np.asarray([v for v in values if v is not None], dtype=float)
    x = x[~np.isnan(x)]  # NaN: the query is outside the measure's population
    if x.size == 0:
        return MetricSummary(name, 0.0, 0.0, 0.0, 0)
    mean = float(x.mean())
    if x.size < 2 or np.allclose(x, x[0]):
        return MetricSummary(name, mean, mean, mean, int(x.size))
    boot = stats.bootstrap((x,), np.mean, n_resamples=10_000, confidence_level=0.95, method="percentile",
                           vectorized=True, rng=np.random.default_rng(seed))
    return MetricSummary(name, mean, float(boot.confidence_interval.low), float(boot.confidence_interval.high), int(x.size))


def group_means(per_query: Mapping[str, Mapping[str, float | None]], groups: Mapping[str, str], counts: Mapping[str, int],
                names: Sequence[str], order: Any) -> list[dict[str, Any]]:
    """Per group: queries, traffic and each metric's mean over the group's queries that have a value."""
    rows = []
    for g in sorted(set(groups.values()), key=order):
        ids = [q for q, name in groups.items() if name == g]
        row: dict[str, Any] = {"group": g, "queries": len(ids), "traffic": sum(counts.get(q, 0) for q in ids)}
        for n in names:
            vals = [v for q in ids if (v := per_query[q].get(n)) is not None and not math.isnan(v)]
            row[n] = sum(vals) / len(vals) if vals else None  # type: ignore[arg-type]
        rows.append(row)
    return rows


def _or_zero(value: float | None) -> float:
    return 0.0 if value is None or math.isnan(value) else value


def query_types(queries: Sequence[StoredQuery], requirements: Mapping[str, Sequence[Requirement]]) -> dict[str, str]:
    """query id -> offline type (zero-result when the list is empty)."""
    return {q.id: classify(q.text, requirements.get(q.id, ()), len(q.hits)) for q in queries}


def build_run_diagnostics(project: Project, store: Store, run: StoredRun, names: Sequence[str] | None = None,
                          n_worst: int = 20) -> RunDiagnostics:
    """Gather the single-run diagnostics of a stored run from its stored judgments (the run's judge)."""
    names = list(names or project.config.run.metrics)
    queries = store.run_queries(run.run_id)
    judge_id = run.judge_id
    per_query = evaluate_stored(store, judge_id, queries, names, project)
    hashes = [q.guideline_hash for q in queries]
    pool = pair_pool(store, judge_id, stored_pairs(queries), rationales=False).labels  # the run's own pairs only
    verdicts = verdict_pool(store, hashes, judge_id)
    reqs_by_hash = guideline_requirements(store, hashes)
    requirements = {q.id: reqs_by_hash.get(q.guideline_hash, ()) for q in queries}
    labels = {q.id: {d: lab for d, (lab, _) in pool.get(q.guideline_hash, {}).items()} for q in queries}
    findings = check_lists(project.config.checks, queries, requirements, run.top_k, labels)
    by_hit = findings_by_hit(findings)
    label_counts: Counter[str] = Counter()
    for q in queries:
        for h in q.hits:
            label_counts[labels[q.id].get(h.doc_id, "unjudged")] += 1
    types = query_types(queries, requirements)
    counts = {q.id: q.count for q in queries}
    primary = names[0]
    worst_ids = sorted(queries, key=lambda q: (_or_zero(per_query[q.id].get(primary)), -q.count))[:n_worst]
    worst = []
    for q in worst_ids:
        judged = pool.get(q.guideline_hash, {})
        hits = [HitDetail(h.rank, h.doc_id, h.title, h.brand, h.color, h.price, h.image_url,
                          judged.get(h.doc_id, ("unjudged", "not judged"))[0], judged.get(h.doc_id, ("", "not judged"))[1],
                          verdicts.get(q.guideline_hash, {}).get(h.doc_id, []), by_hit.get((q.id, h.doc_id), []))
                for h in q.hits]
        worst.append(QueryDetail(q.id, q.text, q.segment, types[q.id], q.count, dict(per_query[q.id]), requirements[q.id],
                                 hits, by_hit.get((q.id, ""), [])))
    segments = {q.id: q.segment for q in queries if q.segment}
    return RunDiagnostics(
        run, judge_id, names, [summarize(n, [per_query[q.id].get(n) for q in queries]) for n in names],
        dict(label_counts), finding_counts(findings, enabled_names(project.config.checks)),
        group_means(per_query, types, counts, names, type_order),
        group_means(per_query, segments, counts, names, lambda s: (SEGMENT_ORDER.get(s, 9), s)),
        worst, len(queries), findings)
