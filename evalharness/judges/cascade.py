"""A cascade: `cascade(CHEAP, STRONG, min_confidence=0.85)` — any two judge specs.

CHEAP labels every pair; a pair it labels with a confidence below `min_confidence` (or none) goes to STRONG. Each
member's judgment is a normal cached judgment under the member's own judge id (so a member reused alone, or in
another cascade, costs nothing more). CHEAP must give a confidence: an OpenAI(-compatible) or Gemini model (token
log-probabilities, turned on here when [judge] logprobs is 0) or a vote (share of agreeing votes, e.g.
vote(anthropic:m, n=5)). The cascade's own judgment records which member labelled the pair and each member's cost.
--dry-run estimates the escalated share from CHEAP's stored calibration (`agreement` writes it).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from evalharness.config import ProjectConfig
from evalharness.errors import EvalHarnessError, JudgeOutputError
from evalharness.judges.base import Judge, JudgeRequest
from evalharness.judges.vote import member_judgment
from evalharness.models import Judgment, sha256_hex

if TYPE_CHECKING:
    from evalharness.store import Store

_THRESHOLD = re.compile(r"^min_confidence\s*=\s*(.+)$")
DEFAULT_LOGPROBS = 5  # top alternatives asked of a cheap LLM member when [judge] logprobs is 0


def split_members(inner: str) -> list[str]:
    """'a, vote(b, c), x=1' -> ['a', 'vote(b, c)', 'x=1'] (commas inside parentheses kept)."""
    parts, depth, cur = [], 0, ""
    for ch in inner:
        depth += (ch == "(") - (ch == ")")
        if ch == "," and depth == 0:
            parts.append(cur.strip())
            cur = ""
        else:
            cur += ch
    parts.append(cur.strip())
    return [p for p in parts if p]


def parse_cascade_spec(spec: str) -> tuple[str, str, float]:
    """(cheap spec, strong spec, min_confidence) of `cascade(CHEAP, STRONG, min_confidence=0.85)`."""
    example = "e.g. cascade(openai:gpt-4o-mini, openai:gpt-4o, min_confidence=0.85)"
    if not spec.endswith(")"):
        raise EvalHarnessError(f"judge spec {spec!r} is missing its closing ')'; {example}")
    members, threshold = [], 0.85
    for part in split_members(spec[len("cascade("):-1]):
        option = _THRESHOLD.match(part)
        if option:
            try:
                threshold = float(option.group(1))
            except ValueError:
                raise EvalHarnessError(f"in {spec!r}: min_confidence must be a number between 0 and 1") from None
        elif "=" in part and not part.startswith(("vote(", "cascade(")):
            raise EvalHarnessError(f"in {spec!r}: unknown option {part!r}; the only option is min_confidence; {example}")
        else:
            members.append(part)
    if len(members) != 2:
        raise EvalHarnessError(f"judge spec {spec!r} needs exactly two members, a cheap one and a strong one; {example}")
    if not 0.0 <= threshold <= 1.0:
        raise EvalHarnessError(f"in {spec!r}: min_confidence must be between 0 and 1")
    if any(m.startswith("cascade(") for m in members):
        raise EvalHarnessError(f"judge spec {spec!r}: a cascade member cannot be a cascade; {example}")
    return members[0], members[1], threshold


def cheap_config(spec: str, config: ProjectConfig) -> ProjectConfig:
    """The config the cheap member is built with: log-probabilities on for an OpenAI or Gemini model."""
    if config.judge.logprobs or spec.partition(":")[0] not in ("openai", "gemini"):
        return config
    return config.model_copy(update={"judge": config.judge.model_copy(update={"logprobs": DEFAULT_LOGPROBS})})


class CascadeJudge(Judge):
    """CHEAP on every pair, STRONG where CHEAP's confidence is below the threshold."""

    def __init__(self, cheap: tuple[str, Judge], strong: tuple[str, Judge], threshold: float) -> None:
        (self.cheap_spec, self.cheap), (self.strong_spec, self.strong) = cheap, strong
        self.threshold = threshold
        if self.cheap.mode != self.strong.mode:
            raise EvalHarnessError("the members of a cascade must share one [judge] mode")
        self.mode = self.cheap.mode
        self.paid = self.cheap.paid or self.strong.paid
        self.max_concurrency = min(self.cheap.max_concurrency, self.strong.max_concurrency)
        digest = sha256_hex("\x00".join([f"{threshold:g}", self.cheap.judge_id, self.strong.judge_id]))[:12]
        self.judge_id = f"cascade({self.cheap_spec}, {self.strong_spec}, min_confidence={threshold:g})#{digest}"
        self.store: Store | None = None
        self.estimate_note = ""

    def attach_store(self, store: Store) -> None:
        self.store = store
        self.cheap.attach_store(store)
        self.strong.attach_store(store)

    def check_ready(self) -> None:
        self.cheap.check_ready()
        self.strong.check_ready()

    async def preflight(self) -> None:
        await self.cheap.preflight()
        await self.strong.preflight()

    def should_retry(self, exc: BaseException) -> bool:
        return self.cheap.should_retry(exc) or self.strong.should_retry(exc)

    # -- estimates (--dry-run, --max-cost) -----------------------------------------------------
    def escalated_share(self) -> float:
        """The share of pairs CHEAP's stored calibration puts below the threshold; 1.0 (all) without one."""
        from evalharness.store.calibration import get_calibration

        found = get_calibration(self.store, self.cheap.judge_id) if self.store is not None else None
        if found is None:
            self.estimate_note = (f"no stored calibration for {self.cheap_spec}: the estimate sends every pair to "
                                  f"{self.strong_spec}; run `evalharness agreement --human NAME --judge '{self.judge_id.split('#')[0]}' "
                                  "--choose-threshold` first")
            return 1.0
        share = found.share_below(self.threshold)
        self.estimate_note = (f"{share:.1%} of pairs estimated below min_confidence={self.threshold:g}, from {self.cheap_spec}'s "
                              f"calibration on {found.human} ({len(found.confidences)} pairs, {found.created_at})")
        return share

    def estimate_tokens(self, request: JudgeRequest) -> tuple[int, int]:
        share = self._share()
        (ci, co), (si, so) = self.cheap.estimate_tokens(request), self.strong.estimate_tokens(request)
        return round(ci + share * si), round(co + share * so)

    def estimate_cost(self, request: JudgeRequest) -> float:
        return self.cheap.estimate_cost(request) + self._share() * self.strong.estimate_cost(request)

    def _share(self) -> float:
        if not hasattr(self, "_estimated_share"):
            self._estimated_share = self.escalated_share()
        return self._estimated_share

    def price_per_mtok(self) -> tuple[float, float]:
        """The dearer member's price (an upper bound per token); (0, 0) when a paid member has no price."""
        prices = [(j, j.price_per_mtok()) for j in (self.cheap, self.strong)]
        if any(j.paid and p == (0.0, 0.0) for j, p in prices):
            return (0.0, 0.0)
        return max(p[0] for _, p in prices), max(p[1] for _, p in prices)

    # -- judging -------------------------------------------------------------------------------
    async def judge(self, request: JudgeRequest) -> Judgment:
        first, new_first = await member_judgment(self.store, request, self.cheap)
        used = _usage(first) if new_first else (0, 0, 0.0)
        members: dict[str, Any] = {"cheap": _member_detail(self.cheap_spec, first)}
        escalated = first.confidence is None or first.confidence < self.threshold
        chosen = first
        if escalated:
            try:
                second, new_second = await member_judgment(self.store, request, self.strong)
            except JudgeOutputError as exc:  # the cheap judgment is stored; what the strong call paid still counts
                exc.input_tokens = getattr(exc, "input_tokens", 0) + used[0]
                exc.output_tokens = getattr(exc, "output_tokens", 0) + used[1]
                exc.cost_usd = getattr(exc, "cost_usd", 0.0) + used[2]
                raise
            if new_second:
                used = tuple(a + b for a, b in zip(used, _usage(second)))  # type: ignore[assignment]
            members["strong"] = _member_detail(self.strong_spec, second)
            chosen = second
        why = (f"[{self.strong_spec}; {self.cheap_spec} said {first.label} at "
               f"{'no confidence' if first.confidence is None else f'{first.confidence:.2f}'}] " if escalated
               else f"[{self.cheap_spec} at {first.confidence:.2f}] ")
        details = {"cascade": {"escalated": escalated, "min_confidence": self.threshold, **members},
                   **({"verdicts": chosen.details["verdicts"]} if "verdicts" in chosen.details else {})}
        return Judgment(chosen.label, why + chosen.rationale, self.judge_id, used[0], used[1], used[2], 0.0, details,
                        chosen.confidence)

    async def aclose(self) -> None:
        await self.cheap.aclose()
        await self.strong.aclose()


