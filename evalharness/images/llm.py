"""LLM image-quality scorers through the existing providers (`openai:<model>`, `gemini:<model>`, ...).

The image is downscaled once to [images] image_max_side and sent with a `guided` prompt (the aspects shoppers
care about, after Adevinta's study; the default) or a `generic` one. The answer is structured output
{reasoning, aspects (the problems found: "blurry", "too dark", ...), score}, reasoning first, parsed strictly
with one repair turn; an unusable answer fails the image (never cached). The scorer id names provider, model,
prompt, the rendered prompts' hash, temperature and image size, so editing a prompt re-scores exactly what it
changes.
"""

from __future__ import annotations

import time
from functools import cache
from importlib import resources
from typing import Any

import jinja2

from evalharness.config import ProjectConfig
from evalharness.errors import EvalHarnessError, JudgeOutputError
from evalharness.images.loading import downscale
from evalharness.images.offline import FINDING_NAMES
from evalharness.images.scorers import ImageScore
from evalharness.llm.prices import FREE, price_of
from evalharness.llm.providers import PROVIDERS, Provider, RetryableError, check_provider, complete_parsed, make_provider
from evalharness.llm.ratelimit import RateLimiter
from evalharness.models import sha256_hex

SCHEMA_NAME = "image_quality"
IMAGE_QUALITY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "reasoning": {"type": "string"},
        "aspects": {"type": "array", "items": {"type": "string", "enum": list(FINDING_NAMES)}},
        "score": {"type": "integer"},  # 1-5, checked by the parser (Gemini schemas take string enums only)
    },
    "required": ["reasoning", "aspects", "score"],
    "additionalProperties": False,
}
IMAGE_TOKENS = 765
RATIONALE_CHARS = 300


@cache
def _source(name: str) -> str:
    return resources.files("evalharness.images").joinpath("prompts", name).read_text(encoding="utf-8")


def _render(name: str, **values: Any) -> str:
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)  # noqa: S701 - prompts, not HTML
    return env.from_string(_source(name)).render(**values).strip()


def parse_image_quality(text: str) -> tuple[str, list[str], int]:
    """Strictly parse {"reasoning", "aspects", "score"}; raise JudgeOutputError naming what was wrong."""
    from evalharness.judges.answer import json_object

    data = json_object(text)
    reasoning, aspects, score = data.get("reasoning"), data.get("aspects"), data.get("score")
    if not isinstance(reasoning, str) or not reasoning.strip():
        raise JudgeOutputError("the reasoning is missing")
    if isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= 5:
        raise JudgeOutputError(f"score {str(score)[:20]!r} is not an integer from 1 to 5")
    if not isinstance(aspects, list) or any(a not in FINDING_NAMES for a in aspects):
        raise JudgeOutputError(f"aspects must be a list of the problems found, drawn from: {', '.join(FINDING_NAMES)}")
    return reasoning.strip(), list(dict.fromkeys(aspects)), score


def _short(text: str) -> str:
    return text if len(text) <= RATIONALE_CHARS else text[:RATIONALE_CHARS].rsplit(" ", 1)[0] + " …"


class LLMImageScorer:
    """Scores a photo with a multimodal chat model; cost from each response's usage and [prices]."""

    paid = True

    def __init__(self, provider: str, model: str, prompt: str, config: ProjectConfig) -> None:
        if not model:
            raise EvalHarnessError(f"the {provider} image scorer needs a model: {provider}:<model>")
        self.cfg = config.judge
        self.max_side = config.images.image_max_side
        self.max_concurrency = config.images.max_concurrency
        self.prompt = prompt
        self.system = _render(f"system_{prompt}.j2", findings=", ".join(FINDING_NAMES))
        self.user = _render("user.j2")
        templates = "\x00".join([self.system, *(_source(n) for n in ("user.j2", "repair.j2"))])  # as rendered
        self.scorer_id = ":".join([provider, model, prompt, f"p{sha256_hex(templates)[:12]}", f"t{self.cfg.temperature:g}",
                                   f"img{self.max_side}"])
        self.price = price_of(model, config) or FREE
        self.limiter = RateLimiter(self.cfg.requests_per_minute, self.cfg.tokens_per_minute)
        self._provider_name, self._model = provider, model
        check_provider(provider, self.cfg)  # a missing key fails before any work; the SDK loads at the first call
        self._provider: Provider | None = None

    async def score(self, data: bytes) -> ImageScore:
        started = time.perf_counter()
        image = downscale(data, self.max_side)
        if self._provider is None:
            self._provider = make_provider(self._provider_name, self._model, self.cfg)
        await self.limiter.acquire((len(self.system) + len(self.user)) // 4 + IMAGE_TOKENS)
        (reasoning, aspects, score), tokens_in, tokens_out, cached = await complete_parsed(
            self._provider, self.system, self.user, parse_image_quality, lambda problem: _render("repair.j2", problem=problem),
            schema=IMAGE_QUALITY_SCHEMA, schema_name=SCHEMA_NAME, temperature=self.cfg.temperature, image=image,
            image_mime="image/jpeg")
        cost = self.price.cost(tokens_in, tokens_out, cached)
        return ImageScore(score, aspects, _short(reasoning), reasoning, {"prompt": self.prompt,
                          "latency_ms": round((time.perf_counter() - started) * 1000, 1)}, tokens_in, tokens_out, cost)

    def should_retry(self, exc: BaseException) -> bool:
        return isinstance(exc, RetryableError)

    async def aclose(self) -> None:
        if self._provider is not None:
            await self._provider.aclose()
            self._provider = None


def make_llm_scorer(provider: str, model: str, prompt: str, config: ProjectConfig) -> LLMImageScorer:
    """A scorer for any provider the LLM layer knows (openai, gemini, and anthropic once it exists)."""
    if provider not in PROVIDERS:
        raise EvalHarnessError(f"no LLM provider '{provider}'; use one of: {', '.join(sorted(PROVIDERS))}")
    return LLMImageScorer(provider, model, prompt, config)
