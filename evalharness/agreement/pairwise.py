"""Judge vs people: judge exactly the human-labelled pairs through the normal cache and measure agreement.

Product text comes from a catalog (JSONL), guidelines from guidelines/ (missing ones are written), and each
pair goes through `judge_pairs` with the same cache key a run would use, so a second call costs nothing
and judgments made by runs are reused. Statistics: agreement_stats.py.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from evalharness.agreement.calibration import Calibration, ConfidentPair, calibration
from evalharness.agreement.stats import STATS, bootstrap_cis, confusion, per_label, point_stats
from evalharness.catalog.products import iter_products, product_to_hit
from evalharness.errors import EvalHarnessError
from evalharness.guidelines.writers import ensure_guidelines
from evalharness.judges.base import Judge
from evalharness.labels.schemes import LabelScheme
from evalharness.models import Hit, Query
from evalharness.pipeline.judging import judge_pairs
from evalharness.pipeline.run import SilentStages, Stages, build_pairs
from evalharness.project import Project
from evalharness.store import Store
from evalharness.store.labels import iter_labels
from evalharness.textnorm import slugify


@dataclass(frozen=True)
class Disagreement:
    """A pair where one side said the best label and the other the worst."""

    query: str
    doc_id: str
    title: str
    human: str
    judge: str
    rationale: str


@dataclass
class JudgeAgreement:
    """One judge against the human labels."""

    spec: str
    judge_id: str
    pairs: int
    unjudged: int
    stats: dict[str, float | None]
    ci: dict[str, tuple[float, float] | None]
    confusion: list[list[int]]
    per_label: dict[str, dict[str, float]]
    human_distribution: dict[str, int]
    judge_distribution: dict[str, int]
    judged_now: int
    from_cache: int
    cost_usd: float
    input_tokens: int
    output_tokens: int
    seconds: float
    disagreements: list[Disagreement] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    pair_labels: dict[tuple[str, str], Disagreement] = field(default_factory=dict, repr=False)  # (query key, doc) -> both labels
    behaviour: Any = None  # agreement.behaviour.BehaviourCheck when the reference is a behaviour:NAME source
    gold: dict[tuple[str, str], ConfidentPair] = field(default_factory=dict)  # (query id, doc id) -> codes, confidence, cost
    calibration: Calibration | None = None  # for judges that give a confidence

    @property
    def per_1000(self) -> dict[str, float]:
        """Cost and tokens per 1,000 judged pairs (counting cached judgments at what they cost when made)."""
        n = self.pairs or 1
        return {"cost_usd": self.cost_usd * 1000 / n, "tokens": (self.input_tokens + self.output_tokens) * 1000 / n}

    @property
    def pairs_per_s(self) -> float | None:
        """Throughput of the pairs judged by this call (None when everything came from the cache)."""
        return self.judged_now / self.seconds if self.judged_now and self.seconds > 0 else None

    def to_json(self) -> dict[str, Any]:
        return {"judge": self.spec, "judge_id": self.judge_id, "pairs": self.pairs, "unjudged": self.unjudged,
                **self.stats, "ci95": {k: list(v) if v else None for k, v in self.ci.items()},
                "confusion": self.confusion, "per_label": self.per_label,
                "distribution": {"human": self.human_distribution, "judge": self.judge_distribution},
                "judged_now": self.judged_now, "from_cache": self.from_cache, "cost_usd": self.cost_usd,
                "input_tokens": self.input_tokens, "output_tokens": self.output_tokens,
                "per_1000_pairs": self.per_1000, "pairs_per_s": self.pairs_per_s, "seconds": self.seconds,
                "hard_disagreements": len(self.disagreements), "failures": self.failures,
                **({"behaviour": self.behaviour.to_json()} if self.behaviour is not None else {}),
                **({"calibration": self.calibration.to_json()} if self.calibration is not None else {})}


@dataclass
class Agreement:
    """Every judge against one human label source (the leaderboard)."""

    human: str
    labels: tuple[str, ...]  # lowest gain first: the ordinal codes 0..n-1
    queries: int
    labelled: int
    missing_products: list[str]
    judges: list[JudgeAgreement]

    def to_json(self) -> dict[str, Any]:
        return {"human": self.human, "labels": list(self.labels), "queries": self.queries, "labelled_pairs": self.labelled,
                "missing_products": len(self.missing_products), "statistics": list(STATS),
                "judges": [j.to_json() for j in self.judges]}


def load_hits(catalog: Path, doc_ids: set[str]) -> dict[str, Hit]:
    """The catalog's products for these ids, as the hits a backend would return (one pass over the file)."""
    found = {}
    for product in iter_products(catalog):
        doc = str(product["id"])
        if doc in doc_ids:
            found[doc] = product_to_hit(product, 1, 0.0, catalog.parent)
    return found


