"""What every provider's batch service offers evalharness: limits, one input line per request, submit, find,
status and results. One module per provider implements it through that provider's official SDK (sync clients:
a batch command makes a handful of calls, not thousands)."""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evalharness.config import JudgeConfig, env_secret
from evalharness.errors import EvalHarnessError, redact
from evalharness.llm.providers import DEFAULT_KEY_ENV

CLIENTS = {  # provider name -> "module:class", imported on first use
    "openai": "evalharness.batch.openai_batch:OpenAIBatches",
    "gemini": "evalharness.batch.gemini_batch:GeminiBatches",
    "anthropic": "evalharness.batch.anthropic_batch:AnthropicBatches",
}


@dataclass(frozen=True)
class Limits:
    """The most one batch may hold."""

    requests: int
    bytes: int


@dataclass(frozen=True)
class BatchStatus:
    """A batch as the provider reports it: its status word, whether it has ended, and request counts."""

    status: str
    ended: bool
    counts: dict[str, int]
    error: str = ""  # why the provider failed the whole batch, when it did


@dataclass(frozen=True)
class ResultLine:
    """One request's outcome: a wire-format response body, or an error (`expired` when the batch ran out of time)."""

    custom_id: str
    body: dict[str, Any] | None
    error: str = ""
    expired: bool = False


class BatchClient(ABC):
    """One provider's batch service."""

    name = ""
    limits = Limits(50_000, 200 * 1024 * 1024)

    def __init__(self, model: str, cfg: JudgeConfig) -> None:
        self.model, self.cfg = model, cfg
        self.api_key = env_secret(cfg.api_key_env or DEFAULT_KEY_ENV[self.name], f"the {self.name} batch judge")

    @abstractmethod
    def line(self, custom_id: str, body: dict[str, Any]) -> bytes:
        """One JSONL input line (ending in a newline) carrying a request body built by the live provider."""

    @abstractmethod
    def submit(self, path: Path, batch_id: str, requests: int) -> str:
        """Upload the input file and create the batch (named by `batch_id`); returns the provider's batch id."""

    @abstractmethod
    def find(self, batch_id: str) -> str | None:
        """The provider id of a batch created under our `batch_id` (a submitter killed right after creating it),
        or None when the provider has none; None also where the provider cannot tell (then the batch is resent)."""

    @abstractmethod
    def status(self, provider_id: str) -> BatchStatus:
        """The batch's current status."""

    @abstractmethod
    def results(self, provider_id: str) -> Iterator[ResultLine]:
        """Every request's outcome of an ended batch (successes and errors; requests never run are `expired`)."""

    def close(self) -> None:
        """Release the HTTP client."""


def batch_client(provider: str, model: str, cfg: JudgeConfig) -> BatchClient:
    """The batch client of a provider; a provider without a batch service is a one-line error."""
    if provider not in CLIENTS:
        raise EvalHarnessError(f"--batch needs an openai, gemini or anthropic judge; '{provider}' has no batch service")
    module, _, cls = CLIENTS[provider].partition(":")
    client: BatchClient = getattr(importlib.import_module(module), cls)(model, cfg)
    return client


def sdk_error(provider: str, exc: BaseException) -> EvalHarnessError:
    """A failed batch-management call as one line (the key never appears: SDK messages carry no headers)."""
    text = redact(str(exc).splitlines()[0][:200]) if str(exc) else type(exc).__name__
    status = getattr(exc, "status_code", None) or getattr(exc, "code", None)
    if status in (401, 403):
        return EvalHarnessError(f"{provider} rejected the API key for the batch API; check the variable named by [judge] api_key_env")
    return EvalHarnessError(f"the {provider} batch API failed: {type(exc).__name__}: {text}; nothing was lost — run "
                            "`evalharness batches collect` again")
