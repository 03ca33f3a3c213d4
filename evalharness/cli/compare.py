"""`evalharness compare` and `evalharness gate`."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from evalharness.cli.ui import RichStages, err, fmt, out, signed
from evalharness.errors import EXIT_GATE_FAILED
from evalharness.measures import higher_is_better
from evalharness.project import Project

if TYPE_CHECKING:
    from evalharness.compare import Comparison


def comparison_table(c: Comparison) -> Table:
    table = Table(title=f"{c.baseline.engine_config} → {c.candidate.engine_config} ({len(c.queries)} queries)")
    for col in ("metric", c.baseline.engine_config, c.candidate.engine_config, "delta", "95% CI", "p (t)", "p (rand)",
                "p Holm", "W/T/L"):
        table.add_column(col, justify="left" if col in ("metric", "95% CI") else "right")
    for m in c.metrics:
        t = m.test
        better = t.delta if higher_is_better(m.metric) else -t.delta
        colour = "green" if better > 0 else "red" if better < 0 else "white"
        star = " *" if m.significant else ""
        table.add_row(m.metric, fmt(t.mean_base), fmt(t.mean_cand), f"[{colour}]{signed(t.delta)}{star}[/]",
                      f"[{signed(t.ci_low)}, {signed(t.ci_high)}]", fmt(t.p_ttest), fmt(t.p_randomization),
                      fmt(m.p_randomization_holm), f"{t.wins}/{t.ties}/{t.losses}")
    return table


def _write(path: Path | None, text: str) -> None:
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def _run_comparison(ctx: typer.Context, baseline: str, candidate: str, metrics: list[str] | None, judge: str | None,
                    quiet: bool) -> tuple[Project, Comparison]:
    from evalharness.compare import compare_runs, judge_spec_of, resolve_run
    from evalharness.judges import make_judge
    from evalharness.metrics import parse_measures
    from evalharness.pipeline import SilentStages
    from evalharness.store import Store

    project = Project(ctx.obj["project"])
    cfg = project.config
    names = metrics or list(cfg.run.metrics)
    parse_measures(names)
    alpha = min((r.alpha for r in cfg.gate.rules if r.alpha is not None), default=0.05)
    store = Store(project.store_url())
    try:
        base, cand = resolve_run(store, baseline), resolve_run(store, candidate)
        # By default, judge with what judged the runs (when both agree), else with the project's judge.
        spec = judge or (judge_spec_of(cand.judge_id) if judge_spec_of(base.judge_id) == judge_spec_of(cand.judge_id)
                         else cfg.judge.spec)
        judge_obj = make_judge(spec, cfg)
        stages = SilentStages() if quiet else RichStages()
        comparison = compare_runs(project, store, base, cand, judge_obj, names, alpha=alpha, stages=stages)
    finally:
        store.close()
    return project, comparison


def _print(c: Comparison, html: Path | None) -> None:
    out.print(comparison_table(c))
    out.print(f"* significant at alpha={c.alpha} (paired randomization test, Holm-corrected). "
              f"Judged: {c.baseline.engine_config} {c.judged_base:.1%}, {c.candidate.engine_config} {c.judged_cand:.1%}.")
    movers = c.movers(5)
    if movers:
        out.print(f"biggest movers on {c.primary}: " + "; ".join(f"{q.text!r} {signed(q.delta(c.primary), 3)}" for q in movers),
                  markup=False)
    for reason in c.failures[:10]:
        err.print(f"unjudged: {reason}", markup=False)
    if html:
        out.print(f"report: {html}")


def register(app: typer.Typer) -> None:
    @app.command()
    def compare(
        ctx: typer.Context,
        baseline: str = typer.Argument(..., help="Baseline engine config (its latest run) or a run id."),
        candidate: str = typer.Argument(..., help="Candidate engine config (its latest run) or a run id."),
        metrics: list[str] | None = typer.Option(None, "--metrics", "-m", help="Metrics (repeat); default: [run] metrics."),
        judge: str | None = typer.Option(None, "--judge", "-j", help="Judge for pairs not judged yet (default: the runs' judge)."),
        html: Path | None = typer.Option(None, "--html", help="Write the HTML report here."),
        markdown: Path | None = typer.Option(None, "--markdown", help="Write a Markdown summary here."),
        junit: Path | None = typer.Option(None, "--junit", help="Write the gate checks as JUnit XML here."),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    ) -> None:
        """Compare the latest runs of two engine configs with paired statistics."""
        from evalharness.gate import evaluate_gate
        from evalharness.report.html import write_html
        from evalharness.report.junit import gate_junit
        from evalharness.report.markdown import comparison_markdown

        project, c = _run_comparison(ctx, baseline, candidate, metrics, judge, as_json)
        if html:
            write_html(c, project.resolve(html))
        _write(project.resolve(markdown) if markdown else None, comparison_markdown(c, report_path=str(html or "")))
        if junit:
            _write(project.resolve(junit), gate_junit(c, evaluate_gate(c, project.config.gate)))
        if as_json:
            out.print_json(json.dumps(c.to_json()))
        else:
            _print(c, project.resolve(html) if html else None)

    @app.command()
    def gate(
        ctx: typer.Context,
        baseline: str = typer.Option(..., "--baseline", "-b", help="Baseline engine config or run id."),
        candidate: str = typer.Option(..., "--candidate", "-c", help="Candidate engine config or run id."),
        judge: str | None = typer.Option(None, "--judge", "-j", help="Judge for pairs not judged yet."),
        markdown: Path = typer.Option(Path("reports/gate.md"), "--markdown", help="Markdown summary (PR comment)."),
        junit: Path = typer.Option(Path("reports/gate-junit.xml"), "--junit", help="JUnit XML of the checks."),
        html: Path | None = typer.Option(None, "--html", help="Also write the HTML report."),
    ) -> None:
        """Fail (exit 1) when the candidate regresses beyond the [[gate.rules]] of evalharness.toml."""
        from evalharness.gate import evaluate_gate
        from evalharness.report.html import write_html
        from evalharness.report.junit import gate_junit
        from evalharness.report.markdown import comparison_markdown

        project, c = _run_comparison(ctx, baseline, candidate, None, judge, False)
        result = evaluate_gate(c, project.config.gate)
        if html:
            write_html(c, project.resolve(html))
        md = comparison_markdown(c, result, str(html or ""))
        _write(project.resolve(markdown), md)
        _write(project.resolve(junit), gate_junit(c, result))
        summary = os.environ.get("GITHUB_STEP_SUMMARY")
        if summary:
            with open(summary, "a", encoding="utf-8") as fh:
                fh.write(md)
        out.print(comparison_table(c))
        for r in result.results:
            out.print(f"{'[green]pass[/]' if r.passed else '[red]FAIL[/]'} {r.name}: {r.detail}")
        out.print(f"gate {'passed' if result.passed else 'FAILED'}: {c.baseline.engine_config} -> "
                  f"{c.candidate.engine_config}; wrote {markdown} and {junit}")
        if not result.passed:
            raise typer.Exit(EXIT_GATE_FAILED)



