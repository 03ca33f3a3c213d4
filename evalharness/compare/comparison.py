"""The Comparison: one baseline and N candidates over the same queries, as plain data for every output.

Shape (kept open for more measures, label sources and groupings):
- `sides`: the baseline then each candidate, each with per-query values by metric name (numpy arrays
  aligned with `queries`) and its ranked doc ids;
- `rows`: one MetricRow per (candidate, metric) with its paired test and Holm-adjusted p-values;
- `groups(by)`: means per group of queries for any query attribute (segment today, query type later).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from evalharness.checks.base import Finding
from evalharness.compare.stats import PairedTest, jaccard, rbo
from evalharness.labels.schemes import DEFAULT_SCHEME, LabelScheme, scheme_named
from evalharness.metrics.measures import higher_is_better
from evalharness.models import Guideline
from evalharness.store.db import StoredRun
from evalharness.store.runread import POOL_RULE, Wanted, add_pairs

SEGMENT_ORDER = {"head": 0, "torso": 1, "tail": 2}


@dataclass
class ComparedQuery:
    """A query present in every compared run (matched by id, then by exact text)."""

    id: str
    text: str
    segment: str
    count: int
    guideline_hash: str
    attrs: dict[str, str] = field(default_factory=dict)  # more attributes to group by (e.g. query type)


@dataclass
class Side:
    """One run in a comparison: per-query values and ranked doc ids aligned with Comparison.queries."""

    name: str
    run: StoredRun
    doc_ids: list[list[str]]
    content_hashes: list[list[str]]
    values: dict[str, np.ndarray] = field(default_factory=dict)
    judged: float = 1.0
    unjudged: int = 0
    labels: dict[str, int] = field(default_factory=dict)
    only_here: int = 0  # queries of this run left out because another compared run lacks them
    sources: dict[str, int] = field(default_factory=dict)  # hits per label source that labelled them (the rest: holes)

    @property
    def description(self) -> str:
        return str((self.run.config.get("engine") or {}).get("description") or "")

    @property
    def catalog(self) -> str:
        """The catalog the run searched, as the run recorded it (older runs: from the engine config)."""
        cfg = self.run.config
        backend = cfg.get("backend") if isinstance(cfg.get("backend"), dict) else {}
        engine = cfg.get("engine") if isinstance(cfg.get("engine"), dict) else {}
        tantivy = engine.get("tantivy") if isinstance(engine.get("tantivy"), dict) else {}
        found = cfg.get("catalog") or backend.get("catalog") or tantivy.get("catalog") or engine.get("index") or ""
        if isinstance(found, dict):
            found = found.get("path") or found.get("name") or ""
        return str(found)

    def run_json(self) -> dict[str, Any]:
        r = self.run
        return {"name": self.name, "run_id": r.run_id, "engine_config": r.engine_config, "config_hash": r.config_hash,
                "status": r.status, "judge_id": r.judge_id, "description": self.description, "catalog": self.catalog,
                "judged": self.judged, "unjudged_hits": self.unjudged, "labels": self.labels,
                "hits_by_source": self.sources, "holes": self.unjudged,
                "queries_left_out": self.only_here, "stored_metrics": r.metrics}


@dataclass(frozen=True)
class MetricRow:
    """One candidate x metric: paired test, Holm-adjusted p-values (None when outside the Holm family)."""

    candidate: str
    metric: str
    test: PairedTest
    p_ttest_holm: float | None
    p_randomization_holm: float | None
    significant: bool  # only in the Holm family: a measure outside it (Judged@k) is reported, never starred

    @property
    def in_family(self) -> bool:
        return self.p_randomization_holm is not None

    @property
    def p_decision(self) -> float:
        """The p-value significance is decided on: Holm-adjusted in the family, raw outside it."""
        return self.p_randomization_holm if self.p_randomization_holm is not None else self.test.p_randomization

    @property
    def lower_is_better(self) -> bool:
        """The measure's direction (LowQ@k, a rule-check rate: a rise is a regression)."""
        return not higher_is_better(self.metric)

    @property
    def change(self) -> float:
        """The delta signed so that above 0 is better (a fall of a lower-is-better measure is an improvement)."""
        return -self.test.delta if self.lower_is_better else self.test.delta

    @property
    def verdict(self) -> str:
        """'improved', 'regressed' or 'unchanged', in the measure's direction."""
        return "improved" if self.change > 0 else "regressed" if self.change < 0 else "unchanged"

    @property
    def wins(self) -> int:
        """Queries where the candidate is better (lower, for a lower-is-better measure)."""
        return self.test.losses if self.lower_is_better else self.test.wins

    @property
    def ties(self) -> int:
        return self.test.ties

    @property
    def losses(self) -> int:
        """Queries where the candidate is worse."""
        return self.test.wins if self.lower_is_better else self.test.losses

    def to_json(self) -> dict[str, Any]:
        t = self.test
        return {"candidate": self.candidate, "metric": self.metric, "baseline": t.mean_base, "candidate_mean": t.mean_cand,
                "delta": t.delta, "relative_delta": t.rel_delta, "ci95": [t.ci_low, t.ci_high], "p_ttest": t.p_ttest,
                "p_randomization": t.p_randomization, "p_ttest_holm": self.p_ttest_holm,
                "p_randomization_holm": self.p_randomization_holm, "in_holm_family": self.in_family,
                "significant": self.significant, "wins": self.wins, "ties": self.ties, "losses": self.losses, "n": t.n,
                "min_detectable_effect": t.mde, "lower_is_better": self.lower_is_better, "verdict": self.verdict}


