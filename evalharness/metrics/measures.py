"""Per-hit measures that ir-measures does not have: a registry, parsed from the same string form.

A measure family (`VQ`, `LowQ`, `AttrMatch`, `ReqMet`, ...) turns per-hit values of a ranked list into one
number per query: `VQ@10` is the mean image score of the top 10, `AttrMatch(color)@10` the share of the top 10
whose colour matches the query. The per-hit values come from a *provider* (image scores, requirement verdicts),
called once per evaluation for every measure that needs it. Names parse from ir-measures' form
`Family@k` or `Family(arg)@k`, so they are valid wherever a metric name is: `[run] metrics`, `--metrics`,
`[[gate.rules]]`, the store and the reports; per-query values feed the same paired statistics as nDCG.

Built-in families are listed here; their providers live with the feature that knows the values and are
imported only when a measure is computed (`"module:function"`), so validating a config stays cheap.
A feature adds its own with `register_family` / `register_provider`.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from evalharness.errors import EvalHarnessError

if TYPE_CHECKING:
    from evalharness.models import Hit

_FORM = re.compile(r"^(?P<family>[A-Za-z][A-Za-z0-9_]*)(?:\((?P<arg>[^()]*)\))?@(?P<k>\d+)$")


class RankedQuery(Protocol):
    """What a measure sees of one query: its id, its ranked hits and its guideline (StoredQuery fits)."""

    id: str
    hits: Sequence[Hit]
    guideline_hash: str


@dataclass(frozen=True)
class MeasureContext:
    """What providers may use: the project (config, cache folder), the store and the judge of the evaluation."""

    project: Any  # the Project (evalharness.project): typed loosely, the measures registry sits below the project
    store: Any  # the Store (evalharness.store)
    judge_id: str = ""
    memo: dict[Any, Any] = field(default_factory=dict, compare=False, repr=False)  # providers' reads shared across runs


@dataclass(frozen=True)
class HitMeasure:
    """One parsed measure, e.g. VQ@10 or AttrMatch(color)@10; `name` is its canonical string."""

    family: str
    k: int
    arg: str = ""

    @property
    def name(self) -> str:
        return f"{self.family}({self.arg})@{self.k}" if self.arg else f"{self.family}@{self.k}"

    def __str__(self) -> str:
        return self.name


# compute(per-hit values of the top k, in rank order, measure) -> the query's value; a query with no hits gets [].
Compute = Callable[[Sequence[Any], HitMeasure], float]
# provider(context, queries, measures) -> query id -> one value per hit, in rank order (None: no value for that hit).
Provider = Callable[[MeasureContext, Sequence[RankedQuery], Sequence[HitMeasure]], Mapping[str, Sequence[Any]]]


@dataclass(frozen=True)
class MeasureFamily:
    """A family of per-hit measures and how to compute one query's value from its per-hit values."""

    name: str
    provider: str
    compute: Compute
    description: str
    higher_is_better: bool = True
    arg: str = ""  # what the parenthesised argument means ("" = the family takes none)
    validate_arg: Callable[[str], str | None] | None = field(default=None, compare=False)  # returns a problem or None
    # compute(per-hit values, measure, query info) for families that also read what the query asks for (see QueryHits)
    query_compute: Callable[[Sequence[Any], HitMeasure, Any], float] | None = field(default=None, compare=False)


@dataclass(frozen=True)
class QueryHits:
    """What a provider may return for a query instead of a plain sequence: per-hit values plus query-level
    information (AttrMatch needs the query's requirements, also when it has no hit). A family computes NaN
    for a query outside its population (AttrMatch(color) for a query that names no colour); means and
    paired tests then leave that query out."""

    hits: Sequence[Any]
    query: Any = None


def _known(values: Sequence[Any]) -> list[float]:
    return [float(v) for v in values if v is not None]


