"""A judge against what shoppers do: rank correlation of its labels with a behaviour source's estimate, and the
strongest disagreements (hits shoppers engage with that the judge calls irrelevant; hits shown often and never
clicked that it calls relevant).

Correlations (labels/correlation.py) are between the judge's ordinal label (lowest gain = 0) and the
position-corrected estimate, over the pairs the behaviour source labelled (enough impressions).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from evalharness.labels.correlation import RankCorrelation, rank_correlation

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
    correlation: RankCorrelation
    engaged_lowest: list[ShopperDisagreement] = field(default_factory=list)
    ignored_highest: list[ShopperDisagreement] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "estimate": self.estimate, "pairs": self.correlation.n, **self.correlation.to_json(),
                "engaged_but_judged_lowest": [d.to_json() for d in self.engaged_lowest],
                "ignored_but_judged_highest": [d.to_json() for d in self.ignored_highest]}

    def text(self) -> str:
        return f"{self.correlation.text()} between the judge's labels and {self.estimate} over {self.correlation.n} pairs"


def check_judge(j: JudgeAgreement, labels: tuple[str, ...], source: str, estimate: str, evidence: dict[tuple[str, str], dict[str, Any]],
                top: int = 20) -> BehaviourCheck:
    """Correlation and disagreement lists for one judge (evidence: the source's rows by (query key, doc))."""
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
    return BehaviourCheck(source, estimate, rank_correlation(xs, ys),
                          [replace(e, kind="engaged, judged lowest") for e in engaged[:top]],
                          [replace(e, kind="ignored, judged highest") for e in ignored[:top]])


def attach_behaviour(store: Any, a: Agreement, top: int = 20) -> None:
    """When the reference is a behaviour source, add its check to each judge of an agreement."""
    from evalharness.store.behaviour import behaviour_model, evidence_for, is_behaviour

    if not is_behaviour(a.human):
        return
    model = behaviour_model(store, a.human)
    evidence = evidence_for(store, a.human)
    for j in a.judges:
        j.behaviour = check_judge(j, a.labels, a.human, model["estimate"], evidence, top)
