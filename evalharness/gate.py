"""The CI gate: rules from evalharness.toml applied to a Comparison. Exit 0 pass, 1 fail (2 is a tool error)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from evalharness.compare import Comparison
from evalharness.config import GateConfig
from evalharness.errors import EvalHarnessError
from evalharness.measures import higher_is_better


@dataclass(frozen=True)
class RuleResult:
    """One checked rule."""

    name: str
    passed: bool
    detail: str

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "passed": self.passed, "detail": self.detail}


@dataclass(frozen=True)
class GateResult:
    """All rules' results; the gate passes only if each rule passes."""

    results: list[RuleResult]

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results)


def evaluate_gate(comparison: Comparison, gate: GateConfig) -> GateResult:
    """Check each rule: a drop beyond its bound fails (only when significant, if the rule sets alpha)."""
    by_metric = {m.metric: m for m in comparison.metrics}
    results = []
    if not gate.rules:
        raise EvalHarnessError("evalharness.toml has no [[gate.rules]]; add one, e.g. metric = \"nDCG@10\", max_drop = 0.01")
    for rule in gate.rules:
        mc = by_metric.get(rule.metric)
        if mc is None:
            raise EvalHarnessError(f"gate rule metric '{rule.metric}' is not among the compared metrics "
                                   f"({', '.join(by_metric)}); add it to [run] metrics")
        t = mc.test
        drop = -t.delta if higher_is_better(rule.metric) else t.delta  # how much worse (LowQ@k: a rise is worse)
        rel_drop = drop / t.mean_base if t.mean_base else 0.0
        too_far = []
        if rule.max_drop is not None and drop > rule.max_drop:
            too_far.append(f"drop {drop:.4f} > max_drop {rule.max_drop}")
        if rule.max_relative_drop is not None and rel_drop > rule.max_relative_drop:
            too_far.append(f"relative drop {rel_drop:.1%} > max_relative_drop {rule.max_relative_drop:.1%}")
        p = mc.p_randomization_holm
        name = f"{rule.metric} did not regress"
        base = f"{t.mean_base:.4f} -> {t.mean_cand:.4f} (delta {t.delta:+.4f}, Holm p={p:.4f})"
        if not too_far:
            results.append(RuleResult(name, True, f"{base}: within bounds"))
        elif rule.alpha is not None and p >= rule.alpha:
            results.append(RuleResult(name, True, f"{base}: {'; '.join(too_far)} but not significant at alpha={rule.alpha}"))
        else:
            sig = f", significant at alpha={rule.alpha}" if rule.alpha is not None else ""
            results.append(RuleResult(name, False, f"{base}: {'; '.join(too_far)}{sig}"))
    if gate.min_judged > 0:
        share = comparison.judged_cand
        ok = share >= gate.min_judged
        results.append(RuleResult("candidate hits are judged", ok,
                                  f"{share:.1%} of the candidate's hits judged ({comparison.unjudged_cand} unjudged); "
                                  f"minimum {gate.min_judged:.0%}"))
    return GateResult(results)
