"""Models of evalharness.toml, and its loader.

Every model forbids unknown keys; a validation error becomes one line naming the file,
the key and what is allowed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, PrivateAttr, field_validator, model_validator

from evalharness.config.base import Strict, load_model

DEFAULT_METRICS = ["nDCG@10", "P(rel=1)@10", "P(rel=2)@10", "RR(rel=2)", "Judged@10"]
DEFAULT_PRIVACY_PATTERNS = {
    "email": r"[^@\s]+@[^@\s]+\.[a-z]{2,}",
    "card": r"\b(?:\d[ -]?){13,}\b",  # every digit run of 13 or more: the validator finds the card number in it
    "phone": r"^\+?[\d\s().-]{7,}$",
    "order_id": r"\b(?:order|ord)[\s#:.-]*(?:(?:no|nr|number)\.?[\s#:.-]*)?(?:\d{2,4}[-/])*\d{5,}\b|#\s*\d{5,}\b",
}


class StoreConfig(Strict):
    # Any SQLAlchemy URL: a SQLite file (relative paths are relative to the project) or postgresql+psycopg://… for a team
    url: str = "sqlite:///.evalharness/cache.db"


class PriceConfig(Strict):
    """`[prices."MODEL"]`: USD per million tokens; overrides the built-in table (evalharness/llm/prices.py)."""

    # USD per million input tokens
    input_per_mtok: float = Field(ge=0)
    # USD per million output tokens
    output_per_mtok: float = Field(ge=0)
    # USD per million cached input tokens (default: the input price)
    cached_input_per_mtok: float | None = Field(default=None, ge=0)
    # The provider's batch API price as a share of the above (OpenAI, Gemini and Anthropic all charge half).
    batch_discount: float = Field(default=0.5, gt=0, le=1)


class JudgeConfig(Strict):
    # offline | openai:MODEL | gemini:MODEL | anthropic:MODEL | vote(a, b, …) | cascade(cheap, strong, min_confidence=T) | a plugin's name
    spec: str = "offline"
    # what the judge sees: the product text, its image too, or a caption of the image
    mode: Literal["text", "image", "caption"] = "text"
    # sampling temperature (part of the judge id)
    temperature: float = Field(default=0.0, ge=0, le=2)
    # requests in flight at once
    max_concurrency: int = Field(default=16, ge=1, le=1024)
    # the environment variable holding the API key (never the key itself); default: the provider's usual one
    api_key_env: str = ""
    # an OpenAI-compatible server (vLLM, llama.cpp, Ollama, Azure) or a Gemini endpoint
    base_url: str = ""
    # seconds one request may take
    timeout_s: float = Field(default=60.0, gt=0)
    # retries of a failed call (429, 5xx, timeouts), with backoff
    max_retries: int = Field(default=4, ge=0, le=20)
    # client-side rate limit; 0 = none
    requests_per_minute: int = Field(default=0, ge=0)
    # client-side token rate limit; 0 = none
    tokens_per_minute: int = Field(default=0, ge=0)
    # characters of the product description the judge sees (part of the judge id)
    description_budget: int = Field(default=600, ge=0)
    # images are downscaled to this many pixels on their longer side before sending
    image_max_side: int = Field(default=512, ge=32, le=4096)
    # caption mode: the model that writes the caption (default: the judge's)
    caption_model: str = ""
    # Caption mode: models that vote whether a caption is informative for the query ("openai:m" or "vote(a, b, c)");
    # an uninformative caption is dropped and the pair judged on its text only (the decision is cached).
    caption_check: str = ""
    image_fallback: Literal["text", "fail"] = "text"  # an image that cannot be read: judge the text, or fail the pair
    # Where the judgment's rationale goes in the structured answer: before the label (chain of thought), after, or none.
    reasoning: Literal["before", "after", "none"] = "before"
    # Few-shot examples (JSONL: query, product fields or doc_id, label, rationale); up to examples_per_label per label.
    examples: str = ""
    # few-shot examples per label taken from `examples`
    examples_per_label: int = Field(default=1, ge=0, le=10)
    # Anthropic: structured output by a forced tool call or by JSON in the text.
    structured: Literal["tool", "json"] = "tool"
    # Ensembles: spec = "vote" takes these members (or write spec = "vote(a, b, c)"); samples > 1 = self-consistency.
    ensemble: list[str] = Field(default_factory=list)
    # how a vote breaks a tie: lowest (the lower gain), highest, or first
    tie: str = "lowest"
    # self-consistency: samples per member at a temperature above 0
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
    # the label's name (letters, digits, - and _)
    name: str = Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_-]+$")
    # its qrels gain (an integer)
    gain: int = Field(ge=0)
    # one line the prompts and the rating page show
    definition: str = Field(min_length=1, max_length=300)
    colour: str = Field(default="", pattern=r"^(#[0-9a-fA-F]{6})?$")
    # which three-level label it stands for (for measures such as AttrMatch)
    anchor: Literal["", "irrelevant", "substitute", "relevant"] = ""
    synonyms: list[str] = Field(default_factory=list, max_length=20)  # other words a model may answer for this label


class LabelsConfig(Strict):
    """`[labels]`: the label scheme (names, integer gains, definitions); see evalharness/labels/schemes.py."""

    # the label scheme: names, gains and definitions every prompt, qrels and report read
    scheme: Literal["three-level", "esci", "graded-0-3", "binary", "custom"] = "three-level"
    # override a built-in scheme's gains, e.g. {relevant = 3}
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

    # offline (scikit-image measurements) | openai:MODEL | gemini:MODEL | anthropic:MODEL
    scorer: str = "offline"
    # LLM scorers: the guided prompt (lists the aspects shoppers care about) or a generic one
    prompt: Literal["guided", "generic"] = "guided"
    # images are downscaled to this many pixels on their longer side before scoring
    image_max_side: int = Field(default=512, ge=32, le=4096)
    # images scored at once
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
    # who drafts missing guidelines: offline (catalog vocabulary) | openai:MODEL | gemini:MODEL | anthropic:MODEL
    writer: str = "offline"
    # the catalog whose vocabulary the offline writer uses: demo or a JSONL path
    catalog: str = "demo"


class RunConfig(Strict):
    # hits judged per query (an engine config's top_k wins)
    top_k: int = Field(default=10, ge=1, le=1000)
    # the query set CSV (id,query,count,segment) runs use by default
    queries: str = "queries/demo.csv"
    # measures in ir-measures' string form (nDCG@10, P(rel=2)@10, Judged@10) and evalharness' own (VQ@10, LowQ@10, AttrMatch(color)@10, ReqMet@10)
    metrics: list[str] = Field(default_factory=lambda: list(DEFAULT_METRICS))

    @field_validator("metrics")
    @classmethod
    def _valid_metrics(cls, value: list[str]) -> list[str]:
        from evalharness.metrics.ir import parse_measures

        parse_measures(value)
        return value


class GateRule(Strict):
    # the measure the rule watches (its direction decides what a drop is)
    metric: str
    # the largest drop allowed, absolute
    max_drop: float | None = Field(default=None, ge=0)
    # the largest drop allowed, as a share of the baseline
    max_relative_drop: float | None = Field(default=None, ge=0)
    # a drop fails only when significant at this level (Holm-corrected paired randomization test)
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
    # share of the candidate's hits that must carry a label (a label source's holes count)
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
    # Processes a large comparison is scored on: 0 = one per core the machine leaves idle (faster, about a tenth to a
    # fifth more CPU in all); 1 = this process only (least CPU: shared CI runners); N = up to N, idle cores or not.
    workers: int = Field(default=0, ge=0)


class ChecksConfig(Strict):
    """Rule checks without an LLM; `enabled` None means every built-in and every installed plugin."""

    # rule checks to run (duplicates, price_outliers, zero_results, few_results, wrong_type_above); default: all
    enabled: list[str] | None = None
    # title similarity from which two hits count as duplicates
    duplicate_similarity: float = Field(default=0.92, gt=0, le=1)
    # robust z-score beyond which a price is an outlier
    price_z: float = Field(default=3.5, gt=0)
    # ratio to the list's median price beyond which a price is an outlier
    price_ratio: float = Field(default=2.5, ge=1)
    # fewer hits than this is a few_results finding
    min_results: int = Field(default=3, ge=1)


class PrivacyConfig(Strict):
    # name -> regular expression of what `queries pull` scrubs from logged queries
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




def load_project_config(root: Path) -> ProjectConfig:
    """Read evalharness.toml from a project folder (defaults if the file is absent)."""
    path = root / "evalharness.toml"
    config = load_model(path, ProjectConfig) if path.exists() else ProjectConfig()
    config._root = root
    return config