def weighted_mean(values: np.ndarray, weights: np.ndarray | None) -> float:
    if values.size == 0:
        return 0.0
    if weights is None:
        return float(values.mean())
    return float(np.dot(values, weights) / weights.sum()) if weights.sum() else 0.0


@dataclass
class Comparison:
    """Everything a report, the gate and --json need."""

    sides: list[Side]
    queries: list[ComparedQuery]
    metric_names: list[str]
    rows: list[MetricRow]
    judge_id: str
    alpha: float
    weight: str = "none"
    weights: np.ndarray | None = None
    pool_size: int = 0
    judged_new: int = 0
    cost_usd: float = 0.0
    baseline_queries: int = 0
    warnings: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    pool_labels: dict[str, dict[str, tuple[str, str]]] = field(default_factory=dict)
    guidelines: dict[str, Guideline] = field(default_factory=dict)  # by file hash
    products: dict[str, dict[str, Any]] = field(default_factory=dict)  # by content hash; loaded only for reports
    findings: dict[str, list[Finding]] = field(default_factory=dict)  # rule-check findings per side name
    check_names: list[str] = field(default_factory=list)  # the enabled checks, in order
    scheme: LabelScheme = field(default_factory=lambda: scheme_named(DEFAULT_SCHEME))  # label names, gains, colours
    label_spec: str | None = None  # a --labels source spec the comparison is scored on (None: the judge)
    corrected: Any = None  # evalharness.compare.corrected.Corrected when compared --correct-with a gold source
    engagement: Any = None  # compare.engagement.Engagement when a behaviour source is asked for (compare --behaviour)
    _overlaps: dict[str, tuple[list[float], list[float]]] = field(default_factory=dict, repr=False, compare=False)

    @property
    def baseline(self) -> Side:
        return self.sides[0]

    @property
    def candidates(self) -> list[Side]:
        return self.sides[1:]

    @property
    def primary(self) -> str:
        return self.metric_names[0]

    @property
    def overlap(self) -> float:
        """Share of the baseline's queries that are compared."""
        return len(self.queries) / self.baseline_queries if self.baseline_queries else 1.0

    @property
    def label_sources(self) -> str:
        """The label sources the figures rest on: the --labels spec, or the judge's spec."""
        from evalharness.judges.specs import judge_spec_of

        return self.label_spec or judge_spec_of(self.judge_id)

    def side_sources(self, side: Side) -> str:
        """How one run's hits were labelled: hits per source, and the holes no source filled."""
        given = ", ".join(f"{src} {n}" for src, n in side.sources.items()) or "none"
        return f"{side.name}: {given}, {side.unjudged} hole{'s' if side.unjudged != 1 else ''}"

    @property
    def sources_note(self) -> str:
        """Which sources labelled the compared hits, how many each, and the holes (per run)."""
        return f"{self.label_sources} (hits per source: {'; '.join(self.side_sources(s) for s in self.sides)})"

    @property
    def pool_note(self) -> str:
        return (f"scored on labels from {self.sources_note}; judge pool {self.pool_size} judgments by {self.judge_id}; "
                f"pool rule: {POOL_RULE} (stored run metrics are frozen at each run's finish and can differ)")

    def compared_pairs(self) -> Wanted:
        """The (guideline, doc, content) pairs of every compared run's lists: what the pool rule lets a judge label."""
        wanted: Wanted = {}
        for side in self.sides:
            for q, docs, hashes in zip(self.queries, side.doc_ids, side.content_hashes):
                add_pairs(wanted, q.guideline_hash, docs, hashes)
        return wanted

    def side(self, name: str) -> Side:
        return next(s for s in self.sides if s.name == name)

    def rows_for(self, candidate: str) -> list[MetricRow]:
        return [r for r in self.rows if r.candidate == candidate]

    def mean(self, side: Side, metric: str, mask: np.ndarray | None = None) -> float:
        """Mean over the (masked) queries that have a value: NaN marks a query outside a measure's population, and
        a group with none of its queries in the population has no mean (NaN; None in JSON)."""
        values, weights = side.values[metric], self.weights
        keep = ~np.isnan(values) if mask is None else mask & ~np.isnan(values)
        if not keep.any() and np.isnan(values).any():
            return math.nan
        values, weights = values[keep], (weights[keep] if weights is not None else None)
        return weighted_mean(values, weights)

    def check_counts(self, side: Side, k: int | None = None) -> dict[str, int]:
        """Rule-check findings of one config (on hits ranked within k; list-level findings always count), each
        enabled check's as `count_findings` gives it, counted in one pass over the findings."""
        found = self.findings.get(side.name, [])
        counts = Counter(f.check for f in found) if k is None else Counter(f.check for f in found if f.rank <= k)
        return {n: counts[n] for n in self.check_names}

    def types(self) -> list[dict[str, Any]]:
        """Means per query type (from the guidelines' requirements), like groups('segment')."""
        from evalharness.guidelines.querytypes import type_order

        return self.groups("type", order=type_order)

    def record_overlap(self, cand: str, jaccards: list[float], rbos: list[float]) -> None:
        """Per-query Jaccard and RBO of a candidate computed elsewhere (by compare's chunks), as list_overlap gives."""
        self._overlaps[cand] = (jaccards, rbos)

    def list_overlap(self, cand: Side) -> tuple[list[float], list[float]]:
        """Per-query Jaccard and RBO of a candidate's lists against the baseline's (computed once per candidate)."""
        found = self._overlaps.get(cand.name)
        if found is None:
            base = self.baseline.doc_ids
            found = self._overlaps[cand.name] = ([jaccard(b, c) for b, c in zip(base, cand.doc_ids)],
                                                 [rbo(b, c) for b, c in zip(base, cand.doc_ids)])
        return found

    def groups(self, by: str = "segment", order: Callable[[str], Any] | None = None) -> list[dict[str, Any]]:
        """Per group of queries (a ComparedQuery attribute or attrs key): size, traffic and each metric's means."""
        keys = [getattr(q, by, None) if hasattr(q, by) else q.attrs.get(by) for q in self.queries]
        names = sorted({k for k in keys if k}, key=order or (lambda s: (SEGMENT_ORDER.get(s, 9), s)))
        out = []
        key_arr = np.array([k or "" for k in keys], dtype=object)
        for name in names:
            mask = key_arr == name
            row: dict[str, Any] = {"by": by, "group": name, "queries": int(mask.sum()),
                                   "traffic": int(sum(q.count for q, m in zip(self.queries, mask) if m)), "metrics": {}}
            for cand in self.candidates:
                per: dict[str, Any] = {}
                for metric in self.metric_names:
                    b, c = self.mean(self.baseline, metric, mask), self.mean(cand, metric, mask)
                    per[metric] = {"baseline": b, "candidate": c, "delta": c - b}
                row["metrics"][cand.name] = per
            out.append(row)
        return out

    def movers(self, cand: Side, n: int = 10) -> list[int]:
        """Indices of the queries whose primary metric moved most (either way) for a candidate."""
        d = np.nan_to_num(cand.values[self.primary] - self.baseline.values[self.primary])
        return [int(i) for i in np.argsort(-np.abs(d), kind="stable")[:n]]

    def to_json(self) -> dict[str, Any]:
        cands = []
        for cand in self.candidates:
            jac, rb = self.list_overlap(cand)
            d = cand.values[self.primary] - self.baseline.values[self.primary]
            cands.append({**cand.run_json(), "overlap": {"jaccard": _avg(jac), "rbo": _avg(rb)},
                          "movers": [{"query_id": self.queries[i].id, "query": self.queries[i].text, "delta": float(d[i])}
                                     for i in self.movers(cand)]})
        return {
            "baseline": self.baseline.run_json(), "candidates": cands, "judge_id": self.judge_id, "alpha": self.alpha,
            "weight": self.weight, "queries": len(self.queries), "baseline_queries": self.baseline_queries,
            "query_overlap": self.overlap,
            "pool": {"judgments": self.pool_size, "note": self.pool_note, "rule": POOL_RULE},
            "label_sources": {"spec": self.label_sources, "by_side": {s.name: {"hits_by_source": s.sources, "holes": s.unjudged}
                                                                      for s in self.sides}},
            "warnings": self.warnings, "judged_new": self.judged_new, "cost_usd": self.cost_usd,
            "metrics": [r.to_json() for r in self.rows], "segments": _no_nan(self.groups("segment")), "types": _no_nan(self.types()),
            "checks": {s.name: self.check_counts(s) for s in self.sides}, "failures": self.failures[:100],
            **({"corrected": self.corrected.to_json()} if self.corrected is not None else {}),
            **({"engagement": self.engagement.to_json()} if self.engagement is not None else {}),
        }


def _avg(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def _no_nan(value: Any) -> Any:
    """NaN (no query of a group in a measure's population) as None, for JSON."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _no_nan(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_no_nan(v) for v in value]
    return value
