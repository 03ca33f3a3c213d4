"""`evalharness runs`: the stored runs, newest first."""

from __future__ import annotations

import json

import typer
from rich.markup import escape
from rich.table import Table

from evalharness.cli.ui import fmt, out
from evalharness.project import Project


def register(app: typer.Typer) -> None:
    runs_app = typer.Typer(help="List stored runs (and `runs export RUN` their ranked lists).")

    @runs_app.callback(invoke_without_command=True)
    def runs(ctx: typer.Context, limit: int = typer.Option(20, "--limit", "-n", min=1, help="How many runs to list."),
             as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
        """List stored runs with their config hash, judge, status and first metric."""
        if ctx.invoked_subcommand is not None:
            return
        from evalharness.compare.runs import judge_spec_of
        from evalharness.pipeline.runstate import process_gone
        from evalharness.store import Store

        project = Project.at(ctx)
        store = Store(project.store_url())
        try:
            store.mark_stale_runs(process_gone)  # a killed run shows as interrupted, not running forever
            rows = store.list_runs(limit)
        finally:
            store.close()
        if as_json:
            out.print_json(json.dumps([{"run_id": r.run_id, "engine_config": r.engine_config, "config_hash": r.config_hash,
                                        "judge_id": r.judge_id, "status": r.status, "catalog": r.catalog, "started_at": r.started_at,
                                        "metrics": r.metrics, "counts": r.counts, "cost_usd": r.cost_usd} for r in rows]))
            return
        table = Table(title=f"Runs in {project.root}")
        for col in ("run id", "config", "hash", "catalog", "judge", "status", "started", "queries", "first metric"):
            table.add_column(col, no_wrap=col in ("run id", "first metric"))
        for r in rows:
            first = next(iter(r.metrics.items()), None)
            table.add_row(escape(r.run_id), escape(r.engine_config), r.config_hash[:8], escape(r.catalog or "—"),
                          escape(judge_spec_of(r.judge_id)), r.status, r.started_at[:16],
                          str(r.counts.get("queries", "")), f"{first[0]} {fmt(first[1])}" if first else "—")
        out.print(table)

    from evalharness.cli.labels import register_runs_export

    register_runs_export(runs_app)
    app.add_typer(runs_app, name="runs")