def measure_agreement(project: Project, store: Store, human: str, judges: Sequence[tuple[str, Judge]], catalog: Path,
                      scheme: LabelScheme, n_resamples: int = 2000, stages: Stages | None = None) -> Agreement:
    """Judge each human-labelled pair with each judge (cached) and compute the agreement statistics."""
    stages = stages or SilentStages()
    rows = list(iter_labels(store, human))
    if not rows:
        how = (f"compute them with `evalharness labels implicit --source LOG --as {human.removeprefix('behaviour:')}`"
               if human.startswith("behaviour:") else f"import some with `evalharness labels import FILE --as {human.removeprefix('human:')}`")
        raise EvalHarnessError(f"no labels stored for {human}; {how}")
    order = tuple(d.name for d in scheme.by_gain(descending=False))
    code = {name: i for i, name in enumerate(order)}
    bad = next((r for r in rows if r.label not in code), None)
    if bad is not None:
        raise EvalHarnessError(f"{human} has label {bad.label!r} (query {bad.query!r}), not one of the project's labels "
                               f"({', '.join(order)}); re-import it with --map onto these labels")
    hits = load_hits(catalog, {r.doc_id for r in rows})
    missing = sorted({r.doc_id for r in rows if r.doc_id not in hits})
    rows = [r for r in rows if r.doc_id in hits]
    if not rows:
        raise EvalHarnessError(f"none of the documents {human} labelled is in the catalog {catalog}; pass --catalog with "
                               "the product file those labels refer to")
    queries: dict[str, Query] = {}
    for r in rows:
        queries.setdefault(r.query_key, Query(slugify(r.query), r.query))
    with stages.stage("guidelines", len(queries)) as advance:
        guidelines, _ = ensure_guidelines(project, list(queries.values()), project.config.guidelines.writer, advance)
    by_query: dict[str, list[Hit]] = {}
    for r in rows:
        by_query.setdefault(queries[r.query_key].id, []).append(hits[r.doc_id])
    results = [_one_judge(project, store, spec, judge, rows, queries, guidelines, by_query, code, order, n_resamples, stages)
               for spec, judge in judges]
    return Agreement(human, order, len(queries), len(rows), missing, results)


def _one_judge(project: Project, store: Store, spec: str, judge: Judge, rows: list[Any], queries: dict[str, Query],
               guidelines: dict[str, Any], by_query: dict[str, list[Hit]], code: dict[str, int], order: tuple[str, ...],
               n_resamples: int, stages: Stages) -> JudgeAgreement:
    from evalharness.images import ImageLoader

    images = ImageLoader(project, judge) if judge.mode != "text" else None
    qlist = list({q.id: q for q in queries.values()}.values())
    pairs, _, where, failed = build_pairs(qlist, guidelines, by_query, judge, images)
    started = time.perf_counter()
    with stages.stage(f"judge {spec}", len(pairs)) as advance:
        outcome = judge_pairs(judge, store, pairs, max_retries=project.config.judge.max_retries, progress=advance)
    seconds = time.perf_counter() - started
    stored = store.cached_judgments([p.key for p in pairs])  # judged now or before, by any runner
    got = {tuple(where[k].split("\t")): j for k, j in stored.items()}
    human_codes, judge_codes, qidx, hard = [], [], [], []
    qindex = {q.id: i for i, q in enumerate(qlist)}
    cost = tokens_in = tokens_out = 0.0
    titles = {h.doc_id: h.title for hs in by_query.values() for h in hs}
    unknown = []
    pair_labels: dict[tuple[str, str], Disagreement] = {}
    gold: dict[tuple[str, str], ConfidentPair] = {}
    for r in rows:
        qid = queries[r.query_key].id
        j = got.get((qid, r.doc_id))
        if j is None:
            continue
        if j.label not in code:
            unknown.append(f"{r.query} {r.doc_id}: judge label {j.label!r} is not in the project's scheme")
            continue
        h_code, j_code = code[r.label], code[j.label]
        pair_labels[(r.query_key, r.doc_id)] = Disagreement(r.query, r.doc_id, titles.get(r.doc_id, ""), r.label, j.label, j.rationale)
        human_codes.append(h_code)
        judge_codes.append(j_code)
        qidx.append(qindex[qid])
        gold[(qid, r.doc_id)] = ConfidentPair(qindex[qid], h_code, j_code, j.confidence, j.cost_usd)
        cost += j.cost_usd
        tokens_in += j.input_tokens
        tokens_out += j.output_tokens
        if {h_code, j_code} == {0, len(order) - 1}:
            hard.append(Disagreement(r.query, r.doc_id, titles.get(r.doc_id, ""), r.label, j.label, j.rationale))
    n_labels = len(order)
    per_query = np.zeros((len(qlist), n_labels, n_labels))
    np.add.at(per_query, (np.asarray(qidx, dtype=int), np.asarray(human_codes, dtype=int), np.asarray(judge_codes, dtype=int)), 1)
    failures = [f"{f['query_id']} {f['doc_id']}: {f['reason']}" for f in failed] + list(outcome.failures.values()) + unknown
    if not human_codes:
        raise EvalHarnessError(f"judge {spec} labelled none of the {len(rows)} pairs ({failures[0] if failures else 'no pairs'}); "
                               "fix the cause and run again (judgments made so far are stored)")
    return JudgeAgreement(
        spec, judge.judge_id, len(human_codes), len(rows) - len(human_codes), point_stats(human_codes, judge_codes, n_labels),
        bootstrap_cis(per_query, n_resamples), confusion(human_codes, judge_codes, n_labels).tolist(),
        per_label(human_codes, judge_codes, order), _distribution(human_codes, order), _distribution(judge_codes, order),
        outcome.new, outcome.cached, cost, int(tokens_in), int(tokens_out), seconds, hard, failures, pair_labels, gold=gold,
        calibration=calibration(list(gold.values()), n_labels))


def _distribution(codes: Sequence[int], order: Sequence[str]) -> dict[str, int]:
    counts = Counter(codes)
    return {name: counts.get(i, 0) for i, name in enumerate(order)}
