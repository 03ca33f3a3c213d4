"""`evalharness agreement`: how often does a judge agree with people? (pairs, or `--runs` for system-level agreement)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from evalharness.cli.ui import RichStages, out
from evalharness.errors import EvalHarnessError
from evalharness.project import Project

if TYPE_CHECKING:
    from evalharness.agreement.pairwise import Agreement
    from evalharness.agreement.runs import SystemAgreement


def _print_pairs(a: Agreement) -> None:
    from evalharness.agreement.report import leaderboard_rows

    rows = leaderboard_rows(a)
    table = Table(title=f"Agreement with {a.human}: {a.labelled} pairs, {a.queries} queries (95% CI, queries resampled)")
    for col in rows[0]:
        table.add_column(col, justify="left" if col == "judge" else "right")
    for r in rows:
        table.add_row(*r.values())
    out.print(table)
    for j in a.judges:
        conf = Table(title=f"{j.spec}: rows human, columns judge")
        conf.add_column("human \\ judge")
        for name in a.labels:
            conf.add_column(name, justify="right")
        conf.add_column("recall", justify="right")
        for name, row in zip(a.labels, j.confusion):
            conf.add_row(name, *(str(v) for v in row), f"{j.per_label[name]['recall']:.3f}")
        conf.add_row("precision", *(f"{j.per_label[n]['precision']:.3f}" for n in a.labels), "")
        out.print(conf)
        out.print(f"{j.spec}: {j.judged_now} judged now, {j.from_cache} from cache, {len(j.disagreements)} hard disagreements "
                  f"({a.labels[-1]} vs {a.labels[0]}){f', {j.unjudged} not judged' if j.unjudged else ''}", markup=False)
    if a.missing_products:
        out.print(f"note: {len(a.missing_products)} labelled document(s) are not in the catalog and were left out "
                  f"(e.g. {a.missing_products[0]}); pass --catalog with the right product file", markup=False)


def _print_runs(s: SystemAgreement) -> None:
    table = Table(title=f"{s.metric}: {s.human} vs {s.judge} (Kendall's tau {s.tau_text()})")
    for col in ("config", "run", f"{s.metric} (human)", f"{s.metric} (judge)", "judged (human)"):
        table.add_column(col, justify="left" if col in ("config", "run") else "right")
    for r in s.runs:
        table.add_row(r.engine_config, r.run_id, f"{r.human:.4f}", f"{r.judge:.4f}", f"{r.judged_human:.1%}")
    out.print(table)
    pairs = Table(title="Would the gate decide the same way? (candidate vs baseline, each source)")
    for col in ("baseline", "candidate", "delta human", "p human", "gate human", "delta judge", "p judge", "gate judge", "same"):
        pairs.add_column(col, justify="left" if col in ("baseline", "candidate") else "right")
    for p in s.pairs:
        pairs.add_row(p.baseline, p.candidate, f"{p.human.delta:+.4f}", f"{p.human.p:.4f}", p.human.decision,
                      f"{p.judge.delta:+.4f}", f"{p.judge.p:.4f}", p.judge.decision, "yes" if p.same else "[red]no[/]")
    out.print(pairs)
    out.print(f"the gate decides the same way on {sum(p.same for p in s.pairs)} of {len(s.pairs)} pairs of configs", markup=False)


def register(app: typer.Typer) -> None:
    @app.command()
    def agreement(
        ctx: typer.Context,
        human: str | None = typer.Option(None, "--human", help="The human label source: NAME or human:NAME (see `labels import`)."),
        judge: list[str] | None = typer.Option(None, "--judge", "-j", help="Judge spec (repeat for a leaderboard); default: [judge] spec."),
        runs: list[str] | None = typer.Option(None, "--runs", help="System-level agreement over these configs or run ids "
                                                                   "(give --runs once per config, at least two)."),
        catalog: Path | None = typer.Option(None, "--catalog", help="Product JSONL for the labelled documents (default: the "
                                                                   "engine config's or [guidelines] catalog)."),
        engine_config: str | None = typer.Option(None, "--engine-config", "-e", help="Take the catalog from this engine config."),
        metric: str | None = typer.Option(None, "--metric", "-m", help="Metric for --runs (default: the first of [run] metrics)."),
        bootstrap: int = typer.Option(2000, "--bootstrap", min=100, max=100_000, help="Bootstrap resamples for the CIs."),
        markdown: Path | None = typer.Option(None, "--markdown", help="Write a Markdown summary here."),
        html: Path | None = typer.Option(None, "--html", help="Write a self-contained HTML page here."),
        disagreements: Path | None = typer.Option(None, "--disagreements", help="Write the hard disagreements as a CSV to "
                                                                               "relabel and import back."),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
        raters: str | None = typer.Option(None, "--raters", help="Agreement between people instead: these raters (A,B,C) on a "
                                                                "rating sample made by `rate`."),
        rating_sample: str = typer.Option("gold", "--rating-sample", help="With --raters: the rating sample (rate --name)."),
        tie: str = typer.Option("lower", "--tie", help="With --raters: a tied majority goes to the lower or higher gain, or none."),
        gold: str | None = typer.Option(None, "--gold", help="With --raters: store the majority labels as human:NAME."),
    ) -> None:
        """Judge exactly the human-labelled pairs (cached) and report agreement per judge, or per config with --runs;
        with --raters, agreement between people on a rating sample."""
        from evalharness.agreement.catalogs import agreement_catalog
        from evalharness.agreement.pairwise import measure_agreement
        from evalharness.agreement.report import agreement_html, agreement_markdown, disagreements_csv, write_text
        from evalharness.judges import make_judge
        from evalharness.labels.schemes import scheme_of
        from evalharness.pipeline.run import SilentStages
        from evalharness.store import Store
        from evalharness.store.labels import check_source

        if raters:  # people vs people on a rating sample (evalharness rate)
            from evalharness.cli.rate import rater_agreement

            return rater_agreement(ctx.obj["project"], raters, rating_sample, tie, gold, as_json)
        if human is None:
            raise EvalHarnessError("agreement needs --human NAME (a judge vs people) or --raters A,B (people vs people)")
        project = Project(ctx.obj["project"])
        cfg = project.config
        source = check_source(human if human.startswith("human:") else f"human:{human}")
        specs = list(dict.fromkeys(judge or [cfg.judge.spec]))
        stages = SilentStages() if as_json else RichStages()
        store = Store(project.store_url())
        try:
            if runs:
                from evalharness.agreement.runs import system_agreement

                if len(specs) != 1:
                    raise EvalHarnessError("--runs compares one judge with the humans; give a single --judge")
                if len(runs) < 2:
                    raise EvalHarnessError("--runs needs at least two configs or run ids (repeat --runs)")
                result = system_agreement(project, store, source, specs[0], make_judge(specs[0], cfg), runs,
                                          metric or cfg.run.metrics[0], stages)
                if as_json:
                    out.print_json(json.dumps(result.to_json()))
                else:
                    _print_runs(result)
                return
            judges = [(s, make_judge(s, cfg)) for s in specs]
            a = measure_agreement(project, store, source, judges, agreement_catalog(project, catalog, engine_config), scheme_of(cfg),
                                      bootstrap, stages)
        finally:
            store.close()
        if markdown:
            write_text(project.resolve(markdown), agreement_markdown(a))
        if html:
            write_text(project.resolve(html), agreement_html(a))
        if disagreements:
            write_text(project.resolve(disagreements), disagreements_csv(a))
        if as_json:
            out.print_json(json.dumps(a.to_json()))
        else:
            _print_pairs(a)
            for path in (markdown, html, disagreements):
                if path:
                    out.print(f"wrote {project.resolve(path)}", markup=False)

