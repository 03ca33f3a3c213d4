"""LLM judges: `openai:<model>` and `gemini:<model>`, in text, image or caption mode.

Prompt: the query's guideline, and the product as fenced JSON declared as data. Answer: structured
output {label, rationale}, parsed strictly; one repair attempt, then the pair is failed (never
cached, never counted as irrelevant). Usage and cost come from each response.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import TYPE_CHECKING, Any

from evalharness.catalog import HIDDEN_ATTRIBUTES
from evalharness.config import ProjectConfig
from evalharness.errors import EvalHarnessError, JudgeOutputError
from evalharness.judges.base import Judge, JudgeRequest, register_judge
from evalharness.llm.prompts import JUDGMENT_SCHEMA, fenced_json, prompt_hash, render
from evalharness.llm.providers import Provider, RetryableError, complete_parsed, make_provider
from evalharness.llm.ratelimit import RateLimiter
from evalharness.models import LABELS, Judgment, canonical_json, sha256_hex

if TYPE_CHECKING:
    from evalharness.store import Store

IMAGE_TOKENS = 765  # a 512 px image in OpenAI's tile accounting; used only for --dry-run estimates


def parse_judgment(text: str) -> tuple[str, str]:
    """Strictly parse {"label", "rationale"}; raise JudgeOutputError with what was wrong."""
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, TypeError):
        raise JudgeOutputError("the answer is not JSON") from None
    if not isinstance(data, dict):
        raise JudgeOutputError("the answer is not a JSON object")
    label = data.get("label")
    rationale = data.get("rationale")
    if label not in LABELS:
        raise JudgeOutputError(f"label {str(label)[:40]!r} is not one of {', '.join(LABELS)}")
    if not isinstance(rationale, str) or not rationale.strip():
        raise JudgeOutputError("the rationale is missing")
    return label, rationale.strip()


class LLMJudge(Judge):
    """A judge backed by a chat model through its official SDK."""

    paid = True

    def __init__(self, provider: str, model: str, config: ProjectConfig) -> None:
        cfg = config.judge
        self.cfg = cfg
        self.provider_name = provider
        self.model = model
        self.mode = cfg.mode
        self.max_concurrency = cfg.max_concurrency
        self.caption_model = cfg.caption_model or model
        price = config.prices.get(model)
        self.price = (price.input_per_mtok, price.output_per_mtok) if price else (0.0, 0.0)
        self.caption_price = (config.prices[self.caption_model].input_per_mtok, config.prices[self.caption_model].output_per_mtok) \
            if self.caption_model in config.prices else (0.0, 0.0)
        self.has_price = price is not None
        names = ["judge_system.j2", "judge_user.j2", "repair.j2"] + (["caption.j2"] if self.mode == "caption" else [])
        parts = [provider, model, self.mode, f"p{prompt_hash(*names)}", f"t{cfg.temperature:g}", "esr3", f"d{cfg.description_budget}"]
        if self.mode == "image":
            parts.append(f"img{cfg.image_max_side}")
        if self.mode == "caption":
            parts.append(f"cap={self.caption_model}")
        self.judge_id = ":".join(parts)
        self._provider: Provider | None = None
        self._caption_provider: Provider | None = None
        self._captions_in_flight: dict[str, asyncio.Future[tuple[str, int, int, float]]] = {}
        self.limiter = RateLimiter(cfg.requests_per_minute, cfg.tokens_per_minute)
        self.store: Store | None = None
        self.system_prompt = render("judge_system.j2", mode=self.mode)
        self.provider  # noqa: B018 - build the client now: a missing key fails before any work

    @property
    def provider(self) -> Provider:
        if self._provider is None:
            self._provider = make_provider(self.provider_name, self.model, self.cfg)
        return self._provider

    def attach_store(self, store: Store) -> None:
        self.store = store

    def price_per_mtok(self) -> tuple[float, float]:
        return self.price

    # -- prompts ------------------------------------------------------------------------------
    def product_fields(self, request: JudgeRequest) -> dict[str, Any]:
        hit = request.hit
        description = hit.description
        if len(description) > self.cfg.description_budget:
            description = description[: self.cfg.description_budget].rsplit(" ", 1)[0] + " …"
        fields: dict[str, Any] = {"title": hit.title, "description": description, "brand": hit.brand, "color": hit.color,
                                  "category": hit.category, "price": hit.price}
        attrs = {k: v for k, v in hit.attributes.items() if k not in HIDDEN_ATTRIBUTES}
        if attrs:
            fields["attributes"] = attrs
        return {k: v for k, v in fields.items() if v not in (None, "")}

    def user_prompt(self, request: JudgeRequest, caption: str | None = None) -> str:
        g = request.guideline
        reqs = [{"attribute": r.attribute, "value": r.value, "importance": r.importance} for r in g.requirements]
        return render("judge_user.j2", query_json=fenced_json(request.query.text), guideline_text=g.text,
                      requirements_json=fenced_json(reqs), product_json=fenced_json(self.product_fields(request)),
                      caption_json=fenced_json(caption) if caption is not None else "")

    def estimate_tokens(self, request: JudgeRequest) -> tuple[int, int]:
        chars = len(self.system_prompt) + len(self.user_prompt(request, "" if self.mode == "caption" else None))
        image = IMAGE_TOKENS if self.mode in ("image", "caption") else 0
        return chars // 4 + image + (IMAGE_TOKENS + 60 if self.mode == "caption" else 0), 60

    def cost(self, reply_in: int, reply_out: int, price: tuple[float, float]) -> float:
        return (reply_in * price[0] + reply_out * price[1]) / 1e6

    # -- calls ---------------------------------------------------------------------------------
    async def _caption(self, request: JudgeRequest) -> tuple[str, int, int, float]:
        """The image caption for this query: from the store, from a call already in flight, or a new call."""
        if request.image is None:
            raise JudgeOutputError("caption mode needs the product image")
        key = sha256_hex(canonical_json({"image": sha256_hex(request.image), "query": request.query.text.casefold(),
                                         "model": self.caption_model, "prompt": prompt_hash("caption.j2")}))
        if self.store is not None:
            cached = self.store.get_caption(key)
            if cached is not None:
                return cached, 0, 0, 0.0
        if key in self._captions_in_flight:  # identical images (same product shot) for the same query: one call
            caption = await asyncio.shield(self._captions_in_flight[key])
            return caption[0], 0, 0, 0.0
        task = asyncio.ensure_future(self._new_caption(request, key))
        self._captions_in_flight[key] = task
        try:
            return await task
        finally:
            self._captions_in_flight.pop(key, None)

    async def _new_caption(self, request: JudgeRequest, key: str) -> tuple[str, int, int, float]:
        assert request.image is not None
        if self._caption_provider is None:
            self._caption_provider = self.provider if self.caption_model == self.model else \
                make_provider(self.provider_name, self.caption_model, self.cfg)
        await self.limiter.acquire(IMAGE_TOKENS + 100)
        reply = await self._caption_provider.complete("You describe product images accurately and briefly.",
                                                      render("caption.j2", query_json=fenced_json(request.query.text)),
                                                      image=request.image, image_mime=request.image_mime,
                                                      temperature=self.cfg.temperature)
        caption = reply.text.strip()
        if not caption:
            raise JudgeOutputError("the caption model returned no text")
        cost = self.cost(reply.input_tokens, reply.output_tokens, self.caption_price)
        if self.store is not None:
            self.store.put_caption(key, self.caption_model, caption, reply.input_tokens, reply.output_tokens, cost)
        return caption, reply.input_tokens, reply.output_tokens, cost

    async def judge(self, request: JudgeRequest) -> Judgment:
        started = time.perf_counter()
        caption, caption_in, caption_out, caption_cost = None, 0, 0, 0.0
        if self.mode == "caption":
            caption, caption_in, caption_out, caption_cost = await self._caption(request)
        user = self.user_prompt(request, caption)
        image = request.image if self.mode == "image" else None
        await self.limiter.acquire((len(self.system_prompt) + len(user)) // 4 + (IMAGE_TOKENS if image else 0))
        (label, rationale), tokens_in, tokens_out = await complete_parsed(
            self.provider, self.system_prompt, user, parse_judgment, lambda problem: render("repair.j2", problem=problem),
            schema=JUDGMENT_SCHEMA, schema_name="judgment", temperature=self.cfg.temperature, image=image,
            image_mime=request.image_mime)
        cost = caption_cost + self.cost(tokens_in, tokens_out, self.price)
        return Judgment(label, rationale, self.judge_id, tokens_in + caption_in, tokens_out + caption_out, cost,
                        (time.perf_counter() - started) * 1000)

    def should_retry(self, exc: BaseException) -> bool:
        return isinstance(exc, RetryableError)

    async def aclose(self) -> None:
        for p in {id(p): p for p in (self._provider, self._caption_provider) if p is not None}.values():
            await p.aclose()
        self._provider = self._caption_provider = None


def _factory(provider: str):
    def build(model: str, config: ProjectConfig) -> Judge:
        if not model:
            raise EvalHarnessError(f"the {provider} judge needs a model: --judge {provider}:<model>")
        return LLMJudge(provider, model, config)
    return build


register_judge("openai")(_factory("openai"))
register_judge("gemini")(_factory("gemini"))
