"""`evalharness queries pull`: build a query set from a search log."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import typer
from rich.table import Table

from evalharness.cli.ui import out
from evalharness.errors import EvalHarnessError
from evalharness.project import Project

app = typer.Typer(no_args_is_help=True)


def _date(value: str | None, flag: str) -> datetime | None:
    from evalharness.querylog.sources import parse_time

    if value is None:
        return None
    parsed = parse_time(value)
    if parsed is None:
        raise EvalHarnessError(f"{flag} '{value}' is not an ISO date such as 2024-12-01 or 2024-12-01T12:00:00Z")
    return parsed


@app.command()
def pull(
    ctx: typer.Context,
    source: str = typer.Option(..., "--source", "-s", help="Log file path, http(s) URL, or SQLAlchemy URL (--format sql)."),
    fmt: str = typer.Option(..., "--format", "-f", help="csv | jsonl | parquet | ubi | sql"),
    out_path: Path = typer.Option(..., "--out", "-o", help="Query set CSV to write, e.g. queries/top.csv"),
    query_field: str = typer.Option("query", "--query-field", help="Column with the query text (UBI: user_query)."),
    count_field: str | None = typer.Option(None, "--count-field", help="Column with pre-aggregated counts (else one row per search)."),
    time_field: str | None = typer.Option(None, "--time-field", help="Timestamp column for --since/--until."),
    since: str | None = typer.Option(None, "--since", help="Keep searches at or after this ISO date."),
    until: str | None = typer.Option(None, "--until", help="Keep searches before this ISO date."),
    min_count: int = typer.Option(1, "--min-count", min=1, help="Drop queries seen fewer times."),
    top: int | None = typer.Option(None, "--top", min=1, help="Keep the N most frequent queries."),
    strata: str | None = typer.Option(None, "--strata", help="Sample per segment, e.g. head:20,torso:30,tail:50."),
    cuts: str = typer.Option("0.5,0.8", "--cuts", help="Traffic shares where head and torso end."),
    sample: str = typer.Option("frequency", "--sample", help="Sampling within a stratum: frequency | uniform."),
    seed: int = typer.Option(0, "--seed", help="Random seed for --strata sampling."),
    table: str | None = typer.Option(None, "--table", help="SQL source: table to read."),
    sql: str | None = typer.Option(None, "--sql", help="SQL source: a SELECT to run."),
    count_by: str | None = typer.Option(None, "--count-by", help="UBI: count a query's distinct searches (default) "
                                        "or every record naming it: searches | records."),
) -> None:
    """Pull the top queries (or head/torso/tail strata) from a search log into queries/NAME.csv."""
    from evalharness.querylog.pull import PullRequest, pull_queries
    from evalharness.querylog.querysets import write_query_set
    from evalharness.querylog.select import parse_cuts, parse_strata
    from evalharness.querylog.sources import Fields

    if sample not in ("frequency", "uniform"):
        raise EvalHarnessError(f"--sample '{sample}' must be frequency or uniform")
    if count_by is not None and fmt != "ubi":
        raise EvalHarnessError("--count-by applies to --format ubi (other logs are one row per search or use --count-field)")
    if (since or until) and not time_field and fmt != "ubi":
        raise EvalHarnessError("--since/--until need --time-field")
    project = Project.at(ctx)
    if fmt != "sql" and not source.startswith(("http://", "https://")):
        source = str(project.resolve(source))  # like --out, --queries and --catalog: relative to the project
    fields = Fields(query_field, count_field, time_field or ("timestamp" if fmt == "ubi" else None),
                    _date(since, "--since"), _date(until, "--until"))
    req = PullRequest(source=source, fmt=fmt, fields=fields, privacy=project.config.privacy.patterns, min_count=min_count,
                      top=top, strata=parse_strata(strata) if strata else None, cuts=parse_cuts(cuts), sample=sample,
                      seed=seed, table=table, sql=sql, count_by=count_by or "searches")
    result = pull_queries(req)
    target = project.resolve(out_path)
    write_query_set(target, result.queries, result.stats or None)
    dropped = sum(result.dropped.values())
    by_rule = ", ".join(f"{k} {v}" for k, v in sorted(result.dropped.items()))
    counted = "searches" if fmt == "ubi" and count_by != "records" else "log records naming a query"
    out.print(f"read {result.rows} {counted}, {result.distinct} distinct queries ({result.merged_variants} variant spellings "
              f"merged); privacy scrub dropped {dropped}{f' ({by_rule})' if by_rule else ''}", soft_wrap=True)
    segs = {s: sum(1 for q in result.queries if q.segment == s) for s in ("head", "torso", "tail")}
    out.print(f"wrote {len(result.queries)} queries to {target} (head {segs['head']}, torso {segs['torso']}, tail {segs['tail']})")
    for seg, n in result.short.items():
        out.print(f"[yellow]note:[/] the {seg} has {n} fewer queries than requested; all of it was taken")
    shown = Table(title="Top queries")
    for col in ("query", "count", "segment", *(["searches", "clicks", "CTR", "add to cart", "zero results"] if result.stats else [])):
        shown.add_column(col, justify="left" if col in ("query", "segment") else "right")
    for q in result.queries[:20]:
        s = result.stats.get(q.id)
        extra = [str(s["searches"]), str(s["clicks"]), f"{s['ctr']:.1%}", str(s["add_to_cart"]), str(s["zero_results"])] if s else []
        shown.add_row(q.text, str(q.count), q.segment, *extra)
    out.print(shown)
