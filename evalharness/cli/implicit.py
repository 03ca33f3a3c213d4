"""`evalharness labels implicit`: implicit labels from a search log, stored as the label source behaviour:NAME."""

from __future__ import annotations

import json
from typing import Any

import typer
from rich.table import Table

from evalharness.cli.ui import out
from evalharness.errors import EvalHarnessError
from evalharness.project import Project


def implicit(
    ctx: typer.Context,
    source: str = typer.Option(..., "--source", "-s", help="Log file path, http(s) URL, SQLAlchemy URL (--format sql), or 'demo' "
                                                          "(the demo catalog's generated behaviour log)."),
    fmt: str | None = typer.Option(None, "--format", "-f", help="ubi | csv | jsonl | parquet | sql (required unless --source demo)."),
    name: str = typer.Option(..., "--as", help="Store the labels as the source behaviour:NAME."),
    query_field: str | None = typer.Option(None, "--query-field", help="Query text (default: query; UBI: user_query)."),
    doc_field: str | None = typer.Option(None, "--doc-field", help="Document id (default: doc_id; UBI: event_attributes.object.object_id)."),
    position_field: str | None = typer.Option(None, "--position-field", help="0-based position (default: position; UBI: "
                                                                           "event_attributes.position.ordinal)."),
    action_field: str | None = typer.Option(None, "--action-field", help="Event kind: impression, click, add_to_cart, purchase "
                                                                       "(default: action; UBI: action_name)."),
    time_field: str | None = typer.Option(None, "--time-field", help="Timestamp for --since/--until (UBI: timestamp)."),
    since: str | None = typer.Option(None, "--since", help="Keep events at or after this ISO date."),
    until: str | None = typer.Option(None, "--until", help="Keep events before this ISO date."),
    estimate: str | None = typer.Option(None, "--estimate", help="coec | pbm (default: [behaviour] estimate)."),
    min_impressions: int | None = typer.Option(None, "--min-impressions", min=1, help="Label only pairs shown this often "
                                                                                    "(default: [behaviour] min_impressions)."),
    max_rank: int | None = typer.Option(None, "--max-rank", min=1, help="Use positions 0..N-1 only (default: [behaviour] max_rank)."),
    table: str | None = typer.Option(None, "--table", help="SQL source: table to read."),
    sql: str | None = typer.Option(None, "--sql", help="SQL source: a SELECT to run."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Per (query, document): impressions, clicks, add-to-carts, purchases and a position-corrected estimate (COEC or a
    position-based click model), mapped onto the project's labels by [behaviour] thresholds; stored as behaviour:NAME."""
    from evalharness.cli.queries import _date
    from evalharness.labels.implicit import compute_implicit
    from evalharness.labels.sources import project_labels
    from evalharness.querylog.aggregate import QueryCounts
    from evalharness.querylog.events import EventCounts, EventFields, read_events
    from evalharness.querylog.sources import FORMATS, local_path
    from evalharness.store import Store
    from evalharness.store.behaviour import BEHAVIOUR_PREFIX, check_behaviour_source, replace_behaviour

    project = Project.at(ctx)
    if source == "demo":
        from evalharness.sample import ensure_demo_catalog
        from evalharness.sample.events import ensure_demo_events

        source, fmt = str(ensure_demo_events(ensure_demo_catalog(project.cache_dir))), fmt or "jsonl"
    if fmt is None:
        raise EvalHarnessError(f"--format is needed for {source}: one of {', '.join(FORMATS)}")
    if fmt not in FORMATS:
        raise EvalHarnessError(f"unknown --format '{fmt}'; use one of: {', '.join(FORMATS)}")
    label_source = check_behaviour_source(name if name.startswith(BEHAVIOUR_PREFIX) else f"{BEHAVIOUR_PREFIX}{name}")
    if (since or until) and not time_field and fmt != "ubi":
        raise EvalHarnessError("--since/--until need --time-field")
    cfg = project.config.behaviour
    window = {"since": _date(since, "--since"), "until": _date(until, "--until")}
    given = {"query": query_field, "doc": doc_field, "position": position_field, "action": action_field, "time": time_field}
    fields = EventFields.ubi(**given, **window) if fmt == "ubi" else EventFields(
        **{k: v for k, v in given.items() if v is not None}, **window)
    counts = EventCounts(max_rank=max_rank or cfg.max_rank, privacy=QueryCounts(privacy=_patterns(project)))
    tmp: list = []
    try:
        path = None if fmt == "sql" else local_path(source if source.startswith(("http://", "https://")) else str(project.resolve(source)), tmp)
        read_events(fmt, source, path, fields, counts, table, sql)
    finally:
        for p in tmp:
            p.unlink(missing_ok=True)
    names, _ = project_labels(project.config)
    result = compute_implicit(counts, cfg, names, estimate, min_impressions)
    log_name = source.split("@")[-1] if fmt == "sql" else source
    store = Store(project.store_url())
    try:
        replace_behaviour(store, label_source, log_name, result.model(), result.evidence)
    finally:
        store.close()
    summary = {"source": label_source, **result.summary()}
    if as_json:
        out.print_json(json.dumps(summary))
        return
    _print_summary(summary, result)


def _patterns(project: Project) -> dict[str, Any]:
    import re

    try:
        return {k: re.compile(p, re.IGNORECASE) for k, p in project.config.privacy.patterns.items()}
    except re.error as exc:
        raise EvalHarnessError(f"evalharness.toml [privacy] patterns: invalid regular expression ({exc})") from None


def _print_summary(s: dict[str, Any], result: Any) -> None:
    skipped = ", ".join(f"{k} {v}" for k, v in sorted(s["skipped"].items()))
    out.print(f"{s['source']}: {s['events']} events read{f' (left out: {skipped})' if skipped else ''}", markup=False, soft_wrap=True)
    out.print(f"{s['pairs']} (query, document) pairs over {s['queries']} queries; {s['labelled_pairs']} labelled, "
              f"{s['below_min_impressions']} below {s['min_impressions']} impressions (evidence kept, no label)", markup=False)
    cuts = s["thresholds"]
    bands = " < ".join([s["labels"][0], *(f"{c:g} <= {lab}" for c, lab in zip(cuts, s["labels"][1:]))])
    out.print(f"estimate {s['estimate']} (weights: " + ", ".join(f"{k} {v:g}" for k, v in s["weights"].items())
              + f"); labels by estimate: {bands}", markup=False)
    out.print("labels: " + ", ".join(f"{k} {v}" for k, v in s["distribution"].items()), markup=False)
    pos = Table(title="Position bias (first 10 positions)")
    for col in ("position", "CTR", "examination (PBM, top = 1)"):
        pos.add_column(col, justify="right")
    for k, (ctr, theta) in enumerate(zip(s["ctr_by_position"][:10], s["theta"][:10])):
        pos.add_row(str(k), f"{ctr:.3f}", f"{theta:.3f}")
    out.print(pos)
    if not s["pbm_converged"]:
        out.print(f"note: the position-based model stopped after {s['pbm_iterations']} EM iterations without converging", markup=False)
