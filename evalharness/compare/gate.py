"""The CI gate: rules from evalharness.toml applied to a Comparison. Exit 0 pass, 1 fail (2 is a tool error),
3 inconclusive (a [gate.trust] gate whose judge or corrected deltas cannot decide; see compare/trustgate.py).

Besides each rule, the gate checks that enough of the baseline's queries were compared
([gate] min_overlap), that there are enough queries at all ([gate] min_queries) and that the
candidate's hits are judged ([gate] min_judged); it warns when a rule's bound is below the minimum
effect the query set can detect at 80 % power.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from evalharness.compare.comparison import Comparison
from evalharness.compare.outcome import RuleResult
from evalharness.compare.stats import POWER, min_detectable_effect
from evalharness.config import GateConfig
from evalharness.errors import EvalHarnessError
from evalharness.metrics.measures import higher_is_better


@dataclass(frozen=True)
class GateResult:
    """All rules' results; the gate passes only if each rule passes."""

    results: list[RuleResult]
    warnings: list[str] = field(default_factory=list)
    trust: Any = None  # the TrustCheck of a [gate.trust] gate

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results)

    @property
    def outcome(self) -> str:
        """PASS, FAIL (a check failed), or INCONCLUSIVE (none failed, but some could not be decided)."""
        if any(not r.passed and not r.inconclusive for r in self.results):
            return "FAIL"
        return "INCONCLUSIVE" if any(r.inconclusive for r in self.results) else "PASS"

    def to_json(self) -> dict[str, Any]:
        return {"passed": self.passed, "outcome": self.outcome, "results": [r.to_json() for r in self.results],
                "warnings": self.warnings, **({"trust": self.trust.to_json()} if self.trust is not None else {})}


def evaluate_gate(comparison: Comparison, gate: GateConfig, trust: Any = None) -> GateResult:
    """Check each rule for each candidate: a drop beyond its bound fails (only when significant, if the rule sets alpha).

    With [gate.trust] and its TrustCheck, a rule is decided on the corrected delta when asked or when the judge is
    not trusted, and is INCONCLUSIVE when that cannot decide (compare/trustgate.py)."""
    if not gate.rules:
        raise EvalHarnessError("evalharness.toml has no [[gate.rules]]; add one, e.g. metric = \"nDCG@10\", max_drop = 0.01")
    results: list[RuleResult] = []
    warnings: list[str] = []
    several = len(comparison.candidates) > 1
    n = len(comparison.queries)
    for cand in comparison.candidates:
        prefix = f"{cand.name}: " if several else ""
        by_metric = {r.metric: r for r in comparison.rows_for(cand.name)}
        for rule in gate.rules:
            row = by_metric.get(rule.metric)
            if row is None:
                raise EvalHarnessError(f"gate rule metric '{rule.metric}' is not among the compared metrics "
                                       f"({', '.join(by_metric)}); add it to [run] metrics")
            t = row.test
            drop = -t.delta if higher_is_better(rule.metric) else t.delta  # how much worse (LowQ@k: a rise is worse)
            rel_drop = drop / t.mean_base if t.mean_base else 0.0
            too_far = []
            if rule.max_drop is not None and drop > rule.max_drop:
                too_far.append(f"drop {drop:.4f} > max_drop {rule.max_drop}")
            if rule.max_relative_drop is not None and rel_drop > rule.max_relative_drop:
                too_far.append(f"relative drop {rel_drop:.1%} > max_relative_drop {rule.max_relative_drop:.1%}")
            alpha = rule.alpha if rule.alpha is not None else comparison.alpha
            se = t.se
            mde = min_detectable_effect(se, t.n, alpha)
            bounds = [b for b in (rule.max_drop, rule.max_relative_drop * t.mean_base if rule.max_relative_drop is not None else None)
                      if b is not None]
            bound = min(bounds)
            if mde > bound:
                warnings.append(f"{prefix}{rule.metric}: with {n} queries the minimum detectable effect at alpha={alpha} and "
                                f"{POWER:.0%} power is {mde:.4f}, above the rule's bound {bound:.4f}: a real regression of "
                                "that size can pass unseen; compare more queries or set [gate] min_queries")
            p = row.p_decision
            name = f"{prefix}{rule.metric} did not regress"
            if gate.trust is not None:
                from evalharness.compare.trustgate import trusted_rule

                decided = trusted_rule(comparison, gate.trust, trust, cand.name, rule, name)
                if decided is not None:
                    results.append(decided)
                    continue
            lower = ", lower is better" if row.lower_is_better else ""
            base = (f"{t.mean_base:.4f} -> {t.mean_cand:.4f} ({row.verdict}{lower}: delta {t.delta:+.4f}, "
                    f"{'Holm ' if row.in_family else ''}p={p:.4f})")
            if not too_far:
                results.append(RuleResult(name, True, f"{base}: within bounds", mde))
            elif rule.alpha is not None and p >= rule.alpha:
                results.append(RuleResult(name, True, f"{base}: {'; '.join(too_far)} but not significant at alpha={rule.alpha}", mde))
            else:
                sig = f", significant at alpha={rule.alpha}" if rule.alpha is not None else ""
                results.append(RuleResult(name, False, f"{base}: {'; '.join(too_far)}{sig}", mde))
        if gate.min_judged > 0:
            ok = cand.judged >= gate.min_judged
            results.append(RuleResult(f"{prefix}candidate hits are judged", ok,
                                      f"{cand.judged:.1%} of the candidate's hits labelled by {comparison.label_sources} "
                                      f"({comparison.side_sources(cand)}); minimum {gate.min_judged:.0%}"))
        results += findings_rules(comparison, gate, cand, prefix)
    if gate.min_overlap > 0:
        ok = comparison.overlap >= gate.min_overlap
        results.append(RuleResult("query sets overlap", ok,
                                  f"{n} of the baseline's {comparison.baseline_queries} queries compared "
                                  f"({comparison.overlap:.1%}); minimum {gate.min_overlap:.0%}"))
    if gate.min_queries > 0:
        results.append(RuleResult("enough queries", n >= gate.min_queries, f"{n} queries compared; minimum {gate.min_queries}"))
    if gate.trust is not None:
        from evalharness.compare.trustgate import trust_results

        results += trust_results(gate.trust, trust)
    return GateResult(results, warnings, trust)


def findings_rules(comparison: Comparison, gate: GateConfig, cand: Any, prefix: str) -> list[RuleResult]:
    """[gate.max_findings] "duplicates@10" = N: the candidate may have at most N findings of that rule check on hits
    ranked within k (list-level findings, such as zero_results, always count)."""
    from evalharness.checks.registry import count_findings

    out = []
    for key, limit in gate.max_findings.items():
        check, _, k = key.partition("@")
        if check not in comparison.check_names:
            raise EvalHarnessError(f"evalharness.toml: [gate.max_findings] names check '{check}', which is not enabled; "
                                   f"enabled: {', '.join(comparison.check_names) or 'none'}")
        n = count_findings(comparison.findings.get(cand.name, []), check, int(k))
        base = count_findings(comparison.findings.get(comparison.baseline.name, []), check, int(k))
        out.append(RuleResult(f"{prefix}max_{check}@{k}", n <= limit,
                              f"{n} {check} finding(s) in the candidate's top {k} (baseline {base}); maximum {limit}"))
    return out
