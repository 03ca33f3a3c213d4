"""Diagnostics inside a comparison: each compared query's type, and every config's rule-check findings."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from evalharness.checks.base import Check, Finding
from evalharness.checks.runner import check_lists
from evalharness.compare.stats import PairedTest, paired_test_steps, paired_tests
from evalharness.guidelines.querytypes import classify
from evalharness.runtime.forked import map_steps

if TYPE_CHECKING:
    from evalharness.compare.comparison import ComparedQuery
    from evalharness.models import Guideline
    from evalharness.project import Project


def query_type(text: str, requirements: Sequence, baseline_hits: int) -> str:
    """A compared query's type: from its guideline's requirements, zero-result when the baseline found nothing."""
    return classify(text, requirements, baseline_hits)


def side_findings(project: Project, queries: Sequence[ComparedQuery], guidelines: Mapping[str, Guideline],
                  labels: Mapping[str, Mapping[str, str]], hits: Mapping[str, list], own_ids: Sequence[str], k: int,
                  checks: Sequence[Check] | None = None) -> list[Finding]:
    """Every enabled check over one compared run's top-k lists. `hits`: that run's decoded hits by its own query ids
    (`own_ids`, aligned with `queries`); `labels`: guideline hash -> doc id -> label; `checks`: the enabled checks, when
    the caller keeps them across runs and chunks. Findings carry the compared (baseline) query ids."""
    reqs = {q.id: guidelines[q.guideline_hash].requirements if q.guideline_hash in guidelines else () for q in queries}
    lists = [_List(q.id, q.text, hits.get(own, [])) for q, own in zip(queries, own_ids)]
    return check_lists(project.config.checks, lists, reqs, k, {q.id: labels.get(q.guideline_hash, {}) for q in queries},
                       checks)


class _List:
    """One query's list as the checks read it (StoredQuery's shape)."""

    def __init__(self, id: str, text: str, hits: list) -> None:  # noqa: A002 - the field name checks read
        self.id, self.text, self.hits = id, text, hits


EMPTY = PairedTest(0, 0.0, 0.0, 0.0, None, 0.0, 0.0, 1.0, 1.0, 0, 0, 0)


def population_tests(x: np.ndarray, y: np.ndarray, weights: np.ndarray | None, seed: int, alpha: float, workers: int = 1
                     ) -> list[PairedTest]:
    """paired_tests per column over the queries where both values exist: NaN marks a query outside a measure's
    population (AttrMatch(color)@k of a query that names no colour). Columns without NaN are tested together.

    With `workers` > 1 and enough queries, the bootstrap of the full columns runs here while a second process runs
    their randomization test, the scipy.special work and the tests of the other columns (same results)."""
    missing = np.isnan(x) | np.isnan(y)
    full = ~missing.any(axis=0)
    tests: list[PairedTest] = [EMPTY] * x.shape[1]
    steps, finish = paired_test_steps(x[:, full], y[:, full], weights, seed=seed, alpha=alpha) if full.any() else ([], None)
    partial = [int(k) for k in np.flatnonzero(~full) if (~missing[:, k]).any()]

    def by_population() -> list[PairedTest]:
        out = []
        for k in partial:
            keep = ~missing[:, k]
            out.append(paired_tests(x[keep, k], y[keep, k], weights[keep] if weights is not None else None,
                                    seed=seed, alpha=alpha)[0])
        return out

    parallel = steps.workers(workers) if finish is not None else 1  # type: ignore[union-attr]
    if parallel > 1:  # the randomization step and the other columns in the second process
        second = steps[1]
        results = map_steps(lambda i: steps[0]() if i == 0 else (second(), by_population()), 2, parallel)
        full_results, separate = [results[0], results[1][0]], results[1][1]
    else:
        full_results, separate = [step() for step in steps], by_population()
    if finish is not None:
        for k, t in zip(np.flatnonzero(full), finish(full_results)):
            tests[int(k)] = t
    for k, t in zip(partial, separate):
        tests[k] = t
    return tests
