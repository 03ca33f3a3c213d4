"""Gemini batch mode (Gemini Developer API) through the official google-genai SDK: a JSONL file of
`{"key", "request"}` lines uploaded with the Files API, `batches.create(src="files/...")`, results downloaded from
the job's destination file.

Limits: an input file of up to 2 GB; we keep each batch to 50,000 requests and 200 MB, like OpenAI's, so a
failed batch costs little to resend. Our batch id is the job's display name, so a killed submitter's job is found
again by listing jobs."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from evalharness.batch.base import BatchClient, BatchStatus, Limits, ResultLine, sdk_error
from evalharness.config import JudgeConfig

ENDED = {"JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED", "JOB_STATE_EXPIRED", "JOB_STATE_PARTIALLY_SUCCEEDED"}
LIST_LIMIT = 2000  # jobs looked through when finding one by our id


class GeminiBatches(BatchClient):
    name = "gemini"
    limits = Limits(50_000, 200 * 1024 * 1024)

    def __init__(self, model: str, cfg: JudgeConfig) -> None:
        super().__init__(model, cfg)
        from google import genai
        from google.genai import errors, types

        self._types, self._errors = types, errors
        self.client = genai.Client(api_key=self.api_key, http_options=types.HttpOptions(
            base_url=cfg.base_url or None, timeout=int(max(cfg.timeout_s, 120.0) * 1000)))

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        from evalharness.runtime.httpclient import TRANSPORT_ERRORS

        try:
            return fn(*args, **kwargs)
        except (self._errors.APIError, *TRANSPORT_ERRORS) as exc:
            raise sdk_error(self.name, exc) from None

    def line(self, custom_id: str, body: dict[str, Any]) -> bytes:
        request = {k: v for k, v in body.items() if k != "model"}
        return (json.dumps({"key": custom_id, "request": request}, ensure_ascii=False, separators=(",", ":")) + "\n").encode()

    def submit(self, path: Path, batch_id: str, requests: int) -> str:
        types = self._types
        uploaded = self._call(self.client.files.upload, file=str(path),
                              config=types.UploadFileConfig(mime_type="jsonl", display_name=batch_id))
        job = self._call(self.client.batches.create, model=self.model, src=uploaded.name,
                         config=types.CreateBatchJobConfig(display_name=batch_id))
        return str(job.name)

    def find(self, batch_id: str) -> str | None:
        pager = self._call(self.client.batches.list, config=self._types.ListBatchJobsConfig(page_size=100))
        for i, job in enumerate(pager):
            if job.display_name == batch_id:
                return str(job.name)
            if i >= LIST_LIMIT:
                break
        return None

    def status(self, provider_id: str) -> BatchStatus:
        job = self._call(self.client.batches.get, name=provider_id)
        state = job.state.name if job.state is not None else "JOB_STATE_UNSPECIFIED"
        stats = job.completion_stats
        counts = {k: int(v or 0) for k, v in (stats.model_dump() if stats is not None else {}).items() if isinstance(v, int)}
        error = f"{job.error.code}: {job.error.message}" if job.error is not None else ""
        return BatchStatus(state, state in ENDED, counts, error[:300])

    def results(self, provider_id: str) -> Iterator[ResultLine]:
        job = self._call(self.client.batches.get, name=provider_id)
        dest = job.dest
        if dest is None:
            return
        for inline in dest.inlined_responses or []:  # inline results (small jobs); the key is in the metadata
            key = str((inline.metadata or {}).get("key", ""))
            if inline.error is not None:
                yield ResultLine(key, None, f"{inline.error.code}: {inline.error.message}")
            elif inline.response is not None:
                yield ResultLine(key, inline.response.model_dump(mode="json", by_alias=True, exclude_none=True))
        if dest.file_name:
            data = self._call(self.client.files.download, file=dest.file_name)
            with tempfile.TemporaryFile() as fh:  # a large result file is read line by line, not held as str
                fh.write(data)
                del data
                fh.seek(0)
                for raw in fh:
                    if raw.strip():
                        yield _result(json.loads(raw))

    def close(self) -> None:
        self.client.close()


def _result(data: dict[str, Any]) -> ResultLine:
    key = str(data.get("key") or "")
    if data.get("error"):
        err = data["error"]
        return ResultLine(key, None, f"{err.get('code', '')}: {err.get('message', '')}".strip(": "))
    return ResultLine(key, data.get("response") or {})
