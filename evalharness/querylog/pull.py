"""`queries pull`: read a log in bounded memory, scrub, merge variants, select, and describe the result."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from evalharness.errors import EvalHarnessError
from evalharness.models import Query, sha256_hex
from evalharness.querylog.aggregate import QueryCounts
from evalharness.querylog.select import Ranked, rank_and_segment, sample_strata
from evalharness.querylog.sources import COUNT_BY, FORMATS, EventStats, Fields, local_path, read_sql, read_tabular, read_ubi


@dataclass
class PullRequest:
    """What to pull and how to select."""

    source: str
    fmt: str
    fields: Fields
    privacy: dict[str, str]
    min_count: int = 1
    top: int | None = None
    strata: dict[str, int] | None = None
    cuts: tuple[float, float] = (0.5, 0.8)
    sample: str = "frequency"
    seed: int = 0
    table: str | None = None
    sql: str | None = None
    count_by: str = "searches"


@dataclass
class PullResult:
    """The selected queries, event statistics (UBI) and what was read, dropped and merged."""

    queries: list[Query]
    rows: int
    distinct: int
    merged_variants: int
    dropped: dict[str, int]
    short: dict[str, int] = field(default_factory=dict)
    stats: dict[str, dict[str, float]] = field(default_factory=dict)


def query_id(norm: str) -> str:
    """A stable id for a normalized query."""
    return "q-" + sha256_hex(norm)[:10]


def pull_queries(req: PullRequest) -> PullResult:
    """Run one pull."""
    if req.fmt not in FORMATS:
        raise EvalHarnessError(f"unknown --format '{req.fmt}'; use one of: {', '.join(FORMATS)}")
    if req.count_by not in COUNT_BY:
        raise EvalHarnessError(f"--count-by '{req.count_by}' must be one of: {', '.join(COUNT_BY)}")
    if req.top is not None and req.strata:
        raise EvalHarnessError("use either --top or --strata, not both")
    try:
        patterns = {name: re.compile(p, re.IGNORECASE) for name, p in req.privacy.items()}
    except re.error as exc:
        raise EvalHarnessError(f"evalharness.toml [privacy] patterns: invalid regular expression ({exc})") from None
    counts = QueryCounts(privacy=patterns)
    stats = EventStats()
    tmp: list[Path] = []
    try:
        if req.fmt == "sql":
            read_sql(req.source, req.table, req.sql, req.fields, counts)
        else:
            path = local_path(req.source, tmp)
            if req.fmt == "ubi":
                read_ubi(path, req.fields, counts, stats, req.count_by)
            else:
                read_tabular(req.fmt, path, req.fields, counts)
    finally:
        for p in tmp:
            p.unlink(missing_ok=True)
    if not counts.totals:
        dropped = sum(counts.dropped.values())
        extra = f" ({dropped} dropped by the privacy scrub)" if dropped else ""
        raise EvalHarnessError(f"the log {req.source} has no queries{extra}; check --query-field, --since/--until and the file")
    items = [(norm, counts.surface(norm), n) for norm, n in counts.totals.items() if n >= req.min_count]
    if not items:
        raise EvalHarnessError(f"no query has a count of at least {req.min_count}; lower --min-count")
    ranked = rank_and_segment(items, req.cuts)
    short: dict[str, int] = {}
    if req.strata:
        chosen, short = sample_strata(ranked, req.strata, req.sample, req.seed)
    else:
        chosen = ranked[: req.top] if req.top is not None else ranked
    merged = sum(len(s) - 1 for s in counts.surfaces.values())  # spellings folded into another
    result = PullResult(_to_queries(chosen), counts.rows, len(counts.totals), merged, dict(counts.dropped), short)
    if stats:
        result.stats = {query_id(r.norm): stats.per_query(r.norm) for r in chosen}
    return result


def _to_queries(chosen: list[Ranked]) -> list[Query]:
    return [Query(query_id(r.norm), r.text, r.count, r.segment) for r in chosen]
