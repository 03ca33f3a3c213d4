"""Compare two stored runs: paired statistics per metric, per-query deltas, list overlap, judged coverage.

Only pairs never judged before are sent to the judge; hits that still lack a judgment are
counted as unjudged and shown, never silently scored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from evalharness.errors import EvalHarnessError
from evalharness.guidelines.writers import ensure_guidelines
from evalharness.images import ImageLoader
from evalharness.judges.base import Judge
from evalharness.judging import judge_pairs
from evalharness.labels.schemes import LabelScheme, scheme_named, scheme_of
from evalharness.measures import MeasureContext, add_hit_measures
from evalharness.metrics import per_query_metrics
from evalharness.models import Query
from evalharness.pipeline import SilentStages, Stages, build_pairs, graded
from evalharness.project import Project
from evalharness.stats import PairedTest, holm, jaccard, paired_test, rbo
from evalharness.store import Store, StoredRun
from evalharness.store.db import StoredQuery
from evalharness.textnorm import normalize_query

SEGMENT_ORDER = {"head": 0, "torso": 1, "tail": 2}


@dataclass(frozen=True)
class MetricComparison:
    """One metric: paired test plus Holm-adjusted p-values across the compared metrics."""

    metric: str
    test: PairedTest
    p_ttest_holm: float
    p_randomization_holm: float
    significant: bool

    def to_json(self) -> dict[str, Any]:
        t = self.test
        return {"metric": self.metric, "baseline": t.mean_base, "candidate": t.mean_cand, "delta": t.delta,
                "relative_delta": t.rel_delta, "ci95": [t.ci_low, t.ci_high], "p_ttest": t.p_ttest,
                "p_randomization": t.p_randomization, "p_ttest_holm": self.p_ttest_holm,
                "p_randomization_holm": self.p_randomization_holm, "significant": self.significant,
                "wins": t.wins, "ties": t.ties, "losses": t.losses, "n": t.n}


@dataclass
class SideHit:
    """A hit as shown in the report: its fields, label and rationale."""

    doc_id: str
    rank: int
    title: str
    image_url: str
    label: str | None
    rationale: str
    brand: str = ""
    color: str = ""
    price: float | None = None


@dataclass
class QueryComparison:
    """Per-query metric values on both sides and the two result lists."""

    query_id: str
    text: str
    segment: str
    count: int
    base: dict[str, float]
    cand: dict[str, float]
    jaccard: float
    rbo: float
    base_hits: list[SideHit]
    cand_hits: list[SideHit]

    def delta(self, metric: str) -> float:
        return self.cand[metric] - self.base[metric]


@dataclass
class Comparison:
    """Everything a report, the gate and --json need."""

    baseline: StoredRun
    candidate: StoredRun
    judge_id: str
    metrics: list[MetricComparison]
    queries: list[QueryComparison]
    alpha: float
    judged_base: float
    judged_cand: float
    unjudged_base: int
    unjudged_cand: int
    judged_new: int
    cost_usd: float
    only_in_base: int = 0
    only_in_cand: int = 0
    labels_base: dict[str, int] = field(default_factory=dict)
    labels_cand: dict[str, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    scheme: LabelScheme = field(default_factory=lambda: scheme_named("three-level"))  # label names and colours

    @property
    def primary(self) -> str:
        return self.metrics[0].metric

    def segments(self) -> list[dict[str, Any]]:
        """Per segment (head / torso / tail …): query count and each metric's means and delta."""
        out = []
        for seg in sorted({q.segment for q in self.queries if q.segment}, key=lambda s: (SEGMENT_ORDER.get(s, 9), s)):
            qs = [q for q in self.queries if q.segment == seg]
            row: dict[str, Any] = {"segment": seg, "queries": len(qs), "traffic": sum(q.count for q in qs)}
            for m in self.metrics:
                b, c = _mean([q.base[m.metric] for q in qs]), _mean([q.cand[m.metric] for q in qs])
                row[m.metric] = {"baseline": b, "candidate": c, "delta": c - b}
            out.append(row)
        return out

    def movers(self, n: int = 10) -> list[QueryComparison]:
        """The queries whose primary metric moved most (either way)."""
        return sorted(self.queries, key=lambda q: -abs(q.delta(self.primary)))[:n]

    def to_json(self) -> dict[str, Any]:
        return {
            "baseline": {"run_id": self.baseline.run_id, "engine_config": self.baseline.engine_config,
                         "config_hash": self.baseline.config_hash, "judged": self.judged_base,
                         "unjudged_hits": self.unjudged_base, "labels": self.labels_base},
            "candidate": {"run_id": self.candidate.run_id, "engine_config": self.candidate.engine_config,
                          "config_hash": self.candidate.config_hash, "judged": self.judged_cand,
                          "unjudged_hits": self.unjudged_cand, "labels": self.labels_cand},
            "judge_id": self.judge_id, "alpha": self.alpha, "queries": len(self.queries),
            "only_in_baseline": self.only_in_base, "only_in_candidate": self.only_in_cand,
            "judged_new": self.judged_new, "cost_usd": self.cost_usd,
            "metrics": [m.to_json() for m in self.metrics],
            "overlap": {"jaccard": _mean([q.jaccard for q in self.queries]), "rbo": _mean([q.rbo for q in self.queries])},
            "segments": self.segments(),
            "movers": [{"query_id": q.query_id, "query": q.text, "delta": q.delta(self.primary)} for q in self.movers()],
        }


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def judge_spec_of(judge_id: str) -> str:
    """The --judge spec that produced a judge id ('openai:gpt-4o-mini:text:p…' -> 'openai:gpt-4o-mini')."""
    if judge_id.startswith("vote("):
        return judge_id.rpartition("#")[0]
    provider, _, rest = judge_id.partition(":")
    return provider if provider == "offline" else f"{provider}:{rest.partition(':')[0]}"


