"""Elasticsearch and OpenSearch backends sharing query building, batched _msearch and error handling.

The query is a jinja2 template of query DSL (`{{ query | tojson }}` and named params) or a stored
search template id; hits map to Hit fields through dotted paths into `_source` (or `_id`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from itertools import islice
from pathlib import Path
from typing import Any

import jinja2

from evalharness.backends.base import ProgressFn, SearchBackend, mapped_hit
from evalharness.catalog.products import iter_products
from evalharness.config import EngineConfig, env_secret
from evalharness.errors import EvalHarnessError
from evalharness.models import Hit
from evalharness.project import LoadedEngine, Project

DEFAULT_FIELDS = {"doc_id": "_id", "title": "title", "description": "description", "brand": "brand", "color": "color",
                  "category": "category", "price": "price", "image_url": "image_url"}
_TEMPLATES = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)  # noqa: S701 - renders JSON, not HTML


def lookup(doc: dict[str, Any], path: str) -> Any:
    """Value at a dotted path ('a.b.c'); None when any step is missing; lists give their first element."""
    current: Any = doc
    for part in path.split("."):
        if isinstance(current, list):
            current = current[0] if current else None
        if not isinstance(current, dict):
            return None
        current = current.get(part)
    return current


def render_query(cfg: EngineConfig, query: str, k: int) -> dict[str, Any]:
    """The search body for one query: the rendered template, filters added, size and _source set."""
    assert cfg.query is not None
    try:
        text = _TEMPLATES.from_string(cfg.query.template).render(query=query, k=k, **cfg.query.params)
        body = json.loads(text)
    except jinja2.TemplateError as exc:
        raise EvalHarnessError(f"the [query] template does not render ({type(exc).__name__}: {exc}); "
                               "use {{ query | tojson }} and define every param under [query.params]") from None
    except json.JSONDecodeError as exc:
        raise EvalHarnessError(f"the [query] template does not render to JSON ({exc.msg} at char {exc.pos}); "
                               "quote the query with {{ query | tojson }}") from None
    if not isinstance(body, dict):
        raise EvalHarnessError("the [query] template must render to a JSON object (a search body)")
    if "query" not in body:
        body = {"query": body}
    if cfg.query.filters:
        body["query"] = {"bool": {"must": [body["query"]], "filter": list(cfg.query.filters)}}
    body["size"] = k
    return body


class ClusterBackend(SearchBackend):
    """Shared by Elasticsearch and OpenSearch; subclasses build the client and name their exceptions."""

    flavour = "opensearch"

    def __init__(self, engine: LoadedEngine, project: Project | None = None) -> None:
        self.cfg = engine.config
        assert self.cfg.connection is not None and self.cfg.query is not None
        self.fields = {**DEFAULT_FIELDS, **self.cfg.fields}
        self.client = self.make_client()

    # -- client --------------------------------------------------------------------------
    def auth_kwargs(self) -> dict[str, Any]:
        conn = self.cfg.connection
        assert conn is not None
        kw: dict[str, Any] = {}
        if conn.api_key_env:
            kw["api_key"] = env_secret(conn.api_key_env, f"[connection] api_key_env of the {self.flavour} engine config")
        if conn.username_env or conn.password_env:
            user = env_secret(conn.username_env, "[connection] username_env")
            password = env_secret(conn.password_env, "[connection] password_env")
            kw["http_auth" if self.flavour == "opensearch" else "basic_auth"] = (user, password)
        return kw

    def make_client(self) -> Any:
        raise NotImplementedError

    def error_types(self) -> dict[str, tuple[type[BaseException], ...]]:
        raise NotImplementedError

    # -- errors -------------------------------------------------------------------------------
    @property
    def hosts(self) -> str:
        return ", ".join(self.cfg.connection.hosts) if self.cfg.connection else ""

    def _missing_index(self) -> EvalHarnessError:
        return EvalHarnessError(f"index '{self.cfg.index}' not found on {self.hosts}; run `evalharness index --engine-config ...` "
                                "or fix 'index' in the engine config")

    def translate(self, exc: BaseException) -> EvalHarnessError:
        """One actionable line for a client exception (never the credentials)."""
        kinds = self.error_types()
        hosts = self.hosts
        if isinstance(exc, kinds["connection"]):
            return EvalHarnessError(f"cannot reach {self.flavour} at {hosts} ({type(exc).__name__}); check [connection] hosts "
                                    "and that the cluster is up")
        if isinstance(exc, kinds["auth"]):
            return EvalHarnessError(f"{self.flavour} at {hosts} rejected the credentials ({getattr(exc, 'status_code', '')}); check the "
                                    "environment variables named by [connection] api_key_env / username_env / password_env")
        if isinstance(exc, kinds["not_found"]):
            return self._missing_index()
        reason = str(getattr(exc, "error", "") or exc).splitlines()[0][:200]
        return EvalHarnessError(f"{self.flavour} request failed: {type(exc).__name__}: {reason}; check the engine config's query")

    def _item_error(self, item: dict[str, Any]) -> EvalHarnessError:
        err = item.get("error") or {}
        kind = err.get("type", "") if isinstance(err, dict) else str(err)
        if kind == "index_not_found_exception":
            return self._missing_index()
        reason = err.get("reason", kind) if isinstance(err, dict) else kind
        return EvalHarnessError(f"{self.flavour} rejected the search ({kind}: {str(reason)[:200]}); check the [query] template")

    # -- search -----------------------------------------------------------------------------------
    def _header_and_body(self, query: str, k: int) -> tuple[dict[str, Any], dict[str, Any]]:
        assert self.cfg.query is not None
        if self.cfg.query.search_template_id:
            return {"index": self.cfg.index}, {"id": self.cfg.query.search_template_id,
                                               "params": {"query": query, "k": k, **self.cfg.query.params}}
        return {"index": self.cfg.index}, render_query(self.cfg, query, k)

    def _field(self, hit: dict[str, Any], name: str) -> Any:
        path = self.fields.get(name, "")
        if path == "_id":
            return hit.get("_id")
        return lookup(hit.get("_source") or {}, path) if path else None

    def _to_hits(self, raw_hits: list[dict[str, Any]]) -> list[Hit]:
        return [mapped_hit(partial(self._field, h), rank, float(h.get("_score") or 0.0),
                           {name: lookup(h.get("_source") or {}, path) for name, path in self.cfg.attributes.items()})
                for rank, h in enumerate(raw_hits, 1)]

    def _msearch(self, queries: Sequence[str], k: int) -> list[list[Hit]]:
        lines: list[dict[str, Any]] = []
        for q in queries:
            lines.extend(self._header_and_body(q, k))
        try:
            if self.cfg.query and self.cfg.query.search_template_id:
                resp = self.client.msearch_template(body=lines)
            else:
                resp = self.client.msearch(body=lines)
        except Exception as exc:  # noqa: BLE001 - every client error becomes one line
            raise self.translate(exc) from None
        out = []
        for item in resp["responses"]:
            if "error" in item:
                raise self._item_error(item)
            out.append(self._to_hits(item["hits"]["hits"]))
        return out

    def search(self, query: str, k: int) -> list[Hit]:
        """One query through the engine's own _search endpoint."""
        header, body = self._header_and_body(query, k)
        try:
            if self.cfg.query and self.cfg.query.search_template_id:
                resp = self.client.search_template(index=self.cfg.index, body=body)
            else:
                resp = self.client.search(index=self.cfg.index, body=body)
        except Exception as exc:  # noqa: BLE001
            raise self.translate(exc) from None
        return self._to_hits(resp["hits"]["hits"])

    def search_many(self, queries: Sequence[str], k: int, progress: ProgressFn | None = None) -> list[list[Hit]]:
        """Batched _msearch with bounded concurrency; results in query order."""
        assert self.cfg.query is not None
        size = self.cfg.query.batch_size
        batches = [list(queries[i:i + size]) for i in range(0, len(queries), size)]

        def run(batch: list[str]) -> list[list[Hit]]:
            result = self._msearch(batch, k)
            if progress:
                progress(len(batch))
            return result

        with ThreadPoolExecutor(max_workers=self.cfg.query.concurrency) as pool:
            return [hits for part in pool.map(run, batches) for hits in part]

    def describe(self) -> dict[str, str]:
        return {"index": self.cfg.index, "hosts": self.hosts}

    def close(self) -> None:
        self.client.close()

    # -- indexing -----------------------------------------------------------------------------------
    def mapping(self) -> dict[str, Any]:
        m = self.cfg.mapping
        assert m is not None
        props: dict[str, Any] = {name: {"type": "text"} for name in m.text_fields}
        props.update({name: {"type": "keyword"} for name in m.keyword_fields})
        props.update({"id": {"type": "keyword"}, "price": {"type": "float"}, "image_url": {"type": "keyword", "index": False}})
        return {"settings": {"number_of_shards": m.shards}, "mappings": {"properties": props}}

    def bulk_load(self, actions: Iterator[dict[str, Any]], progress: ProgressFn | None) -> int:
        raise NotImplementedError

    def index_catalog(self, catalog: Path, progress: ProgressFn | None = None, recreate: bool = False) -> int:
        """Create the index with the engine config's mapping and bulk-load the catalog; an existing index is
        deleted first only with recreate=True (never silently: it may be a production index)."""
        base = catalog.parent
        index = self.cfg.index

        def actions() -> Iterator[dict[str, Any]]:
            for p in iter_products(catalog):
                doc = dict(p)
                image = str(doc.pop("image", "") or doc.get("image_url") or "")
                if image and "://" not in image and not Path(image).is_absolute():
                    image = str(base / image)
                doc["image_url"] = image
                doc.pop("judged", None)
                yield {"_index": index, "_id": str(p["id"]), "_source": doc}

        try:
            if self.client.indices.exists(index=index):
                if not recreate:
                    raise EvalHarnessError(f"index '{index}' already exists on {self.hosts}; "
                                           "pass --recreate to delete and rebuild it, or set another 'index'")
                self.client.indices.delete(index=index)
            self.client.indices.create(index=index, body=self.mapping())
            n = self.bulk_load(actions(), progress)
            self.client.indices.refresh(index=index)
        except EvalHarnessError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise self.translate(exc) from None
        return n


