"""A gate that knows its judge: [gate.trust] turns the judge's measured agreement and corrected deltas into
PASS, FAIL or INCONCLUSIVE.

The judge is *trusted* when its agreement CI with the reference source lies at or above the minimum, *untrusted*
when it lies below, *uncertain* when it straddles it, and *unmeasured* when no measurement exists. A gate rule is
decided on the judge's own delta only when the judge is trusted and `use_corrected` is off; otherwise on the
corrected (PPI++) delta: PASS when its whole CI is within the rule's bound, FAIL when it is wholly beyond,
INCONCLUSIVE when it straddles (with the gold queries likely to decide it), or when there is no corrected delta.
A drift canary (a new judge measured against the one the trust was measured with) fails beyond max_agreement_drop.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from evalharness.compare.comparison import Comparison
from evalharness.compare.corrected import gold_needed
from evalharness.compare.outcome import RuleResult
from evalharness.config import GateRule, TrustConfig
from evalharness.metrics.measures import higher_is_better


@dataclass(frozen=True)
class Drift:
    """The agreement change from the judge the trust was measured with to the judge in use."""

    reference_judge: str
    judge: str
    before: float | None
    after: float | None
    rejudged: int  # gold pairs sent to the new judge by this check (0: from the cache)

    @property
    def change(self) -> float | None:
        return None if self.before is None or self.after is None else self.after - self.before

    def to_json(self) -> dict[str, Any]:
        return {"reference_judge": self.reference_judge, "judge": self.judge, "before": self.before, "after": self.after,
                "change": self.change, "rejudged_pairs": self.rejudged}


@dataclass
class TrustCheck:
    """What the gate knows about its judge on the reference source."""

    source: str
    judge_id: str
    statistic: str
    minimum: float | None
    status: str  # trusted | uncertain | untrusted | unmeasured
    value: float | None = None
    ci: tuple[float, float] | None = None
    pairs: int = 0
    queries: int = 0
    more_queries: int | None = None  # gold queries likely to settle an uncertain agreement
    drift: Drift | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def trusted(self) -> bool:
        return self.status == "trusted"

    def describe(self) -> str:
        if self.status == "unmeasured":
            return f"judge {self.judge_id} has not been measured on {self.source}"
        ci = f" (95% CI {self.ci[0]:.3f} to {self.ci[1]:.3f})" if self.ci else ""
        val = "—" if self.value is None else f"{self.value:.3f}"
        need = f", minimum {self.minimum}" if self.minimum is not None else ""
        return f"{self.statistic} {val}{ci} on {self.pairs} pairs of {self.queries} queries of {self.source}{need}: {self.status}"

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "judge_id": self.judge_id, "statistic": self.statistic, "minimum": self.minimum,
                "status": self.status, "value": self.value, "ci95": list(self.ci) if self.ci else None, "pairs": self.pairs,
                "queries": self.queries, "more_gold_queries": self.more_queries,
                "drift": self.drift.to_json() if self.drift else None, "notes": self.notes}


def classify(value: float | None, ci: tuple[float, float] | None, minimum: float | None, queries: int
             ) -> tuple[str, int | None]:
    """Trust status of a measured agreement and, when uncertain, the extra queries likely to settle it (the CI's
    half-width shrinking as 1 / sqrt(queries) until it clears the gap to the minimum)."""
    if value is None:
        return "uncertain", None
    if minimum is None:
        return "trusted", None
    if ci is None:
        return ("trusted" if value >= minimum else "untrusted"), None
    if ci[0] >= minimum:
        return "trusted", None
    if ci[1] < minimum:
        return "untrusted", None
    gap, half = abs(value - minimum), (ci[1] - ci[0]) / 2
    return "uncertain", (max(1, math.ceil(queries * (half / gap) ** 2) - queries) if gap > 0 else None)


def trusted_rule(c: Comparison, cfg: TrustConfig, trust: TrustCheck | None, cand: str, rule: GateRule, name: str) -> RuleResult | None:
    """The rule's result under [gate.trust], or None to decide it on the judge's delta as usual."""
    judge_ok = trust is not None and trust.trusted
    if judge_ok and not cfg.use_corrected:
        return None
    why = "" if judge_ok else f" (judge not trusted: {trust.describe() if trust else 'no trust check'})"
    row = c.corrected.row(cand, rule.metric) if c.corrected is not None else None
    if row is None:
        gold = c.corrected.gold_queries if c.corrected is not None else 0
        more = trust.more_queries if trust is not None and trust.status == "uncertain" else None
        return RuleResult(name, False, f"no corrected delta for {rule.metric} ({gold} gold queries of {cfg.source}; at least "
                                       f"2 needed){why}", inconclusive=True, more_gold=more)
    d = row.delta
    sign = -1.0 if higher_is_better(rule.metric) else 1.0  # drop = how much worse
    drop, lo, hi = sign * d.estimate, *sorted((sign * d.ci_low, sign * d.ci_high))
    bounds = [b for b in (rule.max_drop, rule.max_relative_drop * row.baseline.estimate
                          if rule.max_relative_drop is not None and row.baseline.estimate > 0 else None) if b is not None]
    bound = min(bounds) if bounds else 0.0
    base = (f"corrected {row.baseline.estimate:.4f} -> {row.cand.estimate:.4f} (drop {drop:+.4f}, 95% CI {lo:+.4f} to "
            f"{hi:+.4f}; {d.n_gold} gold queries, effective {d.n_effective:.1f}, lambda {d.lam:.2f}; bound {bound:.4f})")
    if hi <= bound:
        return RuleResult(name, True, f"{base}: within bounds{why}")
    if lo > bound:
        return RuleResult(name, False, f"{base}: beyond the bound{why}")
    need = gold_needed(d, abs(drop - bound), c.alpha)
    more = None if need is None else max(1, need - d.n_gold)
    hint = (f"about {more} more gold queries would likely decide it" if more is not None else
            "more gold queries alone cannot narrow it enough: compare more queries")
    return RuleResult(name, False, f"{base}: the CI straddles the bound; {hint}{why}", inconclusive=True, more_gold=more)


def trust_results(cfg: TrustConfig, trust: TrustCheck | None) -> list[RuleResult]:
    """The judge's own checks: its agreement with the source, and the drift canary."""
    if trust is None:
        return [RuleResult(f"judge measured on {cfg.source}", False, "no trust check was made", inconclusive=True)]
    out = []
    name = f"judge agreement with {trust.source}"
    if trust.status == "unmeasured":
        out.append(RuleResult(name, False, f"{trust.describe()}; measure it with `evalharness agreement --human "
                                           f"{trust.source.partition(':')[2]} --judge SPEC`", inconclusive=True))
    elif trust.status == "uncertain":
        more = f"; about {trust.more_queries} more gold queries would likely settle it" if trust.more_queries else ""
        out.append(RuleResult(name, False, trust.describe() + more, inconclusive=True, more_gold=trust.more_queries))
    else:  # trusted, or untrusted (rules then rest on corrected deltas alone)
        note = "" if trust.trusted else "; gate rules use corrected deltas only"
        out.append(RuleResult(name, True, trust.describe() + note))
    if trust.drift is not None:
        dr, change = trust.drift, trust.drift.change
        text = (f"{trust.statistic} {dr.before if dr.before is None else round(dr.before, 4)} with {dr.reference_judge} -> "
                f"{dr.after if dr.after is None else round(dr.after, 4)} with {dr.judge}; re-judged {dr.rejudged} gold pairs")
        if change is None:
            out.append(RuleResult("judge drift", False, text, inconclusive=True))
        else:
            ok = -change <= cfg.max_agreement_drop
            out.append(RuleResult("judge drift", ok, f"{text}; change {change:+.4f}, max drop {cfg.max_agreement_drop}"))
    return out
