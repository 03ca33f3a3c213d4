"""`evalharness report RUN`: the single-run diagnostics report (HTML, and a summary on the terminal or as JSON)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.markup import escape
from rich.table import Table

from evalharness.cli.ui import fmt, out
from evalharness.errors import EvalHarnessError
from evalharness.project import Project

if TYPE_CHECKING:
    from evalharness.compare.comparison import Comparison
    from evalharness.report.run_diagnostics import RunDiagnostics
    from evalharness.store import Store


def write_run_report(project: Project, store: Store, run_ref: str | None, html: Path) -> tuple[Path, RunDiagnostics]:
    """Build the diagnostics of a run (a run id: that run; an engine config name or None: the latest finished run) and
    write its HTML report; used by `run --html` too."""
    from evalharness.labels.schemes import scheme_of
    from evalharness.report.run_diagnostics import build_run_diagnostics
    from evalharness.report.run_report import write_run_html
    from evalharness.store.runread import report_run

    run = report_run(store, run_ref)
    if run.status == "waiting":
        raise EvalHarnessError(f"run {run.run_id} is waiting for provider batch results; run `evalharness batches collect` "
                               "(--wait to block until they end), then report it")
    diagnostics = build_run_diagnostics(project, store, run)
    return write_run_html(diagnostics, scheme_of(project.config), project.resolve(html)), diagnostics


def diagnostics_table(d: RunDiagnostics) -> Table:
    """Metrics with CIs, then one line per query type, for the terminal."""
    table = Table(title=f"{d.run.engine_config} — run {d.run.run_id} ({d.queries} queries)")
    for col in ("metric", "mean", "95% CI", "queries"):
        table.add_column(col, justify="left" if col in ("metric", "95% CI") else "right")
    for m in d.metrics:
        table.add_row(m.name, fmt(m.mean), f"[{fmt(m.ci_low)}, {fmt(m.ci_high)}]", str(m.n))
    return table


def types_table(c: Comparison) -> Table:
    """Per query type: queries and each metric's baseline -> candidate means (one row per candidate)."""
    several = len(c.candidates) > 1
    table = Table(title="By query type")
    for col in ["type", *(["config"] if several else []), "queries", *c.metric_names]:
        label = col in ("type", "config")
        table.add_column(col, justify="left" if label else "right", no_wrap=label, min_width=16 if col == "type" else None)
    for row in c.types():
        for name, per in row["metrics"].items():
            cells = [f"{fmt(per[m]['baseline'], 3)}→{fmt(per[m]['candidate'], 3)}" if per[m]["delta"] == per[m]["delta"]
                     else "—" for m in c.metric_names]  # NaN: no query of the type has such a requirement
            table.add_row(row["group"], *([name] if several else []), str(row["queries"]), *cells)
    return table


def checks_line(c: Comparison) -> str:
    """Rule-check findings per config, one line."""
    return "rule checks: " + "; ".join(f"{s.name} " + ", ".join(f"{k} {v}" for k, v in c.check_counts(s).items())
                                       for s in c.sides)


def register(app: typer.Typer) -> None:
    @app.command()
    def report(
        ctx: typer.Context,
        run: str | None = typer.Argument(None, help="Run id (shown whatever its status, with a banner unless finished), "
                                           "or an engine config name; default: the latest finished run."),
        html: Path | None = typer.Option(None, "--html", help="Where to write the report (default reports/run-<run id>.html)."),
        as_json: bool = typer.Option(False, "--json", help="Print the diagnostics as one JSON object."),
    ) -> None:
        """Write the single-run report: metrics with CIs, labels, checks, per-type and per-segment tables, worst queries."""
        from evalharness.store import Store
        from evalharness.store.runread import report_run

        project = Project(ctx.obj["project"])
        store = Store(project.store_url())
        try:
            path = html or Path("reports") / f"run-{report_run(store, run).run_id}.html"
            written, d = write_run_report(project, store, run, path)
        finally:
            store.close()
        if as_json:
            out.print_json(json.dumps({**d.to_json(), "report": str(written)}))
            return
        if d.banner:
            out.print(f"[bold red]{escape(d.banner)}[/]")
        out.print(diagnostics_table(d))
        out.print("checks: " + (", ".join(f"{k} {v}" for k, v in d.checks.items()) or "none enabled"), markup=False)
        out.print(f"report: {written}", markup=False)
