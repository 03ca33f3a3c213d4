"""Models of engines/NAME.toml: one engine configuration and its backend's section."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from evalharness.config.base import Strict


class FieldValueFactor(Strict):
    """Rescore the BM25 top `window` by a numeric product field, like Elasticsearch's field_value_factor:
    score * (1 + factor * modifier(value)); a missing or non-numeric value counts as 0."""

    # the numeric field that scales the score (e.g. sales)
    field: str
    # its multiplier
    factor: float = Field(default=1.0, ge=0)
    # none, log1p or sqrt applied to the field's value
    modifier: Literal["none", "log1p", "sqrt"] = "none"
    # only the top hits of this many are rescored
    window: int = Field(default=100, ge=1, le=10_000)


class TantivyConfig(Strict):
    # the catalog to index: demo or a JSONL path
    catalog: str = "demo"
    # fields searched with BM25
    fields: list[str] = Field(default_factory=lambda: ["title"], min_length=1)
    # field -> boost
    boosts: dict[str, float] = Field(default_factory=dict)
    # fields matched with one edit of tolerance
    fuzzy: list[str] = Field(default_factory=list)
    # every query term must match (AND) instead of any (OR)
    conjunction: bool = False
    field_value_factor: FieldValueFactor | None = None

    @field_validator("fields", "fuzzy")
    @classmethod
    def _known_fields(cls, value: list[str]) -> list[str]:
        from evalharness.models import SEARCHABLE_FIELDS

        for name in value:
            if name not in SEARCHABLE_FIELDS:
                raise ValueError(f"unknown field {name!r}; allowed: {', '.join(SEARCHABLE_FIELDS)}")
        return value


class ConnectionConfig(Strict):
    # cluster URLs
    hosts: list[str] = Field(default_factory=lambda: ["http://127.0.0.1:9200"], min_length=1)
    # environment variable holding an API key
    api_key_env: str = ""
    # environment variable holding the user name
    username_env: str = ""
    # environment variable holding the password
    password_env: str = ""
    # verify TLS certificates
    verify_certs: bool = True
    # a CA bundle file
    ca_certs: str = ""
    # seconds one request may take
    timeout_s: float = Field(default=10.0, gt=0)
    # retries of a failed request
    max_retries: int = Field(default=3, ge=0)


class QueryConfig(Strict):
    # the query DSL as a JSON template with {{query}} and {{k}}
    template: str = ""
    # more template parameters
    params: dict[str, Any] = Field(default_factory=dict)
    # a stored search template to call instead
    search_template_id: str = ""
    # filter clauses added to every query
    filters: list[dict[str, Any]] = Field(default_factory=list)
    # queries per _msearch request
    batch_size: int = Field(default=50, ge=1, le=1000)
    # _msearch requests in flight
    concurrency: int = Field(default=4, ge=1, le=64)


class IndexMappingConfig(Strict):
    # fields indexed as text by `evalharness index`
    text_fields: list[str] = Field(
        default_factory=lambda: ["title", "description", "brand", "color", "category", "product_type", "material", "audience"]
    )
    # fields indexed as keywords
    keyword_fields: list[str] = Field(default_factory=lambda: ["size", "degradation"])
    # primary shards of the index
    shards: int = Field(default=1, ge=1)


class HttpConfig(Strict):
    # the search API's URL with {query} and {k}
    url: str
    # GET or POST
    method: Literal["GET", "POST"] = "GET"
    # fixed request headers
    headers: dict[str, str] = Field(default_factory=dict)
    # header -> environment variable holding its value (secrets)
    header_envs: dict[str, str] = Field(default_factory=dict)
    # a POST body template with {query} and {k}
    body: str = ""
    # JSONPath to the list of hits in the response
    hits_path: str = "$.hits[*]"
    # seconds one request may take
    timeout_s: float = Field(default=10.0, gt=0)
    # requests in flight
    concurrency: int = Field(default=8, ge=1, le=256)
    max_retries: int = Field(default=3, ge=0, le=10)  # timeouts, dropped connections, 429 and 5xx
    backoff_s: float = Field(default=0.5, ge=0, le=60)  # first retry's delay; doubles per attempt, jittered


class FileBackendConfig(Strict):
    """`[file]`: rankings made elsewhere (TREC run or `query,doc_id,rank` CSV) and the catalog their ids refer to."""

    # the rankings: a TREC run or a query,doc_id,rank CSV
    run: str
    # the catalog the ranked ids refer to (JSONL)
    catalog: str
    # trec or csv (default: from the file)
    format: Literal["trec", "csv", ""] = ""
    # a query set mapping the run's query ids to text
    queries: str = ""


BUILTIN_BACKENDS = ("tantivy", "elasticsearch", "opensearch", "http", "file")
HIT_FIELDS = ("doc_id", "title", "description", "brand", "color", "category", "price", "image_url", "score")


class EngineConfig(Strict):
    # what this configuration is, shown in reports
    description: str = ""
    # tantivy | elasticsearch | opensearch | http | file, or a plugin's name (entry point group evalharness.backends)
    backend: str = "tantivy"
    # hits judged per query for this engine (default: [run] top_k)
    top_k: int | None = Field(default=None, ge=1, le=1000)
    # the index name (Elasticsearch, OpenSearch)
    index: str = ""
    tantivy: TantivyConfig | None = None
    connection: ConnectionConfig | None = None
    query: QueryConfig | None = None
    mapping: IndexMappingConfig | None = None
    # hit field -> the source field it comes from (Elasticsearch, OpenSearch, HTTP)
    fields: dict[str, str] = Field(default_factory=dict)
    # free attribute -> the source field it comes from
    attributes: dict[str, str] = Field(default_factory=dict)
    http: HttpConfig | None = None
    file: FileBackendConfig | None = None
    options: dict[str, Any] = Field(default_factory=dict)  # a plugin backend's own settings ([options])

    @field_validator("backend")
    @classmethod
    def _known_backend(cls, value: str) -> str:
        if value in BUILTIN_BACKENDS:
            return value
        from importlib.metadata import entry_points

        if any(ep.name == value for ep in entry_points(group="evalharness.backends")):
            return value
        raise ValueError(f"unknown backend {value!r}; use one of: {', '.join(BUILTIN_BACKENDS)} (or install a plugin that "
                         "registers it in the 'evalharness.backends' entry point group)")

    @field_validator("fields")
    @classmethod
    def _known_hit_fields(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if name not in HIT_FIELDS:
                raise ValueError(f"unknown hit field {name!r}; allowed: {', '.join(HIT_FIELDS)}")
        return value

    @model_validator(mode="after")
    def _sections_fit_backend(self) -> "EngineConfig":
        if self.backend == "tantivy" and self.tantivy is None:
            self.tantivy = TantivyConfig()
        if self.backend in ("elasticsearch", "opensearch"):
            if not self.index:
                raise ValueError(f"backend {self.backend!r} needs 'index'")
            if self.connection is None:
                self.connection = ConnectionConfig()
            if self.query is None or not (self.query.template or self.query.search_template_id):
                raise ValueError("needs [query] with 'template' or 'search_template_id'")
            if self.mapping is None:
                self.mapping = IndexMappingConfig()
        if self.backend == "file" and self.file is None:
            raise ValueError("backend 'file' needs a [file] section with 'run' (TREC run or CSV) and 'catalog'")
        if self.backend == "http" and self.http is None:
            raise ValueError("backend 'http' needs an [http] section with 'url'")
        return self