def _usage(j: Judgment) -> tuple[int, int, float]:
    return j.input_tokens, j.output_tokens, j.cost_usd


def _member_detail(spec: str, j: Judgment) -> dict[str, Any]:
    """What the cascade's judgment keeps of a member's: its label, confidence and what it cost when it was made."""
    return {"member": spec, "judge_id": j.judge_id, "label": j.label, "confidence": j.confidence, "cost_usd": j.cost_usd,
            "input_tokens": j.input_tokens, "output_tokens": j.output_tokens}


def make_cascade_judge(spec: str, config: ProjectConfig, make_judge: Callable[..., Judge]) -> CascadeJudge:
    """Build both members (any judge specs, each made by `make_judge`, the registry's) and the cascade; CHEAP must be
    able to give a confidence."""
    cheap_spec, strong_spec, threshold = parse_cascade_spec(spec)
    cheap = make_judge(cheap_spec, cheap_config(cheap_spec, config), need_key=False)
    if not (getattr(cheap, "top_logprobs", 0) or cheap.judge_id.startswith("vote(")):
        raise EvalHarnessError(f"cascade: the cheap member {cheap_spec!r} gives no confidence; use an OpenAI(-compatible) "
                               "or Gemini model (log-probabilities) or a vote, e.g. vote(anthropic:claude-haiku-4-5, n=5) "
                               "with [judge] temperature above 0")
    strong = make_judge(strong_spec, config, need_key=False)
    return CascadeJudge((cheap_spec, cheap), (strong_spec, strong), threshold)


