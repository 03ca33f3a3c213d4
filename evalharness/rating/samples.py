"""Making and joining rating samples: where the pool comes from, the draw, and who rates which pair.

`--from disagreements` (default) pools the newest finished run of every engine config; `--from run RUN`
one stored run (a run id or a config name); `--from queries FILE` the newest runs' pairs for the queries of a
query-set CSV. The draw itself is evalharness.rating.sampling; the tables are evalharness.store.rating.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from evalharness.compare.runs import resolve_run
from evalharness.errors import EvalHarnessError
from evalharness.querylog.querysets import read_query_set
from evalharness.rating.raters import RatedPair
from evalharness.rating.sampling import DEFAULT_MULTIPLIERS, PoolPair, assign_raters, draw_queries, draw_sample, pool_from_runs, rater_order
from evalharness.rating.scheme import RatingScheme
from evalharness.store import rating
from evalharness.store.db import Store, StoredQuery, utcnow
from evalharness.store.labels import labels_for, put_labels
from evalharness.store.tables import runs_t
from evalharness.textnorm import normalize_query

SOURCES = ("disagreements", "run", "queries")


@dataclass(frozen=True)
class SampleRequest:
    """What `rate` was asked to sample when the named sample does not exist yet."""

    name: str
    size: int
    source: str
    target: str | None
    seed: int | None
    raters: list[str]
    per_pair: int
    uniform: bool
    unit: str = "pair"  # pair, or query: whole queries (every hit of the runs' lists), for corrected comparisons


def parse_source(source: str, target: str | None) -> tuple[str, str | None]:
    """`run RUN`, `run:RUN`, `queries FILE`, `queries:FILE` or `disagreements`."""
    kind, sep, rest = source.partition(":")
    if sep:
        target = target or rest
    if kind not in SOURCES:
        raise EvalHarnessError(f"--from {source!r} is not a source; use disagreements, run RUN or queries FILE")
    if kind in ("run", "queries") and not target:
        raise EvalHarnessError(f"--from {kind} needs a {'run id or engine config' if kind == 'run' else 'query-set CSV'} "
                               f"after it, e.g. --from {kind} {'v2' if kind == 'run' else 'queries/demo.csv'}")
    if kind == "disagreements" and target:
        raise EvalHarnessError(f"--from disagreements takes no argument (got {target!r})")
    return kind, target


def _newest_runs(store: Store) -> list[str]:
    """The newest finished run of every engine config."""
    c = runs_t.c
    with store.engine.connect() as conn:
        configs = [r[0] for r in conn.execute(select(c.engine_config).where(c.status == "finished").distinct())]
    runs = [store.latest_run(name) for name in sorted(configs)]
    return [r.run_id for r in runs if r is not None]


def pool_for(store: Store, root: Path, kind: str, target: str | None) -> tuple[list[PoolPair], str]:
    """The candidate pairs and a description of where they came from."""
    if kind == "run":
        run = resolve_run(store, target or "")
        run_ids, described = [run.run_id], f"run {run.run_id}"
    else:
        run_ids = _newest_runs(store)
        if not run_ids:
            raise EvalHarnessError("no finished runs in the store to sample pairs from; run `evalharness run --engine-config NAME` first")
        described = f"newest runs: {', '.join(run_ids)}"
    per_run: list[Sequence[StoredQuery]] = [store.run_queries(rid) for rid in run_ids]
    if kind == "queries":
        path = Path(target or "")
        path = path if path.is_absolute() else root / path
        wanted = {normalize_query(q.text) for q in read_query_set(path)}
        per_run = [[q for q in queries if normalize_query(q.text) in wanted] for queries in per_run]
        if not any(per_run):
            raise EvalHarnessError(f"{path}: none of its queries is in the newest runs ({', '.join(run_ids)}); "
                                   "run them first with `evalharness run --queries`")
        described = f"queries of {path} in the {described}"
    return pool_from_runs(store, per_run), described


def create(store: Store, root: Path, req: SampleRequest, scheme: RatingScheme) -> rating.RatingSample:
    """Draw the sample and store it with its weights and (if raters are named) the fixed assignments."""
    if req.size < 1:
        raise EvalHarnessError("--sample must be at least 1")
    if not 1 <= req.per_pair <= 3:
        raise EvalHarnessError("--per-pair must be 1, 2 or 3")
    if len(set(req.raters)) != len(req.raters):
        raise EvalHarnessError("--raters lists a name twice; give each rater once")
    kind, target = parse_source(req.source, req.target)
    pool, described = pool_for(store, root, kind, target)
    seed = req.seed if req.seed is not None else secrets.randbelow(2**31)
    multipliers = {k: 1.0 for k in DEFAULT_MULTIPLIERS} if req.uniform else dict(DEFAULT_MULTIPLIERS)
    if req.unit not in ("pair", "query"):
        raise EvalHarnessError(f"--unit {req.unit!r} is not known; use pair or query")
    drawn = (draw_queries if req.unit == "query" else draw_sample)(pool, req.size, seed, scheme.middle, multipliers)
    items = [rating.RatingItem(i, d.pair.query, d.pair.query_key, d.pair.doc_id, d.pair.segment, d.pair.query_type,
                               d.pair.stratum, d.reason, d.size, d.inclusion_prob, d.weight, d.pair.guideline_hash, d.pair.hit,
                               d.pair.judge_labels) for i, d in enumerate(drawn)]
    assignments = {}
    if req.raters:
        per_rater = assign_raters(len(items), req.raters, req.per_pair)
        assignments = {r: rater_order(its, seed, r) for r, its in per_rater.items()}
    design = {"method": "stratified systematic PPS", "multipliers": multipliers, "size": req.size,
              "strata": sorted({it.stratum for it in items}), "scheme": scheme.name, "source": kind,
              "unit": req.unit}
    sample = rating.RatingSample(req.name, described, design, seed, len(pool), req.per_pair if req.raters else 0,
                                 list(req.raters), utcnow())
    rating.create_sample(store, sample, items, assignments)
    return sample


def join(store: Store, sample: rating.RatingSample, rater: str) -> None:
    """Let a rater into a sample: their fixed assignment, or (open samples) every pair in their own order."""
    if sample.raters:
        if rater not in sample.raters:
            raise EvalHarnessError(f"sample {sample.name!r} is for raters {', '.join(sample.raters)}; rate as one of them "
                                   f"or start another sample with --name")
        return
    if not rating.has_assignments(store, sample.name, rater):
        items = [it.item for it in rating.sample_items(store, sample.name)]
        rating.join_open_sample(store, sample.name, rater, rater_order(items, sample.seed, rater))


def rated_pairs(store: Store, sample_name: str, raters: Sequence[str]) -> list[RatedPair]:
    """The sample's pairs with each rater's stored label (human:NAME), sampling weight and hidden judge labels."""
    sample = rating.get_sample(store, sample_name)
    if sample is None:
        raise EvalHarnessError(f"no rating sample named {sample_name!r}; name one made by `evalharness rate` with --rating-sample")
    items = rating.sample_items(store, sample_name)
    queries = [it.query for it in items]
    by_rater = {r: labels_for(store, f"human:{r}", queries) for r in raters}
    out = []
    for it in items:
        ratings = {r: by_rater[r][(it.query_key, it.doc_id)] for r in raters if (it.query_key, it.doc_id) in by_rater[r]}
        out.append(RatedPair(it.query, it.doc_id, ratings, it.weight, dict(it.judge_labels)))
    return out


def store_gold(store: Store, name: str, gold: dict[tuple[str, str], str]) -> dict[str, int]:
    """Write the gold labels as human:NAME so metrics and `agreement --human NAME` can use them."""
    rows = [{"query": q, "doc_id": d, "label": label, "origin": "gold"} for (q, d), label in gold.items()]
    return put_labels(store, f"human:{name}", rows)
