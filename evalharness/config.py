"""Pydantic models for evalharness.toml and engines/*.toml, and their loaders.

Every model forbids unknown keys; a validation error becomes one line naming the file,
the key and what is allowed.
"""

from __future__ import annotations

import os

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

from evalharness.errors import EvalHarnessError, register_secret

DEFAULT_METRICS = ["nDCG@10", "P(rel=1)@10", "P(rel=2)@10", "RR(rel=2)", "Judged@10"]
DEFAULT_PRIVACY_PATTERNS = {
    "email": r"[^@\s]+@[^@\s]+\.[a-z]{2,}",
    "card": r"\b(?:\d[ -]?){13,}\b",  # every digit run of 13 or more: the validator finds the card number in it
    "phone": r"^\+?[\d\s().-]{7,}$",
    "order_id": r"\b(?:order|ord)[\s#:.-]*(?:(?:no|nr|number)\.?[\s#:.-]*)?(?:\d{2,4}[-/])*\d{5,}\b|#\s*\d{5,}\b",
}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StoreConfig(Strict):
    url: str = "sqlite:///.evalharness/cache.db"


class PriceConfig(Strict):
    """`[prices."MODEL"]`: USD per million tokens; overrides the built-in table (evalharness/llm/prices.py)."""

    input_per_mtok: float = Field(ge=0)
    output_per_mtok: float = Field(ge=0)
    cached_input_per_mtok: float | None = Field(default=None, ge=0)
    # The provider's batch API price as a share of the above (OpenAI, Gemini and Anthropic all charge half).
    batch_discount: float = Field(default=0.5, gt=0, le=1)


class JudgeConfig(Strict):
    spec: str = "offline"
    mode: Literal["text", "image", "caption"] = "text"
    temperature: float = Field(default=0.0, ge=0, le=2)
    max_concurrency: int = Field(default=16, ge=1, le=1024)
    api_key_env: str = ""
    base_url: str = ""
    timeout_s: float = Field(default=60.0, gt=0)
    max_retries: int = Field(default=4, ge=0, le=20)
    requests_per_minute: int = Field(default=0, ge=0)
    tokens_per_minute: int = Field(default=0, ge=0)
    description_budget: int = Field(default=600, ge=0)
    image_max_side: int = Field(default=512, ge=32, le=4096)
    caption_model: str = ""
    # Caption mode: models that vote whether a caption is informative for the query ("openai:m" or "vote(a, b, c)");
    # an uninformative caption is dropped and the pair judged on its text only (the decision is cached).
    caption_check: str = ""
    image_fallback: Literal["text", "fail"] = "text"  # an image that cannot be read: judge the text, or fail the pair
    # Where the judgment's rationale goes in the structured answer: before the label (chain of thought), after, or none.
    reasoning: Literal["before", "after", "none"] = "before"
    # Few-shot examples (JSONL: query, product fields or doc_id, label, rationale); up to examples_per_label per label.
    examples: str = ""
    examples_per_label: int = Field(default=1, ge=0, le=10)
    # Anthropic: structured output by a forced tool call or by JSON in the text.
    structured: Literal["tool", "json"] = "tool"
    # Ensembles: spec = "vote" takes these members (or write spec = "vote(a, b, c)"); samples > 1 = self-consistency.
    ensemble: list[str] = Field(default_factory=list)
    tie: str = "lowest"
    samples: int = Field(default=1, ge=1, le=25)
    # Confidence: ask OpenAI(-compatible) and Gemini models for the label tokens' log-probabilities (this many top
    # alternatives per token; 0 = off). Part of the judge id: judgments with and without confidence are cached apart.
    logprobs: int = Field(default=0, ge=0, le=20)
    # Provider batch APIs (`run --batch`): judge through the batch service at its price, results collected later.
    batch: bool = False
    batch_max_requests: int = Field(default=0, ge=0)  # per batch; 0 = the provider's limit
    batch_max_mb: float = Field(default=0, ge=0)  # per batch input file; 0 = the provider's limit
    batch_max_attempts: int = Field(default=3, ge=1, le=10)  # sends of one pair (errors, expiry) before it is failed
    batch_poll_s: float = Field(default=30.0, gt=0)  # how often `--wait` asks the provider


