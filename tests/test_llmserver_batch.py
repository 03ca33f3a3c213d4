"""The local LLM server's batch APIs, driven through the real openai, google-genai and anthropic SDKs."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import anthropic
import openai
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types
from llmserver import LLMServer
from llmserver_batch import BatchFaults

KEY = "sk-batch-test-key"
SCHEMA = {"type": "object", "required": ["rationale", "label"],
          "properties": {"rationale": {"type": "string"}, "label": {"type": "string", "enum": ["irrelevant", "substitute", "relevant"]}}}
PRODUCTS = ["red running shoes", "blue denim jacket", "red wool scarf", "running socks", "garden hose", "steel kettle"]


def prompt(i: int) -> str:
    """A judgment prompt as the judges write it: the query, then the product in <product_data> tags."""
    return f'Search query: "red shoes"\n<product_data>{json.dumps({"title": PRODUCTS[i % len(PRODUCTS)], "n": i})}</product_data>'


def label(text: str) -> str:
    return json.loads(text)["label"]


@pytest.fixture
def server():
    s = LLMServer(api_key=KEY)
    yield s
    s.close()


def poll(get, done, timeout: float = 5.0):
    """Call get() until done(result) holds."""
    deadline = time.time() + timeout
    while True:
        result = get()
        if done(result) or time.time() > deadline:
            return result
        time.sleep(0.05)


def http(url: str, headers: dict[str, str], method: str = "GET", body: bytes | None = None) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=body, headers=headers, method=method), timeout=5) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


# --- OpenAI --------------------------------------------------------------------------------------------------------


def openai_body(i: int, model: str = "gpt-4o-mini") -> dict:
    return {"model": model, "messages": [{"role": "system", "content": "Judge."}, {"role": "user", "content": prompt(i)}],
            "response_format": {"type": "json_schema", "json_schema": {"name": "judgment", "strict": True,
                                                                       "schema": {**SCHEMA, "additionalProperties": False}}}}


def openai_file(client: openai.OpenAI, ids: list[str], **overrides) -> str:
    lines = [{"custom_id": cid, "method": "POST", "url": "/v1/chat/completions", "body": openai_body(i), **overrides} for i, cid in enumerate(ids)]
    data = "".join(json.dumps(line) + "\n" for line in lines).encode()
    return client.files.create(file=("batch.jsonl", data), purpose="batch").id


def openai_run(client: openai.OpenAI, ids: list[str], **create) -> openai.types.Batch:
    batch = client.batches.create(input_file_id=openai_file(client, ids), endpoint="/v1/chat/completions", completion_window="24h", **create)
    return poll(lambda: client.batches.retrieve(batch.id), lambda b: b.status not in ("validating", "in_progress", "finalizing", "cancelling"))


def jsonl(data: bytes) -> list[dict]:
    return [json.loads(line) for line in data.splitlines()]


def test_openai_batch_flow_answers_like_live_calls_and_lists_newest_first(server: LLMServer) -> None:
    client = openai.OpenAI(api_key=KEY, base_url=f"{server.url}/v1", max_retries=0)
    server.configure_batches(BatchFaults(delay_s=0.3))
    file_id = openai_file(client, ["q1-p0", "q1-p1", "q1-p2"])
    assert client.files.retrieve(file_id).purpose == "batch"
    batch = client.batches.create(input_file_id=file_id, endpoint="/v1/chat/completions", completion_window="24h", metadata={"run": "r1"})
    assert batch.status == "validating" and batch.metadata == {"run": "r1"} and batch.expires_at == batch.created_at + 86400
    assert client.batches.retrieve(batch.id).status == "in_progress"
    done = poll(lambda: client.batches.retrieve(batch.id), lambda b: b.status == "completed")
    assert done.status == "completed" and done.request_counts.total == 3 and done.request_counts.completed == 3
    assert done.error_file_id is None and done.completed_at >= done.created_at and done.usage.total_tokens > 0
    first = client.files.content(done.output_file_id).content
    rows = jsonl(first)
    assert [r["custom_id"] for r in rows] == ["q1-p0", "q1-p1", "q1-p2"]
    assert all(r["response"]["status_code"] == 200 and r["error"] is None and r["id"].startswith("batch_req_") for r in rows)
    assert server.total_requests == 0, "batch lines are not live calls"
    assert server.batch_stats()["by_id"] == {"q1-p0": 1, "q1-p1": 1, "q1-p2": 1}
    assert [r["body"] for r in server.recent()] == [openai_body(i) for i in range(3)]
    # the same rule as a live call: same label, same token arithmetic
    live = client.chat.completions.create(**openai_body(0))
    body = rows[0]["response"]["body"]
    assert body["choices"][0]["message"]["content"] == live.choices[0].message.content and label(live.choices[0].message.content) == "relevant"
    assert body["usage"] == live.usage.model_dump(exclude_none=True)
    assert server.total_requests == 1
    # fixed once ended: a second look gives the same files and bytes
    assert client.batches.retrieve(batch.id).output_file_id == done.output_file_id
    assert client.files.content(done.output_file_id).content == first
    # list: newest first, metadata returned, `after`/`limit` pagination (the SDK pages on)
    server.configure_batches(BatchFaults())
    later = [openai_run(client, [f"q{n}-p0"], metadata={"run": f"r{n}"}).id for n in (2, 3)]
    page = client.batches.list(limit=2)
    assert [b.id for b in page.data] == later[::-1] and page.has_more and page.data[0].metadata == {"run": "r3"}
    assert [b.id for b in client.batches.list(limit=2, after=later[0]).data] == [batch.id]
    assert [b.id for b in client.batches.list(limit=1)] == [*later[::-1], batch.id]
    assert server.batch_stats()["batches"]["openai"] == 3 and server.batch_stats()["files"] == 3


def test_openai_line_errors_malformed_and_retry(server: LLMServer) -> None:
    client = openai.OpenAI(api_key=KEY, base_url=f"{server.url}/v1", max_retries=0)
    server.configure_batches(BatchFaults(line_errors=3, malformed=1))
    ids = [f"p{i}" for i in range(5)]
    done = openai_run(client, ids)
    assert done.status == "completed" and (done.request_counts.completed, done.request_counts.failed) == (2, 3)
    errors = jsonl(client.files.content(done.error_file_id).content)
    assert [e["custom_id"] for e in errors] == ["p0", "p1", "p2"]
    assert errors[0]["response"]["status_code"] == 500 and errors[0]["response"]["body"]["error"]["type"] == "server_error"
    assert errors[1]["response"]["status_code"] == 429 and errors[1]["response"]["body"]["error"]["code"] == "rate_limit_exceeded"
    assert errors[2]["response"] is None and errors[2]["error"]["code"] == "server_error"
    out = jsonl(client.files.content(done.output_file_id).content)
    texts = {r["custom_id"]: r["response"]["body"]["choices"][0]["message"]["content"] for r in out}
    with pytest.raises(json.JSONDecodeError):
        json.loads(texts["p3"])  # the malformed answer, as a live call with rate_malformed gives
    assert label(texts["p4"]) == "irrelevant"
    # the ids that failed are seen now: a retry answers them all (the faults apply to never-seen ids only)
    again = openai_run(client, ["p0", "p1", "p2", "p3"])
    assert (again.request_counts.completed, again.error_file_id) == (4, None)
    stats = server.batch_stats()
    assert stats["by_id"] == {"p0": 1, "p1": 1, "p2": 1, "p3": 2, "p4": 1} and stats["errors"]["openai"] == 3 and server.total_requests == 0


def test_openai_expiry_cancel_limits_and_validation(server: LLMServer) -> None:
    client = openai.OpenAI(api_key=KEY, base_url=f"{server.url}/v1", max_retries=0)
    server.configure_batches(BatchFaults(expire_after=2))
    expired = openai_run(client, ["e0", "e1", "e2", "e3"])
    assert expired.status == "expired" and expired.expired_at and (expired.request_counts.completed, expired.request_counts.failed) == (2, 2)
    assert [r["custom_id"] for r in jsonl(client.files.content(expired.output_file_id).content)] == ["e0", "e1"]
    lost = jsonl(client.files.content(expired.error_file_id).content)
    assert [(r["custom_id"], r["error"]["code"]) for r in lost] == [("e2", "batch_expired"), ("e3", "batch_expired")]

    server.configure_batches(BatchFaults(delay_s=5))
    batch = client.batches.create(input_file_id=openai_file(client, ["c0"]), endpoint="/v1/chat/completions", completion_window="24h")
    assert client.batches.cancel(batch.id).status == "cancelling"
    cancelled = client.batches.retrieve(batch.id)
    assert cancelled.status == "cancelled" and cancelled.output_file_id is None and server.batch_stats()["by_id"].get("c0") is None

    server.configure_batches(BatchFaults(max_lines=2, max_bytes=4000))
    assert openai_run(client, ["l0", "l1"]).status == "completed"  # within the limits
    too_many = openai_run(client, ["l0", "l1", "l2"])
    assert too_many.status == "failed" and too_many.errors.data[0].code == "too_many_requests" and too_many.request_counts.total == 0
    big = client.files.create(file=("big.jsonl", b"x" * 4001), purpose="batch")
    failed = client.batches.create(input_file_id=big.id, endpoint="/v1/chat/completions", completion_window="24h")
    assert client.batches.retrieve(failed.id).errors.data[0].code == "file_too_large"

    server.configure_batches(BatchFaults())
    bad = [{"custom_id": "v0", "method": "POST", "url": "/v1/chat/completions", "body": openai_body(0)},
           {"custom_id": "v0", "method": "GET", "url": "/v1/embeddings", "body": openai_body(1)},
           {"method": "POST", "url": "/v1/chat/completions", "body": openai_body(2, model="gpt-other")}]
    bad_id = client.files.create(file=("bad.jsonl", "".join(json.dumps(x) + "\n" for x in bad).encode()), purpose="batch").id
    failed = client.batches.create(input_file_id=bad_id, endpoint="/v1/chat/completions", completion_window="24h")
    codes = {(e.code, e.line) for e in client.batches.retrieve(failed.id).errors.data}
    assert {("duplicate_custom_id", 2), ("invalid_method", 2), ("invalid_url", 2), ("missing_required_parameter", 3),
            ("model_mismatch", None)} <= codes
    with pytest.raises(openai.BadRequestError):
        client.batches.create(input_file_id=bad_id, endpoint="/v1/chat/completions", completion_window="1h")  # type: ignore[arg-type]
    with pytest.raises(openai.NotFoundError):
        client.batches.retrieve("batch_nope")


def test_openai_key_is_checked(server: LLMServer) -> None:
    wrong = openai.OpenAI(api_key="sk-wrong", base_url=f"{server.url}/v1", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        wrong.files.create(file=("b.jsonl", b"{}\n"), purpose="batch")
    with pytest.raises(openai.AuthenticationError):
        wrong.batches.list()
    file_id = openai_file(openai.OpenAI(api_key=KEY, base_url=f"{server.url}/v1"), ["k0"])
    assert http(f"{server.url}/v1/files/{file_id}/content", {"Authorization": "Bearer sk-wrong"})[0] == 401
    assert server.batch_stats()["files"] == 1


# --- Gemini --------------------------------------------------------------------------------------------------------


def gemini_request(i: int) -> dict:
    return {"contents": [{"role": "user", "parts": [{"text": prompt(i)}]}], "systemInstruction": {"parts": [{"text": "Judge."}]},
            "generationConfig": {"responseMimeType": "application/json", "responseSchema": {**SCHEMA, "propertyOrdering": ["rationale", "label"]}}}


def gemini_client(server: LLMServer, key: str = KEY) -> genai.Client:
    return genai.Client(api_key=key, http_options=types.HttpOptions(base_url=server.url, retry_options=types.HttpRetryOptions(attempts=1)))


def gemini_run(client: genai.Client, keys: list[str], wait: bool = True) -> types.BatchJob:
    data = "".join(json.dumps({"key": k, "request": gemini_request(i)}) + "\n" for i, k in enumerate(keys)).encode()
    uploaded = client.files.upload(file=io.BytesIO(data), config={"mime_type": "jsonl", "display_name": "judge-batch"})
    job = client.batches.create(model="gemini-2.5-flash", src=uploaded.name, config={"display_name": "judge"})
    if not wait:
        return job
    return poll(lambda: client.batches.get(name=job.name), lambda j: j.state.name not in ("JOB_STATE_PENDING", "JOB_STATE_RUNNING"))


def test_gemini_batch_flow_file_upload_download_and_list(server: LLMServer) -> None:
    client = gemini_client(server)
    server.configure_batches(BatchFaults(delay_s=0.3))
    job = gemini_run(client, ["g0", "g1", "g2"], wait=False)
    assert job.name.startswith("batches/") and job.state.name == "JOB_STATE_PENDING" and job.display_name == "judge"
    assert client.batches.get(name=job.name).state.name == "JOB_STATE_RUNNING"
    done = poll(lambda: client.batches.get(name=job.name), lambda j: j.done)
    assert done.state.name == "JOB_STATE_SUCCEEDED" and done.end_time and done.dest.file_name.startswith("files/")
    first = client.files.download(file=done.dest.file_name)
    rows = jsonl(first)
    assert [r["key"] for r in rows] == ["g0", "g1", "g2"] and all("response" in r for r in rows)
    assert server.total_requests == 0 and server.batch_stats()["by_id"] == {"g0": 1, "g1": 1, "g2": 1}
    assert [r["path"] for r in server.recent()] == ["/v1/models/gemini-2.5-flash:generateContent"] * 3
    live = client.models.generate_content(model="gemini-2.5-flash", contents=prompt(0), config=types.GenerateContentConfig(
        system_instruction="Judge.", response_mime_type="application/json", response_schema=gemini_request(0)["generationConfig"]["responseSchema"]))
    response = types.GenerateContentResponse._from_response(response=rows[0]["response"], kwargs={})
    assert response.text == live.text and label(live.text) == "relevant"
    assert response.usage_metadata.total_token_count == live.usage_metadata.total_token_count
    assert client.files.download(file=done.dest.file_name) == first
    assert client.batches.get(name=job.name).dest.file_name == done.dest.file_name
    server.configure_batches(BatchFaults())
    later = gemini_run(client, ["g3"])
    assert [j.name for j in client.batches.list()] == [later.name, job.name]
    assert [j.name for j in client.batches.list(config={"page_size": 1})] == [later.name, job.name]  # the pager follows pageToken
    with pytest.raises(genai_errors.ClientError):
        client.files.download(file=client.files.get(name=done.dest.file_name).name.replace("batch-", "nope-"))


def test_gemini_errors_malformed_expiry_inline_and_cancel(server: LLMServer) -> None:
    client = gemini_client(server)
    server.configure_batches(BatchFaults(line_errors=2, malformed=1))
    done = gemini_run(client, ["m0", "m1", "m2", "m3"])
    assert done.state.name == "JOB_STATE_SUCCEEDED"
    rows = {r["key"]: r for r in jsonl(client.files.download(file=done.dest.file_name))}
    assert rows["m0"]["error"]["code"] == 13 and rows["m1"]["error"]["code"] == 8
    with pytest.raises(json.JSONDecodeError):
        json.loads(rows["m2"]["response"]["candidates"][0]["content"]["parts"][0]["text"])
    assert label(rows["m3"]["response"]["candidates"][0]["content"]["parts"][0]["text"]) == "irrelevant"
    assert jsonl(client.files.download(file=gemini_run(client, ["m0", "m1"]).dest.file_name))[0]["response"]  # a retry succeeds

    server.configure_batches(BatchFaults(expire_after=1))
    expired = gemini_run(client, ["x0", "x1"])
    assert expired.state.name == "JOB_STATE_EXPIRED"
    rows = jsonl(client.files.download(file=expired.dest.file_name))
    assert "response" in rows[0] and rows[1]["error"]["code"] == 4

    server.configure_batches(BatchFaults())
    inline = client.batches.create(model="gemini-2.5-flash", src=[
        {"contents": [{"role": "user", "parts": [{"text": prompt(i)}]}], "metadata": {"key": f"i{i}"},
         "config": {"response_mime_type": "application/json", "response_schema": SCHEMA}} for i in range(2)])
    inline = client.batches.get(name=inline.name)
    answers = inline.dest.inlined_responses
    assert [a.metadata["key"] for a in answers] == ["i0", "i1"] and label(answers[0].response.text) == "relevant"

    server.configure_batches(BatchFaults(delay_s=5))
    job = gemini_run(client, ["c0"], wait=False)
    client.batches.cancel(name=job.name)
    cancelled = client.batches.get(name=job.name)
    assert cancelled.state.name == "JOB_STATE_CANCELLED" and cancelled.dest is None
    assert server.batch_stats()["batches"]["gemini"] == 5 and server.total_requests == 0


def test_gemini_limits_and_key(server: LLMServer) -> None:
    client = gemini_client(server)
    server.configure_batches(BatchFaults(max_lines=2))
    assert gemini_run(client, ["l0", "l1"]).state.name == "JOB_STATE_SUCCEEDED"
    with pytest.raises(genai_errors.ClientError) as exc:
        gemini_run(client, ["l0", "l1", "l2"])
    assert exc.value.code == 400
    server.configure_batches(BatchFaults(max_bytes=100))
    with pytest.raises(genai_errors.ClientError):
        gemini_run(client, ["b0", "b1"])  # the upload is refused
    wrong = gemini_client(server, key="wrong-key")
    with pytest.raises(genai_errors.ClientError) as exc:
        wrong.files.upload(file=io.BytesIO(b"{}\n"), config={"mime_type": "jsonl"})
    assert exc.value.code == 401
    with pytest.raises(genai_errors.ClientError):
        list(wrong.batches.list())
    name = client.batches.list().page[0].name
    assert http(f"{server.url}/v1/{name}", {"x-goog-api-key": "wrong-key"})[0] == 401


# --- Anthropic -----------------------------------------------------------------------------------------------------


def anthropic_params(i: int) -> dict:
    return {"model": "claude-haiku-4-5", "max_tokens": 400, "system": "Judge.", "messages": [{"role": "user", "content": prompt(i)}],
            "tools": [{"name": "judgment", "description": "Record the judgment.", "input_schema": SCHEMA}],
            "tool_choice": {"type": "tool", "name": "judgment"}}


def anthropic_run(client: anthropic.Anthropic, ids: list[str], wait: bool = True):
    batch = client.messages.batches.create(requests=[{"custom_id": cid, "params": anthropic_params(i)} for i, cid in enumerate(ids)])
    if not wait:
        return batch
    return poll(lambda: client.messages.batches.retrieve(batch.id), lambda b: b.processing_status == "ended")


def test_anthropic_batch_flow_results_and_list(server: LLMServer) -> None:
    client = anthropic.Anthropic(api_key=KEY, base_url=server.url, max_retries=0)
    server.configure_batches(BatchFaults(delay_s=0.3))
    batch = anthropic_run(client, ["a0", "a1", "a2"], wait=False)
    assert batch.processing_status == "in_progress" and batch.request_counts.processing == 3 and batch.results_url is None
    done = poll(lambda: client.messages.batches.retrieve(batch.id), lambda b: b.processing_status == "ended")
    assert done.request_counts.succeeded == 3 and done.ended_at >= done.created_at
    results = list(client.messages.batches.results(batch.id))
    assert [r.custom_id for r in results] == ["a0", "a1", "a2"] and all(r.result.type == "succeeded" for r in results)
    live = client.messages.create(**anthropic_params(0))
    assert results[0].result.message.content[0].input == live.content[0].input and live.content[0].input["label"] == "relevant"
    assert results[0].result.message.usage.input_tokens == live.usage.input_tokens
    assert server.total_requests == 1 and server.batch_stats()["by_id"] == {"a0": 1, "a1": 1, "a2": 1}
    raw = [http(done.results_url, {"x-api-key": KEY, "anthropic-version": "2023-06-01"}) for _ in range(2)]
    assert raw[0][0] == 200 and raw[0] == raw[1]
    server.configure_batches(BatchFaults())
    later = anthropic_run(client, ["a3"])
    page = client.messages.batches.list(limit=1)
    assert [b.id for b in page.data] == [later.id] and page.has_more
    assert [b.id for b in client.messages.batches.list(limit=1)] == [later.id, batch.id]


def test_anthropic_errors_malformed_expiry_cancel_limits_and_key(server: LLMServer) -> None:
    client = anthropic.Anthropic(api_key=KEY, base_url=server.url, max_retries=0)
    server.configure_batches(BatchFaults(line_errors=2, malformed=1, expire_after=4))
    done = anthropic_run(client, ["e0", "e1", "e2", "e3", "e4"])
    assert (done.request_counts.errored, done.request_counts.succeeded, done.request_counts.expired) == (2, 2, 1)
    results = {r.custom_id: r.result for r in client.messages.batches.results(done.id)}
    assert results["e0"].error.error.type == "api_error" and results["e1"].error.error.type == "overloaded_error"
    assert results["e2"].message.content[0].input == {"label": "RELEVANT!!", "oops": True}  # malformed, as a live call gives
    assert results["e3"].message.content[0].input["label"] == "irrelevant" and results["e4"].type == "expired"

    server.configure_batches(BatchFaults(delay_s=5))
    batch = anthropic_run(client, ["c0", "c1"], wait=False)
    assert client.messages.batches.cancel(batch.id).processing_status == "canceling"
    ended = client.messages.batches.retrieve(batch.id)
    assert ended.processing_status == "ended" and ended.request_counts.canceled == 2
    assert {r.result.type for r in client.messages.batches.results(batch.id)} == {"canceled"}

    server.configure_batches(BatchFaults(max_lines=2, max_bytes=6000))
    assert anthropic_run(client, ["l0", "l1"]).request_counts.succeeded == 2
    with pytest.raises(anthropic.BadRequestError):
        anthropic_run(client, ["l0", "l1", "l2"])
    with pytest.raises(anthropic.APIStatusError) as exc:
        client.messages.batches.create(requests=[{"custom_id": "big", "params": {**anthropic_params(0), "system": "x" * 6000}}])
    assert exc.value.status_code == 413
    with pytest.raises(anthropic.BadRequestError):
        anthropic_run(client, ["not a valid id!"])
    with pytest.raises(anthropic.BadRequestError):
        anthropic_run(client, ["dup", "dup"])
    wrong = anthropic.Anthropic(api_key="wrong", base_url=server.url, max_retries=0)
    with pytest.raises(anthropic.AuthenticationError):
        wrong.messages.batches.list()
    with pytest.raises(anthropic.AuthenticationError):
        anthropic_run(wrong, ["w0"])
    assert server.total_requests == 0


# --- configuration -------------------------------------------------------------------------------------------------


def test_standalone_server_takes_batch_delay_and_config(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, str(Path(__file__).with_name("llmserver.py")), "--port", "0", "--api-key", KEY,
                             "--batch-delay", "30"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        url = json.loads(proc.stdout.readline())["url"]
        client = anthropic.Anthropic(api_key=KEY, base_url=url, max_retries=0)
        assert anthropic_run(client, ["s0"], wait=False).processing_status == "in_progress"
        assert http(f"{url}/_config", {"Content-Type": "application/json"}, "POST", json.dumps({"batch": {"line_errors": 1}}).encode())[0] == 200
        assert anthropic_run(client, ["s1", "s2"]).request_counts.errored == 1
        stats = json.loads(http(f"{url}/_stats", {})[1])
        assert stats["requests"] == {} and stats["batch"]["by_id"] == {"s2": 1} and stats["batch"]["batches"]["anthropic"] == 2
    finally:
        proc.stdin.close()
        proc.wait(timeout=5)
