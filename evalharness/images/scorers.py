"""Image-quality scorers behind one small protocol, and the registry that turns a spec into one.

A scorer has one required async method, `score(image bytes) -> ImageScore`, hooks with defaults
(`max_concurrency`, `should_retry`, `aclose`) and a stable `scorer_id` that names everything that changes
its answer (model, prompt hash, image size), so a score is cached under (image bytes hash, scorer id).
Built-in scorers are listed here by module path and imported on first use; others register with
`register_scorer`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from evalharness.errors import EvalHarnessError

if TYPE_CHECKING:
    from evalharness.config import ProjectConfig

PROMPTS = ("guided", "generic")


@dataclass(frozen=True)
class ImageScore:
    """A score 1-5, the aspects that decided it, a short rationale and what it cost."""

    score: int
    aspects: list[str]
    rationale: str
    reasoning: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {"score": self.score, "aspects": self.aspects, "rationale": self.rationale, "reasoning": self.reasoning,
                "details": self.details, "input_tokens": self.input_tokens, "output_tokens": self.output_tokens,
                "cost_usd": self.cost_usd}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ImageScore:
        return cls(int(data["score"]), list(data.get("aspects") or []), str(data.get("rationale") or ""),
                   str(data.get("reasoning") or ""), dict(data.get("details") or {}), int(data.get("input_tokens") or 0),
                   int(data.get("output_tokens") or 0), float(data.get("cost_usd") or 0.0))


class ImageScorer(Protocol):
    """Scores one image's original bytes (a scorer downscales what it sends)."""

    scorer_id: str
    paid: bool
    max_concurrency: int

    async def score(self, data: bytes) -> ImageScore: ...

    def should_retry(self, exc: BaseException) -> bool: ...

    async def aclose(self) -> None: ...


ScorerFactory = Callable[[str, str, str, "ProjectConfig"], ImageScorer]  # (provider, model, prompt, config)
_REGISTRY: dict[str, ScorerFactory | str] = {
    "offline": "evalharness.images.offline:make_offline_scorer",
    "openai": "evalharness.images.llm:make_llm_scorer",
    "gemini": "evalharness.images.llm:make_llm_scorer",
}


def register_scorer(provider: str, factory: ScorerFactory | str) -> None:
    """Add a scorer for specs '<provider>' or '<provider>:<model>' (a factory or a lazy 'module:function')."""
    _REGISTRY[provider] = factory


def make_scorer(spec: str, config: ProjectConfig, prompt: str | None = None) -> ImageScorer:
    """Build a scorer from a spec ('offline', 'openai:gpt-4o-mini', ...) and a prompt ('guided' or 'generic')."""
    provider, _, model = spec.partition(":")
    found = _REGISTRY.get(provider)
    if found is None:
        raise EvalHarnessError(f"unknown image scorer '{spec}'; use one of: {', '.join(sorted(_REGISTRY))} "
                               "(e.g. offline, openai:gpt-4o-mini)")
    prompt = prompt or config.images.prompt
    if prompt not in PROMPTS:
        raise EvalHarnessError(f"unknown image prompt '{prompt}'; use one of: {', '.join(PROMPTS)}")
    if isinstance(found, str):
        module, _, attr = found.partition(":")
        found = getattr(importlib.import_module(module), attr)
    return found(provider, model, prompt, config)
