"""A local LLM server speaking the OpenAI chat-completions and Gemini generateContent wire formats (Anthropic Messages
in llmserver_anthropic, the three providers' batch APIs in llmserver_batch).

The real openai and google-genai SDKs point at it by base URL. It answers by a scripted rule, with
configurable latency and injected faults (429 with Retry-After, 500, malformed JSON, hangs), counts
requests and keeps the last ones for assertions. Run it alone for benchmarks:

    python tests/llmserver.py --port 0 --latency 1.0      # prints {"url": ...} on stdout
    python tests/llmserver.py --answer-style realistic    # or EVALHARNESS_TEST_ANSWER_STYLE=realistic (llmserver_shapes)
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import math
import random
import re
import sys
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from llmserver_anthropic import anthropic_reply
from llmserver_batch import BatchFaults, BatchStore
from llmserver_shapes import ENV, STYLES, AnswerStyle, empty_object, keyed, strict_problem

PRODUCT = re.compile(r"<product_data>\s*(.*?)\s*</product_data>", re.S)
QUERY = re.compile(r"Search query: (\".*?\")\n")


@dataclass
class Faults:
    rate_429: float = 0.0
    rate_500: float = 0.0
    rate_malformed: float = 0.0
    rate_hang: float = 0.0
    retry_after: str = "1"
    hang_s: float = 30.0
    sequence: list[str] = field(default_factory=list)  # scripted outcomes of the next requests: "ok", "429", "500", "malformed"


@dataclass
class State:
    api_key: str
    latency: float = 0.0
    faults: Faults = field(default_factory=Faults)
    seed: int = 0
    requests: Counter = field(default_factory=Counter)
    lookups: int = 0  # models lookups (preflight), apart from the requests that judge
    recent: deque = field(default_factory=lambda: deque(maxlen=400))
    lock: threading.Lock = field(default_factory=threading.Lock)
    style: AnswerStyle = field(default_factory=AnswerStyle)  # exact, minimal or realistic (llmserver_shapes)
    model_lookup: bool = True  # False: no GET models/{id} route (some compatible servers), every lookup is a 404
    record: Any = None  # an open file: every judged request's path and raw body as a JSON line (benchmarks replay them)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        # the batch APIs' files, jobs and counters; answers through `reply`, in the server's answer style
        self.batch = BatchStore(self, lambda kind, req, malformed, model="": reply(kind, req, malformed, model, self.style))

    def draw(self) -> float:
        with self.lock:
            return self.rng.random()


def label_for(query: str, product: dict[str, Any]) -> tuple[str, str]:
    """The scripted rule: all query words of 3+ letters in the title -> relevant, some -> substitute, none -> irrelevant."""
    words = [w for w in re.findall(r"[a-z0-9]+", query.lower()) if len(w) >= 3]
    title = str(product.get("title", "")).lower()
    found = [w for w in words if w in title]
    if words and len(found) == len(words):
        return "relevant", f"scripted: all {len(words)} query words in the title"
    if found:
        return "substitute", f"scripted: {len(found)} of {len(words)} query words in the title"
    return "irrelevant", "scripted: no query word in the title"


REQUIREMENTS = re.compile(r"Requirements: (\[.*?\])\n")


def verdicts_for(prompt: str, product: dict[str, Any]) -> list[dict[str, str]]:
    """Scripted per-requirement verdicts: the value in the product's field (or title) -> met, another value stated
    -> not met, nothing stated -> unknown."""
    found = REQUIREMENTS.search(prompt)
    out = []
    for r in json.loads(found.group(1)) if found else []:
        have = str(product.get(r["attribute"]) or (product.get("attributes") or {}).get(r["attribute"]) or "").lower()
        value = str(r["value"]).lower()
        verdict = "met" if value in have or value in str(product.get("title", "")).lower() else "not met" if have else "unknown"
        out.append({"attribute": r["attribute"], "value": r["value"], "verdict": verdict})
    return out


SCRIPT: dict[str, Any] = {"table": {}, "rates": {}}


def script_labels(table: dict[tuple[str, str], str], rates: dict[str, float]) -> None:
    """Script judgments from a label file: (query, product title) -> label, which model `m` answers for a share
    `rates[m]` of the pairs (chosen by a hash of model, query and title) and answers with another label otherwise."""
    SCRIPT["table"] = {(" ".join(q.casefold().split()), t): lab for (q, t), lab in table.items()}
    SCRIPT["rates"] = dict(rates)


def script_answers(table: dict[tuple[str, str, str], str]) -> None:
    """Script exactly what a model answers for a pair: (model, query, product title) -> label (before any label file)."""
    SCRIPT["answers"] = {(m, " ".join(q.casefold().split()), t): lab for (m, q, t), lab in table.items()}


def scripted_label(query: str, product: dict[str, Any], model: str) -> tuple[str, str] | None:
    fixed = SCRIPT.get("answers", {}).get((model, " ".join(query.casefold().split()), str(product.get("title", ""))))
    if fixed is not None:
        return fixed, f"scripted: {model} answers {fixed}"
    truth = SCRIPT["table"].get((" ".join(query.casefold().split()), str(product.get("title", ""))))
    if truth is None or model not in SCRIPT["rates"]:
        return None
    draw = int(hashlib.sha256(f"{model}|{query}|{product.get('title')}".encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    if draw < SCRIPT["rates"][model]:
        return truth, "scripted: agrees with the label file"
    others = [lab for lab in ("irrelevant", "substitute", "relevant") if lab != truth]
    return others[int(draw * 1000) % 2], "scripted: disagrees with the label file"


LOGPROBS: dict[str, Any] = {"table": {}, "tail": 0.95, "junk": 0.02}


def script_logprobs(table: dict[tuple[str, str, str], dict[str, float]], tail: float = 0.95, junk: float = 0.02) -> None:
    """Script the label's probabilities per pair: (model, query, product title) -> {label: probability}. A request that
    asks for log-probabilities gets its answer's tokens (runs of up to 6 letters, other characters one by one); the
    label's first token carries log p(label) x (1 - junk), every other label's first token the same for its
    probability, and a whitespace token the `junk` share (no label); the label's later tokens log(tail) each. Pairs not
    in the table: the answered label 0.9, the rest shared."""
    LOGPROBS.update(table={(m, " ".join(q.casefold().split()), t): d for (m, q, t), d in table.items()}, tail=tail, junk=junk)


TOKEN = re.compile(r"[A-Za-z]{1,6}|[^A-Za-z]")


def answer_logprobs(text: str, model: str, query: str, title: str, names: list[str], k: int) -> list[dict[str, Any]]:
    """[{token, logprob, top: [(token, logprob)]}] spelling `text`, with the scripted label probabilities."""
    found = list(re.finditer(r'"label"\s*:\s*"([^"]*)"', text))
    span = found[-1].span(1) if found else (-1, -1)
    label = found[-1].group(1) if found else ""
    dist = LOGPROBS["table"].get((model, " ".join(query.casefold().split()), title))
    if dist is None:
        others = [n for n in names if n != label]
        dist = {label: 0.9, **{n: 0.1 / len(others) for n in others}} if others else {label: 1.0}
    keep = 1.0 - LOGPROBS["junk"]
    out, offset = [], 0
    for m in TOKEN.finditer(text):
        tok, lp, top = m.group(0), 0.0, []
        if offset == span[0]:  # the label's first token: the scripted alternatives
            lp = math.log(dist.get(label, 1e-9) * keep)
            top = [(TOKEN.match(n).group(0), math.log(p * keep)) for n, p in dist.items() if p > 0 and n != label]
            top.append((" ", math.log(LOGPROBS["junk"])) if LOGPROBS["junk"] > 0 else ("x", -30.0))
        elif span[0] < offset < span[1]:
            lp = math.log(LOGPROBS["tail"])
        top = sorted([(tok, lp), *top], key=lambda t: -t[1])[:max(k, 1)]
        out.append({"token": tok, "logprob": lp, "top": top})
        offset = m.end()
    return out


SYNONYMS = {"relevant": ("relevant", "exact", "perfectly"), "substitute": ("substitute", "mostly", "somewhat"), "irrelevant": ("irrelevant",)}


def fit_label(label: str, enum: list[str]) -> str:
    """The scripted three-level label in the request's label scheme (its schema enum)."""
    if not enum or label in enum:
        return label
    return next((name for name in SYNONYMS.get(label, ()) if name in enum), enum[0] if label == "relevant" else enum[-1])


