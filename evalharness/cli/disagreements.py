"""`evalharness disagreements`: the pairs of a run its judge was least sure of (members of an ensemble disagree, or
a low label probability from log-probabilities), for human review."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from evalharness.cli.ui import out
from evalharness.errors import EvalHarnessError
from evalharness.project import Project


def register(app: typer.Typer) -> None:
    @app.command()
    def disagreements(
        ctx: typer.Context,
        run: str = typer.Argument(..., help="Engine config (its latest run) or a run id."),
        below: float = typer.Option(1.0, "--below", min=0.0, max=1.0,
                                    help="List pairs whose confidence (share of agreeing votes, or label probability) "
                                         "is below this (1.0: any disagreement)."),
        csv_path: Path | None = typer.Option(None, "--csv", help="Write the pairs to this CSV (query, doc_id, label, confidence, votes)."),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of a table."),
    ) -> None:
        """Pairs of a run its judge was unsure of, least confident first: a vote(...) judge's members disagree, or a
        judge with [judge] logprobs gave its label a low probability."""
        from evalharness.compare.runs import resolve_run
        from evalharness.store import Store
        from evalharness.store.votes import vote_pool

        project = Project(ctx.obj["project"])
        store = Store(project.store_url())
        try:
            stored = resolve_run(store, run)
            queries = store.run_queries(stored.run_id)
            pool = vote_pool(store, [q.guideline_hash for q in queries], stored.judge_id)
            if not pool:
                raise EvalHarnessError(f"run {stored.run_id} was judged by {stored.judge_id.split(':p')[0]}, which gave no "
                                       "confidence; run it with --judge 'vote(A, B, C)' or with [judge] logprobs = 5 (OpenAI, "
                                       "OpenAI-compatible and Gemini models) to get per-pair confidence")
        finally:
            store.close()
        rows = []
        for q in queries:
            for h in q.hits:
                voted = pool.get((q.guideline_hash, h.doc_id))
                if voted is not None and voted.confidence < below:
                    rows.append({"query_id": q.id, "query": q.text, "doc_id": h.doc_id, "rank": h.rank, "label": voted.label,
                                 "confidence": voted.confidence,
                                 "votes": "; ".join(f"{v['member']}={v['label']}" for v in voted.votes)})
        rows.sort(key=lambda r: (r["confidence"], r["query_id"], r["rank"]))
        judged = sum(1 for q in queries for h in q.hits if (q.guideline_hash, h.doc_id) in pool)
        if csv_path is not None:
            path = project.resolve(csv_path)
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("w", newline="", encoding="utf-8") as fh:
                writer = csv.DictWriter(fh, fieldnames=["query_id", "query", "doc_id", "rank", "label", "confidence", "votes"])
                writer.writeheader()
                writer.writerows(rows)
        if as_json:
            out.print_json(json.dumps({"run_id": stored.run_id, "judge_id": stored.judge_id, "pairs": judged, "below": below,
                                       "disagreements": rows}))
            return
        table = Table(title=escape(f"{len(rows)} of {judged} pairs below {below:.0%} agreement — run {stored.run_id}"))
        for col in ("query", "doc_id", "label", "confidence", "votes"):
            table.add_column(col)
        for r in rows[:50]:
            table.add_row(escape(r["query"]), escape(r["doc_id"]), escape(r["label"]), f"{r['confidence']:.2f}", escape(r["votes"]))
        out.print(table)
        if len(rows) > 50:
            out.print(f"... and {len(rows) - 50} more (--csv writes them all)")
