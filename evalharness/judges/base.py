"""The Judge protocol: one required async method, hooks with defaults, and the request a judge sees."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

from evalharness.errors import EvalHarnessError
from evalharness.models import Guideline, Hit, Judgment, Query


@dataclass(frozen=True)
class JudgeRequest:
    """Everything a judge sees for one pair."""

    query: Query
    guideline: Guideline
    hit: Hit
    image: bytes | None = None
    image_mime: str = "image/jpeg"  # ImageLoader always re-encodes as JPEG
    content_hash: str = ""  # of the fields and image the judge sees (store.content_hash); ensembles key members by it


class Judge(ABC):
    """One required async method, `judge`; hooks with defaults; a stable `judge_id`."""

    judge_id: str = ""
    max_concurrency: int = 16
    mode: str = "text"
    paid: bool = False  # True for judges that cost money per call (LLM providers)

    @abstractmethod
    async def judge(self, request: JudgeRequest) -> Judgment:
        """Label one pair; raise JudgeOutputError for an unusable answer."""

    def should_retry(self, exc: BaseException) -> bool:
        """Whether an exception from `judge` is worth another attempt."""
        return False

    def estimate_tokens(self, request: JudgeRequest) -> tuple[int, int]:
        """(input, output) tokens a call would use, for --dry-run; 0 for free judges."""
        return (0, 0)

    def price_per_mtok(self) -> tuple[float, float]:
        return (0.0, 0.0)

    def estimate_cost(self, request: JudgeRequest) -> float:
        """USD a call would cost, for --dry-run and --max-cost: the estimated tokens at the judge's price."""
        (tokens_in, tokens_out), (price_in, price_out) = self.estimate_tokens(request), self.price_per_mtok()
        return (tokens_in * price_in + tokens_out * price_out) / 1e6

    def check_ready(self) -> None:
        """Fail now (one line) if the judge cannot work, e.g. a missing API key; skipped by --dry-run."""

    async def preflight(self) -> None:
        """Check once, before any pair is sent, that the provider accepts the key and knows the model (one models
        lookup or one tiny call); raise EvalHarnessError (one line) if not. A transient failure of the check leaves
        the decision to the run's own retries. Free judges need nothing."""

    def sampled(self, sample: int) -> "Judge":
        """The `sample`-th of n self-consistency samples, with a judge id of its own."""
        raise EvalHarnessError(f"'{self.judge_id}' gives one answer per pair: self-consistency (n > 1) needs an LLM judge "
                               "at a temperature above 0")

    async def aclose(self) -> None:
        """Release clients."""

    def attach_store(self, store: Any) -> None:
        """Give the judge the store, for caches of its own (image captions)."""
