"""`evalharness run`: one engine config (and optionally a baseline) end to end."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from evalharness.cli.ui import RichStages, err, fmt, out, signed
from evalharness.errors import EvalHarnessError
from evalharness.project import Project
from evalharness.querylog.querysets import read_query_set
from evalharness.runtime.gcpause import gc_paused

if TYPE_CHECKING:
    from rich.table import Table

    from evalharness.pipeline.run import RunOutcome


def _metrics_table(cand: RunOutcome, base: RunOutcome | None) -> Table:
    from rich.table import Table  # only for the table output (not --json)

    table = Table(title="Metrics" if base is None else f"{base.engine_config} vs {cand.engine_config} (scored on the shared pool)")
    table.add_column("metric")
    if base is not None:
        table.add_column(base.engine_config, justify="right")
    table.add_column(cand.engine_config, justify="right")
    if base is not None:
        table.add_column("delta", justify="right")
    for name, value in cand.metrics.items():
        if base is None:
            table.add_row(name, fmt(value))
        else:
            before = base.metrics[name]
            delta = None if value is None or before is None else value - before
            colour = "green" if (delta or 0) > 0 else "red" if (delta or 0) < 0 else "white"
            table.add_row(name, fmt(before), fmt(value), f"[{colour}]{signed(delta)}[/]")
    return table


def _cascade_summaries(store: Any, judge_id: str, outcomes: list[RunOutcome]) -> dict[str, dict[str, Any]]:
    """run id -> a cascade judge's escalated share, members' costs and saving (empty for other judges)."""
    if not judge_id.startswith("cascade("):
        return {}
    from evalharness.judges.cascade import run_cascade_summary

    return {o.run_id: run_cascade_summary(store, judge_id, o.stored if o.stored is not None else store.run_queries(o.run_id))
            for o in outcomes if o.status != "waiting"}


def _summary(o: RunOutcome) -> str:
    c = o.counts
    if o.status == "waiting":
        return (f"{o.engine_config} (catalog {o.catalog}): {c['queries']} queries, {c['hits']} hits, {c['judged_cached']} from "
                f"cache, {c.get('batch_sent', 0)} sent in {c.get('batches', 0)} batch(es), {c.get('batch_waiting', 0)} awaited — "
                f"run {o.run_id} is waiting: `evalharness batches collect` stores the results and finishes it")
    cost = f", cost ${o.cost_usd:.4f}" if o.cost_usd else ""
    if c.get("image_fallbacks"):
        cost += f", {c['image_fallbacks']} judged on text (image unreadable)"
    covered = f"{c['labelled_by_source']} labelled by --labels people (not sent), " if c.get("labelled_by_source") else ""
    return (f"{o.engine_config} (catalog {o.catalog}): {c['queries']} queries ({c['zero_hit_queries']} with no hits), "
            f"{c['hits']} hits, {covered}{c['judged_new']} judged now, {c['judged_cached']} from cache, {c['failed']} failed"
            f"{cost}{_calls(c)}, {o.elapsed_s:.1f}s — run {o.run_id} {o.status}")


def _calls(c: dict[str, int]) -> str:
    """The judge requests a run sent, by kind (nothing for a judge that sends none)."""
    kinds = {"preflight": "preflight", "first": "first attempts", "repair": "repairs", "retry": "retries"}
    if not any(c.get(f"calls_{k}") for k in kinds):
        return ""
    return "; judge calls: " + ", ".join(f"{c.get(f'calls_{k}', 0)} {name}" for k, name in kinds.items())


def _budget_note(o: RunOutcome, max_cost: float | None) -> str | None:
    """One line when --max-cost stopped judging: how many hits are unjudged and how to continue."""
    skipped = o.counts.get("skipped_budget", 0)
    if not skipped:
        return None
    return (f"budget reached: {o.engine_config} spent ${o.cost_usd:.4f} of --max-cost ${max_cost or 0:.4f}; {skipped} hit(s) "
            f"are unjudged and run {o.run_id} is {o.status} — rerun with a larger --max-cost to judge them "
            "(judgments made so far are cached and not paid again)")


def _wait_for_batches(project, store, base: RunOutcome | None, cand: RunOutcome,  # noqa: ANN001
                      quiet: bool) -> tuple[RunOutcome | None, RunOutcome]:
    """`--wait`: collect until the runs' batches end, then the runs as stored (metrics, counts, cost)."""
    from evalharness.batch.collect import collect
    from evalharness.batch.runs import outcome_after_collect

    ids = [o.run_id for o in (base, cand) if o is not None and o.status == "waiting"]
    if not ids:
        return base, cand
    report = collect(project, store, wait=True, run_ids=ids, log=None if quiet else lambda line: err.print(line, markup=False))
    return ((outcome_after_collect(project, store, base, report.runs) if base is not None else None),
            outcome_after_collect(project, store, cand, report.runs))


