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


def _load_builtin() -> None:
    import evalharness.judges.llm  # noqa: F401
    import evalharness.judges.offline  # noqa: F401


def make_judge(spec: str, config: ProjectConfig) -> Judge:
    """Build a judge from a spec; unknown providers give a one-line error listing the known ones."""
    _load_builtin()
    provider, _, model = spec.partition(":")
    factory = _REGISTRY.get(provider)
    if factory is None:
        raise EvalHarnessError(f"unknown judge '{spec}'; use one of: {', '.join(sorted(_REGISTRY))} (e.g. offline, openai:gpt-4o-mini)")
    return factory(model, config)
