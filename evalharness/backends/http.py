"""The HTTP backend for in-house search APIs: a URL (and body) template, headers from the environment,
and JSONPath from the response to the hits and from each hit to its fields."""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import jinja2
from jsonpath_ng.exceptions import JsonPathParserError
from jsonpath_ng.ext import parse as jsonpath

from evalharness.backends.base import ProgressFn, SearchBackend, mapped_hit
from evalharness.backends.cluster import DEFAULT_FIELDS, lookup
from evalharness.config import env_secret
from evalharness.errors import EvalHarnessError
from evalharness.models import Hit
from evalharness.project import LoadedEngine, Project
from evalharness.runtime.httpclient import TRANSPORT_ERRORS, httpx

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_TEMPLATES = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)  # noqa: S701 - URLs and JSON, not HTML


def _compile(expr: str, where: str) -> Any:
    try:
        return jsonpath(expr)
    except (JsonPathParserError, Exception) as exc:  # noqa: BLE001 - the parser raises several types
        raise EvalHarnessError(f"{where}: '{expr}' is not a valid JSONPath ({type(exc).__name__})") from None


class HttpBackend(SearchBackend):
    """Calls a search API once per query with bounded concurrency."""

    def __init__(self, engine: LoadedEngine, project: Project | None = None) -> None:
        assert engine.config.http is not None
        self.cfg = engine.config
        self.http = engine.config.http
        headers = dict(self.http.headers)
        for header, var in self.http.header_envs.items():
            headers[header] = env_secret(var, f"[http] header_envs.{header}")
        self.client = httpx.Client(headers=headers, timeout=self.http.timeout_s)
        self.hits_path = _compile(self.http.hits_path, "[http] hits_path")
        fields = {**DEFAULT_FIELDS, "doc_id": "id", **self.cfg.fields, "score": self.cfg.fields.get("score", "score")}
        self.fields = {name: (_compile(p, f"[fields] {name}") if p.startswith("$") else p) for name, p in fields.items()}
        self.attributes = {n: (_compile(p, f"[attributes] {n}") if p.startswith("$") else p) for n, p in self.cfg.attributes.items()}

    def _render(self, template: str, query: str, k: int, where: str) -> str:
        try:
            return _TEMPLATES.from_string(template).render(query=query, k=k)
        except jinja2.TemplateError as exc:
            raise EvalHarnessError(f"[http] {where} does not render ({exc}); use {{{{ query | urlencode }}}} and {{{{ k }}}}") from None

    @staticmethod
    def _get(doc: dict[str, Any], path: Any) -> Any:
        if isinstance(path, str):
            return lookup(doc, path)
        found = path.find(doc)
        return found[0].value if found else None

    def _call(self, url: str, body: str | None) -> Any:
        """One request, retried with backoff on timeouts, dropped connections, 429 and 5xx (honouring Retry-After)."""
        where = url.split("?")[0]
        attempt = 0
        while True:
            last = attempt >= self.http.max_retries
            try:
                resp = self.client.request(self.http.method, url, content=body,
                                           headers={"Content-Type": "application/json"} if body else None)
            except httpx.HTTPError as exc:
                if last or not isinstance(exc, TRANSPORT_ERRORS):
                    raise EvalHarnessError(f"cannot reach the search API at {where} ({type(exc).__name__}, "
                                           f"{self._tries(attempt)}); check [http] url and that the service is up") from None
                time.sleep(self._delay(attempt, None))
            else:
                if resp.status_code not in RETRY_STATUSES or last:
                    return self._answer(resp, where, attempt)
                time.sleep(self._delay(attempt, resp.headers.get("Retry-After")))
            attempt += 1

    @staticmethod
    def _tries(attempt: int) -> str:
        return f"after {attempt} retr{'y' if attempt == 1 else 'ies'}" if attempt else "no retry"

    def _delay(self, attempt: int, retry_after: str | None) -> float:
        """Exponential backoff with jitter; a numeric Retry-After wins (capped at 30 s)."""
        if retry_after is not None:
            try:
                return min(max(float(retry_after), 0.0), 30.0)
            except ValueError:
                pass
        return self.http.backoff_s * (2 ** attempt) * random.uniform(0.5, 1.5)

    def _answer(self, resp: Any, where: str, attempt: int) -> Any:
        if resp.status_code in (401, 403):
            raise EvalHarnessError(f"the search API rejected the credentials ({resp.status_code}); check [http] header_envs")
        if resp.status_code >= 400:
            raise EvalHarnessError(f"the search API answered {resp.status_code} for {where} ({self._tries(attempt)}); "
                                   "check [http] url/method/body and the service's logs")
        try:
            return resp.json()
        except json.JSONDecodeError:
            raise EvalHarnessError(f"the search API at {where} did not answer JSON; check [http] url") from None

    def search(self, query: str, k: int) -> list[Hit]:
        url = self._render(self.http.url, query, k, "url")
        body = self._render(self.http.body, query, k, "body") if self.http.body else None
        data = self._call(url, body)
        hits = []
        for rank, match in enumerate(self.hits_path.find(data)[:k], 1):
            doc = match.value if isinstance(match.value, dict) else {}
            score = self._get(doc, self.fields["score"])
            if isinstance(score, float) and not math.isfinite(score):
                raise EvalHarnessError(f"the search service ({self.http.url}) gave hit {rank} for {query!r} the score {score!r}, "
                                       "not a finite number; point the engine config's [fields] score at a numeric field "
                                       "(or leave it out: scores then follow rank)")
            hits.append(mapped_hit(lambda name, doc=doc: self._get(doc, self.fields[name]), rank,
                                   float(score) if isinstance(score, (int, float)) else float(k - rank + 1),
                                   {n: self._get(doc, p) for n, p in self.attributes.items()}))
        return hits

    def search_many(self, queries: Sequence[str], k: int, progress: ProgressFn | None = None) -> list[list[Hit]]:
        def one(q: str) -> list[Hit]:
            hits = self.search(q, k)
            if progress:
                progress(1)
            return hits

        with ThreadPoolExecutor(max_workers=self.http.concurrency) as pool:
            return list(pool.map(one, queries))

    def describe(self) -> dict[str, str]:
        return {"url": self.http.url.split("?")[0]}

    def close(self) -> None:
        self.client.close()


def make_http(engine: LoadedEngine, project: Project) -> SearchBackend:
    return HttpBackend(engine, project)
