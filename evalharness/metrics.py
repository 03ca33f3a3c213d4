"""IR metrics through ir-measures on graded qrels (relevant=2, substitute=1, irrelevant=0).

Measures are values in ir-measures' string form (`nDCG@10`, `P(rel=2)@10`, `Judged@10`). A query
with zero hits, or with no judged hit, still counts and scores 0: it is never dropped. Per-hit measures
that ir-measures lacks (`VQ@10`, `LowQ@10`, ...) parse here too; evalharness.measures computes them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from statistics import fmean
from typing import Any

import ir_measures

from evalharness.errors import EvalHarnessError
from evalharness.measures import parse_hit_measure, split_measures

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


def per_query_metrics(
    names: Sequence[str],
    qrels: Mapping[str, Mapping[str, int]],
    run: Mapping[str, Sequence[str]],
    query_ids: Sequence[str],
) -> dict[str, dict[str, float]]:
    """ir-measures values per query id: names -> values; every query of query_ids present (0 when absent).
    Per-hit measures among `names` are left out: `measures.add_hit_measures` fills them in."""
    names, _ = split_measures(names)
    measures = parse_measures(names)
    by_str = {str(m): name for m, name in zip(measures, names)}
    values: dict[str, dict[str, float]] = {qid: {name: 0.0 for name in names} for qid in query_ids}
    run_dict = {qid: {doc: float(len(docs) - i) for i, doc in enumerate(docs)} for qid, docs in run.items() if docs}
    qrels_dict = {qid: dict(docs) for qid, docs in qrels.items() if docs}
    if run_dict and qrels_dict:
        seen: dict[int, tuple[Any, str]] = {}  # id(measure) -> (measure, name): str() of a measure is slow, and
        for m in ir_measures.iter_calc(measures, qrels_dict, run_dict):  # results share a few measure objects
            known = seen.get(id(m.measure))
            if known is None or known[0] is not m.measure:
                known = seen[id(m.measure)] = (m.measure, by_str[str(m.measure)])  # the reference keeps the id unique
            if m.query_id in values:
                values[m.query_id][known[1]] = float(m.value)
    return values


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
