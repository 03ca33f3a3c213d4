"""Which LLM judges a batch uses, rebuilt from what the store recorded so that any process can collect it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from evalharness.config import ProjectConfig
from evalharness.errors import EvalHarnessError
from evalharness.judges.base import Judge
from evalharness.judges.fallback import ImageOrText
from evalharness.judges.llm import LLMJudge


@dataclass(frozen=True)
class BatchJudges:
    """The judge the run chose, and its text-mode twin for pairs whose image could not be read."""

    main: LLMJudge
    text: LLMJudge | None = None

    @property
    def provider(self) -> str:
        return self.main.provider_name

    @property
    def model(self) -> str:
        return self.main.model

    def for_pair(self, fallback: bool) -> LLMJudge:
        return self.text if fallback and self.text is not None else self.main

    def details(self) -> dict[str, Any]:
        """What the batch row records to rebuild these judges later."""
        return {"mode": self.main.mode, "judge_id": self.main.judge_id,
                "text_judge_id": self.text.judge_id if self.text is not None else None}


def batch_judges(judge: Judge) -> BatchJudges:
    """The judges of a `--batch` run: one LLM judge (text or image mode, with its text fallback)."""
    if isinstance(judge, LLMJudge):
        found = BatchJudges(judge)
    elif isinstance(judge, ImageOrText) and isinstance(judge.image, LLMJudge) and isinstance(judge.text, LLMJudge):
        found = BatchJudges(judge.image, judge.text)
    else:
        raise EvalHarnessError(f"--batch needs one LLM judge (openai:, gemini: or anthropic:MODEL); '{judge.judge_id}' is "
                               "not one — ensembles and offline judges run without --batch")
    if found.main.mode == "caption":
        raise EvalHarnessError("--batch judges in text or image mode; caption mode needs a caption call per image first, "
                               "so run it without --batch")
    if found.main.sample:
        raise EvalHarnessError("--batch does not take self-consistency samples ([judge] samples > 1); run them without --batch")
    return found


def rebuild(config: ProjectConfig, provider: str, model: str, details: dict[str, Any]) -> BatchJudges:
    """The judges of a recorded batch under the current config; a one-line error when the config has changed
    since (prompt, scheme, mode...), because answers would then be read by other rules than those that asked."""
    mode = details.get("mode", "text")
    main = LLMJudge(provider, model, config.model_copy(update={"judge": config.judge.model_copy(update={"mode": mode})}))
    text = None
    if details.get("text_judge_id"):
        text = LLMJudge(provider, model, config.model_copy(update={"judge": config.judge.model_copy(update={"mode": "text"})}))
    for built, recorded in ((main, details.get("judge_id")), (text, details.get("text_judge_id"))):
        if built is not None and recorded and built.judge_id != recorded:
            raise EvalHarnessError(f"the judge config changed since this batch was submitted (judge id {recorded} is now "
                                   f"{built.judge_id}); restore [judge] and the prompts, then collect again")
    return BatchJudges(main, text)
