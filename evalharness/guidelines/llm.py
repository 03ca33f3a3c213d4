"""The LLM guideline writer: per query, structured output with requirements and guideline text."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from functools import partial

from evalharness.config import ProjectConfig
from evalharness.errors import EvalHarnessError, JudgeOutputError
from evalharness.labels.schemes import scheme_of
from evalharness.llm.prompts import GUIDELINE_SCHEMA, fenced_json, prompts_for
from evalharness.llm.providers import RetryableError, complete_parsed, make_provider
from evalharness.llm.retry import retry_delay
from evalharness.models import IMPORTANCE, Guideline, Requirement


def parse_guideline_answer(query: str, text: str, writer: str, model: str) -> Guideline:
    """Strictly parse the writer's JSON answer."""
    try:
        data = json.loads(text)
        reqs = tuple(Requirement(str(r["attribute"]), str(r["value"]), str(r["importance"])) for r in data["requirements"])
        body = str(data["guideline"]).strip()
    except (json.JSONDecodeError, KeyError, TypeError):
        raise JudgeOutputError("the answer is not the requirements/guideline JSON object") from None
    if not body or any(r.importance not in IMPORTANCE or not r.attribute or not r.value for r in reqs):
        raise JudgeOutputError("the answer has an empty guideline or a requirement without attribute, value or a valid importance")
    return Guideline(query=query, requirements=reqs, text=body, writer=writer, model=model)


class LLMGuidelineWriter:
    """Writes guidelines with an LLM; many at once with bounded concurrency."""

    def __init__(self, provider: str, model: str, config: ProjectConfig) -> None:
        if not model:
            raise EvalHarnessError(f"the guideline writer needs a model: writer = \"{provider}:<model>\"")
        self.provider_name, self.model, self.config = provider, model, config
        self.prompts = prompts_for(config.root)
        self.label_names = list(scheme_of(config).names)
        self.writer_id = f"{provider}:p{self.prompts.hash('guideline_system.j2', 'guideline_user.j2')}"
        self.prompts.check("guideline_system.j2", label_names=self.label_names)
        self.prompts.check("guideline_user.j2", query_json=fenced_json("sample"))
        make_provider(provider, model, config.judge)  # fail fast on a missing key

    def write(self, query: str) -> Guideline:
        out: list[Guideline] = []
        self.write_many([query], out.append)
        return out[0]

    def write_many(self, queries: Sequence[str], save: Callable[[Guideline], None]) -> None:
        """Write guidelines concurrently; `save` receives each one as soon as it is parsed."""
        asyncio.run(self._write_all(list(dict.fromkeys(queries)), save))

    async def _write_all(self, queries: list[str], save: Callable[[Guideline], None]) -> None:
        provider = make_provider(self.provider_name, self.model, self.config.judge)
        sem = asyncio.Semaphore(self.config.judge.max_concurrency)
        system = self.prompts.render("guideline_system.j2", label_names=self.label_names)

        def parse(text: str, query: str) -> Guideline:
            return parse_guideline_answer(query, text, self.writer_id, self.model)

        def repair(problem: str) -> str:
            return f"That answer could not be used ({problem}). Answer again with the JSON object only."

        async def one(query: str) -> None:
            user = self.prompts.render("guideline_user.j2", query_json=fenced_json(query))
            async with sem:
                for attempt in range(self.config.judge.max_retries + 1):
                    try:
                        guideline, *_ = await complete_parsed(provider, system, user, partial(parse, query=query), repair,
                                                                schema=GUIDELINE_SCHEMA, schema_name="guideline",
                                                                temperature=self.config.judge.temperature)
                        break
                    except RetryableError as exc:
                        if attempt == self.config.judge.max_retries:
                            raise EvalHarnessError(f"could not write the guideline for {query!r}: the provider kept failing ({exc}); "
                                                   "run again, or write the file by hand") from None
                        await asyncio.sleep(retry_delay(exc, attempt))
                    except JudgeOutputError as exc:
                        raise EvalHarnessError(f"the guideline writer gave no usable answer for {query!r} ({exc}); "
                                               "run again or write the guideline file by hand") from None
            save(guideline)

        try:
            await asyncio.gather(*(one(q) for q in queries))
        finally:
            await provider.aclose()
