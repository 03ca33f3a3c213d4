"""The Judge protocol and the registry that turns a spec ('offline', 'openai:gpt-4o-mini') into a judge."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from evalharness.config import ProjectConfig
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


JudgeFactory = Callable[[str, ProjectConfig], Judge]
_REGISTRY: dict[str, JudgeFactory] = {}


def register_judge(provider: str) -> Callable[[JudgeFactory], JudgeFactory]:
    """Register a factory for specs of the form '<provider>' or '<provider>:<model>'."""
    def deco(factory: JudgeFactory) -> JudgeFactory:
        _REGISTRY[provider] = factory
        return factory
    return deco


def _load_builtin(spec: str = "") -> None:
    """Register the built-in judges: the LLM ones only when the spec is not the offline judge (their modules import
    the prompt, caption and provider machinery an offline run never uses)."""
    import evalharness.judges.offline  # noqa: F401

    if spec != "offline":
        import evalharness.judges.llm  # noqa: F401


def make_judge(spec: str, config: ProjectConfig, *, need_key: bool = True) -> Judge:
    """Build a judge from a spec ('offline', 'openai:MODEL', 'vote(a, b, c, tie=lowest)', 'vote(openai:m, n=5)');
    unknown providers give a one-line error listing the known ones. `need_key=False` (--dry-run) builds a judge
    that can estimate and name itself without an API key."""
    spec = spec.strip()
    _load_builtin(spec)
    samples = config.judge.samples
    if spec.startswith("cascade("):
        from evalharness.judges.cascade import make_cascade_judge

        judge: Judge = make_cascade_judge(spec, config)
    elif spec == "vote" or spec.startswith("vote(") or (samples > 1 and not spec.startswith("vote")):
        from evalharness.judges.vote import make_vote_judge

        judge = make_vote_judge(spec, config)
    else:
        judge = _make_single(spec, config)
    if need_key:
        judge.check_ready()
    return judge


def _make_single(spec: str, config: ProjectConfig) -> Judge:
    provider, _, model = spec.partition(":")
    factory = _REGISTRY.get(provider)
    if factory is None:
        raise EvalHarnessError(f"unknown judge '{spec}'; use one of: {', '.join(sorted(_REGISTRY))}, vote(...), cascade(...) "
                               "(e.g. offline, openai:gpt-4o-mini, anthropic:claude-haiku-4-5)")
    return factory(model, config)
