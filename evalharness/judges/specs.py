"""Parsing judge specs that name several judges: `vote(a, b, c, tie=lowest, n=5)` and `[judge]` ensembles."""

from __future__ import annotations

import re

from evalharness.config import ProjectConfig
from evalharness.errors import EvalHarnessError

_OPTION = re.compile(r"^(tie|n)\s*=\s*(.+)$")


def parse_vote_spec(spec: str, config: ProjectConfig) -> tuple[list[str], str, int]:
    """(member specs, tie rule, samples per member) from a spec and `[judge]`."""
    cfg = config.judge
    if spec == "vote":
        members, tie, n = list(cfg.ensemble), cfg.tie, cfg.samples
        if not members:
            raise EvalHarnessError("judge 'vote' needs members: [judge] ensemble = [\"openai:gpt-4o-mini\", ...] or "
                                   "--judge 'vote(openai:gpt-4o-mini, gemini:gemini-2.5-flash)'")
    elif spec.startswith("vote("):
        if not spec.endswith(")"):
            raise EvalHarnessError(f"judge spec {spec!r} is missing its closing ')'; e.g. vote(openai:gpt-4o-mini, n=5)")
        members, tie, n = [], cfg.tie, cfg.samples
        for part in (p.strip() for p in spec[5:-1].split(",")):
            option = _OPTION.match(part)
            if option and option.group(1) == "tie":
                tie = option.group(2).strip()
            elif option:
                try:
                    n = int(option.group(2))
                except ValueError:
                    raise EvalHarnessError(f"in {spec!r}: n must be a whole number of samples, e.g. n=5") from None
            elif part:
                members.append(part)
    else:
        members, tie, n = [spec], cfg.tie, cfg.samples
    if not members or any(m.startswith("vote") for m in members):
        raise EvalHarnessError(f"judge spec {spec!r} needs members that are judges, e.g. vote(openai:a, gemini:b, anthropic:c)")
    if n < 1 or n > 25:
        raise EvalHarnessError(f"in {spec!r}: n must be between 1 and 25")
    if len(set(members)) != len(members):
        raise EvalHarnessError(f"judge spec {spec!r} names a member twice; use n=K for several samples of one model")
    if len(members) * n < 2:
        raise EvalHarnessError(f"judge spec {spec!r} needs at least two votes: two members, or n=K samples of one model")
    if tie not in ("lowest", "highest") and tie not in members:
        raise EvalHarnessError(f"tie rule {tie!r} is not lowest, highest or one of the members ({', '.join(members)})")
    return members, tie, n


def judge_spec_of(judge_id: str) -> str:
    """The --judge spec that produced a judge id ('openai:gpt-4o-mini:text:p…' -> 'openai:gpt-4o-mini';
    'vote(a, b)#…' -> 'vote(a, b)')."""
    if judge_id.startswith("vote("):
        return judge_id.rpartition("#")[0]
    provider, _, rest = judge_id.partition(":")
    return provider if provider == "offline" else f"{provider}:{rest.partition(':')[0]}"
