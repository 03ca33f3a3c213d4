"""`evalharness compare` and `evalharness gate`."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.markup import escape
from rich.table import Table

from evalharness.cli.ui import RichStages, err, fmt, out, signed
from evalharness.errors import EXIT_GATE_FAILED, EvalHarnessError
from evalharness.project import Project

if TYPE_CHECKING:
    from evalharness.compare.comparison import Comparison
    from evalharness.compare.gate import GateResult

WEIGHTS = ("none", "traffic")


def comparison_table(c: Comparison) -> Table:
    several = len(c.candidates) > 1
    names = ", ".join(s.name for s in c.candidates)
    weighted = ", weighted by traffic" if c.weight == "traffic" else ""
    table = Table(title=escape(f"{c.baseline.name} → {names} · labels {c.label_sources} · {len(c.queries)} queries{weighted}"))
    cols = ["metric"] + (["config"] if several else []) + [c.baseline.name, "candidate" if several else c.candidates[0].name,
                                                            "delta", "95% CI", "p (t)", "p (rand)", "p Holm", "W/T/L"]
    for col in cols:
        table.add_column(escape(col), justify="left" if col in ("metric", "config", "95% CI") else "right")
    for r in c.rows:
        t = r.test
        colour = "green" if r.change > 0 else "red" if r.change < 0 else "white"  # in the measure's direction
        star = " *" if r.significant else ""
        holm = fmt(r.p_randomization_holm) if r.in_family else "— (not in family)"
        name = r.metric + (" ↓" if r.lower_is_better else "")  # ↓: lower is better
        table.add_row(escape(name), *([escape(r.candidate)] if several else []), fmt(t.mean_base), fmt(t.mean_cand),
                      f"[{colour}]{signed(t.delta)}{star}[/]", f"[{signed(t.ci_low)}, {signed(t.ci_high)}]", fmt(t.p_ttest),
                      fmt(t.p_randomization), holm, f"{r.wins}/{r.ties}/{r.losses}")
    return table


def _write(path: Path | None, text: str) -> None:
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


@dataclass
class Options:
    """What a compare or gate invocation asks for."""

    baseline: str
    candidates: list[str]
    metrics: list[str] | None
    judge: str | None
    weight: str | None
    allow_partial: bool
    quiet: bool
    for_report: bool
    labels: str | None = None


def _run_comparison(ctx: typer.Context, o: Options) -> tuple[Project, Comparison]:
    from evalharness.compare.runs import check_clean, compare_runs, judge_spec_of, resolve_run
    from evalharness.judges import make_judge
    from evalharness.metrics.ir import parse_measures
    from evalharness.pipeline.run import SilentStages
    from evalharness.store import Store

    project = Project(ctx.obj["project"])
    cfg = project.config
    names = o.metrics or list(cfg.run.metrics)
    parse_measures(names)
    weight = o.weight or cfg.compare.weight
    if weight not in WEIGHTS:
        raise EvalHarnessError(f"--weight {weight!r} is not known; use one of: {', '.join(WEIGHTS)}")
    alpha = min((r.alpha for r in cfg.gate.rules if r.alpha is not None), default=0.05)
    store = Store(project.store_url())
    try:
        base = resolve_run(store, o.baseline)
        cands = [resolve_run(store, ref) for ref in o.candidates]
        for run in (base, *cands):
            check_clean(run, o.allow_partial)
        # By default, judge with what judged the runs (when they agree), else with the project's judge.
        specs = {judge_spec_of(r.judge_id) for r in (base, *cands)}
        spec = o.judge or (specs.pop() if len(specs) == 1 else cfg.judge.spec)
        judge_obj = make_judge(spec, cfg)
        stages = SilentStages() if o.quiet else RichStages()
        comparison = compare_runs(project, store, base, cands, judge_obj, names, alpha=alpha, weight=weight,
                                  holm_exclude=cfg.compare.holm_exclude, stages=stages, for_report=o.for_report,
                                  labels=o.labels, workers=os.cpu_count() or 1)
    finally:
        store.close()
    return project, comparison


def _print(c: Comparison, gate: GateResult | None = None) -> None:
    from evalharness.cli.report import checks_line, types_table

    out.print(comparison_table(c))
    out.print(types_table(c))
    if c.check_names:
        out.print(checks_line(c), markup=False)
    excluded = sorted({r.metric for r in c.rows if not r.in_family})
    note = f"; {', '.join(excluded)} reported outside the Holm family" if excluded else ""
    lower = sorted({r.metric for r in c.rows if r.lower_is_better})
    direction = f" ↓ lower is better ({', '.join(lower)}); W/T/L and colours follow it." if lower else ""
    out.print(f"* significant at alpha={c.alpha} (paired randomization test, Holm-corrected{note}; only Holm-family metrics "
              "are starred). " + "Judged: " + ", ".join(f"{s.name} {s.judged:.1%}" for s in c.sides) + "." + direction,
              markup=False)
    out.print(f"Labels from {c.sources_note}.", markup=False)
    for cand in c.candidates:
        movers = c.movers(cand, 5)
        d = cand.values[c.primary] - c.baseline.values[c.primary]
        if movers:
            out.print(f"biggest movers on {c.primary} ({cand.name}): "
                      + "; ".join(f"{c.queries[i].text!r} {signed(float(d[i]), 3)}" for i in movers), markup=False)
    for w in c.warnings + (gate.warnings if gate else []):
        err.print(f"warning: {w}", markup=False, style="yellow")
    for reason in c.failures[:10]:
        err.print(f"unjudged: {reason}", markup=False)


def _footer(c: Comparison) -> None:
    """The last line of compare's and gate's terminal output: the pool rule the figures follow."""
    out.print(f"Metrics {c.pool_note}.", markup=False)


def _outputs(project: Project, c: Comparison, html: Path | None, markdown: Path | None, junit: Path | None,
             csv_path: Path | None, as_json: bool) -> None:
    """compare's outputs (CSV, HTML, Markdown, JUnit, JSON or the tables), with the cyclic GC paused: they build many
    objects that form no cycles while the large comparison is held."""
    from evalharness.compare.gate import evaluate_gate
    from evalharness.report.junit import gate_junit
    from evalharness.report.markdown import comparison_markdown
    from evalharness.runtime.gcpause import gc_paused

    with gc_paused():
        if csv_path:
            from evalharness.labels.formats_write import comparison_csv

            _write(project.resolve(csv_path), comparison_csv(c))
        if html:
            from evalharness.report.html import write_html

            write_html(c, project.resolve(html), project)
        _write(project.resolve(markdown) if markdown else None, comparison_markdown(c, report_path=str(html or "")))
        if junit:
            _write(project.resolve(junit), gate_junit(c, evaluate_gate(c, project.config.gate)))
        if as_json:
            out.print_json(json.dumps(c.to_json()))
        else:
            _print(c)
            if html:
                out.print(f"report: {project.resolve(html)}", markup=False)
            _footer(c)


def register(app: typer.Typer) -> None:
    @app.command()
    def compare(
        ctx: typer.Context,
        baseline: str = typer.Argument(..., help="Baseline engine config (its newest run) or a run id."),
        candidates: list[str] = typer.Argument(..., help="One or more candidate engine configs or run ids."),
        metrics: list[str] | None = typer.Option(None, "--metrics", "-m", help="Metrics (repeat); default: the run metrics of evalharness.toml."),
        judge: str | None = typer.Option(None, "--judge", "-j", help="Judge for pairs not judged yet (default: the runs' judge)."),
        weight: str | None = typer.Option(None, "--weight", help="none, or traffic: queries weigh by their log count."),
        allow_partial: bool = typer.Option(False, "--allow-partial", help="Compare runs that are partial, failed or interrupted."),
        html: Path | None = typer.Option(None, "--html", help="Write the HTML report here."),
        markdown: Path | None = typer.Option(None, "--markdown", help="Write a Markdown summary here."),
        junit: Path | None = typer.Option(None, "--junit", help="Write the gate checks as JUnit XML here."),
        csv_path: Path | None = typer.Option(None, "--csv", help="Write per-query metrics of every run as CSV here."),
        labels: str | None = typer.Option(None, "--labels", help="Score on a label source: human:NAME, a judge, or a priority list."),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    ) -> None:
        """Compare the newest runs of engine configs with paired statistics: every candidate against the baseline."""

        project, c = _run_comparison(ctx, Options(baseline, candidates, metrics, judge, weight, allow_partial, as_json, html is not None,
                                                  labels))
        _outputs(project, c, html, markdown, junit, csv_path, as_json)

    @app.command()
    def gate(
        ctx: typer.Context,
        baseline: str = typer.Option(..., "--baseline", "-b", help="Baseline engine config or run id."),
        candidate: str = typer.Option(..., "--candidate", "-c", help="Candidate engine config or run id."),
        judge: str | None = typer.Option(None, "--judge", "-j", help="Judge for pairs not judged yet."),
        weight: str | None = typer.Option(None, "--weight", help="none or traffic; default: the compare weight of evalharness.toml."),
        allow_partial: bool = typer.Option(False, "--allow-partial", help="Gate on runs that are partial, failed or interrupted."),
        markdown: Path = typer.Option(Path("reports/gate.md"), "--markdown", help="Markdown summary (PR comment)."),
        junit: Path = typer.Option(Path("reports/gate-junit.xml"), "--junit", help="JUnit XML of the checks."),
        html: Path | None = typer.Option(None, "--html", help="Also write the HTML report."),
        labels: str | None = typer.Option(None, "--labels", help="Score on a label source: human:NAME, a judge, or a priority list."),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON object (gate result and comparison)."),
    ) -> None:
        """Fail (exit 1) when the candidate regresses beyond the gate rules of evalharness.toml."""
        from evalharness.compare.gate import evaluate_gate
        from evalharness.report.junit import gate_junit
        from evalharness.report.markdown import comparison_markdown

        project, c = _run_comparison(ctx, Options(baseline, [candidate], None, judge, weight, allow_partial, as_json,
                                                  html is not None, labels))
        result = evaluate_gate(c, project.config.gate)
        if html:
            from evalharness.report.html import write_html

            write_html(c, project.resolve(html), project, result)
        md = comparison_markdown(c, result, str(html or ""))
        _write(project.resolve(markdown), md)
        _write(project.resolve(junit), gate_junit(c, result))
        summary = os.environ.get("GITHUB_STEP_SUMMARY")
        if summary:
            with open(summary, "a", encoding="utf-8") as fh:
                fh.write(md)
        if as_json:
            out.print_json(json.dumps({"gate": result.to_json(), "comparison": c.to_json()}))
        else:
            _print(c, result)
            for r in result.results:
                out.print(f"{'[green]pass[/]' if r.passed else '[red]FAIL[/]'} {escape(r.name)}: {escape(r.detail)}")
            out.print(f"gate {'passed' if result.passed else 'FAILED'}: {c.baseline.name} -> {c.candidates[0].name}; "
                      f"wrote {markdown} and {junit}", markup=False)
            _footer(c)
        if not result.passed:
            raise typer.Exit(EXIT_GATE_FAILED)
