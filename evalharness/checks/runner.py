"""Run the enabled checks over stored result lists and count what they find."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from evalharness.checks.base import Check, CheckContext, Finding
from evalharness.checks.registry import enabled_checks, run_checks
from evalharness.config import ChecksConfig
from evalharness.models import Requirement


def check_lists(cfg: ChecksConfig, queries: Sequence[Any], requirements: Mapping[str, Sequence[Requirement]],
                k: int, labels: Mapping[str, Mapping[str, str]] | None = None,
                checks: Sequence[Check] | None = None) -> list[Finding]:
    """Findings of every enabled check over each query's top k. `queries` have id, text and hits (StoredQuery);
    `requirements` and `labels` (doc_id -> label) are keyed by query id. `checks`: the enabled checks made once by a
    caller that checks several batches (a check keeps what it learnt of the products, e.g. the title index)."""
    checks = enabled_checks(cfg) if checks is None else checks
    if not checks:
        return []
    labels = labels or {}
    contexts = (CheckContext(q.id, q.text, q.hits, tuple(requirements.get(q.id, ())), k, labels.get(q.id, {})) for q in queries)
    return run_checks(checks, contexts)


def finding_counts(findings: Sequence[Finding], names: Sequence[str] = ()) -> dict[str, int]:
    """Findings per check (every name in `names` present, 0 when none)."""
    counts = Counter(f.check for f in findings)
    return {**{n: 0 for n in names}, **dict(sorted(counts.items()))}


def enabled_names(cfg: ChecksConfig) -> list[str]:
    """The names of the checks [checks] enables."""
    return [c.name for c in enabled_checks(cfg)]