class CustomLabel(Strict):
    name: str = Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_-]+$")
    gain: int = Field(ge=0)
    definition: str = Field(min_length=1, max_length=300)
    colour: str = Field(default="", pattern=r"^(#[0-9a-fA-F]{6})?$")
    anchor: Literal["", "irrelevant", "substitute", "relevant"] = ""
    synonyms: list[str] = Field(default_factory=list, max_length=20)  # other words a model may answer for this label


class LabelsConfig(Strict):
    """`[labels]`: the label scheme (names, integer gains, definitions); see evalharness/labels/schemes.py."""

    scheme: Literal["three-level", "esci", "graded-0-3", "binary", "custom"] = "three-level"
    gains: dict[str, int] = Field(default_factory=dict)
    custom: list[CustomLabel] = Field(default_factory=list)

    @field_validator("gains", mode="before")
    @classmethod
    def _integer_gains(cls, value: Any) -> Any:
        for name, gain in (value or {}).items():
            if not isinstance(gain, int) or isinstance(gain, bool) or gain < 0:
                raise ValueError(f"gain of {name!r} must be a non-negative integer (qrels are integers; nDCG is unchanged "
                                 "by scaling, so write ESCI's 1/0.1/0.01/0 as 100/10/1/0)")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> "LabelsConfig":
        from evalharness.labels.schemes import BUILTIN

        if self.scheme == "custom":
            names = [c.name for c in self.custom]
            if len(names) < 2 or len(set(names)) != len(names):
                raise ValueError("scheme 'custom' needs at least two [[labels.custom]] entries with distinct names")
            if self.gains:
                raise ValueError("with scheme 'custom' put each gain in its [[labels.custom]] entry, not in gains")
        else:
            if self.custom:
                raise ValueError(f"[[labels.custom]] entries need scheme = \"custom\" (scheme is {self.scheme!r})")
            unknown = sorted(set(self.gains) - set(BUILTIN[self.scheme].names))
            if unknown:
                raise ValueError(f"gains name {', '.join(unknown)}, not labels of {self.scheme!r} "
                                 f"({', '.join(BUILTIN[self.scheme].names)})")
        return self


class ImagesConfig(Strict):
    """[images]: the image-quality scorer behind `images score` and VQ@k / LowQ@k (LLM scorers use [judge]'s
    api_key_env, base_url, timeout_s and temperature)."""

    scorer: str = "offline"
    prompt: Literal["guided", "generic"] = "guided"
    image_max_side: int = Field(default=512, ge=32, le=4096)
    max_concurrency: int = Field(default=8, ge=1, le=256)


class BehaviourConfig(Strict):
    """[behaviour]: implicit labels from a search log (`labels implicit`); see evalharness/labels/implicit.py."""

    estimate: Literal["coec", "pbm"] = "coec"  # clicks over expected clicks (SRW), or a position-based click model's attractiveness
    max_rank: int = Field(default=20, ge=1, le=1000)  # only events at positions 0..max_rank-1 count
    min_impressions: int = Field(default=10, ge=1)  # a pair shown fewer times keeps its evidence but gets no label
    cart_weight: float = Field(default=1.0, ge=0)  # an add-to-cart counts as this many clicks in the estimate
    purchase_weight: float = Field(default=3.0, ge=0)  # a purchase counts as this many clicks (0 and 0: SRW's COEC)
    thresholds: list[float] = Field(default_factory=list)  # n-1 ascending cut points for n labels; [] = coec 0.5, 1.0 / pbm 0.05, 0.2


class GuidelineConfig(Strict):
    writer: str = "offline"
    catalog: str = "demo"


