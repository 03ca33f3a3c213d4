"""Token log-probabilities as the providers return them, read into one shape (what judges/confidence.py reads).

OpenAI Chat Completions (and OpenAI-compatible servers: vLLM, llama.cpp's server) answer `logprobs: true,
top_logprobs: K` with `choices[0].logprobs.content[i] = {token, logprob, top_logprobs: [{token, logprob}]}`.
Gemini answers `responseLogprobs: true, logprobs: K` with `candidates[0].logprobsResult = {chosenCandidates:
[{token, logProbability}], topCandidates: [{candidates: [{token, logProbability}]}]}`, one entry per step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class TokenLogprob:
    """One generated token, its log-probability and the top alternatives at that step (token, log-probability)."""

    token: str
    logprob: float
    top: tuple[tuple[str, float], ...] = ()


def openai_logprobs(choice: dict[str, Any]) -> tuple[TokenLogprob, ...] | None:
    """The tokens of a chat-completions choice, or None when it carries no log-probabilities."""
    content = (choice.get("logprobs") or {}).get("content")
    if not content:
        return None
    return tuple(TokenLogprob(str(t.get("token", "")), float(t.get("logprob", 0.0)),
                              tuple((str(a.get("token", "")), float(a.get("logprob", 0.0))) for a in t.get("top_logprobs") or []))
                 for t in content)


def gemini_logprobs(result: dict[str, Any] | None) -> tuple[TokenLogprob, ...] | None:
    """The tokens of a Gemini candidate's `logprobsResult` (REST camelCase or the SDK's snake_case dump)."""
    if not result:
        return None
    chosen = result.get("chosenCandidates") or result.get("chosen_candidates") or []
    tops = result.get("topCandidates") or result.get("top_candidates") or []
    if not chosen:
        return None

    def lp(c: dict[str, Any]) -> float:
        return float(c.get("logProbability", c.get("log_probability")) or 0.0)

    out = []
    for i, c in enumerate(chosen):
        alts = (tops[i].get("candidates") or []) if i < len(tops) else []
        out.append(TokenLogprob(str(c.get("token") or ""), lp(c), tuple((str(a.get("token") or ""), lp(a)) for a in alts)))
    return tuple(out)
