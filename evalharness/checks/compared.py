"""Diagnostics inside a comparison: each compared query's type, and every config's rule-check findings."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from evalharness.checks.base import Finding
from evalharness.checks.runner import check_lists, enabled_names
from evalharness.querytypes import classify
from evalharness.stats import PairedTest, paired_tests
from evalharness.store.runread import run_hits

if TYPE_CHECKING:
    from evalharness.comparison import Comparison
    from evalharness.project import Project
    from evalharness.store import Store


def query_type(text: str, requirements: Sequence, baseline_hits: int) -> str:
    """A compared query's type: from its guideline's requirements, zero-result when the baseline found nothing."""
    return classify(text, requirements, baseline_hits)


def side_findings(project: Project, store: Store, c: Comparison, side_ids: Sequence[Sequence[str]], k: int
                  ) -> dict[str, list[Finding]]:
    """Every enabled check over every compared run's top-k lists (`side_ids`: each run's own ids of the compared
    queries, aligned with c.queries); findings carry the compared (baseline) query ids."""
    out: dict[str, list[Finding]] = {}
    reqs = {q.id: c.guidelines[q.guideline_hash].requirements if q.guideline_hash in c.guidelines else () for q in c.queries}
    for side, own_ids in zip(c.sides, side_ids):
        decoded = run_hits(store, side.run.run_id, own_ids)
        lists = [_List(q.id, q.text, decoded.get(own, [])) for q, own in zip(c.queries, own_ids)]
        labels = {q.id: {d: lab for d, (lab, _) in c.pool_labels.get(q.guideline_hash, {}).items()} for q in c.queries}
        out[side.name] = check_lists(project.config.checks, lists, reqs, k, labels)
    c.check_names = enabled_names(project.config.checks)
    return out


class _List:
    """One query's list as the checks read it (StoredQuery's shape)."""

    def __init__(self, id: str, text: str, hits: list) -> None:  # noqa: A002 - the field name checks read
        self.id, self.text, self.hits = id, text, hits


EMPTY = PairedTest(0, 0.0, 0.0, 0.0, None, 0.0, 0.0, 1.0, 1.0, 0, 0, 0)


def population_tests(x: np.ndarray, y: np.ndarray, weights: np.ndarray | None, seed: int, alpha: float) -> list[PairedTest]:
    """paired_tests per column over the queries where both values exist: NaN marks a query outside a measure's
    population (AttrMatch(color)@k of a query that names no colour). Columns without NaN are tested together."""
    missing = np.isnan(x) | np.isnan(y)
    full = ~missing.any(axis=0)
    tests: list[PairedTest] = [EMPTY] * x.shape[1]
    if full.any():
        for k, t in zip(np.flatnonzero(full), paired_tests(x[:, full], y[:, full], weights, seed=seed, alpha=alpha)):
            tests[int(k)] = t
    for k in np.flatnonzero(~full):
        keep = ~missing[:, k]
        if keep.any():
            w = weights[keep] if weights is not None else None
            tests[int(k)] = paired_tests(x[keep, k], y[keep, k], w, seed=seed, alpha=alpha)[0]
    return tests