def answer(prompt: str, schema_name: str | None, image: bytes | None, schema: dict[str, Any] | None = None, model: str = "") -> str:
    """The scripted answer. A judgment follows the request's schema (its label enum and property order); a model named
    `fixed-<label>` always answers that label (members scripted to disagree)."""
    if schema_name == "guideline":
        q = json.loads(QUERY.search(prompt).group(1)) if QUERY.search(prompt) else prompt
        words = q.split()
        reqs = [{"attribute": "product_type", "value": words[-1] if words else q, "importance": "must"}]
        reqs += [{"attribute": "color", "value": w, "importance": "should"} for w in words[:-1][:1]]
        return json.dumps({"requirements": reqs, "guideline": f"Relevant: a {q}. Substitute: a close alternative. Irrelevant: anything else."})
    if schema_name == "caption_check":  # members named reject-* reject every caption, picky-* those of half the images
        digest = re.search(r"bytes, ([0-9a-f]{8})", prompt)
        informative = not (model.startswith("reject") or (model.startswith("picky") and bool(digest) and digest.group(1)[0] < "8"))
        return json.dumps({"reasoning": f"scripted: {model}", "informative": informative})
    if schema_name == "image_quality":  # scripted: a score from the image bytes' hash, the prompt named in the reasoning
        score = 1 + hashlib.sha256(image or b"").digest()[0] % 5
        prompt_kind = "guided" if "Shoppers care about" in prompt else "generic"
        return json.dumps({"reasoning": f"scripted {prompt_kind}: score {score}", "aspects": ["blurry"], "score": score})
    if schema_name == "judgment":
        blocks, q = PRODUCT.findall(prompt.rpartition("<product_data>")[1] + prompt.rpartition("<product_data>")[2]), QUERY.search(prompt)
        product = json.loads(blocks[-1]) if blocks else {}  # the last block: the system prompt only names the tags
        label, why = label_for(json.loads(q.group(1)) if q else "", product)
        label, why = scripted_label(json.loads(q.group(1)) if q else "", product, model) or (label, why)
        if model.startswith("fixed-"):
            label, why = model.removeprefix("fixed-"), f"scripted: {model}"
        props = (schema or {}).get("properties") or {"label": {}, "rationale": {}}
        label = fit_label(label, (props.get("label") or {}).get("enum") or [])
        values = {"label": label, "rationale": why, "requirement_verdicts": keyed(verdicts_for(prompt, product), props.get("requirement_verdicts"))}
        return json.dumps({k: values[k] for k in props if k in values})
    digest = hashlib.sha256(image or b"").hexdigest()[:8]
    return f"A product photo ({len(image or b'')} bytes, {digest}); the product is clearly visible."