class RunConfig(Strict):
    top_k: int = Field(default=10, ge=1, le=1000)
    queries: str = "queries/demo.csv"
    metrics: list[str] = Field(default_factory=lambda: list(DEFAULT_METRICS))

    @field_validator("metrics")
    @classmethod
    def _valid_metrics(cls, value: list[str]) -> list[str]:
        from evalharness.metrics.ir import parse_measures

        parse_measures(value)
        return value


class GateRule(Strict):
    metric: str
    max_drop: float | None = Field(default=None, ge=0)
    max_relative_drop: float | None = Field(default=None, ge=0)
    alpha: float | None = Field(default=None, gt=0, lt=1)

    @model_validator(mode="after")
    def _needs_a_bound(self) -> "GateRule":
        if self.max_drop is None and self.max_relative_drop is None:
            raise ValueError("a gate rule needs max_drop or max_relative_drop")
        return self


TRUST_STATISTICS = {"min_kappa": "kappa", "min_kappa_linear": "kappa_linear", "min_kappa_quadratic": "kappa_quadratic",
                    "min_alpha": "alpha_ordinal"}


class TrustConfig(Strict):
    """[gate.trust]: the reference label source that measures the judge, the agreement it must reach, and whether
    gate rules decide on deltas corrected by that source's gold queries."""

    source: str = Field(min_length=1)  # e.g. "human:gold"
    min_kappa: float | None = Field(default=None, ge=-1, le=1)  # the judge is trusted when kappa's 95% CI is at or above it
    min_kappa_linear: float | None = Field(default=None, ge=-1, le=1)  # or linear-weighted kappa (give one minimum)
    min_kappa_quadratic: float | None = Field(default=None, ge=-1, le=1)  # or quadratic-weighted kappa
    min_alpha: float | None = Field(default=None, ge=-1, le=1)  # Krippendorff's ordinal alpha
    use_corrected: bool = True  # gate rules on the corrected deltas (else on the judge's, when the judge is trusted)
    max_agreement_drop: float = Field(default=0.05, ge=0, le=2)  # drift canary: a new judge may lose at most this much

    @field_validator("source")
    @classmethod
    def _reference(cls, value: str) -> str:
        if not value.startswith(("human:", "behaviour:")) or not value.partition(":")[2].strip():
            raise ValueError(f"source {value!r}: name a reference label source, e.g. \"human:gold\"")
        return value

    @model_validator(mode="after")
    def _one_minimum(self) -> "TrustConfig":
        if sum(getattr(self, k) is not None for k in TRUST_STATISTICS) > 1:
            raise ValueError(f"give one minimum agreement: {', '.join(TRUST_STATISTICS)}")
        return self

    @property
    def statistic(self) -> tuple[str, float | None]:
        """The agreement statistic gated on and its minimum (kappa, no minimum, when none is set)."""
        key = next((k for k in TRUST_STATISTICS if getattr(self, k) is not None), "min_kappa")
        return TRUST_STATISTICS[key], getattr(self, key)


class GateConfig(Strict):
    rules: list[GateRule] = Field(default_factory=list)
    trust: TrustConfig | None = None
    min_judged: float = Field(default=0.0, ge=0, le=1)
    # Share of the baseline's queries the compared runs must share; below it the gate fails.
    min_overlap: float = Field(default=0.95, ge=0, le=1)
    # Fewest compared queries for the gate to pass (0: no minimum).
    min_queries: int = Field(default=0, ge=0)
    max_findings: dict[str, int] = Field(default_factory=dict)  # "duplicates@10" -> most findings the candidate may have

    @field_validator("max_findings")
    @classmethod
    def _check_at_k(cls, value: dict[str, int]) -> dict[str, int]:
        for key, limit in value.items():
            name, _, k = key.partition("@")
            if not name or not k.isdigit() or int(k) < 1 or limit < 0:
                raise ValueError(f"{key!r} = {limit}: use \"<check>@<k>\" = <max findings>, e.g. \"duplicates@10\" = 0")
        return value