def mean_known(values: Sequence[Any], measure: HitMeasure) -> float:
    """Mean of the hits that have a value; 0 when none has (a query with no hits scores 0, as everywhere)."""
    known = _known(values)
    return sum(known) / len(known) if known else 0.0


def share_low(values: Sequence[Any], measure: HitMeasure, threshold: float = 2.0) -> float:
    """Share of the hits that have a value whose value is at most `threshold`; 0 when none has a value."""
    known = _known(values)
    return sum(1 for v in known if v <= threshold) / len(known) if known else 0.0


_FAMILIES: dict[str, MeasureFamily] = {}
_PROVIDERS: dict[str, Provider | str] = {
    "image_scores": "evalharness.images.measures:image_scores_per_hit",
}


def register_family(family: MeasureFamily) -> MeasureFamily:
    """Add (or replace) a measure family."""
    _FAMILIES[family.name] = family
    return family


def register_provider(name: str, provider: Provider | str) -> None:
    """Add a provider of per-hit values: a function or a lazy 'module:function' reference."""
    _PROVIDERS[name] = provider


def _lazy(ref: str) -> Callable[..., Any]:
    """A function imported from 'module:function' only when first called (config validation stays cheap)."""
    found: list[Callable[..., Any]] = []

    def call(*args: Any) -> Any:
        if not found:
            module, _, attr = ref.partition(":")
            found.append(getattr(importlib.import_module(module), attr))
        return found[0](*args)
    return call


def _needs_query(values: Sequence[Any], measure: HitMeasure) -> float:
    raise EvalHarnessError(f"{measure} needs the query's requirements; its provider must return QueryHits")


def _attribute_name(arg: str) -> str | None:
    return None if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", arg) else "the argument is an attribute name such as color or brand"


register_provider("verdicts", "evalharness.metrics.verdict_measures:verdicts_provider")
register_family(MeasureFamily(
    "AttrMatch", "verdicts", _needs_query, "share of the top k that are relevant or substitute and meet the query's "
    "requirement on the attribute (queries with such a requirement only)", arg="attribute", validate_arg=_attribute_name,
    query_compute=_lazy("evalharness.metrics.verdict_measures:compute_attr_match")))
register_family(MeasureFamily(
    "ReqMet", "verdicts", _needs_query, "mean share of the query's must requirements met over the top k",
    query_compute=_lazy("evalharness.metrics.verdict_measures:compute_req_met")))
register_family(MeasureFamily(
    "ReqCov", "verdicts", _needs_query, "share of the per-requirement verdicts of the judged top k the judge gave "
    "(the rest are holes)", query_compute=_lazy("evalharness.metrics.verdict_measures:compute_req_coverage")))


register_family(MeasureFamily("VQ", "image_scores", mean_known,
                              "mean image-quality score (1-5) of the top k hits whose image could be scored"))
register_family(MeasureFamily("LowQ", "image_scores", share_low, "share of the top k hits (with a scored image) "
                              "whose image scores 2 or less", higher_is_better=False))


def families() -> dict[str, MeasureFamily]:
    """The registered families by name."""
    return dict(_FAMILIES)


def parse_hit_measure(name: str) -> HitMeasure | None:
    """The per-hit measure a name denotes; None when the name is not of a registered family (leave it to
    ir-measures); EvalHarnessError when it is one of ours but malformed."""
    m = _FORM.match(name.strip())
    if m is None:
        return None
    family = _FAMILIES.get(m["family"])
    if family is None:
        return None
    arg = (m["arg"] or "").strip()
    k = int(m["k"])
    if k < 1:
        raise EvalHarnessError(f"measure '{name}': k must be at least 1, e.g. {family.name}@10")
    if family.arg and not arg:
        raise EvalHarnessError(f"measure '{name}' needs an argument ({family.arg}), e.g. {family.name}(color)@10")
    if not family.arg and m["arg"] is not None:
        raise EvalHarnessError(f"measure '{name}' takes no argument; write {family.name}@{k}")
    if arg and family.validate_arg is not None:
        problem = family.validate_arg(arg)
        if problem:
            raise EvalHarnessError(f"measure '{name}': {problem}")
    return HitMeasure(family.name, k, arg)