def cascade_summary(details: list[dict[str, Any]]) -> dict[str, Any]:
    """What a cascade's judgments of a run's pairs add up to: the escalated share, each member's cost (as recorded
    when the member's judgment was made, cached ones included) and the saving against STRONG alone (STRONG's mean cost
    on the escalated pairs times every pair; None when nothing was escalated)."""
    rows = [d["cascade"] for d in details if isinstance(d.get("cascade"), dict)]
    up = [r for r in rows if r.get("escalated")]
    cheap = sum(float(r["cheap"].get("cost_usd") or 0.0) for r in rows)
    strong = sum(float(r["strong"].get("cost_usd") or 0.0) for r in up if isinstance(r.get("strong"), dict))
    alone = strong / len(up) * len(rows) if up else None
    return {"pairs": len(rows), "escalated": len(up), "escalated_share": len(up) / len(rows) if rows else 0.0,
            "cheap_cost_usd": cheap, "strong_cost_usd": strong, "cost_usd": cheap + strong, "strong_alone_usd": alone,
            "saving_usd": alone - cheap - strong if alone is not None else None,
            "saving_share": (alone - cheap - strong) / alone if alone else None}


def run_cascade_summary(store: Store, judge_id: str, queries: list[Any]) -> dict[str, Any]:
    """cascade_summary over one stored run's pairs (`queries`: the run's StoredQuery list)."""
    from evalharness.store.votes import details_pool

    pool = details_pool(store, [q.guideline_hash for q in queries], judge_id)
    return cascade_summary([pool[(q.guideline_hash, h.doc_id)] for q in queries for h in q.hits if (q.guideline_hash, h.doc_id) in pool])


def describe_summary(s: dict[str, Any]) -> str:
    """One line for the run's output."""
    saving = (f"; saving ${s['saving_usd']:.4f} ({s['saving_share']:.0%}) against the strong judge alone "
              f"(~${s['strong_alone_usd']:.4f})" if s["saving_usd"] is not None else "")
    return (f"cascade: {s['escalated']} of {s['pairs']} pairs ({s['escalated_share']:.1%}) sent to the strong judge; "
            f"members' cost cheap ${s['cheap_cost_usd']:.4f}, strong ${s['strong_cost_usd']:.4f}{saving}")