def resolve_run(store: Store, ref: str) -> StoredRun:
    """A run id, or an engine config name meaning its latest finished run."""
    run = store.get_run(ref) or store.latest_run(ref)
    if run is None:
        raise EvalHarnessError(f"no stored run for '{ref}'; run `evalharness run --engine-config {ref}` first")
    return run


def _side(stored: StoredQuery, labels: dict[str, tuple[str, str]]) -> list[SideHit]:
    return [SideHit(h.doc_id, h.rank, h.title, h.image_url, *(labels.get(h.doc_id) or (None, "not judged")),
                    brand=h.brand, color=h.color, price=h.price) for h in stored.hits]


def compare_runs(
    project: Project, store: Store, baseline: StoredRun, candidate: StoredRun, judge: Judge, metrics: Sequence[str],
    alpha: float = 0.05, stages: Stages | None = None, seed: int = 0,
) -> Comparison:
    """Judge what is missing, score both runs against the shared judgment pool and test the differences."""
    base_q = {normalize_query(q.text): q for q in store.run_queries(baseline.run_id)}
    cand_q = {normalize_query(q.text): q for q in store.run_queries(candidate.run_id)}
    common = [k for k in cand_q if k in base_q]
    if not common:
        raise EvalHarnessError(f"runs {baseline.run_id} and {candidate.run_id} share no query; compare runs of the same query set")
    queries = [Query(cand_q[k].id, cand_q[k].text, cand_q[k].count, cand_q[k].segment) for k in common]
    guidelines, _ = ensure_guidelines(project, queries, project.config.guidelines.writer)
    images = ImageLoader(project, judge) if judge.mode != "text" else None
    all_pairs, failed = [], []
    for side in (base_q, cand_q):
        hits = {cand_q[k].id: side[k].hits for k in common}
        pairs, _, _, pre_failed = build_pairs(queries, guidelines, hits, judge, images)
        all_pairs += pairs
        failed += pre_failed
    all_pairs = list({p.key: p for p in all_pairs}.values())  # a hit in both lists is one pair
    with (stages or SilentStages()).stage("judge missing", len(all_pairs)) as advance:
        outcome = judge_pairs(judge, store, all_pairs, progress=advance)
    pool = store.judgment_pool([g.hash for g in guidelines.values()], judge.judge_id)
    qrels = {q.id: graded(pool.get(guidelines[q.id].hash, {}), scheme_of(project.config)) for q in queries}
    ids = [q.id for q in queries]
    per_base = per_query_metrics(metrics, qrels, {cand_q[k].id: [h.doc_id for h in base_q[k].hits] for k in common}, ids)
    per_cand = per_query_metrics(metrics, qrels, {cand_q[k].id: [h.doc_id for h in cand_q[k].hits] for k in common}, ids)
    ctx = MeasureContext(project, store, judge.judge_id)
    add_hit_measures(per_base, metrics, ctx, [replace(base_q[k], id=cand_q[k].id) for k in common])
    add_hit_measures(per_cand, metrics, ctx, [cand_q[k] for k in common])

    tests = [paired_test([per_base[i][m] for i in ids], [per_cand[i][m] for i in ids], seed=seed) for m in metrics]
    adj_t = holm([t.p_ttest for t in tests])
    adj_r = holm([t.p_randomization for t in tests])
    mcs = [MetricComparison(m, t, pt, pr, pr < alpha) for m, t, pt, pr in zip(metrics, tests, adj_t, adj_r)]

    qcs = []
    judged = {"base": [0, 0], "cand": [0, 0]}
    label_counts: dict[str, dict[str, int]] = {"base": {}, "cand": {}}
    for k, q in zip(common, queries):
        labels = pool.get(guidelines[q.id].hash, {})
        b, c = base_q[k], cand_q[k]
        for name, stored in (("base", b), ("cand", c)):
            for h in stored.hits:
                lab = labels.get(h.doc_id)
                judged[name][1] += 1
                if lab:
                    judged[name][0] += 1
                key = lab[0] if lab else "unjudged"
                label_counts[name][key] = label_counts[name].get(key, 0) + 1
        bd, cd = [h.doc_id for h in b.hits], [h.doc_id for h in c.hits]
        qcs.append(QueryComparison(q.id, q.text, q.segment, q.count, per_base[q.id], per_cand[q.id],
                                   jaccard(bd, cd), rbo(bd, cd), _side(b, labels), _side(c, labels)))

    def share(x: list[int]) -> float:
        return x[0] / x[1] if x[1] else 1.0

    reasons = [f"{f['query_id']} {f['doc_id']}: {f['reason']}" for f in failed] + list(outcome.failures.values())
    return Comparison(baseline, candidate, judge.judge_id, mcs, qcs, alpha, share(judged["base"]), share(judged["cand"]),
                      judged["base"][1] - judged["base"][0], judged["cand"][1] - judged["cand"][0], outcome.new,
                      outcome.cost_usd, len(base_q) - len(common), len(cand_q) - len(common),
                      label_counts["base"], label_counts["cand"], reasons, scheme_of(project.config))
