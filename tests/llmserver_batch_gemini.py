"""The Gemini Developer API's files and batch wire format for the local LLM server's BatchStore (llmserver_batch.py).

Paths carry the SDK's API version (v1 by default, v1beta when set), shown here as {v}.
Upload (google-genai `files.upload`, the resumable protocol): POST /upload/{v}/files with X-Goog-Upload-Protocol:
resumable and -Command: start answers with an `x-goog-upload-url` header; the SDK then POSTs the bytes there (8 MB
chunks, X-Goog-Upload-Command "upload" / "upload, finalize", X-Goog-Upload-Offset; it sends no API key: the upload
id in the URL is the credential) and reads {"file": File} from the final answer (x-goog-upload-status: final).
Batches are long-running operations {"name": "batches/ID", "metadata": GenerateContentBatch, "done"}; the SDK maps
metadata.state BATCH_STATE_* to JOB_STATE_* and metadata.output.responsesFile to `job.dest.file_name`
(inlinedResponses.inlinedResponses to `job.dest.inlined_responses`). Per-line errors are google.rpc.Status objects
{"code": gRPC code, "message"}: 13 INTERNAL, 8 RESOURCE_EXHAUSTED, 3 INVALID_ARGUMENT, 5 NOT_FOUND, 4 DEADLINE_EXCEEDED
(a line not run before the batch expired).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from typing import Any

from llmserver_batch_wire import DAY, Resp, jsonl, parse_jsonl, rfc3339

STATES = {"completed": "BATCH_STATE_SUCCEEDED", "expired": "BATCH_STATE_EXPIRED", "cancelled": "BATCH_STATE_CANCELLED",
          "failed": "BATCH_STATE_FAILED"}
STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 404: "NOT_FOUND", 409: "ALREADY_EXISTS"}
RPC_CODES = {400: 3, 404: 5, 429: 8}
TYPE = "type.googleapis.com/google.ai.generativelanguage.v1beta."


class Gemini:
    FAULTS = [{"code": 13, "message": "Internal error encountered."}, {"code": 8, "message": "Resource has been exhausted (e.g. check quota)."}]

    @staticmethod
    def authorized(store: Any, headers: Any, query: dict[str, str]) -> bool:
        if "upload_id" in query:  # the resumable upload's URL is its credential (the SDK sends no key with the bytes)
            return query["upload_id"] in store.uploads
        return (headers.get("x-goog-api-key") or query.get("key")) == store.state.api_key

    @staticmethod
    def error(status: int, message: str) -> Resp:
        if status == 401:
            message = "API key not valid. Please pass a valid API key."
        return status, {"error": {"code": status, "message": message, "status": STATUS.get(status, "INTERNAL")}}, {}

    @staticmethod
    def route(store: Any, method: str, route: str, query: dict[str, str], headers: Any, body: bytes, host: str) -> Resp:
        version = route.removeprefix("/upload/").split("/")[1 if route.startswith("/v") else 0]  # v1 or v1beta
        host, route = f"{host}/{version}", route.replace(f"/{version}/", "/", 1)  # /files, /upload/files, /batches, /models/M:...
        if route == "/upload/files" and method == "POST":
            return Gemini.upload_chunk(store, query, headers, body) if "upload_id" in query else Gemini.upload_start(store, headers, body, host)
        if route.startswith("/files/"):
            name, _, verb = route.removeprefix("/").partition(":")
            found = store.files.get(name)
            if found is None or found["kind"] != "gemini":
                return Gemini.error(404, f"File {name} not found.")
            if method == "GET" and verb == "download":
                if found["meta"].get("source") != "GENERATED":
                    return Gemini.error(400, "Only generated files can be downloaded; uploaded files cannot.")
                return 200, found["data"], {"Content-Type": "application/octet-stream"}
            if method == "GET" and not verb:
                return 200, found["meta"], {}
            if method == "DELETE" and not verb:
                del store.files[name]
                return 200, {}, {}
        elif route == "/files" and method == "GET":
            return 200, {"files": [f["meta"] for f in store.files.values() if f["kind"] == "gemini"]}, {}
        elif route.endswith(":batchGenerateContent") and method == "POST":
            return Gemini.create(store, route.removeprefix("/").rsplit(":", 1)[0], json.loads(body), len(body), host)
        elif route == "/batches" and method == "GET":
            return Gemini.listing(store, query)
        elif route.startswith("/batches/"):
            name, _, verb = route.removeprefix("/").partition(":")
            job = store.job("gemini", name)
            if job is None:
                return Gemini.error(404, f"Batch {name} not found.")
            if method == "GET" and not verb:
                return 200, Gemini.view(job), {}
            if method == "POST" and verb == "cancel":
                store.cancel(job)
                return 200, {}, {}
            if method == "DELETE" and not verb:
                del store.jobs[job.id]
                return 200, {}, {}
        return Gemini.error(404, f"Not found: {method} {route}")

    @staticmethod
    def file_meta(name: str, display: str | None, mime: str, data: bytes, host: str, generated: bool = False) -> dict[str, Any]:
        now = time.time()
        meta = {"name": name, "mimeType": mime, "sizeBytes": str(len(data)), "createTime": rfc3339(now), "updateTime": rfc3339(now),
                "expirationTime": rfc3339(now + 2 * DAY), "sha256Hash": base64.b64encode(hashlib.sha256(data).digest()).decode(),
                "uri": f"{host}/{name}", "state": "ACTIVE", "source": "GENERATED" if generated else "UPLOADED"}
        if display:
            meta["displayName"] = display
        if generated:
            meta["downloadUri"] = f"{host}/{name}:download?alt=media"
        return meta

    @staticmethod
    def upload_start(store: Any, headers: Any, body: bytes, host: str) -> Resp:
        if headers.get("X-Goog-Upload-Protocol") != "resumable" or headers.get("X-Goog-Upload-Command") != "start":
            return Gemini.error(400, "Expected a resumable upload start (X-Goog-Upload-Protocol: resumable, X-Goog-Upload-Command: start).")
        info = (json.loads(body) if body.strip() else {}).get("file") or {}
        size = int(headers.get("X-Goog-Upload-Header-Content-Length") or info.get("sizeBytes") or 0)
        max_bytes = store.limits("gemini")[1]
        if size > max_bytes:
            return Gemini.error(400, f"File is {size} bytes, over the {max_bytes} byte maximum.")
        name = info.get("name") or f"files/{secrets.token_hex(6)}"
        if name in store.files:
            return Gemini.error(409, f"File {name} already exists.")
        upload_id = secrets.token_urlsafe(24)
        upload = store.uploads[upload_id] = {"name": name, "display": info.get("displayName"), "size": size, "data": bytearray(),
                                    "mime": headers.get("X-Goog-Upload-Header-Content-Type") or info.get("mimeType") or "application/octet-stream"}
        base, version = host.rsplit("/", 1)
        upload["host"] = host
        url = f"{base}/upload/{version}/files?upload_id={upload_id}&upload_protocol=resumable"
        return 200, {}, {"x-goog-upload-url": url, "x-goog-upload-status": "active", "x-goog-upload-chunk-granularity": "8388608"}

    @staticmethod
    def upload_chunk(store: Any, query: dict[str, str], headers: Any, body: bytes) -> Resp:
        upload = store.uploads[query["upload_id"]]
        command = headers.get("X-Goog-Upload-Command") or ""
        if int(headers.get("X-Goog-Upload-Offset") or 0) != len(upload["data"]):
            return Gemini.error(400, f"Upload offset {headers.get('X-Goog-Upload-Offset')} does not follow the {len(upload['data'])} bytes received.")
        upload["data"] += body
        if "finalize" not in command:
            return 200, b"", {"x-goog-upload-status": "active"}
        del store.uploads[query["upload_id"]]
        if len(upload["data"]) != upload["size"]:
            return Gemini.error(400, f"Upload has {len(upload['data'])} bytes, the start announced {upload['size']}.")
        meta = Gemini.file_meta(upload["name"], upload["display"], upload["mime"], bytes(upload["data"]), upload["host"])
        store.add_file("gemini", upload["name"], meta, upload["data"])
        return 200, {"file": meta}, {"x-goog-upload-status": "final"}

    @staticmethod
    def create(store: Any, model: str, req: dict[str, Any], size: int, host: str) -> Resp:
        batch = req.get("batch") or {}
        src = batch.get("inputConfig") or {}
        max_lines = store.limits("gemini")[0]
        keys: list[dict[str, Any] | None] = []
        if src.get("fileName"):
            found = store.files.get(src["fileName"])
            if found is None or found["kind"] != "gemini":
                return Gemini.error(404, f"File {src['fileName']} not found.")
            if len(found["data"]) > store.limits("gemini")[1]:
                return Gemini.error(400, f"Input file is {len(found['data'])} bytes, over the {store.limits('gemini')[1]} byte maximum.")
            requests = []
            for n, obj in parse_jsonl(found["data"]):
                if not isinstance(obj, dict) or not isinstance(obj.get("key"), str) or not isinstance(obj.get("request"), dict):
                    return Gemini.error(400, f"Input file line {n}: expected {{\"key\": string, \"request\": GenerateContentRequest}}.")
                requests.append((obj["key"], obj["request"]))
            if len({k for k, _ in requests}) < len(requests):
                return Gemini.error(400, "Input file: every key must be unique.")
        elif isinstance((src.get("requests") or {}).get("requests"), list):
            if size > store.limits("gemini-inline")[1]:
                return Gemini.error(400, f"Inline requests are {size} bytes, over the {store.limits('gemini-inline')[1]} byte maximum.")
            items = src["requests"]["requests"]
            requests = [(str((it.get("metadata") or {}).get("key") or i), it["request"]) for i, it in enumerate(items)]
            keys = [it.get("metadata") for it in items]
        else:
            return Gemini.error(400, "batch.inputConfig needs a fileName or requests.")
        if not requests:
            return Gemini.error(400, "The batch has no requests.")
        if max_lines is not None and len(requests) > max_lines:
            return Gemini.error(400, f"The batch has {len(requests)} requests, over the {max_lines} maximum.")
        meta = {"display_name": batch.get("displayName"), "file": src.get("fileName"), "inline": keys, "host": host,
                "path": f"/{host.rsplit('/', 1)[1]}/{model}:generateContent"}
        job = store.create("gemini", f"batches/{secrets.token_hex(8)}", requests, model, meta)
        return 200, Gemini.view(job, creating=True), {}

    @staticmethod
    def result(line: Any) -> dict[str, Any]:
        if line.outcome == "succeeded":
            return {"response": line.body}
        if line.outcome == "expired":
            return {"error": {"code": 4, "message": "Deadline expired: the batch expired before this request ran."}}
        if line.fault >= 0:
            return {"error": Gemini.FAULTS[line.fault % len(Gemini.FAULTS)]}
        message = ((line.body or {}).get("error") or {}).get("message") or "error"
        return {"error": {"code": RPC_CODES.get(line.status, 13), "message": message}}

    @staticmethod
    def finish(store: Any, job: Any) -> None:
        if job.outcome == "cancelled":
            return
        if job.meta["file"] is None:  # inline requests: inline responses, each with the request's metadata
            job.output["inline"] = [{**Gemini.result(line), **({"metadata": meta} if meta else {})}
                                    for line, meta in zip(job.lines, job.meta["inline"])]
            return
        name = f"files/batch-{job.id.removeprefix('batches/')}"
        data = jsonl([{"key": line.custom_id, **Gemini.result(line)} for line in job.lines])
        store.add_file("gemini", name, Gemini.file_meta(name, f"{job.id} results", "application/jsonl", data, job.meta["host"], True),
                       data, uploaded=False)
        job.output["file"] = name

    @staticmethod
    def view(job: Any, creating: bool = False) -> dict[str, Any]:
        ended = job.ended_at is not None and not creating
        n, done = len(job.requests), job.count("succeeded") if ended else 0
        meta: dict[str, Any] = {
            "@type": TYPE + "GenerateContentBatch", "name": job.id, "model": job.model,
            "state": "BATCH_STATE_PENDING" if creating else STATES[job.outcome] if ended else "BATCH_STATE_RUNNING",
            "createTime": rfc3339(job.created), "updateTime": rfc3339(job.ended_at if ended else job.created),
            "batchStats": {"requestCount": str(n), "successfulRequestCount": str(done),
                           "failedRequestCount": str(n - done - job.count("canceled") if ended else 0),
                           "pendingRequestCount": str(0 if ended else n)}}
        if job.meta["display_name"]:
            meta["displayName"] = job.meta["display_name"]
        if job.meta["file"]:
            meta["inputConfig"] = {"fileName": job.meta["file"]}
        output = {"responsesFile": job.output["file"]} if "file" in job.output else \
            {"inlinedResponses": {"inlinedResponses": job.output["inline"]}} if "inline" in job.output else None
        op: dict[str, Any] = {"name": job.id, "metadata": meta, "done": ended}
        if ended:
            meta["endTime"] = rfc3339(job.ended_at)
            if output:
                meta["output"] = output
                op["response"] = {"@type": TYPE + "GenerateContentBatchOutput", **output}
        return op

    @staticmethod
    def listing(store: Any, query: dict[str, str]) -> Resp:
        jobs, size = store.listing("gemini"), max(1, min(1000, int(query.get("pageSize") or 50)))
        start = int(query.get("pageToken") or 0)
        out: dict[str, Any] = {"operations": [Gemini.view(j) for j in jobs[start:start + size]]}
        if start + size < len(jobs):
            out["nextPageToken"] = str(start + size)
        return 200, out, {}