def _pair_of(prompt: str) -> tuple[str, str]:
    """(query, product title) named in a judgment prompt."""
    blocks, q = PRODUCT.findall(prompt.rpartition("<product_data>")[1] + prompt.rpartition("<product_data>")[2]), QUERY.search(prompt)
    product = json.loads(blocks[-1]) if blocks else {}
    return (json.loads(q.group(1)) if q else ""), str(product.get("title", ""))


def openai_reply(req: dict[str, Any], malformed: bool, style: AnswerStyle | None = None) -> dict[str, Any]:
    """The chat.completion body for one OpenAI chat-completions request."""
    texts, image = [], None
    for m in req.get("messages", []):
        content = m.get("content")
        if isinstance(content, str):
            texts.append(content)
        else:
            for part in content or []:
                if part.get("type") == "text":
                    texts.append(part["text"])
                elif part.get("type") == "image_url":
                    image = base64.b64decode(part["image_url"]["url"].split(",", 1)[1])
    fmt = req.get("response_format") or {}
    schema = (fmt.get("json_schema") or {}).get("name") if fmt.get("type") == "json_schema" else None
    json_schema = (fmt.get("json_schema") or {}).get("schema")
    if schema and (fmt.get("json_schema") or {}).get("strict") and strict_problem(json_schema):
        raise ValueError(f"Invalid schema for response_format: {strict_problem(json_schema)}")  # as OpenAI answers (400)
    text = "{label: relevant, oops" if malformed and schema else \
        answer("\n".join(texts), schema, image, json_schema, req.get("model", ""))
    _, text, wire = (style or AnswerStyle()).apply(text, schema, json_schema, "\n".join(texts) + req.get("model", ""))
    message: dict[str, Any] = {"role": "assistant", "content": text or None}
    if wire == "refusal":
        message.update(content=None, refusal=text)
    elif wire == "tool_call":
        message.update(content=None, tool_calls=[{"id": "call_local", "type": "function",
                                                  "function": {"name": schema or "answer", "arguments": text}}])
    finish = {"length": "length", "filtered": "content_filter", "tool_call": "tool_calls"}.get(wire, "stop")
    prompt_tokens = sum(len(t) for t in texts) // 4 + (765 if image else 0)
    choice: dict[str, Any] = {"index": 0, "message": message, "finish_reason": finish}
    if req.get("logprobs") and schema == "judgment":
        enum = (((fmt.get("json_schema") or {}).get("schema") or {}).get("properties") or {}).get("label", {}).get("enum") or []
        toks = answer_logprobs(text, req.get("model", ""), *_pair_of("\n".join(texts)), enum, int(req.get("top_logprobs") or 0))
        choice["logprobs"] = {"content": [{"token": t["token"], "logprob": t["logprob"], "bytes": list(t["token"].encode()),
                                           "top_logprobs": [{"token": a, "logprob": lp, "bytes": list(a.encode())} for a, lp in t["top"]]}
                                          for t in toks]}
    return {"id": "chatcmpl-local", "object": "chat.completion", "created": int(time.time()), "model": req.get("model"),
            "choices": [choice],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": len(text) // 4, "total_tokens": prompt_tokens + len(text) // 4}}


def gemini_reply(req: dict[str, Any], malformed: bool, model: str, style: AnswerStyle | None = None) -> dict[str, Any]:
    """The GenerateContentResponse (REST, camelCase) for one Gemini generateContent request to `model`."""
    texts, image = [], None
    for content in req.get("contents", []):
        for part in content.get("parts", []):
            if "text" in part:
                texts.append(part["text"])
            data = part.get("inlineData") or part.get("inline_data")
            if data:
                raw = data["data"]  # the SDK sends URL-safe base64, possibly unpadded
                image = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
    gen = req.get("generationConfig") or {}
    props = ((gen.get("responseSchema") or {}).get("properties") or {})
    schema = ("guideline" if "requirements" in props else "judgment" if "label" in props
              else "image_quality" if "aspects" in props else "caption_check" if "informative" in props else None)
    rs = gen.get("responseSchema") or {}
    order = rs.get("propertyOrdering") or rs.get("property_ordering") or list(props)  # protobuf JSON accepts both
    if empty_object(rs):
        raise ValueError("properties: should be non-empty for OBJECT type")  # what the Gemini API answers (400)
    text = "{label: relevant, oops" if malformed and schema else \
        answer("\n".join(texts), schema, image, {"properties": {k: props[k] for k in order if k in props}}, model)
    _, text, wire = (style or AnswerStyle()).apply(text, schema, rs or None, "\n".join(texts) + model)
    parts: list[dict[str, Any]] = [{"functionCall": {"name": schema or "answer", "args": json.loads(text)}}] \
        if wire == "tool_call" else [] if wire == "filtered" else [{"text": text}]
    finish = {"length": "MAX_TOKENS", "filtered": "SAFETY"}.get(wire, "STOP")
    prompt_tokens = sum(len(t) for t in texts) // 4 + (258 if image else 0)
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "finishReason": finish, "index": 0}
    if gen.get("responseLogprobs") and schema == "judgment":
        toks = answer_logprobs(text, model, *_pair_of("\n".join(texts)), (props.get("label") or {}).get("enum") or [],
                               int(gen.get("logprobs") or 0))
        candidate["logprobsResult"] = {
            "chosenCandidates": [{"token": t["token"], "logProbability": t["logprob"]} for t in toks],
            "topCandidates": [{"candidates": [{"token": a, "logProbability": lp} for a, lp in t["top"]]} for t in toks]}
    return {"candidates": [candidate],
            "usageMetadata": {"promptTokenCount": prompt_tokens, "candidatesTokenCount": len(text) // 4,
                              "totalTokenCount": prompt_tokens + len(text) // 4},
            "modelVersion": model}


def reply(kind: str, req: dict[str, Any], malformed: bool, model: str = "", style: AnswerStyle | None = None
          ) -> tuple[int, dict[str, Any]]:
    """(status, body) for one request of a provider (`kind`: openai, gemini, anthropic): live calls and batch lines
    share it, so both give exactly the same scripted answers (batch lines in the exact style)."""
    try:
        if kind == "anthropic":
            return anthropic_reply(req, malformed, answer, style)
        return 200, gemini_reply(req, malformed, model, style) if kind == "gemini" else openai_reply(req, malformed, style)
    except (KeyError, ValueError, TypeError) as exc:  # a request the server cannot read: say so, as a real API would
        return 400, {"error": {"message": f"bad request: {exc}", "code": 400, "status": "INVALID_ARGUMENT"}}


def api_key(headers: Any, gemini: bool) -> str | None:
    """The key a request carries: Gemini's x-goog-api-key, else OpenAI's bearer token or Anthropic's x-api-key."""
    if gemini:
        return headers.get("x-goog-api-key")
    return (headers.get("Authorization") or "").removeprefix("Bearer ") or headers.get("x-api-key")


def make_handler(state: State) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def log_message(self, *args: Any) -> None:
            pass

        def _json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
            data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
            headers = {"Content-Type": "application/json", **(headers or {})}
            self.send_response(status)
            self.send_header("Content-Length", str(len(data)))
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def _fault(self, status: int, retry_after: str) -> None:
            if status == 429:
                return self._json(429, {"error": {"message": "rate limited", "code": 429, "status": "RESOURCE_EXHAUSTED"}},
                                  {"Retry-After": retry_after})
            return self._json(500, {"error": {"message": "internal", "code": 500, "status": "INTERNAL"}})

        def _batch(self, method: str, body: bytes = b"") -> bool:
            """Answer a batch-API request (files, batches, message batches); False when the path is none of those."""
            out = state.batch.handle(method, self.path, self.headers, body)
            if out is not None:
                self._json(*out)
            return out is not None

        def do_DELETE(self) -> None:  # noqa: N802
            if not self._batch("DELETE"):
                self._json(404, {"error": "not found"})

        def do_GET(self) -> None:  # noqa: N802
            if self.path.startswith("/_stats"):
                with state.lock:
                    live = {"requests": dict(state.requests), "lookups": state.lookups}
                with state.style.lock:
                    live["shapes"] = dict(state.style.served)
                return self._json(200, {**live, "batch": state.batch.stats()})
            if self._batch("GET"):
                return None
            if "/models/" in self.path and state.model_lookup:
                return self._model_lookup()
            self._json(404, {"error": "not found"})

        def _model_lookup(self) -> None:
            """GET a model (OpenAI /v1/models/M, Anthropic the same with x-api-key, Gemini the same with x-goog-api-key);
            models named no-such-* do not exist."""
            gemini = "x-goog-api-key" in self.headers
            key = api_key(self.headers, gemini)
            with state.lock:
                state.lookups += 1
            if key != state.api_key:
                return self._json(401, {"error": {"message": "invalid api key", "code": 401, "status": "UNAUTHENTICATED"}})
            model = self.path.split("?")[0].rsplit("/", 1)[-1]
            if model.startswith("no-such"):
                return self._json(404, {"error": {"message": f"model {model} not found", "code": 404, "status": "NOT_FOUND"}})
            if gemini:
                return self._json(200, {"name": f"models/{model}", "displayName": model, "inputTokenLimit": 1000000})
            if self.headers.get("x-api-key"):
                return self._json(200, {"type": "model", "id": model, "display_name": model, "created_at": "2025-01-01T00:00:00Z"})
            return self._json(200, {"id": model, "object": "model", "created": 0, "owned_by": "local"})

        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path.startswith("/_config"):
                cfg = json.loads(body)
                with state.lock:
                    state.latency = cfg.get("latency", state.latency)
                    state.faults = Faults(**cfg.get("faults", {}))
                    state.requests.clear()
                    state.recent.clear()
                    state.lookups = 0
                    if "record" in cfg:  # a path to append every request to (bench/judge_throughput.py's floor), or null
                        if state.record is not None:
                            state.record.close()
                        state.record = open(cfg["record"], "a", encoding="utf-8") if cfg["record"] else None  # noqa: SIM115
                if "answer_style" in cfg:
                    state.style = AnswerStyle(cfg["answer_style"], state.seed)
                if "batch" in cfg:
                    state.batch.configure(BatchFaults(**cfg["batch"]))
                return self._json(200, {"ok": True})
            if self._batch("POST", body):
                return None
            gemini = ":generateContent" in self.path
            kind = "anthropic" if self.path.startswith("/v1/messages") else "gemini" if gemini else "openai"
            if api_key(self.headers, gemini) != state.api_key:  # anthropic: either header

                return self._json(401, {"error": {"message": "invalid api key", "code": 401, "status": "UNAUTHENTICATED"}})
            req = json.loads(body)
            if str(req.get("model") or self.path.split("/models/")[-1]).startswith("no-such"):
                return self._json(404, {"error": {"message": "model not found", "code": 404, "status": "NOT_FOUND"}})
            with state.lock:
                state.requests[kind] += 1
                state.recent.append({"path": self.path, "body": req})
                if state.record is not None:
                    state.record.write(json.dumps({"path": self.path, "headers": list(self.headers.items()), "body": body.decode(),
                                                   "t": time.time()}) + "\n")
            if state.latency:
                time.sleep(state.latency)
            f = state.faults
            with state.lock:
                scripted = f.sequence.pop(0) if f.sequence else ""
            if scripted:
                malformed = scripted == "malformed"
                if scripted in ("429", "500"):
                    return self._fault(int(scripted), f.retry_after)
            else:
                r = state.draw()
                if r < f.rate_hang:
                    time.sleep(f.hang_s)
                    return self._json(500, {"error": {"message": "hung"}})
                r -= f.rate_hang
                if r < f.rate_429:
                    return self._fault(429, f.retry_after)
                r -= f.rate_429
                if r < f.rate_500:
                    return self._fault(500, f.retry_after)
                r -= f.rate_500
                malformed = r < f.rate_malformed
            self._json(*reply(kind, req, malformed, self.path.split("/models/")[-1].split(":")[0], state.style))

    return Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 512


class LLMServer:
    """The server on 127.0.0.1 in a background thread."""

    def __init__(self, api_key: str = "sk-local-test-key", latency: float = 0.0, faults: Faults | None = None, seed: int = 0,
                 port: int = 0, answer_style: str | None = None, model_lookup: bool = True) -> None:
        """`answer_style`: exact, minimal or realistic (llmserver_shapes; None: $EVALHARNESS_TEST_ANSWER_STYLE, else
        exact). `model_lookup=False`: no GET models/{id} route, as on some compatible servers."""
        self.state = State(api_key=api_key, latency=latency, faults=faults or Faults(), seed=seed,
                           style=AnswerStyle(answer_style, seed), model_lookup=model_lookup)
        self.server = _Server(("127.0.0.1", port), make_handler(self.state))
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def configure(self, latency: float | None = None, faults: Faults | None = None) -> None:
        with self.state.lock:
            if latency is not None:
                self.state.latency = latency
            self.state.faults = faults or Faults()
            self.state.requests.clear()
            self.state.recent.clear()
            self.state.lookups = 0

    def set_answer_style(self, style: str, seed: int | None = None) -> None:
        """Switch the answer style (exact, minimal, realistic) from now on; the shapes count starts again."""
        self.state.style = AnswerStyle(style, self.state.seed if seed is None else seed)

    def script_answers(self, answers: list[tuple[str, str]]) -> None:
        """Answer the next judgment requests verbatim: (text, wire signal "" | "length" | "refusal" | "filtered" |
        "tool_call") each, in order; then the answer style again."""
        self.state.style.script(answers)

    def shapes(self) -> dict[str, int]:
        """The answer shapes served so far in the realistic style (shape -> judgment answers)."""
        with self.state.style.lock:
            return dict(self.state.style.served)

    def configure_batches(self, faults: BatchFaults) -> None:
        """Set the batch APIs' faults (delay, per-line errors, malformed answers, expiry, input limits) for the
        batches created from now on; what the server has seen and counted stays."""
        self.state.batch.configure(faults)

    def batch_stats(self) -> dict[str, Any]:
        """{"batches": {kind: n}, "lines": {kind: n answered}, "by_id": {custom_id or key: times answered},
        "files": n uploaded, "errors": {kind: n}, "expired": {kind: n}}; batch lines never count in `requests`."""
        return self.state.batch.stats()

    @property
    def total_requests(self) -> int:
        with self.state.lock:
            return sum(self.state.requests.values())

    def recent(self) -> list[dict[str, Any]]:
        with self.state.lock:
            return list(self.state.recent)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--latency", type=float, default=0.0)
    ap.add_argument("--api-key", default="sk-local-test-key")
    ap.add_argument("--batch-delay", type=float, default=0.0, help="seconds a batch stays in progress after creation")
    ap.add_argument("--answer-style", choices=STYLES, default=None,
                    help=f"exact (default), minimal or realistic; default ${ENV} when set")
    ap.add_argument("--seed", type=int, default=0, help="seed of the realistic style's shapes and of injected faults")
    args = ap.parse_args()
    server = LLMServer(api_key=args.api_key, latency=args.latency, port=args.port, answer_style=args.answer_style, seed=args.seed)
    server.configure_batches(BatchFaults(delay_s=args.batch_delay))
    print(json.dumps({"url": server.url}), flush=True)
    try:
        sys.stdin.read()  # runs until stdin closes (the parent exits)
    finally:
        server.close()


if __name__ == "__main__":
    main()
