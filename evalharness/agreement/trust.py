"""What a judge is worth on a reference source, for the gate: stored measurements, and the drift canary.

`agreement` records each judge it measures (evalharness.store.trust). The gate looks up the measurement of the
judge labelling its comparison. When there is none but the source has been measured with another judge (the one
the trust was measured with, or the baseline run's judge), the drift canary measures the new judge now: it judges
exactly the source's gold pairs through the normal cache (paid once per judge), records the result and reports
the change. With no measurement at all, the judge is unmeasured (the gate is then INCONCLUSIVE).
"""

from __future__ import annotations

from pathlib import Path

from evalharness.agreement.pairwise import Agreement, JudgeAgreement, measure_agreement
from evalharness.compare.comparison import Comparison
from evalharness.compare.trustgate import Drift, TrustCheck, classify
from evalharness.config import TrustConfig
from evalharness.judges.base import Judge
from evalharness.labels.schemes import scheme_of
from evalharness.project import Project
from evalharness.store import Store
from evalharness.store.trust import TrustMeasurement, record_trust, trust_measurements


def measurement_of(a: Agreement, j: JudgeAgreement) -> TrustMeasurement:
    return TrustMeasurement(a.human, j.judge_id, j.pairs, a.queries, dict(j.stats),
                            {k: list(v) if v else None for k, v in j.ci.items()})


def record_agreement(store: Store, a: Agreement) -> None:
    """Remember every judge's measured agreement with the source (the gate's trust)."""
    for j in a.judges:
        record_trust(store, measurement_of(a, j))


def _check(cfg: TrustConfig, m: TrustMeasurement) -> TrustCheck:
    stat, minimum = cfg.statistic
    value = m.stats.get(stat)
    ci_raw = m.ci.get(stat)
    ci = (float(ci_raw[0]), float(ci_raw[1])) if ci_raw else None
    status, more = classify(value, ci, minimum, m.queries)
    return TrustCheck(m.source, m.judge_id, stat, minimum, status, value, ci, m.pairs, m.queries, more)


def assess_trust(project: Project, store: Store, cfg: TrustConfig, comparison: Comparison, spec: str, judge: Judge,
                 catalog: Path, n_resamples: int = 2000) -> TrustCheck:
    """The trust of the comparison's judge on cfg.source, running the drift canary when the judge changed."""
    from evalharness.store.labels import check_source

    source = check_source(cfg.source)
    stat, minimum = cfg.statistic
    known = {m.judge_id: m for m in trust_measurements(store, source)}
    current = comparison.judge_id
    run_judges = [s.run.judge_id for s in comparison.sides]  # baseline first
    reference = next((jid for jid in [*run_judges, *known] if jid != current and jid in known), None)
    canary = current not in known
    if canary:
        if reference is None:
            return TrustCheck(source, current, stat, minimum, "unmeasured")
        a = measure_agreement(project, store, source, [(spec, judge)], catalog, scheme_of(project.config), n_resamples)
        record_agreement(store, a)
        known[current] = measurement_of(a, a.judges[0])
    check = _check(cfg, known[current])
    if reference is not None and (canary or any(jid != current for jid in run_judges)):
        check.drift = Drift(reference, current, known[reference].stats.get(stat), check.value,
                            a.judges[0].judged_now if canary else 0)
    return check