def is_hit_measure(name: str) -> bool:
    """Whether the name belongs to a registered per-hit family (malformed ones raise)."""
    return parse_hit_measure(name) is not None


def higher_is_better(name: str) -> bool:
    """Direction of a metric: False for measures where a rise is a regression (LowQ@k); True otherwise."""
    m = parse_hit_measure(name)
    return True if m is None else _FAMILIES[m.family].higher_is_better


def verdict_depth(names: Iterable[str]) -> int | None:
    """How deep in a list the verdict measures among these names read (their largest k), None when there are none."""
    ks = [m.k for n in names if (m := parse_hit_measure(n)) is not None and _FAMILIES[m.family].provider == "verdicts"]
    return max(ks) if ks else None


def split_measures(names: Iterable[str]) -> tuple[list[str], list[str]]:
    """(ir-measures names, per-hit measure names), each in the given order."""
    ir, ours = [], []
    for name in names:
        (ours if is_hit_measure(name) else ir).append(name)
    return ir, ours


def _provider(name: str) -> Provider:
    found = _PROVIDERS.get(name)
    if found is None:
        raise EvalHarnessError(f"no provider of per-hit values named '{name}' is registered")
    if isinstance(found, str):
        module, _, attr = found.partition(":")
        found = getattr(importlib.import_module(module), attr)
        _PROVIDERS[name] = found
    return found


def hit_measure_values(names: Sequence[str], ctx: MeasureContext, queries: Sequence[RankedQuery]
                       ) -> dict[str, dict[str, float]]:
    """Per-query values of per-hit measures: query id -> name -> value; every query present, each provider
    called once for all the measures that use it."""
    parsed = {name: parse_hit_measure(name) for name in names}
    missing = [n for n, m in parsed.items() if m is None]
    if missing:
        raise EvalHarnessError(f"'{missing[0]}' is not a per-hit measure; known families: {', '.join(sorted(_FAMILIES))}")
    out: dict[str, dict[str, float]] = {q.id: {} for q in queries}
    by_provider: dict[str, list[tuple[str, HitMeasure]]] = {}
    for name, m in parsed.items():
        assert m is not None
        by_provider.setdefault(_FAMILIES[m.family].provider, []).append((name, m))
    for provider_name, measures in by_provider.items():
        values = _provider(provider_name)(ctx, queries, [m for _, m in measures])
        computes = [(name, m, _FAMILIES[m.family].compute, _FAMILIES[m.family].query_compute) for name, m in measures]
        for q in queries:
            raw = values.get(q.id, ())
            info = raw.query if isinstance(raw, QueryHits) else None
            per_hit = list(raw.hits if isinstance(raw, QueryHits) else raw)
            row = out[q.id]
            for name, m, compute, query_compute in computes:
                value = compute(per_hit[: m.k], m) if query_compute is None else query_compute(per_hit[: m.k], m, info)
                row[name] = float(value)
    return out


def add_hit_measures(per_query: dict[str, dict[str, float]], names: Sequence[str], ctx: MeasureContext | None,
                     queries: Sequence[RankedQuery]) -> dict[str, dict[str, float]]:
    """Fill the per-hit measures among `names` into per-query values computed by ir-measures (in place, returned).
    Without a context, a per-hit measure is an error rather than a silent 0."""
    _, ours = split_measures(names)
    if not ours:
        return per_query
    if ctx is None:
        raise EvalHarnessError(f"{ours[0]} needs per-hit values (image scores, verdicts) that this command does not compute")
    for qid, values in hit_measure_values(ours, ctx, queries).items():
        per_query.setdefault(qid, {}).update(values)
    return per_query
