"""System-level agreement: do human labels and a judge rank engine configs the same way, and would the gate agree?

Each run's stored lists are scored twice, on the human source's qrels and on the judge's (pairs the judge
has not seen are judged now, through the cache); Kendall's tau compares the two orderings of the configs,
and for every pair of configs the paired test (and the project's gate rule for the metric, when there is
one) is applied under each source.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations
from statistics import fmean
from typing import Any

from scipy import stats

from evalharness.compare.stats import paired_test
from evalharness.errors import EvalHarnessError
from evalharness.judges.base import Judge
from evalharness.labels.schemes import scheme_of
from evalharness.labels.sources import qrels_for_source
from evalharness.metrics.ir import per_query_metrics
from evalharness.models import Query
from evalharness.pipeline.run import Stages, build_pairs
from evalharness.project import Project
from evalharness.store import Store
from evalharness.store.db import StoredQuery
from evalharness.store.runread import POOL_RULE, Wanted, add_pairs
from evalharness.textnorm import normalize_query


@dataclass(frozen=True)
class RunScores:
    """One config's mean metric on each source."""

    engine_config: str
    run_id: str
    human: float
    judge: float
    judged_human: float


@dataclass(frozen=True)
class Decision:
    """One source's verdict on candidate vs baseline."""

    delta: float
    p: float
    decision: str


@dataclass(frozen=True)
class PairDecision:
    baseline: str
    candidate: str
    human: Decision
    judge: Decision

    @property
    def same(self) -> bool:
        return self.human.decision == self.judge.decision


@dataclass
class SystemAgreement:
    """Configs scored on people's labels and on the judge's, the rank correlation and the gate table."""

    human: str
    judge: str
    metric: str
    queries: int
    runs: list[RunScores]
    tau: float | None
    tau_p: float | None
    pairs: list[PairDecision]

    def tau_text(self) -> str:
        return "—" if self.tau is None else f"{self.tau:+.3f}" + (f", p={self.tau_p:.3f}" if self.tau_p is not None else "")

    def to_json(self) -> dict[str, Any]:
        return {"human": self.human, "judge": self.judge, "metric": self.metric, "queries": self.queries,
                "runs": [r.__dict__ for r in self.runs], "kendall_tau": self.tau, "kendall_tau_p": self.tau_p,
                "pairs": [{"baseline": p.baseline, "candidate": p.candidate, "human": p.human.__dict__, "judge": p.judge.__dict__,
                           "same_decision": p.same} for p in self.pairs],
                "same_decisions": sum(p.same for p in self.pairs), "pool_rule": POOL_RULE}


def resolve_run(store: Store, ref: str) -> Any:
    run = store.get_run(ref) or store.latest_run(ref)
    if run is None:
        raise EvalHarnessError(f"no stored run for '{ref}'; run `evalharness run --engine-config {ref}` first")
    return run


def _decide(project: Project, metric: str, base: Sequence[float], cand: Sequence[float], alpha: float) -> Decision:
    """The gate rule for the metric when the project has one (pass / FAIL), else better / worse / no difference."""
    t = paired_test(base, cand)
    rule = next((r for r in project.config.gate.rules if r.metric == metric), None)
    if rule is None:
        significant = t.p_randomization < alpha
        word = "better" if significant and t.delta > 0 else "worse" if significant and t.delta < 0 else "no difference"
        return Decision(t.delta, t.p_randomization, word)
    drop = -t.delta
    too_far = (rule.max_drop is not None and drop > rule.max_drop) or (
        rule.max_relative_drop is not None and t.mean_base > 0 and drop / t.mean_base > rule.max_relative_drop)
    failed = too_far and (rule.alpha is None or t.p_randomization < rule.alpha)
    return Decision(t.delta, t.p_randomization, "FAIL" if failed else "pass")


def system_agreement(project: Project, store: Store, human: str, spec: str, judge: Judge, refs: Sequence[str], metric: str,
                     stages: Stages) -> SystemAgreement:
    """Score each run on both sources over the queries all runs share."""
    from evalharness.guidelines.writers import ensure_guidelines
    from evalharness.pipeline.judging import judge_pairs

    runs = [resolve_run(store, r) for r in refs]
    stored = [{normalize_query(q.text): q for q in store.run_queries(r.run_id)} for r in runs]
    common = [k for k in stored[0] if all(k in s for s in stored[1:])]
    if not common:
        raise EvalHarnessError(f"runs {', '.join(r.run_id for r in runs)} share no query; use runs of the same query set")
    first = stored[0]
    queries = [Query(first[k].id, first[k].text, first[k].count, first[k].segment) for k in common]
    guidelines, _ = ensure_guidelines(project, queries, project.config.guidelines.writer)
    pairs = []
    for side in stored:
        hits = {first[k].id: side[k].hits for k in common}
        pairs += build_pairs(queries, guidelines, hits, judge, None)[0]
    with stages.stage(f"judge {spec}", len(pairs)) as advance:
        outcome = judge_pairs(judge, store, pairs, max_retries=project.config.judge.max_retries, progress=advance)
    if outcome.failures:
        raise EvalHarnessError(f"{len(outcome.failures)} pair(s) could not be judged by {spec} "
                               f"({next(iter(outcome.failures.values()))}); run again to retry them")
    gains = scheme_of(project.config).gains
    ids = [q.id for q in queries]
    views = [StoredQuery(q.id, q.text, q.count, q.segment, guidelines[q.id].hash, [], []) for q in queries]
    wanted: Wanted = {}  # the pool rule: the pairs of these runs, nothing another run added
    for p in pairs:
        add_pairs(wanted, p.request.guideline.hash, [p.request.hit.doc_id], [p.content_hash])
    human_q = qrels_for_source(store, human, views, {}, gains, wanted).qrels
    judge_q = qrels_for_source(store, spec, views, {spec: judge}, gains, wanted).qrels
    per_run, scores = [], []
    for run, side in zip(runs, stored):
        lists = {first[k].id: [h.doc_id for h in side[k].hits] for k in common}
        on_h = per_query_metrics([metric], human_q, lists, ids)
        on_j = per_query_metrics([metric], judge_q, lists, ids)
        hits = [(qid, d) for qid, docs in lists.items() for d in docs]
        judged = sum(1 for qid, d in hits if d in human_q[qid]) / len(hits) if hits else 1.0
        per_run.append(([on_h[i][metric] for i in ids], [on_j[i][metric] for i in ids]))
        scores.append(RunScores(run.engine_config, run.run_id, fmean(per_run[-1][0]), fmean(per_run[-1][1]), judged))
    tau = stats.kendalltau([s.human for s in scores], [s.judge for s in scores])
    tau_value = None if tau.statistic != tau.statistic else float(tau.statistic)
    tau_p = None if tau.pvalue != tau.pvalue else float(tau.pvalue)
    alpha = min((r.alpha for r in project.config.gate.rules if r.alpha is not None), default=0.05)
    decisions = []
    for i, j in combinations(range(len(runs)), 2):
        decisions.append(PairDecision(scores[i].engine_config, scores[j].engine_config,
                                      _decide(project, metric, per_run[i][0], per_run[j][0], alpha),
                                      _decide(project, metric, per_run[i][1], per_run[j][1], alpha)))
    return SystemAgreement(human, spec, metric, len(ids), scores, tau_value, tau_p, decisions)
