"""The OpenAI Batch API (files + batches, `/v1/chat/completions`, 24 h window) through the official openai SDK.

Limits: 50,000 requests and 200 MB per input file. Our batch id goes into the batch's metadata, so a submitter
killed between creating the batch and recording it is found again by listing batches."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from evalharness.batch.base import BatchClient, BatchStatus, Limits, ResultLine, sdk_error
from evalharness.config import JudgeConfig

ENDPOINT = "/v1/chat/completions"
ENDED = {"completed", "expired", "cancelled", "failed"}
LIST_PAGES = 20  # batches looked through (100 a page) when finding one by our id


class OpenAIBatches(BatchClient):
    name = "openai"
    limits = Limits(50_000, 200 * 1024 * 1024)

    def __init__(self, model: str, cfg: JudgeConfig) -> None:
        super().__init__(model, cfg)
        import openai

        self._openai = openai
        self.client = openai.OpenAI(api_key=self.api_key, base_url=cfg.base_url or os.environ.get("OPENAI_BASE_URL") or None,
                                    max_retries=3, timeout=max(cfg.timeout_s, 120.0))

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except self._openai.OpenAIError as exc:
            raise sdk_error(self.name, exc) from None

    def line(self, custom_id: str, body: dict[str, Any]) -> bytes:
        return (json.dumps({"custom_id": custom_id, "method": "POST", "url": ENDPOINT, "body": body},
                           ensure_ascii=False, separators=(",", ":")) + "\n").encode()

    def submit(self, path: Path, batch_id: str, requests: int) -> str:
        with path.open("rb") as fh:
            uploaded = self._call(self.client.files.create, file=(f"{batch_id}.jsonl", fh), purpose="batch")
        batch = self._call(self.client.batches.create, input_file_id=uploaded.id, endpoint=ENDPOINT, completion_window="24h",
                           metadata={"evalharness_batch": batch_id})
        return str(batch.id)

    def find(self, batch_id: str) -> str | None:
        page = self._call(self.client.batches.list, limit=100)
        for _ in range(LIST_PAGES):
            for b in page.data:
                if (b.metadata or {}).get("evalharness_batch") == batch_id:
                    return str(b.id)
            if not page.has_next_page():
                return None
            page = self._call(page.get_next_page)
        return None

    def status(self, provider_id: str) -> BatchStatus:
        b = self._call(self.client.batches.retrieve, provider_id)
        counts = b.request_counts.model_dump() if b.request_counts is not None else {}
        errors = "; ".join(f"{e.code}: {e.message}" for e in ((b.errors.data or []) if b.errors else []))[:300]
        return BatchStatus(b.status, b.status in ENDED, {k: int(v or 0) for k, v in counts.items()}, errors)

    def results(self, provider_id: str) -> Iterator[ResultLine]:
        b = self._call(self.client.batches.retrieve, provider_id)
        for file_id in (b.output_file_id, b.error_file_id):
            if not file_id:
                continue
            yield from self._lines(file_id)

    def _lines(self, file_id: str) -> Iterator[ResultLine]:
        """A result file's lines, streamed (a 50,000-line file is never held whole)."""
        try:
            with self.client.files.with_streaming_response.content(file_id) as response:
                for raw in response.iter_lines():
                    if raw.strip():
                        yield _result(json.loads(raw))
        except self._openai.OpenAIError as exc:
            raise sdk_error(self.name, exc) from None

    def close(self) -> None:
        self.client.close()


def _result(data: dict[str, Any]) -> ResultLine:
    """An output or error file line: a 200 response body, or the error it carries."""
    custom_id = str(data.get("custom_id") or "")
    response = data.get("response") or {}
    error = data.get("error") or {}
    if response.get("status_code") == 200 and not error:
        return ResultLine(custom_id, response.get("body") or {})
    if error:
        code = str(error.get("code") or "")
        return ResultLine(custom_id, None, f"{code}: {error.get('message') or ''}".strip(": "), expired=code == "batch_expired")
    body_error = (response.get("body") or {}).get("error") or {}
    return ResultLine(custom_id, None, f"{response.get('status_code')}: {body_error.get('message') or 'error'}")
