"""The judge registry: turns a spec ('offline', 'openai:gpt-4o-mini', 'vote(a, b, c)', 'cascade(a, b)') into a judge.

Built-ins are named by module and imported only when a spec asks for them (an offline run never imports the LLM
machinery); third-party judges come from the `evalharness.judges` entry point group, each a factory
`(model, config) -> Judge`."""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable

from evalharness.config import ProjectConfig
from evalharness.errors import EvalHarnessError
from evalharness.judges.base import Judge

JudgeFactory = Callable[[str, ProjectConfig], Judge]
LLM_PROVIDERS = ("openai", "gemini", "anthropic")
ENTRY_POINT_GROUP = "evalharness.judges"


def _builtin(provider: str) -> JudgeFactory | None:
    if provider == "offline":
        return importlib.import_module("evalharness.judges.offline").make_offline
    if provider in LLM_PROVIDERS:
        return functools.partial(importlib.import_module("evalharness.judges.llm").make_llm, provider)
    return None


def _plugin(provider: str) -> JudgeFactory | None:
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == provider:
            return ep.load()
    return None


def make_judge(spec: str, config: ProjectConfig, *, need_key: bool = True) -> Judge:
    """Build a judge from a spec ('offline', 'openai:MODEL', 'vote(a, b, c, tie=lowest)', 'vote(openai:m, n=5)');
    unknown providers give a one-line error listing the known ones. `need_key=False` (--dry-run) builds a judge
    that can estimate and name itself without an API key."""
    spec = spec.strip()
    samples = config.judge.samples
    if spec.startswith("cascade("):
        from evalharness.judges.cascade import make_cascade_judge

        judge: Judge = make_cascade_judge(spec, config, make_judge)
    elif spec == "vote" or spec.startswith("vote(") or (samples > 1 and not spec.startswith("vote")):
        from evalharness.judges.vote import make_vote_judge

        judge = make_vote_judge(spec, config, make_single)
    else:
        judge = make_single(spec, config)
    if need_key:
        judge.check_ready()
    return judge


def make_single(spec: str, config: ProjectConfig) -> Judge:
    """One judge (no ensemble) from '<provider>' or '<provider>:<model>'."""
    provider, _, model = spec.partition(":")
    factory = _builtin(provider) or _plugin(provider)
    if factory is None:
        known = ", ".join(sorted(["offline", *LLM_PROVIDERS]))
        raise EvalHarnessError(f"unknown judge '{spec}'; use one of: {known}, vote(...), cascade(...) "
                               "(e.g. offline, openai:gpt-4o-mini, anthropic:claude-haiku-4-5)")
    return factory(model, config)
