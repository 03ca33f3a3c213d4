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


@app.command("engagement")
def engagement_cmd(
    ctx: typer.Context,
    behaviour: str = typer.Option(..., "--behaviour", "-b", help="A behaviour source (behaviour:NAME, see `labels implicit`)."),
    scorer: str | None = typer.Option(None, "--scorer", "-s", help="offline, openai:MODEL, gemini:MODEL (default: [images] scorer)."),
    prompt: str | None = typer.Option(None, "--prompt", help="guided (default) or generic, for LLM scorers."),
    catalog: str | None = typer.Option(None, "--catalog", help="Catalog of the logged products (default: [guidelines] catalog)."),
    min_impressions: int | None = typer.Option(None, "--min-impressions", min=1, help="Products shown fewer times are left out "
                                                                                    "(default: the source's threshold)."),
    min_category: int = typer.Option(10, "--min-category", min=4, help="Report a category with at least this many products."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Image scores against position-corrected CTR (clicks over expected clicks per product), overall and per category,
    with 95% CIs: do better photos draw more clicks than their positions predict?"""
    from evalharness.catalog.products import iter_products, resolve_catalog
    from evalharness.images.engagement import category_of, image_engagement, product_engagement
    from evalharness.images.scorers import make_scorer
    from evalharness.images.scoring import score_images
    from evalharness.images.sources import product_images
    from evalharness.pipeline.run import SilentStages
    from evalharness.store import Store
    from evalharness.store.behaviour import BEHAVIOUR_PREFIX, behaviour_model, check_behaviour_source, evidence_for

    project = Project(ctx.obj["project"])
    source = check_behaviour_source(behaviour if behaviour.startswith(BEHAVIOUR_PREFIX) else f"{BEHAVIOUR_PREFIX}{behaviour}")
    path = resolve_catalog(project, catalog or project.config.guidelines.catalog)
    store = Store(project.store_url())
    try:
        model = behaviour_model(store, source)
        engagement = product_engagement(evidence_for(store, source))
        threshold = min_impressions or int(model["min_impressions"])
        wanted = {pid for pid, e in engagement.items() if e.impressions >= threshold}
        first: dict[str, str] = {}
        categories: dict[str, str] = {}
        for p in iter_products(path):
            pid = str(p["id"])
            if pid in wanted:
                refs = [r for r in product_images(p, path.parent) if r]
                if refs:
                    first[pid] = refs[0]
                categories[pid] = category_of(p)
        if not first:
            raise EvalHarnessError(f"no product shown at least {threshold} times in {source} has an image in {path}; pass the "
                                   "catalog the log refers to (--catalog) or lower --min-impressions")
        scorer_obj = make_scorer(scorer or project.config.images.scorer, project.config, prompt)
        outcome = score_images(project, store, scorer_obj, sorted(set(first.values())), max_retries=project.config.judge.max_retries,
                               stages=SilentStages() if as_json else RichStages())
    finally:
        store.close()
    scores = {pid: outcome.scores[ref].score for pid, ref in first.items() if ref in outcome.scores}
    result = image_engagement(source, outcome.scorer_id, engagement, scores, categories, threshold, min_category)
    if as_json:
        out.print_json(json.dumps(result.to_json()))
        return
    out.print(f"{source} x {outcome.scorer_id}: {result.products} products shown at least {threshold} times with a scored image"
              + (f" ({result.unscored} without a score)" if result.unscored else ""), markup=False)
    table = Table(title="Image score vs position-corrected CTR (clicks / expected clicks), 95% CI by Fisher z")
    for col in ("scope", "products", "Spearman ρ", "95% CI", "Kendall τb", "p"):
        table.add_column(col, justify="left" if col == "scope" else "right")
    for name, c in [("all", result.overall), *result.by_category.items()]:
        ci = f"[{c.ci[0]:.3f}, {c.ci[1]:.3f}]" if c.ci else "—"
        table.add_row(escape(name), str(c.n), fmt(c.spearman, 3), ci, fmt(c.kendall, 3), fmt(c.p, 4))
    out.print(table)
    out.print("mean corrected CTR by image score: " + ", ".join(f"{k}: {m:.2f} ({n})" for k, (n, m) in result.mean_ctr_by_score.items()),
              markup=False)
    for ref, reason in list(outcome.failures.items())[:10]:
        err.print(f"failed: {ref}: {reason}", markup=False)
