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
from evalharness.errors import EXIT_GATE_FAILED, EXIT_GATE_INCONCLUSIVE
from evalharness.project import Project

if TYPE_CHECKING:
    from evalharness.compare.comparison import Comparison
    from evalharness.compare.engagement import Engagement
    from evalharness.compare.gate import GateResult
    from evalharness.compare.trustgate import TrustCheck



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


def _print_corrected(c: Comparison) -> None:
    """The corrected (PPI++) means and deltas beside the judge-only delta, and what they rest on."""
    k = c.corrected
    several = len(c.candidates) > 1
    table = Table(title=escape(f"Corrected with {k.source}: {k.gold_queries} gold of {k.all_queries} queries "
                               f"(effective {k.n_effective:.1f}) · PPI++"))
    cols = ["metric"] + (["config"] if several else []) + ["baseline", "candidate", "delta", "95% CI", "λ",
                                                           "judge-only delta", "judge-only 95% CI"]
    for col in cols:
        table.add_column(escape(col), justify="left" if col in ("metric", "config") or "CI" in col else "right")
    for r in k.rows:
        d = r.delta
        table.add_row(escape(r.metric), *([escape(r.candidate)] if several else []), fmt(r.baseline.estimate),
                      fmt(r.cand.estimate), signed(d.estimate), f"[{signed(d.ci_low)}, {signed(d.ci_high)}]", f"{d.lam:.2f}",
                      signed(r.judge_delta), f"[{signed(r.judge_ci[0])}, {signed(r.judge_ci[1])}]")
    if k.rows:
        out.print(table)
    for note in k.notes:
        out.print(f"corrected: {note}", markup=False)


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
    correct_with: str | None = None
    gate: bool = False
    behaviour: str | None = None


def _run_comparison(ctx: typer.Context, o: Options) -> tuple[Project, Comparison, TrustCheck | None]:
    """The comparison a compare or gate invocation asks for, made by the Python API (evalharness.api)."""
    from evalharness.api import Workspace

    ws = Workspace(Project(ctx.obj["project"]))
    result = ws.compare(o.baseline, *o.candidates, metrics=o.metrics, judge=o.judge, labels=o.labels, weight=o.weight,
                        allow_partial=o.allow_partial, report=o.for_report, stages=None if o.quiet else RichStages(),
                        correct_with=o.correct_with, behaviour=o.behaviour, gate=o.gate)
    return ws.project, result.comparison, result.trust


def _print(c: Comparison, gate: GateResult | None = None) -> None:
    from evalharness.cli.report import checks_line, types_table

    out.print(comparison_table(c))
    if c.corrected is not None:
        _print_corrected(c)
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
    if c.engagement is not None:
        _print_engagement(c.engagement)
    for w in c.warnings + (gate.warnings if gate else []):
        err.print(f"warning: {w}", markup=False, style="yellow")
    for reason in c.failures[:10]:
        err.print(f"unjudged: {reason}", markup=False)


def _footer(c: Comparison) -> None:
    """The last line of compare's and gate's terminal output: the pool rule the figures follow."""
    out.print(f"Metrics {c.pool_note}.", markup=False)


def _print_engagement(e: Engagement) -> None:
    table = Table(title=f"Engagement on {e.source} (first {e.k} hits of {e.queries} queries)")
    for col in ("config", "coverage", "queries covered", "fully covered", f"nDCG'@{e.k} (implicit)", f"ExpClicks@{e.k}"):
        table.add_column(col, justify="left" if col == "config" else "right")
    for s in e.sides:
        table.add_row(escape(s.name), f"{s.coverage:.1%} ({s.covered}/{s.hits})", str(s.queries_covered), str(s.queries_full),
                      fmt(s.ndcg, 4), fmt(s.exp_clicks, 4))
    out.print(table)
    out.print("Coverage: hits with enough impressions for a behaviour label; nDCG' drops the others (condensed list); "
              "ExpClicks counts covered hits only (a lower bound below 100% coverage).", markup=False)


def _outputs(project: Project, c: Comparison, html: Path | None, markdown: Path | None, junit: Path | None,
             csv_path: Path | None, as_json: bool, trust: TrustCheck | None = None) -> None:
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
            _write(project.resolve(junit), gate_junit(c, evaluate_gate(c, project.config.gate, trust)))
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
        correct_with: str | None = typer.Option(None, "--correct-with", help="Correct the judge's metrics with a reference "
                                                "source's gold queries (PPI++), e.g. human:gold; default: [compare] correct_with."),
        behaviour: str | None = typer.Option(None, "--behaviour", help="Also score on a behaviour source (behaviour:NAME): coverage, "
                                                                      "nDCG' on implicit grades, expected clicks."),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    ) -> None:
        """Compare the newest runs of engine configs with paired statistics: every candidate against the baseline."""

        project, c, trust = _run_comparison(ctx, Options(baseline, candidates, metrics, judge, weight, allow_partial, as_json,
                                                         html is not None, labels, correct_with, junit is not None, behaviour))
        _outputs(project, c, html, markdown, junit, csv_path, as_json, trust)

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
        correct_with: str | None = typer.Option(None, "--correct-with", help="Correct the judge's metrics with a reference "
                                                "source's gold queries (PPI++), e.g. human:gold; default: [compare] correct_with, "
                                                "else [gate.trust] source."),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON object (gate result and comparison)."),
    ) -> None:
        """Fail (exit 1) when the candidate regresses beyond the gate rules of evalharness.toml; exit 3 when a
        [gate.trust] gate cannot decide (INCONCLUSIVE)."""
        from evalharness.compare.gate import evaluate_gate
        from evalharness.report.junit import gate_junit
        from evalharness.report.markdown import comparison_markdown

        project, c, trust = _run_comparison(ctx, Options(baseline, [candidate], None, judge, weight, allow_partial, as_json,
                                                         html is not None, labels, correct_with, True))
        result = evaluate_gate(c, project.config.gate, trust)
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
            style = {"pass": "[green]pass[/]", "FAIL": "[red]FAIL[/]", "INCONCLUSIVE": "[yellow]INCONCLUSIVE[/]"}
            for r in result.results:
                out.print(f"{style[r.status]} {escape(r.name)}: {escape(r.detail)}")
            word = {"PASS": "passed", "FAIL": "FAILED", "INCONCLUSIVE": "INCONCLUSIVE (exit 3)"}[result.outcome]
            out.print(f"gate {word}: {c.baseline.name} -> {c.candidates[0].name}; wrote {markdown} and {junit}", markup=False)
            _footer(c)
        if result.outcome == "FAIL":
            raise typer.Exit(EXIT_GATE_FAILED)
        if result.outcome == "INCONCLUSIVE":
            raise typer.Exit(EXIT_GATE_INCONCLUSIVE)
