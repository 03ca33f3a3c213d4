"""The three providers' batch APIs for the local LLM server (tests/llmserver.py routes these paths here).

OpenAI: /v1/files (multipart upload, retrieve, content, delete) and /v1/batches (create, retrieve, list, cancel).
Gemini Developer API, under the SDK's API version {v} (v1 by default, v1beta when set): the resumable upload
(/upload/{v}/files), /{v}/files/{id}[:download], /{v}/models/{model}:batchGenerateContent (file or inline requests),
/{v}/batches[/{id}[:cancel]]; a /v1/files or /v1/batches request is Gemini's when it carries x-goog-api-key.
Anthropic: /v1/messages/batches (create, retrieve, list, cancel, delete, results).

Every line is answered by the server's `reply(kind, body, malformed, model)`, the same rule as a live call, and is
recorded in `state.recent`; batch lines count in `stats()` only, never in the live request counter. A batch stays in
progress `delay_s` after creation and then ends: its results are computed the first time anyone looks after that
(retrieve, list, results) and fixed from then on. The wire shapes follow what the SDKs send and parse
(openai resources/batches.py, files.py; google/genai batches.py, files.py, _api_client.upload_file;
anthropic resources/messages/batches.py); each provider's wire format is in llmserver_batch_wire.py
(OpenAI, Anthropic) and llmserver_batch_gemini.py.
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from llmserver_batch_gemini import Gemini
from llmserver_batch_wire import Anthropic, OpenAI, Resp

GEMINI = re.compile(r"^/(upload/)?v1(beta|alpha)?/(files|batches|models/[^/]+:batchGenerateContent)")
# (requests per batch, bytes per input) as the providers document them; None: no limit
LIMITS: dict[str, tuple[int | None, int]] = {"openai": (50_000, 200 * 2**20), "anthropic": (100_000, 256 * 2**20),
                                             "gemini": (None, 2 * 2**30), "gemini-inline": (None, 20 * 2**20)}


@dataclass
class BatchFaults:
    delay_s: float = 0.0  # a batch stays in progress this long after creation, then ends
    line_errors: int = 0  # per batch, the first N lines whose id this server has never seen end with a per-line error
    malformed: int = 0  # per batch, the first N never-seen ids (after those erroring) get a malformed JSON answer
    expire_after: int | None = None  # the batch ends expired after answering this many lines; the rest are expired
    max_lines: int | None = None  # input limit override (requests per batch); None = the provider's real limit
    max_bytes: int | None = None  # input size limit override; None = the provider's real limit


@dataclass
class Line:
    """One request's outcome: succeeded (status 200, body = the provider's answer), errored (an injected fault,
    numbered `fault` within the batch, or the answer's own error status and body), expired or canceled."""

    custom_id: str
    outcome: str
    status: int = 200
    body: dict[str, Any] | None = None
    fault: int = -1


@dataclass
class Job:
    kind: str  # openai | gemini | anthropic
    id: str
    seq: int
    created: float
    requests: list[tuple[str, dict[str, Any]]]  # (custom_id or key, the request body)
    model: str
    faults: BatchFaults
    meta: dict[str, Any] = field(default_factory=dict)  # provider fields (endpoint, metadata, input, display name, ...)
    problems: list[dict[str, Any]] = field(default_factory=list)  # validation errors: the batch fails
    cancel_at: float | None = None
    ended_at: float | None = None
    outcome: str = ""  # once ended: completed | expired | cancelled | failed
    lines: list[Line] = field(default_factory=list)
    output: dict[str, Any] = field(default_factory=dict)  # provider output: file ids, results bytes

    def count(self, outcome: str) -> int:
        return sum(line.outcome == outcome for line in self.lines)


class BatchStore:
    """Files, batch jobs and counters of the three batch APIs, in memory, shared by the server's threads."""

    def __init__(self, state: Any, reply: Callable[..., tuple[int, dict[str, Any]]]) -> None:
        self.state, self.reply = state, reply
        self.lock = threading.RLock()
        self.faults = BatchFaults()
        self.files: dict[str, dict[str, Any]] = {}  # id -> {"kind", "meta": the provider's file object, "data": bytes}
        self.uploads: dict[str, dict[str, Any]] = {}  # Gemini resumable upload id -> {"meta", "data": bytearray, "size"}
        self.jobs: dict[str, Job] = {}
        self.seen: set[str] = set()
        self.counts: dict[str, Counter] = {"batches": Counter(), "lines": Counter(), "errors": Counter(), "expired": Counter()}
        self.by_id: Counter = Counter()
        self.uploaded = 0
        self.seq = 0

    def configure(self, faults: BatchFaults) -> None:
        with self.lock:
            self.faults = faults

    def stats(self) -> dict[str, Any]:
        with self.lock:
            out: dict[str, Any] = {name: {k: c.get(k, 0) for k in ("openai", "gemini", "anthropic")} for name, c in self.counts.items()}
            return {**out, "by_id": dict(self.by_id), "files": self.uploaded}

    def limits(self, kind: str) -> tuple[int | None, int]:
        lines, size = LIMITS[kind]
        f = self.faults
        return (f.max_lines if f.max_lines is not None else lines), (f.max_bytes if f.max_bytes is not None else size)

    # --- requests -------------------------------------------------------------------------------------------------

    def handle(self, method: str, path: str, headers: Any, body: bytes) -> Resp | None:
        """(status, payload, headers) for a batch-API request, or None when the path is not one of them."""
        url = urlsplit(path)
        route, query = url.path, {k: v[-1] for k, v in parse_qs(url.query).items()}
        host = f"http://{headers.get('Host') or 'localhost'}"
        if route.startswith("/v1/messages/batches"):
            api: Any = Anthropic
        elif GEMINI.match(route) and ("x-goog-api-key" in headers or "key" in query or "upload_id" in query or ":" in route):
            api = Gemini  # the SDK's default version is v1 (v1beta when set): /v1/files is OpenAI's unless it carries a Google key
        elif route.startswith(("/v1/files", "/v1/batches")):
            api = OpenAI
        else:
            return None
        if not api.authorized(self, headers, query):
            return api.error(401, "invalid api key")
        with self.lock:
            try:
                return api.route(self, method, route, query, headers, body, host)
            except (KeyError, ValueError, TypeError, AttributeError) as exc:  # a request the server cannot read
                return api.error(400, f"bad request: {exc!r}")

    def create(self, kind: str, job_id: str, requests: list[tuple[str, dict[str, Any]]], model: str, meta: dict[str, Any],
               problems: list[dict[str, Any]] | None = None) -> Job:
        self.seq += 1
        job = Job(kind, job_id, self.seq, time.time(), requests, model, self.faults, meta, problems or [])
        self.jobs[job_id] = job
        self.counts["batches"][kind] += 1
        if job.problems:  # a batch that fails validation ends at once, nothing answered
            job.ended_at, job.outcome = job.created, "failed"
        return job

    def job(self, kind: str, job_id: str) -> Job | None:
        job = self.jobs.get(job_id)
        if job is None or job.kind != kind:
            return None
        self.advance(job)
        return job

    def listing(self, kind: str) -> list[Job]:
        """The provider's batches, newest first, each brought up to date."""
        jobs = sorted((j for j in self.jobs.values() if j.kind == kind), key=lambda j: -j.seq)
        for job in jobs:
            self.advance(job)
        return jobs

    def cancel(self, job: Job) -> None:
        if job.ended_at is None and job.cancel_at is None:
            job.cancel_at = time.time()  # ends `cancelled` at the next look

    def add_file(self, kind: str, file_id: str, meta: dict[str, Any], data: bytes, uploaded: bool = True) -> None:
        self.files[file_id] = {"kind": kind, "meta": meta, "data": bytes(data)}
        self.uploaded += uploaded

    # --- processing -----------------------------------------------------------------------------------------------

    def advance(self, job: Job) -> None:
        """End the batch when its time has come (or a cancel was asked): compute every line once."""
        if job.ended_at is not None:
            return
        now = time.time()
        if job.cancel_at is not None:
            self._finish(job, now, cancelled=True)
        elif now >= job.created + job.faults.delay_s:
            self._finish(job, job.created + job.faults.delay_s, cancelled=False)

    def _finish(self, job: Job, at: float, cancelled: bool) -> None:
        f = job.faults
        errors_left, malformed_left, injected = f.line_errors, f.malformed, 0
        for i, (cid, req) in enumerate(job.requests):
            if cancelled:
                job.lines.append(Line(cid, "canceled"))
                continue
            if f.expire_after is not None and i >= f.expire_after:
                job.lines.append(Line(cid, "expired"))
                self.counts["expired"][job.kind] += 1
                continue
            fresh = cid not in self.seen
            self.seen.add(cid)
            model = job.model.removeprefix("models/") if job.kind == "gemini" else str(req.get("model") or "")
            with self.state.lock:  # the live endpoint's path, as a live call records it
                self.state.recent.append({"path": job.meta["path"], "body": req, "batch": job.id, "custom_id": cid})
            if fresh and errors_left > 0:
                errors_left -= 1
                job.lines.append(Line(cid, "errored", fault=injected))
                injected += 1
                self.counts["errors"][job.kind] += 1
                continue
            malformed = fresh and malformed_left > 0
            malformed_left -= malformed
            if model.startswith("no-such"):
                status, body = 404, {"error": {"message": f"model {model} not found", "code": 404, "status": "NOT_FOUND"}}
            else:
                status, body = self.reply(job.kind, req, malformed, model)
            if status == 200:
                job.lines.append(Line(cid, "succeeded", 200, body))
                self.by_id[cid] += 1
                self.counts["lines"][job.kind] += 1
            else:
                job.lines.append(Line(cid, "errored", status, body))
                self.counts["errors"][job.kind] += 1
        job.outcome = "cancelled" if cancelled else "expired" if job.count("expired") else "completed"
        job.ended_at = at
        {"openai": OpenAI, "gemini": Gemini, "anthropic": Anthropic}[job.kind].finish(self, job)
