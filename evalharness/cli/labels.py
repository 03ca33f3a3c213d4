"""`evalharness labels`: import people's labels from other tools, export any source's labels, list sources."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from evalharness.cli.ui import out
from evalharness.project import Project

app = typer.Typer(no_args_is_help=True, help="Import and export relevance labels (human:NAME sources, judges).")


def _query_files(project: Project, queries: Path | None) -> list[Path]:
    """--queries, else every query set of the project (queries/*.csv)."""
    if queries is not None:
        return [project.resolve(queries)]
    return sorted((project.root / "queries").glob("*.csv"))


@app.command("import")
def import_(
    ctx: typer.Context,
    file: Path = typer.Argument(..., help="The label file."),
    name: str = typer.Option(..., "--as", help="Store the labels as the source human:NAME."),
    fmt: str | None = typer.Option(None, "--format", "-f", help="csv, qrels, quepid, rre, srw or jsonl (default: from the file)."),
    mapping: str | None = typer.Option(None, "--map", help="esci, graded (0-3), binary, gains, or VALUE=label,..."),
    queries: Path | None = typer.Option(None, "--queries", "-q", help="Query id -> text (CSV id,query; JSONL id,text) for files "
                                                                     "that name queries by id (default: the project's queries/*.csv)."),
    column: str | None = typer.Option(None, "--column", help="The rating column (or Quepid rater) to read when there are several."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Store external labels as the label source human:NAME (re-importing is idempotent; changed labels replace old ones)."""
    from evalharness.labels.formats_import import import_labels, project_query_ids
    from evalharness.labels.formats_map import make_label_map
    from evalharness.labels.formats_read import read_labels
    from evalharness.labels.sources import project_labels
    from evalharness.store import Store
    from evalharness.store.labels import check_source

    project = Project(ctx.obj["project"])
    source = check_source(name if name.startswith("human:") else f"human:{name}")
    path = project.resolve(file)
    names, gains = project_labels(project.config)
    label_map = make_label_map(mapping, names, gains)
    raw = read_labels(path, fmt, column)
    needs_ids = any(r.query is None for r in raw)
    query_ids = project_query_ids(_query_files(project, queries)) if needs_ids else {}
    store = Store(project.store_url())
    try:
        result = import_labels(store, source, raw, label_map, query_ids, path)
    finally:
        store.close()
    if as_json:
        out.print_json(json.dumps(result.to_json()))
        return
    skipped = f"; {result.unknown_query_ids} row(s) name a query id not in the query file and were skipped" if result.unknown_query_ids else ""
    out.print(f"{source}: {result.rows} labels from {path.name} — {result.new} new, {result.changed} changed, "
              f"{result.unchanged} unchanged{skipped}", markup=False)


@app.command("list")
def list_(ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """The stored human label sources and how many labels each holds."""
    from evalharness.store import Store
    from evalharness.store.labels import label_sources

    project = Project(ctx.obj["project"])
    store = Store(project.store_url())
    try:
        sources = label_sources(store)
    finally:
        store.close()
    if as_json:
        out.print_json(json.dumps(sources))
        return
    table = Table(title="Label sources")
    table.add_column("source")
    table.add_column("labels", justify="right")
    for src, n in sources.items():
        table.add_row(src, str(n))
    out.print(table)


def register(main: typer.Typer) -> None:
    main.add_typer(app, name="labels", help="Import and export relevance labels.")
