"""Diagnostics inside a comparison: each compared query's type, and every config's rule-check findings."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from evalharness.checks.base import Finding
from evalharness.checks.runner import check_lists
from evalharness.querytypes import classify
from evalharness.stats import PairedTest, paired_tests

if TYPE_CHECKING:
    from evalharness.comparison import ComparedQuery
    from evalharness.models import Guideline
    from evalharness.project import Project


def query_type(text: str, requirements: Sequence, baseline_hits: int) -> str:
    """A compared query's type: from its guideline's requirements, zero-result when the baseline found nothing."""
    return classify(text, requirements, baseline_hits)


def side_findings(project: Project, queries: Sequence[ComparedQuery], guidelines: Mapping[str, Guideline],
                  labels: Mapping[str, Mapping[str, str]], hits: Mapping[str, list], own_ids: Sequence[str], k: int) -> list[Finding]:
    """Every enabled check over one compared run's top-k lists. `hits`: that run's decoded hits by its own query ids
    (`own_ids`, aligned with `queries`); `labels`: guideline hash -> doc id -> label. Findings carry the compared
    (baseline) query ids."""
    reqs = {q.id: guidelines[q.guideline_hash].requirements if q.guideline_hash in guidelines else () for q in queries}
    lists = [_List(q.id, q.text, hits.get(own, [])) for q, own in zip(queries, own_ids)]
    return check_lists(project.config.checks, lists, reqs, k, {q.id: labels.get(q.guideline_hash, {}) for q in queries})


class _List:
    """One query's list as the checks read it (StoredQuery's shape)."""

    def __init__(self, id: str, text: str, hits: list) -> None:  # noqa: A002 - the field name checks read
        self.id, self.text, self.hits = id, text, hits


EMPTY = PairedTest(0, 0.0, 0.0, 0.0, None, 0.0, 0.0, 1.0, 1.0, 0, 0, 0)


def population_tests(x: np.ndarray, y: np.ndarray, weights: np.ndarray | None, seed: int, alpha: float, workers: int = 1
                     ) -> list[PairedTest]:
    """paired_tests per column over the queries where both values exist: NaN marks a query outside a measure's
    population (AttrMatch(color)@k of a query that names no colour). Columns without NaN are tested together."""
    missing = np.isnan(x) | np.isnan(y)
    full = ~missing.any(axis=0)
    tests: list[PairedTest] = [EMPTY] * x.shape[1]
    if full.any():
        for k, t in zip(np.flatnonzero(full), paired_tests(x[:, full], y[:, full], weights, seed=seed, alpha=alpha, workers=workers)):
            tests[int(k)] = t
    for k in np.flatnonzero(~full):
        keep = ~missing[:, k]
        if keep.any():
            w = weights[keep] if weights is not None else None
            tests[int(k)] = paired_tests(x[keep, k], y[keep, k], w, seed=seed, alpha=alpha, workers=workers)[0]
    return tests
