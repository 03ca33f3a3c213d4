"""LLM judges: `openai:<model>`, `gemini:<model>` and `anthropic:<model>`, in text, image or caption mode.

Prompt: the project's templates (prompts/, else the package's), with the label scheme's names and definitions,
the query, the guideline and the product as fenced JSON declared as data, and optional few-shot examples.
Answer: structured output {rationale, requirement_verdicts, label} (rationale first by default; one required verdict
key per requirement, so the schema asks for exactly what the parser reads), read leniently (judges/answer.py): a
valid label is kept whatever else is missing. Only an unusable label gets one repair attempt; then, or at once for
what is not a label (truncated, refused, empty, filtered), the pair is failed with that reason (never cached, never
counted as irrelevant) — but the tokens it used are still counted.
Usage and cost come from each response and the price table.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from evalharness.config import ProjectConfig
from evalharness.errors import EvalHarnessError, JudgeOutputError
from evalharness.images.captions import CaptionChecker
from evalharness.judges.answer import Answer, answer_details, answer_shape, judgment_schema, parse_answer
from evalharness.judges.base import Judge, JudgeRequest
from evalharness.judges.confidence import label_confidence
from evalharness.judges.examples import load_examples
from evalharness.judges.verdicts import verdict_keys
from evalharness.labels.schemes import scheme_of
from evalharness.llm.calls import count_call
from evalharness.llm.prices import FREE, Price, price_of
from evalharness.llm.prompts import fenced_json, fill, prompts_for
from evalharness.llm.providers import LLMReply, Provider, RetryableError, check_provider, check_reply, complete_parsed, make_provider
from evalharness.llm.ratelimit import RateLimiter
from evalharness.models import HIDDEN_ATTRIBUTES, Guideline, Judgment, canonical_json, sha256_hex

if TYPE_CHECKING:
    from evalharness.store import Store

IMAGE_TOKENS = 765  # a 512 px image in OpenAI's tile accounting; used only for --dry-run estimates
QUERY_PARTS_KEPT = 4096  # (query, guideline) prompt parts kept; a run holds one per query
OUTPUT_TOKENS = {"before": 60, "after": 60, "none": 12}  # --dry-run estimate of an answer's length
LOGPROB_PROVIDERS = ("openai", "gemini")  # providers that return token log-probabilities (Anthropic does not)


@dataclass(frozen=True)
class _QueryParts:
    """What the prompt and schema of every pair of one (query, guideline) share."""

    guideline: Guideline  # held, so that its id is not reused while the entry lives
    query: str
    query_json: str
    guideline_json: str
    requirements_json: str
    schema: dict[str, Any]
    user_pieces: tuple[str, ...] | None  # the user template without caption or examples, cut where the product goes


class LLMJudge(Judge):
    """A judge backed by a chat model through its official SDK. `sample` > 0 marks one of n self-consistency
    samples: its own judge id, so each sample is cached on its own."""

    paid = True

    def __init__(self, provider: str, model: str, config: ProjectConfig, sample: int = 0) -> None:
        if not model:
            raise EvalHarnessError(f"the {provider} judge needs a model: --judge {provider}:<model>")
        cfg = config.judge
        self.config, self.cfg = config, cfg
        self.provider_name, self.model, self.sample = provider, model, sample
        self.mode = cfg.mode
        self.max_concurrency = cfg.max_concurrency
        self.caption_model = cfg.caption_model or model
        self.scheme = scheme_of(config)
        self.reasoning = cfg.reasoning
        self.prompts = prompts_for(config.root)
        self.examples = load_examples(config, self.scheme)
        price = price_of(model, config)
        self.price_table, self.has_price = price or FREE, price is not None
        self.caption_price = price_of(self.caption_model, config) or FREE
        names = ["judge_system.j2", "judge_user.j2", "repair.j2"] + (["caption.j2"] if self.mode == "caption" else [])
        parts = [provider, model, self.mode, f"p{self.prompts.hash(*names)}", f"t{cfg.temperature:g}", "esr3",
                 f"d{cfg.description_budget}", f"ls={self.scheme.fingerprint}", f"r{self.reasoning[0]}", "rv2"]
        if self.examples is not None:
            parts.append(f"x{self.examples.hash}")
        if self.mode == "image":
            parts.append(f"img{cfg.image_max_side}")
        if self.mode == "caption":
            parts.append(f"cap={self.caption_model}")
        self.caption_check = CaptionChecker(cfg.caption_check, config) if self.mode == "caption" and cfg.caption_check else None
        if self.caption_check is not None:
            parts.append(f"cc={sha256_hex(self.caption_check.checker_id)[:8]}")
        self.top_logprobs = cfg.logprobs if provider in LOGPROB_PROVIDERS else 0
        if self.top_logprobs:
            parts.append(f"lp{self.top_logprobs}")
        if sample:
            parts.append(f"s{sample}")
        self.judge_id = ":".join(parts)
        self._provider: Provider | None = None
        self._preflight_done = False
        self._caption_provider: Provider | None = None
        self._captions_in_flight: dict[str, asyncio.Future[tuple[str, int, int, float]]] = {}
        self.limiter = RateLimiter(cfg.requests_per_minute, cfg.tokens_per_minute)
        self.store: Store | None = None
        self._query_parts: dict[int, _QueryParts] = {}
        self.shape = answer_shape(self.scheme, self.reasoning)
        self.system_prompt = self.prompts.render("judge_system.j2", mode=self.mode, labels=self._labels(),
                                                 reasoning=self.reasoning, answer_shape=self.shape,
                                                 examples=self.examples is not None)
        self._check_templates()

    def _labels(self) -> list[dict[str, Any]]:
        return [{"name": d.name, "definition": d.definition, "gain": d.gain} for d in self.scheme.labels]

    def _check_templates(self) -> None:
        """Render every template once with sample values: a broken project template fails before any call."""
        sample = fenced_json("sample")
        self.prompts.check("judge_user.j2", query_json=sample, guideline_json=sample, requirements_json=sample,
                           product_json=sample, caption_json=sample if self.mode == "caption" else "",
                           examples_json=sample if self.examples is not None else "")
        self.prompts.check("repair.j2", problem="sample", answer_shape=self.shape, labels=self._labels())
        if self.mode == "caption":
            self.prompts.check("caption.j2", query_json=sample)

    def check_ready(self) -> None:
        """A missing key or SDK fails before any work (not needed for --dry-run); the client, and the SDK import, wait
        for the first call, so a run that finds every pair cached never loads the SDK."""
        check_provider(self.provider_name, self.cfg)

    def sampled(self, sample: int) -> Judge:
        if self.cfg.temperature <= 0:
            raise EvalHarnessError("self-consistency (n > 1 samples) needs [judge] temperature above 0, e.g. 0.7; "
                                   "at 0 every sample gives the same answer")
        return LLMJudge(self.provider_name, self.model, self.config, sample)

    @property
    def provider(self) -> Provider:
        if self._provider is None:
            self._provider = make_provider(self.provider_name, self.model, self.cfg)
        return self._provider

    def attach_store(self, store: Store) -> None:
        self.store = store
        if self.caption_check is not None:
            self.caption_check.store = store

    def price_per_mtok(self) -> tuple[float, float]:
        return (self.price_table.input, self.price_table.output) if self.has_price else (0.0, 0.0)

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

    def _parts(self, request: JudgeRequest) -> _QueryParts:
        """The fenced query, guideline and requirements and the answer schema of a request's (query, guideline):
        built for the first of its pairs, then reused (a run sends every hit of a query with the same objects)."""
        g, text = request.guideline, request.query.text
        parts = self._query_parts.get(id(g))
        if parts is None or parts.guideline is not g or parts.query != text:
            if len(self._query_parts) >= QUERY_PARTS_KEPT:
                self._query_parts.clear()
            reqs = [{"key": k, "attribute": r.attribute, "value": r.value, "importance": r.importance}
                    for k, r in zip(verdict_keys(g.requirements), g.requirements)]
            query_json, guideline_json, requirements_json = fenced_json(text), fenced_json(g.text), fenced_json(reqs)
            pieces = self.prompts.pieces("judge_user.j2", "product_json", query_json=query_json, guideline_json=guideline_json,
                                         requirements_json=requirements_json, caption_json="", examples_json="")
            parts = self._query_parts[id(g)] = _QueryParts(g, text, query_json, guideline_json, requirements_json,
                                                           judgment_schema(self.scheme, self.reasoning, g.requirements), pieces)
        return parts

    def user_prompt(self, request: JudgeRequest, caption: str | None = None) -> str:
        """The user message: every piece of query, guideline, catalog and example text is fenced JSON."""
        parts = self._parts(request)
        if caption is None and self.examples is None and parts.user_pieces is not None:  # the template cut at the product
            return fill(parts.user_pieces, fenced_json(self.product_fields(request)))
        examples = [e.to_prompt() for e in self.examples.pick(request.hit)] if self.examples is not None else []
        return self.prompts.render("judge_user.j2", query_json=parts.query_json, guideline_json=parts.guideline_json,
                                   requirements_json=parts.requirements_json, product_json=fenced_json(self.product_fields(request)),
                                   caption_json=fenced_json(caption) if caption is not None else "",
                                   examples_json=fenced_json(examples) if examples else "")

    def schema_for(self, request: JudgeRequest) -> dict[str, Any]:
        """The answer schema of this request: the scheme's labels and one verdict key per guideline requirement
        (shared by the requests of a guideline: read, never changed)."""
        return self._parts(request).schema

    def repair_prompt(self, problem: str) -> str:
        return self.prompts.render("repair.j2", problem=problem, answer_shape=self.shape, labels=self._labels())

    def estimate_tokens(self, request: JudgeRequest) -> tuple[int, int]:
        chars = len(self.system_prompt) + len(self.user_prompt(request, "" if self.mode == "caption" else None))
        image = IMAGE_TOKENS if self.mode in ("image", "caption") else 0
        return chars // 4 + image + (IMAGE_TOKENS + 60 if self.mode == "caption" else 0), OUTPUT_TOKENS[self.reasoning]

    # -- calls ---------------------------------------------------------------------------------
    async def _caption(self, request: JudgeRequest) -> tuple[str, int, int, float]:
        """The image caption for this query: from the store, from a call already in flight, or a new call."""
        if request.image is None:
            raise JudgeOutputError("caption mode needs the product image")
        key = sha256_hex(canonical_json({"image": sha256_hex(request.image), "query": request.query.text.casefold(),
                                         "model": self.caption_model, "prompt": self.prompts.hash("caption.j2")}))
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
                                                      self.prompts.render("caption.j2", query_json=fenced_json(request.query.text)),
                                                      image=request.image, image_mime=request.image_mime,
                                                      temperature=self.cfg.temperature)
        cost = self.caption_price.cost(reply.input_tokens, reply.output_tokens, reply.cached_tokens)
        caption = reply.text.strip()
        if not caption:
            exc = JudgeOutputError("the caption model returned no text")
            exc.input_tokens, exc.output_tokens, exc.cost_usd = reply.input_tokens, reply.output_tokens, cost
            raise exc
        if self.store is not None:
            self.store.put_caption(key, self.caption_model, caption, reply.input_tokens, reply.output_tokens, cost)
        return caption, reply.input_tokens, reply.output_tokens, cost

    async def judge(self, request: JudgeRequest) -> Judgment:
        started = time.perf_counter()
        caption, caption_in, caption_out, caption_cost = None, 0, 0, 0.0
        if self.mode == "caption":
            caption, caption_in, caption_out, caption_cost = await self._caption(request)
        details: dict[str, Any] = {}
        note = ""
        if caption is not None and self.caption_check is not None:  # CASLIE: an uninformative caption is dropped
            decision = await self.caption_check.check(request.query.text, caption)
            caption_cost += decision.cost_usd
            details["caption_check"] = {"kept": decision.keep, "votes": decision.votes, "cached": decision.cached}
            note = f" [{decision.describe()}]"
            caption = caption if decision.keep else None
        user = self.user_prompt(request, caption)
        image = request.image if self.mode == "image" else None
        await self.limiter.acquire((len(self.system_prompt) + len(user)) // 4 + (IMAGE_TOKENS if image else 0))
        answered: list[LLMReply] = []
        try:
            answer, tokens_in, tokens_out, cached = await complete_parsed(
                self.provider, self.system_prompt, user,
                lambda text: parse_answer(text, self.scheme, self.reasoning, request.guideline.requirements),
                self.repair_prompt, schema=self.schema_for(request), schema_name="judgment", temperature=self.cfg.temperature,
                image=image, image_mime=request.image_mime, top_logprobs=self.top_logprobs, on_reply=answered.append)
        except JudgeOutputError as exc:  # paid for, unusable: the cost still reaches the run and the budget
            exc.cost_usd = caption_cost + self.price_table.cost(exc.input_tokens, exc.output_tokens, exc.cached_tokens)
            exc.input_tokens += caption_in
            exc.output_tokens += caption_out
            raise
        cost = caption_cost + self.price_table.cost(tokens_in, tokens_out, cached)
        confidence = self.reply_confidence(answered[-1], answer.label, details) if answered else None
        return Judgment(answer.label, answer.rationale + note, self.judge_id, tokens_in + caption_in, tokens_out + caption_out,
                        cost, (time.perf_counter() - started) * 1000, {**details, **answer_details(answer)}, confidence)

    def reply_confidence(self, reply: LLMReply, label: str, details: dict[str, Any]) -> float | None:
        """The label's probability from the reply's token log-probabilities (the distribution over the scheme's names
        goes into `details["label_probs"]`); None when they were not asked for or do not give it."""
        if not self.top_logprobs:
            return None
        found = label_confidence(reply.text, reply.logprobs, label, self.scheme.names)
        if found is None:
            return None
        details["label_probs"] = {k: round(v, 6) for k, v in found[1].items()}
        return round(found[0], 6)

    # -- provider batch APIs (evalharness/batch/) ------------------------------------------------
    def batch_body(self, request: JudgeRequest, repair: dict[str, str] | None = None) -> dict[str, Any]:
        """The wire-format request a batch line carries: the live call's body, or its repair turn when `repair`
        holds the unusable answer (`previous`) and what was wrong with it (`problem`)."""
        if self.mode == "caption":
            raise EvalHarnessError("--batch judges in text or image mode; caption mode needs a caption call first, "
                                   "so run it without --batch")
        extra: dict[str, Any] = {}
        if repair is not None:
            extra = {"extra_user": self.repair_prompt(repair["problem"]), "previous": repair["previous"][:2000]}
        return self.provider.build_request(self.system_prompt, self.user_prompt(request), image=request.image if self.mode == "image" else None,
                                           image_mime=request.image_mime, schema=self.schema_for(request), schema_name="judgment",
                                           temperature=self.cfg.temperature, **extra,
                                           **({"top_logprobs": self.top_logprobs} if self.top_logprobs else {}))

    def parse_batch_reply(self, request: JudgeRequest, reply: LLMReply) -> Answer:
        """A batch answer, read as live answers are (NoLabel for what is not a label)."""
        check_reply(reply)
        return parse_answer(reply.text, self.scheme, self.reasoning, request.guideline.requirements)

    def batch_price(self) -> Price:
        """Batch API prices (typically half); FREE when the model has no price."""
        return self.price_table.batch() if self.has_price else FREE

    async def preflight(self) -> None:
        """One check of key and model before the first judgment request (the caption model too, when another)."""
        if not self._preflight_done:
            count_call("preflight")
            await self.provider.preflight()
            if self.mode == "caption" and self.caption_model != self.model:
                count_call("preflight")
                await make_provider(self.provider_name, self.caption_model, self.cfg).preflight()
            self._preflight_done = True

    def should_retry(self, exc: BaseException) -> bool:
        return isinstance(exc, RetryableError)

    async def aclose(self) -> None:
        for p in {id(p): p for p in (self._provider, self._caption_provider) if p is not None}.values():
            await p.aclose()
        if self.caption_check is not None:
            await self.caption_check.aclose()
        self._provider = self._caption_provider = None


def make_llm(provider: str, model: str, config: ProjectConfig) -> Judge:
    """An LLM judge of a provider ('openai', 'gemini', 'anthropic') and model."""
    return LLMJudge(provider, model, config)
