"""`evalharness images score` and `evalharness images agreement`: image quality 1-5 with reasons, and scorers
against people."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from evalharness.cli.ui import RichStages, err, fmt, out
from evalharness.errors import EvalHarnessError
from evalharness.project import Project

app = typer.Typer(no_args_is_help=True, help="Image quality 1-5 with reasons (offline or LLM scorers), and agreement with people.")


def _refs(project: Project, catalog: str | None, engine: str | None, run: str | None) -> tuple[str, list]:
    from evalharness.compare.runs import resolve_run
    from evalharness.images.sources import catalog_images, engine_catalog, run_images
    from evalharness.store import Store

    if sum(x is not None for x in (catalog, engine, run)) > 1:
        raise EvalHarnessError("pass one of --catalog, --engine-config or --run")
    if run is not None:
        store = Store(project.store_url())
        try:
            stored = resolve_run(store, run)
            return f"run {stored.run_id}", run_images(store, stored.run_id)
        finally:
            store.close()
    name = catalog or (engine_catalog(project, engine) if engine else project.config.guidelines.catalog)
    return f"catalog {name}", catalog_images(project, name)


@app.command("score")
def score(
    ctx: typer.Context,
    catalog: str | None = typer.Option(None, "--catalog", help="A catalog JSONL (or 'demo'); default: [guidelines] catalog."),
    engine: str | None = typer.Option(None, "--engine-config", "-e", help="Score the catalog this engine config searches."),
    run: str | None = typer.Option(None, "--run", help="Score the images of a run's hits (run id or engine config name)."),
    scorer: str | None = typer.Option(None, "--scorer", "-s", help="offline, openai:MODEL, gemini:MODEL (default: [images] scorer)."),
    prompt: str | None = typer.Option(None, "--prompt", help="guided (default) or generic, for LLM scorers."),
    worst: int = typer.Option(10, "--worst", min=0, help="How many of the worst images to list."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object per image (a JSON list)."),
) -> None:
    """Score each image 1-5 with the aspects that decided it and a rationale; scores are cached by image bytes."""
    from evalharness.images.scorers import make_scorer
    from evalharness.images.scoring import score_images
    from evalharness.images.sources import hero_images
    from evalharness.pipeline.run import SilentStages
    from evalharness.store import Store

    project = Project(ctx.obj["project"])
    what, refs = _refs(project, catalog, engine, run)
    scorer_obj = make_scorer(scorer or project.config.images.scorer, project.config, prompt)
    store = Store(project.store_url())
    try:
        outcome = score_images(project, store, scorer_obj, [r.ref for r in refs], max_retries=project.config.judge.max_retries,
                               stages=SilentStages() if as_json else RichStages())
    finally:
        store.close()
    scores = {ref: s.score for ref, s in outcome.scores.items()}
    heroes = hero_images(refs, scores)
    several = {r.product_id for r in refs if r.product_id in heroes}
    rows = []
    for r in refs:
        s = outcome.scores.get(r.ref)
        row: dict = {"product_id": r.product_id, "image": r.ref, "score": s.score if s else None}
        if s:
            row.update(aspects=s.aspects, rationale=s.rationale, image_sha256=outcome.hashes[r.ref])
        else:
            row["error"] = outcome.failures.get(r.ref, "not scored")
        if r.product_id in several:
            row["hero"] = heroes[r.product_id] == r.ref
        rows.append(row)
    if as_json:
        out.print_json(json.dumps(rows))
        return
    dist = Counter(row["score"] for row in rows if row["score"] is not None)
    out.print(f"{what}: {len(rows)} images scored by {outcome.scorer_id} — {outcome.new} new, "
              f"{len(rows) - len(outcome.failures) - outcome.new} from cache, {len(outcome.failures)} failed"
              + (f", cost ${outcome.cost_usd:.4f}" if outcome.cost_usd else ""), markup=False)
    scored = sum(dist.values())
    if scored:
        out.print("scores: " + ", ".join(f"{k}: {dist.get(k, 0)}" for k in range(5, 0, -1))
                  + f" — mean {fmt(sum(k * v for k, v in dist.items()) / scored, 2)}, {dist[1] + dist[2]} scoring 2 or less")
    table = Table(title=f"The {worst} worst images")
    for col in ("product", "score", "aspects", "rationale"):
        table.add_column(col)
    for row in sorted((r for r in rows if r["score"] is not None), key=lambda r: (r["score"], r["product_id"]))[:worst]:
        table.add_row(escape(row["product_id"]), str(row["score"]), escape(", ".join(row["aspects"])), escape(row["rationale"]))
    if worst:
        out.print(table)
    if heroes:
        out.print(f"hero image suggestions ({len(heroes)} products with several images):")
        for pid, ref in list(heroes.items())[:worst or 10]:
            out.print(f"  {pid}: {ref} (score {scores[ref]})", markup=False)
    for row in rows:
        if row["score"] is None:
            err.print(f"failed: {row['product_id']} {row['image']}: {row['error']}", markup=False)


@app.command("agreement")
def agreement_cmd(
    ctx: typer.Context,
    human: Path = typer.Option(..., "--human", help="CSV with columns image (product id or path), score (1-5), optional rater."),
    scorers: list[str] | None = typer.Option(None, "--scorer", "-s", help="Scorers to compare (repeat); default: [images] scorer."),
    prompts: list[str] | None = typer.Option(None, "--prompt", help="Prompts for LLM scorers (repeat); default: guided and generic."),
    catalog: str | None = typer.Option(None, "--catalog", help="Catalog whose product ids the file names (default: [guidelines] catalog)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Percent agreement, weighted kappa and Pearson of each scorer (and prompt) against people's majority scores."""
    from evalharness.images.agreement import agreement, leaderboard, read_human_scores
    from evalharness.images.scorers import make_scorer
    from evalharness.images.scoring import score_images
    from evalharness.images.sources import catalog_images
    from evalharness.pipeline.run import SilentStages
    from evalharness.store import Store

    project = Project(ctx.obj["project"])
    path = project.resolve(human)
    first_image: dict[str, str] = {}
    for r in catalog_images(project, catalog or project.config.guidelines.catalog):
        first_image.setdefault(r.product_id, r.ref)
    people = read_human_scores(path, first_image, path.parent)
    specs = scorers or [project.config.images.scorer]
    store = Store(project.store_url())
    results = []
    try:
        for spec in specs:
            for prompt in (["-"] if spec.partition(":")[0] == "offline" else (prompts or ["guided", "generic"])):
                scorer_obj = make_scorer(spec, project.config, None if prompt == "-" else prompt)
                outcome = score_images(project, store, scorer_obj, list(people.scores), max_retries=project.config.judge.max_retries,
                                       stages=SilentStages() if as_json else RichStages())
                machine = {ref: s.score for ref, s in outcome.scores.items()}
                results.append(agreement(spec, prompt, scorer_obj.scorer_id, people.scores, machine, len(outcome.failures),
                                         outcome.cost_usd))
    finally:
        store.close()
    board = leaderboard(results)
    if as_json:
        out.print_json(json.dumps({"human": str(path), "images": len(people.scores), "ratings": sum(people.ratings.values()),
                                   "raters": people.raters, "leaderboard": [r.to_json() for r in board]}))
        return
    table = Table(title=f"Agreement with {len(people.scores)} images scored by people ({sum(people.ratings.values())} ratings, "
                        "majority per image)")
    for col in ("scorer", "prompt", "n", "exact", "within 1", "weighted κ", "Pearson r", "failed", "cost"):
        table.add_column(col, justify="left" if col in ("scorer", "prompt") else "right")
    for r in board:
        table.add_row(escape(r.scorer), r.prompt, str(r.n), f"{r.percent_agreement:.1%}", f"{r.within_one:.1%}",
                      fmt(r.weighted_kappa, 3), fmt(r.pearson, 3), str(r.failed), f"${r.cost_usd:.4f}")
    out.print(table)
    out.print("weighted κ: Cohen's kappa with quadratic weights (scikit-learn); Pearson r: scipy.", markup=False)
