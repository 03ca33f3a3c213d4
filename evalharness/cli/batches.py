"""`evalharness batches status|collect`: provider batches submitted by `run --batch`."""

from __future__ import annotations

import json

import typer
from rich.table import Table

from evalharness.cli.ui import err, out
from evalharness.errors import EvalHarnessError
from evalharness.project import Project

app = typer.Typer(no_args_is_help=True)


def _report_json(report) -> dict:  # noqa: ANN001 - CollectReport, imported lazily
    return {"ingested": {b: c.__dict__ for b, c in report.ingested.items()}, "resubmitted": report.resubmitted,
            "recovered": report.recovered, "still_open": report.still_open, "skipped": report.skipped,
            "runs": [r.__dict__ for r in report.runs]}


@app.command("collect")
def collect_cmd(
    ctx: typer.Context,
    wait: bool = typer.Option(False, "--wait", help="Keep polling ([judge] batch_poll_s) until every batch has ended."),
    timeout: float | None = typer.Option(None, "--timeout", min=0, help="With --wait: give up after this many seconds."),
    run: list[str] = typer.Option([], "--run", help="Finish only these runs (default: every waiting run)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Download ended batches, store their judgments, send again what failed or expired, finish waiting runs."""
    from evalharness.batch.collect import collect
    from evalharness.store import Store

    project = Project.at(ctx)
    store = Store(project.store_url())
    try:
        unknown = [r for r in run if store.get_run(r) is None]
        if unknown:
            raise EvalHarnessError(f"--run {unknown[0]}: no such run in this store; `evalharness runs` lists the runs "
                                   "(waiting ones show status waiting)")
        report = collect(project, store, wait=wait, timeout_s=timeout, run_ids=list(run) or None,
                         log=None if as_json else lambda line: err.print(line, markup=False))
    finally:
        store.close()
    if as_json:
        out.print_json(json.dumps(_report_json(report)))
        return
    for batch_id, why in report.skipped.items():
        err.print(f"batch {batch_id} not handled now: {why}", markup=False)
    if report.recovered:
        out.print(f"recovered {len(report.recovered)} batch(es) left unrecorded by a stopped process", markup=False)
    if report.resubmitted:
        out.print(f"sent again in {len(report.resubmitted)} new batch(es): {', '.join(report.resubmitted)}", markup=False)
    for r in report.runs:
        if r.status == "waiting":
            out.print(f"{r.run_id}: waiting on {r.waiting_on} pair(s) ({r.judged} judged, {r.failed} failed so far)", markup=False)
        else:
            out.print(f"{r.run_id}: {r.status} — {r.judged} pair(s) judged by batch, {r.failed} failed", markup=False)
            for f in r.failures[:10]:
                err.print(f"failed: query {f['query_id']} doc {f['doc_id']}: {f['reason']}", markup=False)
    if report.still_open:
        out.print(f"{len(report.still_open)} batch(es) still open; run `evalharness batches collect` again later "
                  "(or --wait)", markup=False)
    elif not report.runs and not report.ingested:
        out.print("no open batches and no waiting runs", markup=False)


@app.command("status")
def status_cmd(
    ctx: typer.Context,
    limit: int = typer.Option(20, "--limit", "-n", min=1, help="Newest batches to list."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON array."),
) -> None:
    """List batches as the store knows them (the provider is asked by `collect`): state, requests, pairs by state."""
    from evalharness.store import Store
    from evalharness.store.batches import list_batches, pair_counts

    project = Project.at(ctx)
    store = Store(project.store_url())
    try:
        batches = list_batches(store.engine, limit=limit)
        counts = pair_counts(store.engine, [b.id for b in batches])
    finally:
        store.close()
    rows = [{"id": b.id, "provider": b.provider, "model": b.model, "provider_id": b.provider_id, "state": b.state,
             "provider_status": b.provider_status, "requests": b.requests, "mb": round(b.bytes / 2**20, 2),
             "created_at": b.created_at, "pairs": counts.get(b.id, {})} for b in batches]
    if as_json:
        out.print_json(json.dumps(rows))
        return
    if not rows:
        out.print("no batches yet; `evalharness run --batch -e NAME --judge openai:MODEL` submits some", markup=False)
        return
    table = Table(title="Batches (newest first)")
    for col in ("batch", "provider", "model", "state", "provider status", "requests", "MB", "created", "pairs now"):
        table.add_column(col, justify="right" if col in ("requests", "MB") else "left")
    for r in rows:
        pairs = ", ".join(f"{n} {state}" for state, n in sorted(r["pairs"].items())) or "—"
        table.add_row(r["id"], r["provider"], r["model"], r["state"], r["provider_status"] or "—", str(r["requests"]),
                      f"{r['mb']:.2f}", r["created_at"], pairs)
    out.print(table)
