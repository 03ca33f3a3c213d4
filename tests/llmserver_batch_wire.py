"""OpenAI's and Anthropic's batch wire formats for the local LLM server's BatchStore (tests/llmserver_batch.py), and
the helpers Gemini's (llmserver_batch_gemini.py) shares.

Each provider is a namespace with `authorized`, `error`, `route` (one HTTP request -> (status, payload, headers))
and `finish` (write the ended batch's results in the provider's format, once: later downloads give the same bytes).
"""

from __future__ import annotations

import json
import re
import secrets
import time
from datetime import datetime, timezone
from typing import Any

DAY = 86400
ANTHROPIC_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
Resp = tuple[int, Any, dict[str, str]]
PURPOSES = {"assistants", "batch", "fine-tune", "vision", "user_data", "evals"}


def rfc3339(t: float | None) -> str | None:
    return None if t is None else datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def jsonl(rows: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(row) + "\n" for row in rows).encode()


def new_id(prefix: str, n: int = 24) -> str:
    return prefix + secrets.token_hex(n // 2)


def parse_jsonl(data: bytes) -> list[tuple[int, Any]]:
    """(line number, parsed object or the raw bytes when not JSON) for the non-blank lines of a JSONL file."""
    out: list[tuple[int, Any]] = []
    for n, raw in enumerate(data.splitlines(), 1):
        if raw.strip():
            try:
                out.append((n, json.loads(raw)))
            except ValueError:
                out.append((n, raw))
    return out


def multipart(content_type: str, body: bytes) -> dict[str, tuple[str | None, bytes]]:
    """The fields of a multipart/form-data body: name -> (filename, bytes)."""
    found = re.search(r'boundary="?([^";]+)"?', content_type)
    if not found:
        raise ValueError("multipart body without a boundary")
    fields: dict[str, tuple[str | None, bytes]] = {}
    for chunk in body.split(b"--" + found.group(1).encode())[1:-1]:
        head, _, data = chunk.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        name, filename = re.search(rb'name="([^"]*)"', head), re.search(rb'filename="([^"]*)"', head)
        if name:
            fields[name.group(1).decode()] = (filename.group(1).decode() if filename else None, data.removesuffix(b"\r\n"))
    return fields


def page_after(jobs: list[Any], after: str | None, limit: int) -> tuple[list[Any], bool]:
    """The `limit` jobs after the one named `after` (all from the start without it), and whether more follow."""
    start = next((i + 1 for i, j in enumerate(jobs) if j.id == after), len(jobs)) if after else 0
    return jobs[start:start + limit], start + limit < len(jobs)


class OpenAI:
    FAULTS = [(500, {"message": "The server had an error while processing your request. Sorry about that!", "type": "server_error",
                     "param": None, "code": None}),
              (429, {"message": "Rate limit reached for requests.", "type": "requests", "param": None, "code": "rate_limit_exceeded"}),
              (0, {"code": "server_error", "message": "The batch could not run this request."})]

    @staticmethod
    def authorized(store: Any, headers: Any, query: dict[str, str]) -> bool:
        return (headers.get("Authorization") or "").removeprefix("Bearer ") == store.state.api_key

    @staticmethod
    def error(status: int, message: str, code: str | None = None, param: str | None = None) -> Resp:
        if status == 401:
            message, code = "Incorrect API key provided.", "invalid_api_key"
        return status, {"error": {"message": message, "type": "invalid_request_error", "param": param, "code": code}}, {}

    @staticmethod
    def route(store: Any, method: str, route: str, query: dict[str, str], headers: Any, body: bytes, host: str) -> Resp:
        parts = route.strip("/").split("/")[1:]  # files|batches, id, content|cancel
        if parts[0] == "files":
            if len(parts) == 1:
                if method == "POST":
                    return OpenAI.upload(store, headers, body)
                return 200, {"object": "list", "data": [f["meta"] for f in store.files.values() if f["kind"] == "openai"], "has_more": False}, {}
            found = store.files.get(parts[1])
            if found is None or found["kind"] != "openai":
                return OpenAI.error(404, f"No such File object: {parts[1]}", param="id")
            if method == "GET" and len(parts) == 2:
                return 200, found["meta"], {}
            if method == "GET" and parts[2:] == ["content"]:
                return 200, found["data"], {"Content-Type": "application/octet-stream"}
            if method == "DELETE" and len(parts) == 2:
                del store.files[parts[1]]
                return 200, {"id": parts[1], "object": "file", "deleted": True}, {}
        elif len(parts) == 1:
            return OpenAI.create(store, json.loads(body)) if method == "POST" else OpenAI.listing(store, query)
        else:
            job = store.job("openai", parts[1])
            if job is None:
                return OpenAI.error(404, f"No batch found with id '{parts[1]}'.", param="batch_id")
            if method == "GET" and len(parts) == 2:
                return 200, OpenAI.view(job), {}
            if method == "POST" and parts[2:] == ["cancel"]:
                store.cancel(job)
                return 200, OpenAI.view(job), {}
        return OpenAI.error(404, f"Invalid URL ({method} {route})")

    @staticmethod
    def upload(store: Any, headers: Any, body: bytes) -> Resp:
        fields = multipart(headers.get("Content-Type") or "", body)
        if "file" not in fields or "purpose" not in fields:
            return OpenAI.error(400, "file and purpose are required", param="file" if "file" not in fields else "purpose")
        (filename, data), purpose = fields["file"], fields["purpose"][1].decode()
        if purpose not in PURPOSES:
            return OpenAI.error(400, f"'{purpose}' is not one of {sorted(PURPOSES)} - 'purpose'", param="purpose")
        now, file_id = int(time.time()), new_id("file-")
        meta = {"id": file_id, "object": "file", "bytes": len(data), "created_at": now, "filename": filename or "upload.jsonl",
                "purpose": purpose, "status": "processed", "expires_at": now + 30 * DAY if purpose == "batch" else None,
                "status_details": None}
        store.add_file("openai", file_id, meta, data)
        return 200, meta, {}

    @staticmethod
    def create(store: Any, req: dict[str, Any]) -> Resp:
        found = store.files.get(req.get("input_file_id"))
        if found is None or found["kind"] != "openai":
            return OpenAI.error(404, f"No such File object: {req.get('input_file_id')}", param="input_file_id")
        if found["meta"]["purpose"] != "batch":
            return OpenAI.error(400, "The input file must be uploaded with purpose 'batch'.", param="input_file_id")
        if req.get("endpoint") != "/v1/chat/completions":
            return OpenAI.error(400, f"This server batches /v1/chat/completions only, not {req.get('endpoint')!r}.", param="endpoint")
        if req.get("completion_window") != "24h":
            return OpenAI.error(400, "completion_window must be '24h'.", param="completion_window")
        metadata = req.get("metadata")
        if metadata is not None and (not isinstance(metadata, dict) or len(metadata) > 16
                                     or not all(isinstance(k, str) and len(k) <= 64 and isinstance(v, str) and len(v) <= 512
                                                for k, v in metadata.items())):
            return OpenAI.error(400, "metadata: at most 16 string keys (64 chars) with string values (512 chars).", param="metadata")
        requests, problems, model = OpenAI.parse(found["data"], req["endpoint"], store.limits("openai"))
        meta = {"path": req["endpoint"], "endpoint": req["endpoint"], "input_file_id": req["input_file_id"], "completion_window": "24h",
                "metadata": metadata}
        job = store.create("openai", new_id("batch_", 32), requests, model, meta, problems)
        return 200, OpenAI.view(job, creating=True), {}

    @staticmethod
    def parse(data: bytes, endpoint: str, limits: tuple[int | None, int]) -> tuple[list[tuple[str, dict[str, Any]]], list[dict[str, Any]], str]:
        """(requests, validation problems, model) of an input file; any problem fails the batch, as OpenAI's validation does."""
        max_lines, max_bytes = limits
        problems: list[dict[str, Any]] = []

        def problem(code: str, message: str, param: str | None = None, line: int | None = None) -> None:
            problems.append({"code": code, "message": message, "param": param, "line": line})

        if len(data) > max_bytes:
            problem("file_too_large", f"The batch input file is {len(data)} bytes, over the {max_bytes} byte maximum.", "input_file_id")
            return [], problems, ""
        rows = parse_jsonl(data)
        if not rows:
            problem("empty_file", "The batch input file is empty.", "input_file_id")
        if max_lines is not None and len(rows) > max_lines:
            problem("too_many_requests", f"The batch input file has {len(rows)} requests, over the {max_lines} per batch maximum.", "input_file_id")
            return [], problems, ""
        requests, seen, models = [], set(), set()
        for n, obj in rows:
            if not isinstance(obj, dict):
                problem("invalid_json_line", "This line is not parseable as valid JSON.", None, n)
                continue
            cid, body = obj.get("custom_id"), obj.get("body")
            if not isinstance(cid, str) or not cid:
                problem("missing_required_parameter", "Missing required parameter: 'custom_id'.", "custom_id", n)
            elif cid in seen:
                problem("duplicate_custom_id", "The custom_id for this request is a duplicate of another request. "
                        "The custom_id parameter must be unique for each request in a batch.", "custom_id", n)
            if obj.get("method") != "POST":
                problem("invalid_method", "The method of each request must be POST.", "method", n)
            if obj.get("url") != endpoint:
                problem("invalid_url", "The URL provided for this request does not match the batch endpoint.", "url", n)
            if not isinstance(body, dict) or not body.get("model"):
                problem("missing_required_parameter", "Missing required parameter: 'body.model'.", "body.model", n)
            else:
                models.add(body["model"])
            seen.add(cid)
            requests.append((cid, body))
        if len(models) > 1:
            problem("model_mismatch", f"Each batch input file can only include requests to a single model, not {sorted(models)}.", "body.model")
        return requests, problems[:100], next(iter(models), "")

    @staticmethod
    def finish(store: Any, job: Any) -> None:
        out, err = [], []
        usage = {"input_tokens": 0, "output_tokens": 0}
        for line in job.lines:
            row = OpenAI.result(line)
            if row is None:
                continue
            (out if line.outcome == "succeeded" else err).append(row)
            if line.outcome == "succeeded":
                usage["input_tokens"] += line.body["usage"]["prompt_tokens"]
                usage["output_tokens"] += line.body["usage"]["completion_tokens"]
        job.output["usage"] = {**usage, "total_tokens": usage["input_tokens"] + usage["output_tokens"],
                               "input_tokens_details": {"cached_tokens": 0}, "output_tokens_details": {"reasoning_tokens": 0}}
        for key, rows, name in (("output_file_id", out, "output"), ("error_file_id", err, "error")):
            if rows:
                data, file_id = jsonl(rows), new_id("file-")
                meta = {"id": file_id, "object": "file", "bytes": len(data), "created_at": int(job.ended_at),
                        "filename": f"{job.id}_{name}.jsonl", "purpose": "batch_output", "status": "processed",
                        "expires_at": int(job.ended_at) + 30 * DAY, "status_details": None}
                store.add_file("openai", file_id, meta, data, uploaded=False)
                job.output[key] = file_id

    @staticmethod
    def result(line: Any) -> dict[str, Any] | None:
        """One output-file or error-file line (None for a canceled request: it is in neither)."""
        row: dict[str, Any] = {"id": new_id("batch_req_", 32), "custom_id": line.custom_id, "response": None, "error": None}
        request_id = new_id("req_", 32)
        if line.outcome == "succeeded":
            row["response"] = {"status_code": 200, "request_id": request_id, "body": line.body}
        elif line.outcome == "expired":
            row["error"] = {"code": "batch_expired", "message": "This request could not be executed before the completion window expired."}
        elif line.outcome == "canceled":
            return None
        elif line.fault >= 0:
            status, error = OpenAI.FAULTS[line.fault % len(OpenAI.FAULTS)]
            if status:
                row["response"] = {"status_code": status, "request_id": request_id, "body": {"error": error}}
            else:
                row["error"] = error
        else:
            row["response"] = {"status_code": line.status, "request_id": request_id, "body": line.body}
        return row

    @staticmethod
    def view(job: Any, creating: bool = False) -> dict[str, Any]:
        ended = job.ended_at is not None and not creating
        status = "validating" if creating else job.outcome if ended else "cancelling" if job.cancel_at else "in_progress"
        start, end = int(job.created), int(job.ended_at) if ended else None
        return {"id": job.id, "object": "batch", "endpoint": job.meta["endpoint"], "model": job.model or None,
                "errors": {"object": "list", "data": job.problems} if job.problems and not creating else None,
                "input_file_id": job.meta["input_file_id"], "completion_window": job.meta["completion_window"], "status": status,
                "output_file_id": job.output.get("output_file_id") if ended else None,
                "error_file_id": job.output.get("error_file_id") if ended else None,
                "created_at": start, "in_progress_at": None if creating or job.problems else start, "expires_at": start + DAY,
                "finalizing_at": end if status in ("completed", "expired") else None,
                "completed_at": end if status == "completed" else None, "failed_at": end if status == "failed" else None,
                "expired_at": end if status == "expired" else None,
                "cancelling_at": int(job.cancel_at) if job.cancel_at else None, "cancelled_at": end if status == "cancelled" else None,
                "request_counts": {"total": 0 if job.problems else len(job.requests), "completed": job.count("succeeded") if ended else 0,
                                   "failed": job.count("errored") + job.count("expired") if ended else 0},
                "usage": job.output.get("usage") if ended else None, "metadata": job.meta.get("metadata")}

    @staticmethod
    def listing(store: Any, query: dict[str, str]) -> Resp:
        page, more = page_after(store.listing("openai"), query.get("after"), max(1, min(100, int(query.get("limit") or 20))))
        return 200, {"object": "list", "data": [OpenAI.view(j) for j in page], "first_id": page[0].id if page else None,
                     "last_id": page[-1].id if page else None, "has_more": more}, {}


class Anthropic:
    KINDS = {400: "invalid_request_error", 401: "authentication_error", 404: "not_found_error", 413: "request_too_large"}
    FAULTS = [{"type": "api_error", "message": "Internal server error"}, {"type": "overloaded_error", "message": "Overloaded"}]

    @staticmethod
    def authorized(store: Any, headers: Any, query: dict[str, str]) -> bool:
        key = headers.get("x-api-key") or (headers.get("Authorization") or "").removeprefix("Bearer ")
        return key == store.state.api_key

    @staticmethod
    def error(status: int, message: str) -> Resp:
        return status, {"type": "error", "error": {"type": Anthropic.KINDS.get(status, "api_error"), "message": message}}, {}

    @staticmethod
    def route(store: Any, method: str, route: str, query: dict[str, str], headers: Any, body: bytes, host: str) -> Resp:
        parts = route.strip("/").split("/")[3:]  # id, cancel|results
        if not parts:
            return Anthropic.create(store, body, host) if method == "POST" else Anthropic.listing(store, query, host)
        job = store.job("anthropic", parts[0])
        if job is None:
            return Anthropic.error(404, f"No message batch with id {parts[0]}")
        if method == "GET" and len(parts) == 1:
            return 200, Anthropic.view(job, host), {}
        if method == "POST" and parts[1:] == ["cancel"]:
            store.cancel(job)
            return 200, Anthropic.view(job, host), {}
        if method == "GET" and parts[1:] == ["results"]:
            if job.ended_at is None:
                return Anthropic.error(400, f"Message batch {job.id} has not ended: its results are not available yet.")
            return 200, job.output["results"], {"Content-Type": "application/binary"}
        if method == "DELETE" and len(parts) == 1:
            if job.ended_at is None:
                return Anthropic.error(400, f"Message batch {job.id} is still in progress: cancel it before deleting it.")
            del store.jobs[job.id]
            return 200, {"id": job.id, "type": "message_batch_deleted"}, {}
        return Anthropic.error(404, f"Not found: {method} {route}")

    @staticmethod
    def create(store: Any, body: bytes, host: str) -> Resp:
        max_lines, max_bytes = store.limits("anthropic")
        if len(body) > max_bytes:
            return Anthropic.error(413, f"Request exceeds the maximum size of {max_bytes} bytes.")
        requests = json.loads(body).get("requests")
        if not isinstance(requests, list) or not requests:
            return Anthropic.error(400, "requests: at least one request is required")
        if max_lines is not None and len(requests) > max_lines:
            return Anthropic.error(400, f"requests: a message batch may have at most {max_lines} requests, not {len(requests)}")
        seen: set[str] = set()
        for i, r in enumerate(requests):
            cid = r.get("custom_id") if isinstance(r, dict) else None
            if not isinstance(cid, str) or not ANTHROPIC_ID.match(cid):
                return Anthropic.error(400, f"requests.{i}.custom_id: String should match pattern '^[a-zA-Z0-9_-]{{1,64}}$'")
            if cid in seen:
                return Anthropic.error(400, f"requests.{i}: custom_id {cid!r} is used more than once; custom_ids must be unique")
            if not isinstance(r.get("params"), dict):
                return Anthropic.error(400, f"requests.{i}.params: Field required")
            seen.add(cid)
        job = store.create("anthropic", new_id("msgbatch_", 24), [(r["custom_id"], r["params"]) for r in requests], "",
                           {"path": "/v1/messages"})
        return 200, Anthropic.view(job, host), {}

    @staticmethod
    def finish(store: Any, job: Any) -> None:
        job.output["results"] = jsonl([{"custom_id": line.custom_id, "result": Anthropic.result(line)} for line in job.lines])

    @staticmethod
    def result(line: Any) -> dict[str, Any]:
        if line.outcome == "succeeded":
            return {"type": "succeeded", "message": line.body}
        if line.outcome in ("expired", "canceled"):
            return {"type": line.outcome}
        if line.fault >= 0:
            error = Anthropic.FAULTS[line.fault % len(Anthropic.FAULTS)]
        elif (line.body or {}).get("type") == "error":
            error = line.body["error"]
        else:
            error = {"type": Anthropic.KINDS.get(line.status, "api_error"), "message": str(((line.body or {}).get("error") or {}).get("message"))}
        return {"type": "errored", "error": {"type": "error", "error": error, "request_id": new_id("req_")}}

    @staticmethod
    def view(job: Any, host: str) -> dict[str, Any]:
        ended = job.ended_at is not None
        counts = {"processing": 0 if ended else len(job.requests),
                  **{k: job.count(k) for k in ("succeeded", "errored", "canceled", "expired")}}
        return {"id": job.id, "type": "message_batch", "processing_status": "ended" if ended else "canceling" if job.cancel_at else "in_progress",
                "request_counts": counts, "ended_at": rfc3339(job.ended_at), "created_at": rfc3339(job.created),
                "expires_at": rfc3339(job.created + DAY), "archived_at": None, "cancel_initiated_at": rfc3339(job.cancel_at),
                "results_url": f"{host}/v1/messages/batches/{job.id}/results" if ended else None}

    @staticmethod
    def listing(store: Any, query: dict[str, str], host: str) -> Resp:
        jobs, limit = store.listing("anthropic"), max(1, min(1000, int(query.get("limit") or 20)))
        if query.get("before_id"):  # the newer ones just before that batch
            end = next((i for i, j in enumerate(jobs) if j.id == query["before_id"]), 0)
            page, more = jobs[max(0, end - limit):end], end - limit > 0
        else:
            page, more = page_after(jobs, query.get("after_id"), limit)
        return 200, {"data": [Anthropic.view(j, host) for j in page], "has_more": more,
                     "first_id": page[0].id if page else None, "last_id": page[-1].id if page else None}, {}