def _bulk(helpers_bulk: Callable[..., Any], client: Any, actions: Iterator[dict[str, Any]], progress: ProgressFn | None) -> int:
    """Bulk-load in chunks of 500, reporting progress per chunk."""
    total = 0
    pending = iter(actions)
    while chunk := list(islice(pending, 500)):
        helpers_bulk(client, chunk, refresh=False)
        total += len(chunk)
        if progress:
            progress(len(chunk))
    return total


class OpenSearchBackend(ClusterBackend):
    flavour = "opensearch"

    def make_client(self) -> Any:
        from opensearchpy import OpenSearch

        conn = self.cfg.connection
        assert conn is not None
        kw = self.auth_kwargs()
        return OpenSearch(hosts=conn.hosts, verify_certs=conn.verify_certs, ca_certs=conn.ca_certs or None, timeout=conn.timeout_s,
                          max_retries=conn.max_retries, retry_on_timeout=True, **kw)

    def error_types(self) -> dict[str, tuple[type[BaseException], ...]]:
        from opensearchpy import exceptions as e

        return {"connection": (e.ConnectionError,), "auth": (e.AuthenticationException, e.AuthorizationException),
                "not_found": (e.NotFoundError,)}

    def bulk_load(self, actions: Iterator[dict[str, Any]], progress: ProgressFn | None) -> int:
        from opensearchpy import helpers

        return _bulk(helpers.bulk, self.client, actions, progress)


