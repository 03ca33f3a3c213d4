"""One checked gate rule: pass, FAIL or INCONCLUSIVE (shared by the gate and its trust checks)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class RuleResult:
    """One checked rule."""

    name: str
    passed: bool
    detail: str
    min_detectable_effect: float | None = None
    inconclusive: bool = False  # neither pass nor fail: the evidence cannot decide (passed is then False)
    more_gold: int | None = None  # gold queries likely to decide an inconclusive check (None: unknown)

    @property
    def status(self) -> str:
        return "INCONCLUSIVE" if self.inconclusive else "pass" if self.passed else "FAIL"

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "passed": self.passed, "status": self.status, "detail": self.detail,
                "min_detectable_effect": self.min_detectable_effect, "more_gold_queries": self.more_gold}
