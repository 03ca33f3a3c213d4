"""A label budget: how many gold queries a corrected comparison needs for a target CI half-width on a delta.

From the compared runs' per-query values on the judge's labels (the metric's variance) and, on the gold queries
labelled so far, on the reference source's (the judge-human disagreement, through the PPI++ rectifier's variance):
the corrected delta's variance is var(lambda f) / N + var(y - lambda f) / n, solved for n. With fewer than two gold
queries the plan assumes the judge is no help (lambda 0) and people's values vary as the judge's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from evalharness.compare.comparison import Comparison
from evalharness.compare.corrected import gold_needed, gold_needed_without_gold
from evalharness.compare.gold import correct_comparison, correctable


@dataclass(frozen=True)
class PlanRow:
    """One candidate x metric: the gold queries needed for the target half-width."""

    candidate: str
    metric: str
    gold_now: int
    half_width_now: float | None
    lam: float | None
    needed: int | None  # None: the judge's own spread over the compared queries is wider than the target
    basis: str  # "measured" (from the gold queries) or "pilot" (no gold yet)

    @property
    def more(self) -> int | None:
        return None if self.needed is None else max(0, self.needed - self.gold_now)

    def to_json(self) -> dict[str, Any]:
        return {"candidate": self.candidate, "metric": self.metric, "gold_queries": self.gold_now,
                "half_width_now": self.half_width_now, "lambda": self.lam, "gold_queries_needed": self.needed,
                "more_gold_queries": self.more, "basis": self.basis}


def plan_gold(config: Any, store: Any, c: Comparison, source: str, half_width: float) -> tuple[list[PlanRow], list[str]]:
    """The plan of every candidate x correctable metric of a comparison, and the corrected estimate's notes."""
    corrected = correct_comparison(config, store, c, source)
    rows = []
    for cand in c.candidates:
        for m in correctable(c.metric_names):
            row = corrected.row(cand.name, m)
            if row is not None:
                d = row.delta
                rows.append(PlanRow(cand.name, m, d.n_gold, d.half_width, d.lam, gold_needed(d, half_width, c.alpha),
                                    "measured"))
            else:
                delta = cand.values[m] - c.baseline.values[m]
                rows.append(PlanRow(cand.name, m, corrected.gold_queries, None, None,
                                    gold_needed_without_gold(delta, half_width, c.alpha), "pilot"))
    return rows, corrected.notes


def plan_lines(rows: Sequence[PlanRow], source: str, half_width: float, queries: int) -> list[str]:
    """The plan in words, one line per row (saying so when it asks for more gold queries than are compared)."""
    out = []
    for r in rows:
        now = (f"{r.gold_now} gold queries give ±{r.half_width_now:.4f} (lambda {r.lam:.2f})" if r.half_width_now is not None
               else f"{r.gold_now} gold queries (pilot: judge assumed no help)")
        need = (f"about {r.needed} gold queries ({r.more} more) for ±{half_width}" if r.needed is not None else
                f"±{half_width} is narrower than the judge's own spread over the compared queries allows: compare more queries")
        beyond = (f" — more than the {queries} compared queries: compare more queries too"
                  if r.needed is not None and r.needed > queries else "")
        out.append(f"{r.candidate} {r.metric} on {source}: {now}; {need}{beyond}")
    return out
