"""A judge against what shoppers do: rank correlation of its labels with a behaviour source's estimate, and the
strongest disagreements (hits shoppers engage with that the judge calls irrelevant; hits shown often and never
clicked that it calls relevant).

Correlations are scipy's Spearman rho and Kendall tau-b between the judge's ordinal label (lowest gain = 0) and
the position-corrected estimate, over the pairs the behaviour source labelled (enough impressions); the 95 % CI
of rho uses Fisher's z with the Bonett-Wright standard error sqrt((1 + rho^2 / 2) / (n - 3)).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from evalharness.agreement.pairwise import Agreement, JudgeAgreement


@dataclass(frozen=True)
class ShopperDisagreement:
    """A pair where the judge's label and the shoppers' behaviour point opposite ways."""

    kind: str  # "engaged, judged lowest" | "ignored, judged highest"
    query: str
    doc_id: str
    title: str
    judge: str
    impressions: int
    clicks: int
    carts: int
    purchases: int
    estimate: float | None
    rationale: str

    def evidence(self) -> str:
        est = "—" if self.estimate is None else f"{self.estimate:.2f}"
        return (f"shown {self.impressions}x, clicked {self.clicks}x, carted {self.carts}x, bought {self.purchases}x; "
                f"estimate {est}")

    def to_json(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass
class BehaviourCheck:
    """One judge against one behaviour source."""

    source: str
    estimate: str
    n: int
    spearman: float | None
    spearman_ci: tuple[float, float] | None
    kendall: float | None
    p_spearman: float | None
    engaged_lowest: list[ShopperDisagreement] = field(default_factory=list)
    ignored_highest: list[ShopperDisagreement] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "estimate": self.estimate, "pairs": self.n, "spearman": self.spearman,
                "spearman_ci95": list(self.spearman_ci) if self.spearman_ci else None, "kendall_tau_b": self.kendall,
                "p_spearman": self.p_spearman,
                "engaged_but_judged_lowest": [d.to_json() for d in self.engaged_lowest],
                "ignored_but_judged_highest": [d.to_json() for d in self.ignored_highest]}

    def text(self) -> str:
        rho = "—" if self.spearman is None else f"{self.spearman:.3f}"
        ci = f" [{self.spearman_ci[0]:.3f}, {self.spearman_ci[1]:.3f}]" if self.spearman_ci else ""
        tau = "—" if self.kendall is None else f"{self.kendall:.3f}"
        return f"Spearman rho {rho}{ci}, Kendall tau-b {tau} between the judge's labels and {self.estimate} over {self.n} pairs"


def fisher_ci(rho: float, n: int, level: float = 0.95) -> tuple[float, float] | None:
    """CI of a Spearman correlation by Fisher's z with the Bonett-Wright standard error."""
    from scipy.stats import norm

    if n <= 3 or abs(rho) >= 1:
        return None
    half = norm.ppf(0.5 + level / 2) * math.sqrt((1 + rho * rho / 2) / (n - 3))
    z = math.atanh(rho)
    return math.tanh(z - half), math.tanh(z + half)


def check_judge(j: JudgeAgreement, labels: tuple[str, ...], source: str, estimate: str, evidence: dict[tuple[str, str], dict[str, Any]],
                top: int = 20) -> BehaviourCheck:
    """Correlation and disagreement lists for one judge (evidence: the source's rows by (query key, doc))."""
    from scipy.stats import kendalltau, spearmanr

    code = {name: i for i, name in enumerate(labels)}
    xs, ys = [], []
    engaged, ignored = [], []
    for key, d in j.pair_labels.items():
        ev = evidence.get(key)
        if ev is None:
            continue
        if ev["estimate"] is not None:
            xs.append(code[d.judge])
            ys.append(ev["estimate"])
        item = ShopperDisagreement("", d.query, d.doc_id, d.title, d.judge, ev["impressions"], ev["clicks"], ev["carts"],
                                   ev["purchases"], ev["estimate"], d.rationale)
        if code[d.judge] == 0 and (ev["clicks"] or ev["carts"] or ev["purchases"]):
            engaged.append(item)
        elif code[d.judge] == len(labels) - 1 and not (ev["clicks"] or ev["carts"] or ev["purchases"]):
            ignored.append(item)
    engaged.sort(key=lambda e: (-(e.purchases * 100 + e.carts * 10 + e.clicks), -(e.estimate or 0), e.query, e.doc_id))
    ignored.sort(key=lambda e: (-e.impressions, e.query, e.doc_id))
    rho = tau = p = None
    if len(xs) > 2 and len(set(xs)) > 1 and len(set(ys)) > 1:
        res = spearmanr(xs, ys)
        rho, p = float(res.statistic), float(res.pvalue)
        tau = float(kendalltau(xs, ys).statistic)
    return BehaviourCheck(source, estimate, len(xs), rho, fisher_ci(rho, len(xs)) if rho is not None else None, tau, p,
                          [_kind(e, "engaged, judged lowest") for e in engaged[:top]],
                          [_kind(e, "ignored, judged highest") for e in ignored[:top]])


def _kind(d: ShopperDisagreement, kind: str) -> ShopperDisagreement:
    return ShopperDisagreement(kind, *(getattr(d, f) for f in list(d.__dataclass_fields__)[1:]))


def attach_behaviour(store: Any, a: Agreement, top: int = 20) -> None:
    """When the reference is a behaviour source, add its check to each judge of an agreement."""
    from evalharness.store.behaviour import behaviour_model, evidence_for, is_behaviour

    if not is_behaviour(a.human):
        return
    model = behaviour_model(store, a.human)
    evidence = evidence_for(store, a.human)
    for j in a.judges:
        j.behaviour = check_judge(j, a.labels, a.human, model["estimate"], evidence, top)