def _label_qrels(cfg, store, labels: str):  # noqa: ANN001, ANN202 - ProjectConfig, Store, imported lazily
    """A run's qrels from its --labels source: the run is stored scored on it."""
    from evalharness.labels.sources import source_qrels

    return lambda stored: source_qrels(cfg, store, labels, stored).qrels


def register(app: typer.Typer) -> None:
    @app.command()
    def run(
        ctx: typer.Context,
        engine_config: str = typer.Option(..., "--engine-config", "-e", help="Engine config name (engines/NAME.toml)."),
        baseline: str | None = typer.Option(None, "--baseline", "-b", help="Also run this engine config and show deltas."),
        queries: Path | None = typer.Option(None, "--queries", "-q", help="Query set CSV (default: [run] queries)."),
        top_k: int | None = typer.Option(None, "--top-k", "-k", min=1, max=1000, help="Hits per query to judge."),
        judge: str | None = typer.Option(None, "--judge", "-j", help="Judge: offline, openai:MODEL, gemini:MODEL, anthropic:MODEL, vote(A, B, C)."),
        max_cost: float | None = typer.Option(None, "--max-cost", min=0, help="Stop issuing judge calls at this many USD."),
        dry_run: bool = typer.Option(False, "--dry-run", help="Estimate calls, tokens and cost; send nothing."),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of tables."),
        html: Path | None = typer.Option(None, "--html", help="Also write the single-run report of this run here."),
        batch: bool | None = typer.Option(None, "--batch/--no-batch", help="Judge through the provider's batch API at its "
                                          "price (default: [judge] batch); the run waits for `batches collect`."),
        wait: bool = typer.Option(False, "--wait", help="With --batch: collect until the batches end, then show the metrics."),
        labels: str | None = typer.Option(None, "--labels", help="Score on a label source: human:NAME, a judge spec, or a "
                                                                 "priority list (human:gold,offline); unlabelled hits are holes."),
    ) -> None:
        """Run queries against an engine config, judge the hits (cached), compute metrics and store the run."""
        with gc_paused():  # the pipeline's modules (SQLAlchemy, the metrics) build long-lived objects, not garbage
            from evalharness.judges import make_judge
            from evalharness.metrics.ir import mean_metrics
            from evalharness.pipeline.run import (
                RunRequest,
                SilentStages,
                default_queries_path,
                estimate_run,
                evaluate_together,
                run_engine,
            )
            from evalharness.store import Store

        if labels:
            from evalharness.labels.sources import check_spec

            check_spec(labels)  # a bad --labels fails before searching and judging
        project = Project.at(ctx)
        cfg = project.config
        qpath = project.resolve(queries) if queries else default_queries_path(project)
        query_set = read_query_set(qpath)
        judge_obj = make_judge(judge or cfg.judge.spec, cfg, need_key=False)  # the key is checked when a pair is sent
        if judge_obj.mode != "text" and cfg.judge.image_fallback == "text":
            from evalharness.judges.fallback import ImageOrText

            text_cfg = cfg.model_copy(update={"judge": cfg.judge.model_copy(update={"mode": "text"})})
            judge_obj = ImageOrText(judge_obj, make_judge(judge or cfg.judge.spec, text_cfg, need_key=False))
        use_batch = cfg.judge.batch if batch is None else batch
        if wait and not use_batch:
            raise EvalHarnessError("--wait waits for provider batches: add --batch (or set [judge] batch = true)")
        if use_batch and not dry_run:
            from evalharness.batch.judges import batch_judges

            batch_judges(judge_obj)  # a judge without a batch service fails before searching
        unpriced = judge_obj.paid and judge_obj.price_per_mtok() == (0.0, 0.0)
        if max_cost is not None and unpriced:
            model = (judge or cfg.judge.spec).partition(":")[2]
            raise EvalHarnessError(f"--max-cost needs the model's prices: add [prices.\"{model}\"] input_per_mtok and "
                                   "output_per_mtok to evalharness.toml")
        store = Store(project.store_url())
        stages = SilentStages() if as_json else RichStages()
        cover: tuple[str, ...] = ()

        def request(name: str) -> RunRequest:
            engine = project.engine(name)
            return RunRequest(engine=engine, queries=query_set, queries_source=str(qpath), judge=judge_obj,
                              top_k=top_k or engine.config.top_k or cfg.run.top_k, metrics=list(cfg.run.metrics),
                              guideline_writer=cfg.guidelines.writer, max_cost=max_cost, max_retries=cfg.judge.max_retries,
                              batch=_batch_service() if use_batch else None, cover=cover,
                              label_qrels=_label_qrels(cfg, store, labels) if labels else None)

        try:
            if labels:
                from evalharness.labels.sources import check_sources_exist, covering_sources

                check_sources_exist(store, labels)  # a misspelt human source is named before any work
                cover = tuple(covering_sources(labels, judge or cfg.judge.spec))
            if dry_run:
                estimates = [estimate_run(project, store, request(n)) for n in ([baseline] if baseline else []) + [engine_config]]
                if as_json:
                    out.print_json(json.dumps([e.to_json() for e in estimates]))
                else:
                    for e in estimates:
                        out.print(f"{e.engine_config}: {e.queries} queries, {e.hits} hits, {e.cached} cached, "
                                  f"{e.calls} judge calls, {e.guidelines_to_write} guidelines to write, "
                                  f"~{e.input_tokens} input + {e.output_tokens} output tokens, ~${e.cost_usd:.4f} "
                                  "(dry run: nothing sent)")
                        if e.note:
                            out.print(f"note: {e.note}", markup=False)
                    if unpriced:
                        err.print("note: no [prices] entry for this model, so the cost shows as $0")
                return
            base_outcome = run_engine(project, store, request(baseline), stages) if baseline else None
            outcome = run_engine(project, store, request(engine_config), stages)
            if wait:
                base_outcome, outcome = _wait_for_batches(project, store, base_outcome, outcome, as_json)
            waiting = any(o is not None and o.status == "waiting" for o in (base_outcome, outcome))
            if base_outcome is not None and not waiting:
                # Both sides shown scored against the same judgment pool (the union of both runs' judgments);
                # each run's stored metrics stay what they were at its finish.
                pair = (base_outcome, outcome)
                if base_outcome.stored is None and outcome.stored is None:  # streamed: scored a chunk at a time
                    from evalharness.pipeline.stream import score_streamed_runs

                    scored = score_streamed_runs(project, store, [o.run_id for o in pair], judge_obj.judge_id, query_set,
                                                 list(cfg.run.metrics), top_k or cfg.run.top_k,
                                                 [o.counts.get("hits", 0) > 0 for o in pair])
                else:
                    lists = [o.stored if o.stored is not None else store.run_queries(o.run_id) for o in pair]
                    scored = evaluate_together(store, judge_obj.judge_id, lists, list(cfg.run.metrics), project)
                for o, per_query in zip(pair, scored):
                    o.per_query = per_query
                    o.metrics = mean_metrics(o.per_query, list(cfg.run.metrics))
            label_info = {}
            if labels and not waiting:
                from evalharness.labels.sources import rescore_with_labels
                from evalharness.store.runread import stored_pairs

                shown = [o for o in (base_outcome, outcome) if o]
                wanted = stored_pairs(q for o in shown for q in (o.stored or store.run_queries(o.run_id)))  # the pool rule
                label_info = {o.run_id: rescore_with_labels(project, store, o, labels, wanted) for o in shown}
            if html is not None and outcome.status != "waiting":
                from evalharness.cli.report import write_run_report

                write_run_report(project, store, outcome.run_id, html)
            cascades = _cascade_summaries(store, judge_obj.judge_id, [o for o in (base_outcome, outcome) if o is not None])
        finally:
            store.close()
        if as_json:
            data = outcome.to_json()
            if base_outcome is not None:
                from evalharness.store.runread import POOL_RULE

                data["baseline"] = base_outcome.to_json()
                data["pool_rule"] = POOL_RULE
            for part in ([data, data["baseline"]] if base_outcome is not None else [data]):
                if part["run_id"] in label_info:
                    part["labels"] = label_info[part["run_id"]]
                if part["run_id"] in cascades:
                    part["cascade"] = cascades[part["run_id"]]
            out.print_json(json.dumps(data))
        else:
            if outcome.metrics:  # a side still waiting for batch results has no metrics yet
                out.print(_metrics_table(outcome, base_outcome if base_outcome is not None and base_outcome.metrics else None))
            for o in ([base_outcome] if base_outcome else []) + [outcome]:
                out.print(_summary(o), markup=False)
                if o.run_id in cascades:
                    from evalharness.judges.cascade import describe_summary

                    out.print(describe_summary(cascades[o.run_id]), markup=False)
                if o.run_id in label_info:
                    info = label_info[o.run_id]
                    out.print(f"{o.engine_config}: metrics on {info['source']}: " + ", ".join(
                        f"{n} {src}" for src, n in info["labelled_hits_by_source"].items()) +
                        f", {info['unlabelled_hits']} of {info['hits']} hits unlabelled (Judged@k)", markup=False)
            if base_outcome is not None and base_outcome.metrics:
                from evalharness.store.runread import POOL_RULE

                out.print(f"Both runs scored together; pool rule: {POOL_RULE}.", markup=False)
            if html is not None and outcome.status != "waiting":
                out.print(f"report: {project.resolve(html)}", markup=False)
            elif html is not None:
                err.print(f"no report written yet: run {outcome.run_id} is waiting for batch results "
                          f"(`evalharness report {outcome.run_id} --html {html}` after `batches collect`)", markup=False)
        for o in ([base_outcome] if base_outcome else []) + [outcome]:
            if o.counts.get("unjudgeable"):
                err.print(f"warning: {o.engine_config}: {o.counts['unjudgeable']} ranked document(s) are not in the catalog "
                          f"{o.catalog}: they keep their ranks as hits no judge can label (unjudged in Judged@k)",
                          markup=False, soft_wrap=True)
            note = _budget_note(o, max_cost)
            if note:
                err.print(note, markup=False, soft_wrap=True)
        failures = outcome.failures + (base_outcome.failures if base_outcome else [])
        if failures:
            if not as_json:
                for f in failures[:20]:
                    err.print(f"failed: query {f['query_id']} doc {f['doc_id']}: {f['reason']}", markup=False)
                if len(failures) > 20:
                    err.print(f"... and {len(failures) - 20} more failed pairs")
            raise EvalHarnessError(f"{len(failures)} pair(s) could not be judged and are not scored as labels; "
                                   "every other judgment is stored — fix the cause above and run again to retry them")


def _batch_service():
    """The provider batch path of `run --batch` (imported only when asked for)."""
    from evalharness.batch.runs import BATCH_SERVICE

    return BATCH_SERVICE
