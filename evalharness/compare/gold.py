"""A comparison's gold queries: people's (or any reference source's) per-query values beside the judge's.

A gold query is a compared query for which the reference source labels every hit of every compared config's list
(the lists as compared). Its metric values are computed once more on the source's qrels; the judge's values are
the comparison's own. When the rating sample behind the source (named like it, or rated by it) drew whole queries
(`rate --unit query`), only its queries are gold and each enters with the weight 1 / inclusion probability stored with it; other samples drew
pairs, whose probabilities say nothing about a query, so the gold queries then enter unweighted (and say so).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sqlalchemy import select

from evalharness.compare.comparison import Comparison
from evalharness.compare.corrected import Corrected, CorrectedRow, correct_values
from evalharness.errors import EvalHarnessError
from evalharness.labels.sources import qrels_for_queries, split_specs
from evalharness.metrics.measures import split_measures
from evalharness.store import Store
from evalharness.textnorm import normalize_query

UNCORRECTED = ("Judged",)  # coverage of the judge's labels: nothing to correct


def correctable(metrics: Sequence[str]) -> list[str]:
    """The metrics a gold set corrects: ir-measures values, not Judged@k nor per-hit measures."""
    return [m for m in split_measures(metrics)[0] if m.split("@")[0] not in UNCORRECTED]


def _sample_of(store: Store, name: str) -> Any:
    """The rating sample behind a source human:NAME: the sample named NAME (its majority stored with --gold NAME),
    else the one sample rater NAME was assigned (the newest when several)."""
    from evalharness.store.rating import get_sample, rating_assignments_t, rating_samples_t

    found = get_sample(store, name)
    if found is not None:
        return found
    a, s = rating_assignments_t.c, rating_samples_t.c
    with store.engine.connect() as conn:
        row = conn.execute(select(s.name).join(rating_assignments_t, a.sample == s.name).where(a.rater == name)
                           .order_by(s.created_at.desc()).limit(1)).first()
    return get_sample(store, row[0]) if row else None


def sample_weights(store: Store, source: str, query_texts: Sequence[str]) -> tuple[dict[str, float] | None, str]:
    """{query key: 1 / inclusion probability} from the query-unit rating sample behind the source (else None), and a
    note saying where the weights came from."""
    from evalharness.store.rating import rating_items_t

    name = source.partition(":")[2]
    sample = _sample_of(store, name) if name and source.startswith("human:") else None
    if sample is None:
        return None, f"gold queries unweighted (no rating sample behind {source})"
    if sample.design.get("unit") != "query":
        return None, (f"gold queries unweighted: rating sample {sample.name!r} drew pairs, not whole queries "
                      f"(draw one with `evalharness rate --unit query`)")
    keys = {normalize_query(t) for t in query_texts}
    c = rating_items_t.c
    found: dict[str, float] = {}
    with store.engine.connect() as conn:
        for key, pi in conn.execute(select(c.query_key, c.inclusion_prob).where(c.sample == sample.name).distinct()):
            if key in keys:
                found[key] = 1.0 / pi
    return found, f"gold queries weighted by 1 / inclusion probability of rating sample {sample.name!r}"


def gold_mask(comparison: Comparison, qrels: dict[str, dict[str, int]]) -> np.ndarray:
    """Queries whose every compared hit (all configs) the source labels, and for which it holds a label at all."""
    out = np.zeros(len(comparison.queries), dtype=bool)
    for i, q in enumerate(comparison.queries):
        labelled = qrels.get(q.id, {})
        out[i] = bool(labelled) and all(d in labelled for side in comparison.sides for d in side.doc_ids[i])
    return out


def correct_comparison(config: Any, store: Store, comparison: Comparison, source: str) -> Corrected:
    """The corrected means and deltas of every candidate x correctable metric, on the source's gold queries."""
    from evalharness.metrics.ir import per_query_metrics_runs

    split_specs(source)
    if comparison.weight != "none":
        raise EvalHarnessError("--correct-with estimates unweighted query means; leave out --weight traffic "
                               "(or set [compare] weight = \"none\")")
    metrics = correctable(comparison.metric_names)
    queries = comparison.queries
    if not metrics:
        raise EvalHarnessError(f"--correct-with: none of the compared metrics ({', '.join(comparison.metric_names)}) "
                               "can be corrected; add an ir-measures metric such as nDCG@10")
    qrels = qrels_for_queries(config, store, source, queries, [q.guideline_hash for q in queries],
                              comparison.compared_pairs()).qrels  # the pool rule: only the compared runs' pairs
    gold = gold_mask(comparison, qrels)
    weights_by_key, note = sample_weights(store, source, [q.text for q in queries])
    weights = None
    notes = [note]
    if weights_by_key is not None:
        keys = [normalize_query(q.text) for q in queries]
        outside = int(sum(1 for k, g in zip(keys, gold) if g and k not in weights_by_key))
        gold &= np.array([k in weights_by_key for k in keys])
        weights = np.array([weights_by_key.get(k, 1.0) for k in keys])
        if outside:
            notes.append(f"{outside} labelled queries outside the rating sample left out of the gold set")
    n_gold = int(gold.sum())
    result = Corrected(source, comparison.judge_id, n_gold, len(queries), 0.0, weights is not None, notes=notes)
    if n_gold < 2:
        result.notes.append(f"{source} labels every compared hit of only {n_gold} quer{'y' if n_gold == 1 else 'ies'}: "
                            "at least 2 gold queries are needed; label more (evalharness rate --unit query)")
        return result
    ids = [q.id for q in queries]
    lists = [dict(zip(ids, side.doc_ids)) for side in comparison.sides]
    gold_ids = [i for i, g in zip(ids, gold) if g]
    scored = per_query_metrics_runs(metrics, qrels, [{q: lst[q] for q in gold_ids} for lst in lists], gold_ids)
    human = [{m: np.array([per[q][m] if g else np.nan for q, g in zip(ids, gold)], dtype=float) for m in metrics}
             for per in scored]
    gw = weights[gold] if weights is not None else None
    result.n_effective = float(gw.sum() ** 2 / (gw ** 2).sum()) if gw is not None else float(n_gold)
    base_j, base_h = comparison.baseline.values, human[0]
    for k, cand in enumerate(comparison.candidates, start=1):
        judge_vals = {**{("b", m): base_j[m] for m in metrics}, **{("c", m): cand.values[m] for m in metrics},
                      **{("d", m): cand.values[m] - base_j[m] for m in metrics}}
        human_vals = {**{("b", m): base_h[m] for m in metrics}, **{("c", m): human[k][m] for m in metrics},
                      **{("d", m): human[k][m] - base_h[m] for m in metrics}}
        est = correct_values(judge_vals, human_vals, gold, weights, comparison.alpha)
        rows = {r.metric: r for r in comparison.rows_for(cand.name)}
        for m in metrics:
            if all(key in est for key in (("b", m), ("c", m), ("d", m))):
                t = rows[m].test
                result.rows.append(CorrectedRow(cand.name, m, est[("b", m)], est[("c", m)], est[("d", m)], t.delta,
                                                (t.ci_low, t.ci_high)))
    return result
