"""`evalharness labels`: import people's labels from other tools, export any source's labels, list sources."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from evalharness.cli.implicit import implicit
from evalharness.cli.ui import out
from evalharness.project import Project

app = typer.Typer(no_args_is_help=True, help="Import and export relevance labels (human:NAME sources, judges).")
app.command("implicit")(implicit)


def _query_files(project: Project, queries: Path | None) -> list[Path]:
    """--queries (`-`: standard input), else every query set of the project (queries/*.csv)."""
    from evalharness.labels.formats_read import input_path

    if queries is not None:
        return [input_path(queries, project.resolve)]
    return sorted((project.root / "queries").glob("*.csv"))


def _ids_by_text(project: Project, queries: Path | None) -> dict[str, str]:
    """Normalized query text -> query id: the project's query sets, overridden by --queries when given."""
    from evalharness.labels.formats_import import project_query_ids
    from evalharness.textnorm import normalize_query

    ids = {normalize_query(text): qid for qid, text in project_query_ids(_query_files(project, None)).items()}
    if queries is not None:
        ids.update((normalize_query(text), qid) for qid, text in project_query_ids(_query_files(project, queries)).items())
    return ids


def _one_stdin(*args: Path | None) -> None:
    """Standard input (or standard output) serves one of these arguments at a time."""
    from evalharness.errors import EvalHarnessError

    if sum(1 for a in args if a is not None and str(a) == "-") > 1:
        raise EvalHarnessError("`-` (standard input or output) can stand for one file only; give the others as files")


@app.command("import")
def import_(
    ctx: typer.Context,
    file: Path = typer.Argument(..., help="The label file (`-`: standard input)."),
    name: str = typer.Option(..., "--as", help="Store the labels as the source human:NAME."),
    fmt: str | None = typer.Option(None, "--format", "-f", help="csv, qrels, quepid, rre, srw or jsonl (default: from the file)."),
    mapping: str | None = typer.Option(None, "--map", help="esci, graded (0-3), binary, gains, or VALUE=label,..."),
    queries: Path | None = typer.Option(None, "--queries", "-q", help="Query id -> text (CSV id,query; JSONL id,text) for files "
                                                                     "that name queries by id (default: the project's queries/*.csv); "
                                                                     "the ids are kept with the labels for export."),
    column: str | None = typer.Option(None, "--column", help="The rating column (or Quepid rater) to read when there are several."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Store external labels as the label source human:NAME (re-importing is idempotent; changed labels replace old ones)."""
    from evalharness.labels.formats_import import import_labels, project_query_ids
    from evalharness.labels.formats_map import make_label_map
    from evalharness.labels.formats_read import input_path, read_labels
    from evalharness.labels.sources import project_labels
    from evalharness.store import Store
    from evalharness.store.labels import check_source

    _one_stdin(file, queries)
    project = Project(ctx.obj["project"])
    source = check_source(name if name.startswith("human:") else f"human:{name}")
    path = input_path(file, project.resolve)
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
    """The stored human and behaviour label sources and how many labels each holds."""
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


@app.command("export")
def export(
    ctx: typer.Context,
    source: str = typer.Option(..., "--source", "-s", help="human:NAME or a judge spec (offline, openai:MODEL, vote(...))."),
    fmt: str = typer.Option("jsonl", "--format", "-f", help="qrels, csv, quepid, rre, srw or jsonl."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write here (default and `-`: stdout)."),
    topics: Path | None = typer.Option(None, "--topics", help="Also write query id -> text (CSV id,query) for qrels readers."),
    chat: str = typer.Option("openai", "--chat", help="With --format finetune: openai (chat fine-tuning JSONL), hf (chat "
                             "messages) or gemini (Vertex AI tuning JSONL)."),
    judge: str | None = typer.Option(None, "--judge", "-j", help="With --format finetune: the LLM judge whose prompts the "
                                     "examples use (default: [judge] spec)."),
    validation: float = typer.Option(0.2, "--validation", min=0.0, max=0.9, help="With --format finetune: the share of "
                                     "queries held out for validation (split by query)."),
    balance: bool = typer.Option(False, "--rebalance", help="With --format finetune: downsample the training split's labels "
                                 "to the rarest label's count."),
    seed: int = typer.Option(0, "--seed", help="With --format finetune: the seed of the split and the rebalancing."),
    catalog: Path | None = typer.Option(None, "--catalog", help="With --format finetune: the product JSONL of the labelled "
                                        "documents (default: [guidelines] catalog)."),
    queries: Path | None = typer.Option(None, "--queries", "-q", help="Query id -> text (CSV id,query; JSONL id,text): write "
                                                                     "these ids (default: the project's query sets, then the ids "
                                                                     "imported with the labels)."),
) -> None:
    """Export a source's labels so trec_eval, ranx, Quepid, RRE and SRW can read them (JSONL keeps rationale, judge, tokens,
    cost); `--format finetune -o DIR` writes a fine-tuning set (train.jsonl, validation.jsonl, manifest.json) from a
    priority list of sources, e.g. --source 'human:gold,openai:gpt-4o'."""
    from evalharness.errors import EvalHarnessError
    from evalharness.judges import make_judge
    from evalharness.labels.formats_write import LABEL_WRITERS, human_rows, judge_rows
    from evalharness.labels.sources import is_stored, project_labels, split_specs
    from evalharness.store import Store

    if fmt == "finetune":
        return _export_finetune(Project(ctx.obj["project"]), source, output, chat, judge, validation, balance, seed, catalog)
    _one_stdin(output or Path("-"), topics)  # the labels go to stdout unless --output names a file
    if fmt not in LABEL_WRITERS:
        raise EvalHarnessError(f"unknown export format '{fmt}'; use --format {'|'.join(LABEL_WRITERS)}|finetune")
    if len(split_specs(source)) != 1:
        raise EvalHarnessError(f"--source '{source}': export one source at a time")
    project = Project(ctx.obj["project"])
    _, gains = project_labels(project.config)
    ids = _ids_by_text(project, queries)
    store = Store(project.store_url())
    try:
        if is_stored(source):
            rows = human_rows(store, source, gains, ids)
        else:
            rows = judge_rows(store, source, make_judge(source, project.config, need_key=False).judge_id, gains, ids)
    finally:
        store.close()
    if not rows:
        raise EvalHarnessError(f"source {source} has no labels in this project's store; import or judge some first")
    text = LABEL_WRITERS[fmt](rows, source)
    _emit(project, output, text)
    if topics is not None:
        from evalharness.labels.formats_write import csv_text

        seen = dict.fromkeys((r.query_id, r.query) for r in rows)
        _emit(project, topics, csv_text(("id", "query"), seen))


def _export_finetune(project: Project, source: str, output: Path | None, chat: str, judge_spec: str | None, validation: float,
                     balance: bool, seed: int, catalog: Path | None) -> None:
    """Write the fine-tuning set and print each split's label distribution."""
    from evalharness.catalog.products import resolve_catalog
    from evalharness.errors import EvalHarnessError
    from evalharness.judges import make_judge
    from evalharness.labels.finetune import CHAT_FORMATS, build_set, write_set
    from evalharness.labels.sources import is_human, split_specs
    from evalharness.store import Store

    if output is None or str(output) == "-":
        raise EvalHarnessError("--format finetune writes a folder (train.jsonl, validation.jsonl, manifest.json): add -o DIR")
    if chat not in CHAT_FORMATS:
        raise EvalHarnessError(f"unknown --chat '{chat}'; use {'|'.join(CHAT_FORMATS)}")
    cfg = project.config
    judge = make_judge(judge_spec or cfg.judge.spec, cfg, need_key=False)
    if not hasattr(judge, "user_prompt"):
        raise EvalHarnessError(f"--format finetune needs an LLM judge's prompts: --judge openai:MODEL (not {judge.judge_id.split('#')[0]})")
    specs = split_specs(source)
    sources = [(s, "" if is_human(s) else make_judge(s, cfg, need_key=False).judge_id) for s in specs]
    store = Store(project.store_url())
    try:
        result = build_set(project, store, judge, sources, resolve_catalog(project, str(catalog or cfg.guidelines.catalog)),
                           validation=validation, seed=seed, balance=balance)
    finally:
        store.close()
    paths = write_set(result, project.resolve(output), chat)
    for name, split in (("train", result.train), ("validation", result.validation)):
        dist = result.distribution(split)
        out.print(f"{name}: {len(split)} examples, {len({e.query_id for e in split})} queries — " +
                  ", ".join(f"{label} {n} ({n / max(len(split), 1):.0%})" for label, n in sorted(dist.items())), markup=False)
    if result.before_rebalance:
        out.print("train before --rebalance: " + ", ".join(f"{k} {v}" for k, v in sorted(result.before_rebalance.items())), markup=False)
    out.print(f"sources: {', '.join(f'{k} {v}' for k, v in result.sources.items())}; judge prompt {result.prompt_hash} "
              f"({result.judge_id}); wrote {', '.join(str(p) for p in paths.values())}", markup=False)
    if result.missing_products or result.failures:
        out.print(f"note: {result.missing_products} labelled document(s) not in the catalog, {len(result.failures)} pair(s) "
                  "left out (see manifest.json)", markup=False)


def _emit(project: Project, output: Path | None, text: str) -> None:
    if output is None or str(output) == "-":
        typer.echo(text, nl=False)
        return
    path = project.resolve(output)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def register_runs_export(runs_app: typer.Typer) -> None:
    """`runs export RUN`: a stored run's ranked lists as a TREC run, CSV or JSONL."""

    @runs_app.command("export")
    def runs_export(
        ctx: typer.Context,
        run: str = typer.Argument(..., help="Engine config (its latest run) or a run id."),
        fmt: str = typer.Option("trec", "--format", "-f", help="trec, csv or jsonl."),
        output: Path | None = typer.Option(None, "--output", "-o", help="Write here (default and `-`: stdout)."),
        queries: Path | None = typer.Option(None, "--queries", "-q", help="Query id -> text (CSV id,query; JSONL id,text): "
                                                                         "write these ids (default: the run's query set's)."),
    ) -> None:
        """Export a run's ranked lists (TREC run scores are n - rank + 1, so every reader keeps evalharness's order)."""
        from evalharness.agreement.runs import resolve_run
        from evalharness.errors import EvalHarnessError
        from evalharness.labels.formats_write import RUN_WRITERS
        from evalharness.store import Store

        if fmt not in RUN_WRITERS:
            raise EvalHarnessError(f"unknown run export format '{fmt}'; use --format {'|'.join(RUN_WRITERS)}")
        project = Project(ctx.obj["project"])
        store = Store(project.store_url())
        try:
            stored = resolve_run(store, run)
            lists = store.run_queries(stored.run_id)
        finally:
            store.close()
        if queries is not None:  # the ids of the given query set, as `labels export --queries` writes them
            import dataclasses

            from evalharness.textnorm import normalize_query

            ids = _ids_by_text(project, queries)
            lists = [dataclasses.replace(q, id=ids.get(normalize_query(q.text), q.id)) for q in lists]
        _emit(project, output, RUN_WRITERS[fmt](lists, stored.run_id))


def register(main: typer.Typer) -> None:
    main.add_typer(app, name="labels", help="Import and export relevance labels.")
