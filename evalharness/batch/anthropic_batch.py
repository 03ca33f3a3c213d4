"""Anthropic Message Batches through the official anthropic SDK.

The API takes the requests in one JSON body (up to 100,000 requests / 256 MB). evalharness keeps each batch to
10,000 requests and 64 MB, because the SDK holds a batch's requests in memory while sending them. A batch has no
metadata to carry our id, so a submitter killed between creating a batch and recording it cannot find it again:
its pairs are sent once more (the one case where a pair may be paid twice; the window is one HTTP call)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from evalharness.batch.base import BatchClient, BatchStatus, Limits, ResultLine, sdk_error
from evalharness.config import JudgeConfig


class AnthropicBatches(BatchClient):
    name = "anthropic"
    limits = Limits(10_000, 64 * 1024 * 1024)

    def __init__(self, model: str, cfg: JudgeConfig) -> None:
        super().__init__(model, cfg)
        import anthropic

        self._anthropic = anthropic
        self.client = anthropic.Anthropic(api_key=self.api_key, base_url=cfg.base_url or os.environ.get("ANTHROPIC_BASE_URL") or None,
                                          max_retries=3, timeout=max(cfg.timeout_s, 120.0))

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except self._anthropic.AnthropicError as exc:
            raise sdk_error(self.name, exc) from None

    def line(self, custom_id: str, body: dict[str, Any]) -> bytes:
        return (json.dumps({"custom_id": custom_id, "params": body}, ensure_ascii=False, separators=(",", ":")) + "\n").encode()

    def submit(self, path: Path, batch_id: str, requests: int) -> str:
        with path.open("rb") as fh:
            lines = [json.loads(raw) for raw in fh if raw.strip()]
        batch = self._call(self.client.messages.batches.create, requests=lines)
        return str(batch.id)

    def find(self, batch_id: str) -> str | None:
        return None  # message batches carry no name or metadata of ours

    def status(self, provider_id: str) -> BatchStatus:
        b = self._call(self.client.messages.batches.retrieve, provider_id)
        counts = {k: int(v or 0) for k, v in b.request_counts.model_dump().items()}
        return BatchStatus(b.processing_status, b.processing_status == "ended", counts)

    def results(self, provider_id: str) -> Iterator[ResultLine]:
        for item in self._call(self.client.messages.batches.results, provider_id):
            result = item.result
            kind = result.type
            if kind == "succeeded":
                yield ResultLine(item.custom_id, result.message.model_dump(mode="json"))
            elif kind == "errored":
                err = getattr(result.error, "error", None)
                yield ResultLine(item.custom_id, None, f"{getattr(err, 'type', 'error')}: {getattr(err, 'message', '')}")
            else:  # expired, canceled: never run
                yield ResultLine(item.custom_id, None, kind, expired=True)

    def close(self) -> None:
        self.client.close()