class CompareConfig(Strict):
    # none: every query counts once; traffic: queries weigh by their log count in every mean, CI and test.
    weight: Literal["none", "traffic"] = "none"
    # Measures reported but left out of the Holm correction (by name before '@' or '(').
    holm_exclude: list[str] = Field(default_factory=lambda: ["Judged"])
    # A reference label source (e.g. "human:gold") whose gold queries correct every comparison (PPI++); "" = none.
    correct_with: str = ""


class ChecksConfig(Strict):
    """Rule checks without an LLM; `enabled` None means every built-in and every installed plugin."""

    enabled: list[str] | None = None
    duplicate_similarity: float = Field(default=0.92, gt=0, le=1)
    price_z: float = Field(default=3.5, gt=0)
    price_ratio: float = Field(default=2.5, ge=1)
    min_results: int = Field(default=3, ge=1)


class PrivacyConfig(Strict):
    patterns: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_PRIVACY_PATTERNS))


class ProjectConfig(Strict):
    store: StoreConfig = Field(default_factory=StoreConfig)
    judge: JudgeConfig = Field(default_factory=JudgeConfig)
    images: ImagesConfig = Field(default_factory=ImagesConfig)
    behaviour: BehaviourConfig = Field(default_factory=BehaviourConfig)
    guidelines: GuidelineConfig = Field(default_factory=GuidelineConfig)
    labels: LabelsConfig = Field(default_factory=LabelsConfig)
    run: RunConfig = Field(default_factory=RunConfig)
    gate: GateConfig = Field(default_factory=GateConfig)
    compare: CompareConfig = Field(default_factory=CompareConfig)
    privacy: PrivacyConfig = Field(default_factory=PrivacyConfig)
    checks: ChecksConfig = Field(default_factory=ChecksConfig)
    prices: dict[str, PriceConfig] = Field(default_factory=dict)
    _root: Path | None = PrivateAttr(default=None)

    @property
    def root(self) -> Path | None:
        """The project folder this config was read from (None for a config built in code): project prompts live there."""
        return self._root


class FieldValueFactor(Strict):
    """Rescore the BM25 top `window` by a numeric product field, like Elasticsearch's field_value_factor:
    score * (1 + factor * modifier(value)); a missing or non-numeric value counts as 0."""

    field: str
    factor: float = Field(default=1.0, ge=0)
    modifier: Literal["none", "log1p", "sqrt"] = "none"
    window: int = Field(default=100, ge=1, le=10_000)


class TantivyConfig(Strict):
    catalog: str = "demo"
    fields: list[str] = Field(default_factory=lambda: ["title"], min_length=1)
    boosts: dict[str, float] = Field(default_factory=dict)
    fuzzy: list[str] = Field(default_factory=list)
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
    hosts: list[str] = Field(default_factory=lambda: ["http://127.0.0.1:9200"], min_length=1)
    api_key_env: str = ""
    username_env: str = ""
    password_env: str = ""
    verify_certs: bool = True
    ca_certs: str = ""
    timeout_s: float = Field(default=10.0, gt=0)
    max_retries: int = Field(default=3, ge=0)


class QueryConfig(Strict):
    template: str = ""
    params: dict[str, Any] = Field(default_factory=dict)
    search_template_id: str = ""
    filters: list[dict[str, Any]] = Field(default_factory=list)
    batch_size: int = Field(default=50, ge=1, le=1000)
    concurrency: int = Field(default=4, ge=1, le=64)


class IndexMappingConfig(Strict):
    text_fields: list[str] = Field(
        default_factory=lambda: ["title", "description", "brand", "color", "category", "product_type", "material", "audience"]
    )
    keyword_fields: list[str] = Field(default_factory=lambda: ["size", "degradation"])
    shards: int = Field(default=1, ge=1)


