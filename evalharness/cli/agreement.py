"""`evalharness agreement`: how often does a judge agree with people? (pairs, or `--runs` for system-level agreement)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.markup import escape
from rich.table import Table

from evalharness.cli.ui import RichStages, out
from evalharness.errors import EvalHarnessError
from evalharness.project import Project

if TYPE_CHECKING:
    from evalharness.agreement.pairwise import Agreement, JudgeAgreement
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
        if j.behaviour is not None:
            _print_behaviour(j)
    if a.missing_products:
        out.print(f"note: {len(a.missing_products)} labelled document(s) are not in the catalog and were left out "
                  f"(e.g. {a.missing_products[0]}); pass --catalog with the right product file", markup=False)


def _print_behaviour(j: JudgeAgreement) -> None:
    b = j.behaviour
    out.print(f"{j.spec} against shoppers ({b.source}): {b.text()}", markup=False)
    for title, items in (("engaged with, judged lowest", b.engaged_lowest), ("shown often, never clicked, judged highest", b.ignored_highest)):
        table = Table(title=f"{j.spec}: {title} ({len(items)})")
        for col in ("query", "product", "judge", "evidence"):
            table.add_column(col)
        for d in items[:10]:
            table.add_row(escape(d.query), escape(f"{d.title[:60]} {d.doc_id}"), d.judge, d.evidence())
        out.print(table)


def _print_runs(s: SystemAgreement) -> None:
    from evalharness.store.runread import POOL_RULE

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
    out.print(f"Pool: {POOL_RULE}.", markup=False)


def _cascade_members(specs: list[str], cfg, kappa: str) -> list:
    """[(cheap spec, cheap judge), (strong spec, strong judge)] of the one cascade --choose-threshold needs."""
    from evalharness.judges import make_judge

    if kappa not in ("kappa", "kappa_linear", "kappa_quadratic"):
        raise EvalHarnessError(f"--kappa {kappa!r}: use kappa, kappa_linear or kappa_quadratic")
    if len(specs) != 1 or not specs[0].startswith("cascade("):
        raise EvalHarnessError("--choose-threshold needs one --judge 'cascade(CHEAP, STRONG)', e.g. "
                               "--judge 'cascade(openai:gpt-4o-mini, openai:gpt-4o)'")
    cascade = make_judge(specs[0], cfg)
    return [(cascade.cheap_spec, cascade.cheap), (cascade.strong_spec, cascade.strong)]


def store_calibrations(store, a: Agreement) -> None:
    """Keep each confident judge's confidences on this gold set (a cascade's --dry-run estimates from them)."""
    from evalharness.store.calibration import put_calibration

    for j in a.judges:
        if j.calibration is not None:
            pairs = list(j.gold.values())
            put_calibration(store, j.judge_id, a.human, [p.confidence for p in pairs], [int(p.human == p.judge) for p in pairs],
                            sum(p.cost_usd for p in pairs) / max(len(pairs), 1))


def print_calibration(a: Agreement) -> None:
    """Each confident judge's reliability table, ECE and accuracy-coverage curve."""
    for j in a.judges:
        c = j.calibration
        if c is None:
            continue
        table = Table(title=f"{j.spec}: calibration against {a.human} ({c.pairs} pairs with a confidence; "
                            f"expected calibration error {c.ece:.3f})")
        for col in ("confidence bin", "pairs", "mean confidence", "accuracy"):
            table.add_column(col, justify="right")
        for b in c.bins:
            table.add_row(f"({b['lower']:.1f}, {b['upper']:.1f}]", str(b["pairs"]), f"{b['confidence']:.3f}", f"{b['accuracy']:.3f}")
        out.print(table)
        curve = Table(title=f"{j.spec}: accuracy-coverage (pairs at or above each confidence)")
        for col in ("threshold", "share", "pairs", "accuracy", "κw quad"):
            curve.add_column(col, justify="right")
        for r in c.coverage:
            kq = r["kappa_quadratic"]
            curve.add_row(f"{r['threshold']:.2f}", f"{r['share']:.1%}", str(r["pairs"]), f"{r['accuracy']:.3f}",
                          "—" if kq is None else f"{kq:.3f}")
        out.print(curve)


def print_choice(c, cheap: str, strong: str) -> None:
    if c.threshold is None:
        out.print(f"no threshold reaches {c.statistic} {c.target:.2f} on {c.pairs} gold pairs ({c.queries} queries), not "
                  "even the strong judge alone", markup=False)
        return
    ci = f" [{c.ci95[0]:.3f}, {c.ci95[1]:.3f}]" if c.ci95 else ""
    saving = f", against ${c.strong_alone_usd:.4f} for the strong judge alone" if c.strong_alone_usd else ""
    out.print(f"cheapest threshold: min_confidence={c.threshold:.6g} — {c.statistic} {c.value:.3f}{ci} (95% CI, queries "
              f"resampled) on {c.pairs} gold pairs over {c.queries} queries; {c.escalated_share:.1%} of pairs sent to the "
              f"strong judge; ${c.cost_usd:.4f} on the gold set{saving}", markup=False)
    if c.ci95 and c.ci95[0] < c.target:
        out.print(f"note: the CI's lower bound is below the target {c.target:.2f}; a larger gold set or a higher threshold "
                  "gives more certainty", markup=False)
    out.print(f"use: --judge 'cascade({cheap}, {strong}, min_confidence={c.threshold:.6g})'", markup=False)
