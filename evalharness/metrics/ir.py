"""IR metrics through ir-measures on graded qrels (relevant=2, substitute=1, irrelevant=0).

Measures are values in ir-measures' string form (`nDCG@10`, `P(rel=2)@10`, `Judged@10`). A query
with zero hits, or with no judged hit, still counts and scores 0: it is never dropped. Per-hit measures
that ir-measures lacks (`VQ@10`, `LowQ@10`, ...) parse here too; evalharness.metrics.measures computes them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from statistics import fmean
from typing import Any

import ir_measures
from ir_measures.providers.base import NOT_PROVIDED

from evalharness.errors import EvalHarnessError
from evalharness.metrics.measures import parse_hit_measure, split_measures

# gdeval (a perl script) computes ERR in ir-measures and fails on these machines: not offered.
UNSUPPORTED = ("ERR",)


def parse_measures(names: Iterable[str]) -> list[Any]:
    """Parse measure names (ir-measures' and the per-hit registry's); a bad name gives one line with examples."""
    out = []
    for name in names:
        hit_measure = parse_hit_measure(name)
        if hit_measure is not None:
            out.append(hit_measure)
            continue
        if any(name.startswith(u) for u in UNSUPPORTED):
            raise EvalHarnessError(f"measure '{name}' is not supported (ir-measures routes it to gdeval); "
                                   "use nDCG@k, P(rel=N)@k, RR(rel=N), AP(rel=N), R@k or Judged@k")
        try:
            out.append(ir_measures.parse_measure(name))
        except (ValueError, NameError, SyntaxError, TypeError, AttributeError):
            raise EvalHarnessError(f"unknown measure '{name}'; use ir-measures names such as nDCG@10, P(rel=2)@10, "
                                   "RR(rel=2), Judged@10, VQ@10, LowQ@10") from None
    return out


@dataclass(frozen=True)
class _Group:
    """Measures one ir-measures provider computes, with the names each measure answers to (aliases share one)."""

    provider: Any
    measures: tuple[Any, ...]
    names: dict[int, tuple[str, ...]]  # id(measure) -> names; the plan keeps the measures alive, so ids stay unique
    depth: tuple[int, tuple[int, ...]] | None = None  # what of a ranking the measures read (see _reads), None: all


@dataclass(frozen=True)
class _Plan:
    groups: tuple[_Group, ...]
    judged: tuple[tuple[Any, tuple[str, ...]], ...]  # Judged@k measures computed here from the qrels
    unsupported: tuple[Any, ...]
    defaults: tuple[tuple[str, float], ...]  # names whose measure's DEFAULT (value for a judged, unreturned query) is not 0


@lru_cache(maxsize=64)
def _plan(names: tuple[str, ...]) -> _Plan:
    """Each measure's provider, chosen as ir-measures' DefaultPipeline chooses (the first available one that
    supports it); Judged@k from the `judged` provider is left to `_judged`, which computes the same values."""
    measures = parse_measures(names)
    unique: dict[str, Any] = {}
    aliases: dict[str, list[str]] = {}
    for m, name in zip(measures, names):
        unique.setdefault(str(m), m)
        aliases.setdefault(str(m), []).append(name)
    remaining = list(unique.values())
    groups, judged = [], []
    for provider in ir_measures.DefaultPipeline.providers:
        mine = [m for m in remaining if provider.supports(m)]
        if not mine or not provider.is_available():
            continue
        remaining = [m for m in remaining if m not in mine]
        if provider is ir_measures.judged:
            judged += [(m, tuple(aliases[str(m)])) for m in mine]
        elif provider is ir_measures.pytrec_eval:
            for part in _by_gains(mine):
                groups.append(_Group(provider, part, {id(m): tuple(aliases[str(m)]) for m in part}, _reads(part)))
        else:
            groups.append(_Group(provider, tuple(mine), {id(m): tuple(aliases[str(m)]) for m in mine}))
    defaults = tuple((name, float(m.DEFAULT)) for m in unique.values() if m.DEFAULT != 0 for name in aliases[str(m)])
    return _Plan(tuple(groups), tuple(judged), tuple(remaining), defaults)


def _by_gains(measures: Sequence[Any]) -> list[tuple[Any, ...]]:
    """pytrec_eval measures split so each evaluator holds at most one gains mapping. ir-measures files a plain
    nDCG under whichever trec_eval invocation it built first, which may be one whose qrels carry another nDCG's
    gains: `nDCG(gains=...)@10` listed before `nDCG@10` then gave 0.0 and the gains value respectively."""
    parts: dict[Any, list[Any]] = {}
    for m in measures:
        gains = m["gains"] if m.NAME == "nDCG" else NOT_PROVIDED
        key = None if gains is NOT_PROVIDED else tuple(sorted(gains.items()))
        parts.setdefault(key, []).append(m)
    return [tuple(p) for p in parts.values()]


_TOP_K_ONLY = ("P", "nDCG", "AP", "R", "Success")  # pytrec_eval measures that, with a cutoff, read only the top k


def _reads(measures: Sequence[Any]) -> tuple[int, tuple[int, ...]] | None:
    """(k, levels) when trec_eval's values of these measures depend only on the top k of a ranking and, for RR at
    each level, on the ranking down to its first doc judged at that level or above; None when any reads more."""
    cutoff, levels = 0, set()
    for m in measures:
        if m.NAME not in (*_TOP_K_ONLY, "RR") or m["judged_only"]:  # judged_only: unjudged docs are dropped first,
            return None  # and the top k then reaches further down
        if m.NAME in _TOP_K_ONLY and m["cutoff"] is not NOT_PROVIDED:
            cutoff = max(cutoff, m["cutoff"])
        elif m.NAME == "RR" and m["cutoff"] is NOT_PROVIDED and m["rel"] >= 1:
            levels.add(m["rel"])
        else:
            return None
    return cutoff, tuple(sorted(levels))


def _truncated(ranked: Sequence[str], scored: dict[str, float], judged: Mapping[str, int],
               depth: tuple[int, tuple[int, ...]]) -> dict[str, float]:
    """The part of a scored ranking the measures read (the same scores); the whole ranking if a doc repeats."""
    if len(scored) != len(ranked):
        return scored
    k, levels = depth
    for level in levels:
        first = next((i for i, d in enumerate(ranked) if d in judged and judged[d] >= level), len(ranked))
        k = max(k, first + 1)
    return scored if k >= len(ranked) else {d: scored[d] for d in ranked[:k]}


@lru_cache(maxsize=256)
def _scores(n: int) -> list[float]:
    return [float(n - i) for i in range(n)]


def _judged(ranked: Sequence[str], scored: Mapping[str, float], judged: Mapping[str, int], cutoff: Any) -> float:
    """ir-measures' Judged@k of one query (its `judged` provider): the judged share of the top k, over the number
    of hits when fewer than k; the ranking is by score, then doc id (the list's order unless a doc repeats)."""
    ranking = ranked if len(scored) == len(ranked) else [d for d, _ in sorted(scored.items(), key=lambda x: (-x[1], x[0]))]
    if cutoff is NOT_PROVIDED:
        cutoff = len(ranking)
    top = ranking[:cutoff]
    return sum(map(judged.__contains__, top)) / min(cutoff, len(top))


def per_query_metrics(
    names: Sequence[str],
    qrels: Mapping[str, Mapping[str, int]],
    run: Mapping[str, Sequence[str]],
    query_ids: Sequence[str],
) -> dict[str, dict[str, float]]:
    """ir-measures values per query id: names -> values; every query of query_ids present (0 when absent).
    Per-hit measures among `names` are left out: `measures.add_hit_measures` fills them in."""
    return per_query_metrics_runs(names, qrels, [run], query_ids)[0]


def per_query_metrics_runs(
    names: Sequence[str],
    qrels: Mapping[str, Mapping[str, int]],
    runs: Sequence[Mapping[str, Sequence[str]]],
    query_ids: Sequence[str],
) -> list[dict[str, dict[str, float]]]:
    """`per_query_metrics` of several runs against the same qrels: each provider's evaluator is built once.

    The values are those of `ir_measures.iter_calc` on the whole qrels and run; only the queries of query_ids
    with judgments and hits are handed to the providers (a query's value depends on its own qrels and hits)."""
    names, _ = split_measures(names)
    plan = _plan(tuple(names))
    wanted = set(query_ids)
    judged_q = {qid: docs for qid, docs in qrels.items() if docs and qid in wanted}
    evaluators = [(g, g.provider.evaluator(g.measures, judged_q)) for g in plan.groups] if judged_q else []
    any_judged = any(qrels.values())
    out = []
    for run in runs:
        values: dict[str, dict[str, float]] = {qid: dict.fromkeys(names, 0.0) for qid in query_ids}
        if any_judged and any(run.values()):  # ir-measures sees no run or no qrels: every value stays 0
            if plan.unsupported:
                raise ValueError(f"Unsupported measures {set(plan.unsupported)}.")
            for qid in judged_q:
                for name, default in plan.defaults:
                    values[qid][name] = default
            ranked = {qid: docs for qid in judged_q if (docs := run.get(qid))}
            scored = {qid: dict(zip(docs, _scores(len(docs)))) for qid, docs in ranked.items()}
            for group, evaluator in evaluators:
                depth = group.depth
                given = scored if depth is None else {
                    qid: _truncated(ranked[qid], s, judged_q[qid], depth) for qid, s in scored.items()}
                for m in evaluator._iter_calc(given):  # the provider's own results, without ir-measures' default fill
                    row = values[m.query_id]
                    for name in group.names[id(m.measure)]:
                        row[name] = float(m.value)
            for measure, aliases in plan.judged:
                cutoff = measure["cutoff"]
                for qid, docs in ranked.items():
                    value = _judged(docs, scored[qid], judged_q[qid], cutoff)
                    for name in aliases:
                        values[qid][name] = value
        out.append(values)
    return out


def mean_metrics(per_query: Mapping[str, Mapping[str, float]], names: Sequence[str]) -> dict[str, float | None]:
    """Mean of each metric over all queries (zero-hit queries included). A NaN marks a query outside a measure's
    population (AttrMatch(color)@k of a query that names no colour) and is left out; None when no query is in it."""
    if not per_query:
        return {name: 0.0 for name in names}
    out: dict[str, float | None] = {}
    for name in names:
        values = [v[name] for v in per_query.values() if not math.isnan(v[name])]
        out[name] = fmean(values) if values else None
    return out