class HttpConfig(Strict):
    url: str
    method: Literal["GET", "POST"] = "GET"
    headers: dict[str, str] = Field(default_factory=dict)
    header_envs: dict[str, str] = Field(default_factory=dict)
    body: str = ""
    hits_path: str = "$.hits[*]"
    timeout_s: float = Field(default=10.0, gt=0)
    concurrency: int = Field(default=8, ge=1, le=256)
    max_retries: int = Field(default=3, ge=0, le=10)  # timeouts, dropped connections, 429 and 5xx
    backoff_s: float = Field(default=0.5, ge=0, le=60)  # first retry's delay; doubles per attempt, jittered


class FileBackendConfig(Strict):
    """`[file]`: rankings made elsewhere (TREC run or `query,doc_id,rank` CSV) and the catalog their ids refer to."""

    run: str
    catalog: str
    format: Literal["trec", "csv", ""] = ""
    queries: str = ""


BUILTIN_BACKENDS = ("tantivy", "elasticsearch", "opensearch", "http", "file")
HIT_FIELDS = ("doc_id", "title", "description", "brand", "color", "category", "price", "image_url", "score")


class EngineConfig(Strict):
    description: str = ""
    # tantivy | elasticsearch | opensearch | http | file, or a plugin's name (entry point group evalharness.backends)
    backend: str = "tantivy"
    top_k: int | None = Field(default=None, ge=1, le=1000)
    index: str = ""
    tantivy: TantivyConfig | None = None
    connection: ConnectionConfig | None = None
    query: QueryConfig | None = None
    mapping: IndexMappingConfig | None = None
    fields: dict[str, str] = Field(default_factory=dict)
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


def _allowed_keys(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    current: Any = model
    for part in loc[:-1]:
        if isinstance(part, int) or current is None:
            continue
        field = current.model_fields.get(part) if hasattr(current, "model_fields") else None
        if field is None:
            return []
        current = _model_of(field.annotation)
    return sorted(current.model_fields) if current is not None and hasattr(current, "model_fields") else []


def _model_of(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _model_of(arg)
        if found is not None:
            return found
    return None


def describe_validation_error(path: Path | str, model: type[BaseModel], exc: ValidationError) -> str:
    """Turn the first pydantic error into one actionable line."""
    err = exc.errors()[0]
    loc = tuple(err.get("loc", ()))
    key = ".".join(str(p) for p in loc) or "(top level)"
    if err["type"] == "extra_forbidden":
        allowed = _allowed_keys(model, loc)
        hint = f"; allowed keys here: {', '.join(allowed)}" if allowed else ""
        return f"{path}: unknown key '{key}'{hint}"
    msg = err["msg"].removeprefix("Value error, ")
    more = f" (and {len(exc.errors()) - 1} more problem(s))" if len(exc.errors()) > 1 else ""
    return f"{path}: key '{key}': {msg}{more}"


def read_toml(path: Path) -> dict[str, Any]:
    """Parse a TOML file, turning syntax errors into one line."""
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise EvalHarnessError(f"{path}: file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise EvalHarnessError(f"{path}: not valid TOML ({exc}); fix the syntax") from None
    except UnicodeDecodeError as exc:
        raise EvalHarnessError(f"{path}: not UTF-8 (byte 0x{exc.object[exc.start]:02x}); TOML files are UTF-8, re-save it so") from None


def load_model(path: Path, model: type[BaseModel], data: dict[str, Any] | None = None) -> Any:
    """Validate TOML data against a model; errors name the file and the key."""
    raw = read_toml(path) if data is None else data
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise EvalHarnessError(describe_validation_error(path, model, exc)) from None


def load_project_config(root: Path) -> ProjectConfig:
    """Read evalharness.toml from a project folder (defaults if the file is absent)."""
    path = root / "evalharness.toml"
    config = load_model(path, ProjectConfig) if path.exists() else ProjectConfig()
    config._root = root
    return config


def env_secret(var: str, purpose: str) -> str:
    """Read a secret from the environment variable named in config; never log its value."""
    value = os.environ.get(var, "")
    if not value:
        raise EvalHarnessError(f"{purpose} needs the environment variable {var}; export {var}=... and run again")
    register_secret(value)
    return value