def _plan(ctx: typer.Context, source: str, judge: list[str] | None, runs: list[str] | None, metric: str | None,
          half_width: float, as_json: bool) -> None:
    """`agreement --plan H`: the label budget for a corrected delta of the compared runs (first = baseline)."""
    from evalharness.agreement.plan import plan_gold, plan_lines
    from evalharness.cli.compare import Options, _run_comparison
    from evalharness.store import Store

    if not runs or len(runs) < 2:
        raise EvalHarnessError("--plan needs the configs to compare: --runs BASELINE --runs CANDIDATE")
    if judge and len(judge) > 1:
        raise EvalHarnessError("--plan plans for one judge; give a single --judge")
    if half_width <= 0:
        raise EvalHarnessError("--plan takes the target CI half-width of a delta, above 0 (e.g. --plan 0.01)")
    project, c, _ = _run_comparison(ctx, Options(runs[0], runs[1:], [metric] if metric else None, judge[0] if judge else None,
                                                 "none", False, True, False))
    store = Store(project.store_url())
    try:
        rows, notes = plan_gold(project.config, store, c, source, half_width)
    finally:
        store.close()
    if as_json:
        out.print_json(json.dumps({"source": source, "judge_id": c.judge_id, "half_width": half_width, "queries": len(c.queries),
                                   "rows": [r.to_json() for r in rows], "notes": notes}))
        return
    for line in plan_lines(rows, source, half_width, len(c.queries)) + notes:
        out.print(line, markup=False)


def register(app: typer.Typer) -> None:
    @app.command()
    def agreement(
        ctx: typer.Context,
        human: str | None = typer.Option(None, "--human", help="The reference source: NAME or human:NAME (see `labels import`), "
                                                                  "or behaviour:NAME (see `labels implicit`)."),
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
        choose_threshold: bool = typer.Option(False, "--choose-threshold", help="With one --judge 'cascade(CHEAP, STRONG)': "
                                              "label the gold pairs with both members and pick the cheapest min_confidence "
                                              "that meets --target-kappa."),
        target_kappa: float = typer.Option(0.6, "--target-kappa", min=-1.0, max=1.0, help="With --choose-threshold: the "
                                           "agreement with the human labels the cascade must reach."),
        kappa: str = typer.Option("kappa_quadratic", "--kappa", help="With --choose-threshold: kappa, kappa_linear or "
                                  "kappa_quadratic (weighted) for --target-kappa."),
        plan: float | None = typer.Option(None, "--plan", min=0, help="With --runs BASELINE --runs CANDIDATE: how many gold "
                                                                      "queries of --human give a corrected delta this CI "
                                                                      "half-width (e.g. 0.01)."),
    ) -> None:
        """Judge exactly the human-labelled pairs (cached) and report agreement per judge, or per config with --runs;
        with --raters, agreement between people on a rating sample."""
        from evalharness.agreement.behaviour import attach_behaviour
        from evalharness.agreement.catalogs import agreement_catalog
        from evalharness.agreement.pairwise import measure_agreement
        from evalharness.agreement.report import agreement_html, agreement_markdown, disagreements_csv, write_text
        from evalharness.judges import make_judge
        from evalharness.labels.schemes import scheme_of
        from evalharness.labels.sources import check_stored
        from evalharness.pipeline.run import SilentStages
        from evalharness.store import Store

        if raters:  # people vs people on a rating sample (evalharness rate)
            from evalharness.cli.rate import rater_agreement

            return rater_agreement(ctx.obj["project"], raters, rating_sample, tie, gold, as_json)
        if human is None:
            raise EvalHarnessError("agreement needs --human NAME (a judge vs people) or --raters A,B (people vs people)")
        project = Project(ctx.obj["project"])
        cfg = project.config
        source = check_stored(human if human.startswith(("human:", "behaviour:")) else f"human:{human}")
        if plan is not None:
            return _plan(ctx, source, judge, runs, metric, plan, as_json)
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
                result = system_agreement(project, store, source, specs[0], make_judge(specs[0], cfg, need_key=False), runs,
                                          metric or cfg.run.metrics[0], stages)
                if as_json:
                    out.print_json(json.dumps(result.to_json()))
                else:
                    _print_runs(result)
                return
            if choose_threshold:
                judges = _cascade_members(specs, cfg, kappa)
            else:
                judges = [(s, make_judge(s, cfg, need_key=False)) for s in specs]
            a = measure_agreement(project, store, source, judges, agreement_catalog(project, catalog, engine_config), scheme_of(cfg),
                                      bootstrap, stages)
            attach_behaviour(store, a)
            from evalharness.agreement.trust import record_agreement

            record_agreement(store, a)  # what the gate's [gate.trust] reads
            store_calibrations(store, a)
        finally:
            store.close()
        choice = None
        if choose_threshold:
            from evalharness.agreement.calibration import choose_threshold as choose

            cheap, strong = a.judges
            both = [k for k in cheap.gold if k in strong.gold]
            choice = choose([cheap.gold[k] for k in both], [strong.gold[k] for k in both], len(a.labels), kappa, target_kappa,
                            bootstrap)
        if markdown:
            write_text(project.resolve(markdown), agreement_markdown(a))
        if html:
            write_text(project.resolve(html), agreement_html(a))
        if disagreements:
            write_text(project.resolve(disagreements), disagreements_csv(a))
        if as_json:
            out.print_json(json.dumps({**a.to_json(), **({"threshold": choice.to_json()} if choice else {})}))
        else:
            _print_pairs(a)
            print_calibration(a)
            if choice is not None:
                print_choice(choice, a.judges[0].spec, a.judges[1].spec)
            for path in (markdown, html, disagreements):
                if path:
                    out.print(f"wrote {project.resolve(path)}", markup=False)