class ElasticsearchBackend(ClusterBackend):
    flavour = "elasticsearch"

    def make_client(self) -> Any:
        from elasticsearch import Elasticsearch

        conn = self.cfg.connection
        assert conn is not None
        kw = self.auth_kwargs()
        return Elasticsearch(hosts=conn.hosts, verify_certs=conn.verify_certs, ca_certs=conn.ca_certs or None,
                             request_timeout=conn.timeout_s, max_retries=conn.max_retries, retry_on_timeout=True, **kw)

    def error_types(self) -> dict[str, tuple[type[BaseException], ...]]:
        import elastic_transport
        from elasticsearch import exceptions as e

        return {"connection": (e.ConnectionError, elastic_transport.ConnectionError),
                "auth": (e.AuthenticationException, e.AuthorizationException), "not_found": (e.NotFoundError,)}

    def bulk_load(self, actions: Iterator[dict[str, Any]], progress: ProgressFn | None) -> int:
        from elasticsearch import helpers

        return _bulk(helpers.bulk, self.client, actions, progress)


def make_cluster_backend(engine: LoadedEngine) -> ClusterBackend:
    return ElasticsearchBackend(engine) if engine.config.backend == "elasticsearch" else OpenSearchBackend(engine)


def index_catalog(engine: LoadedEngine, catalog: Path, progress: ProgressFn | None = None, recreate: bool = False) -> int:
    """`evalharness index` for Elasticsearch / OpenSearch engine configs."""
    backend = make_cluster_backend(engine)
    try:
        return backend.index_catalog(catalog, progress, recreate)
    finally:
        backend.close()


def make_opensearch(engine: LoadedEngine, project: Project) -> SearchBackend:
    return OpenSearchBackend(engine, project)


def make_elasticsearch(engine: LoadedEngine, project: Project) -> SearchBackend:
    return ElasticsearchBackend(engine, project)
