"""Label sources: where a pair's label comes from, and the qrels a source gives a run.

A source spec is a judge spec (`offline`, `openai:MODEL`, `vote(a, b, c)`), imported people's labels
(`human:NAME`), implicit labels from a search log (`behaviour:NAME`, see labels/implicit.py), or a comma
list of them in priority order (`human:gold,openai:gpt-4o-mini`: people where they labelled, the LLM elsewhere).
Commas inside parentheses belong to the spec (`vote(a, b)`).
A judge source reads the judgments the judge made for each query's guideline (the pool); a human
or behaviour source reads the labels table by normalized query text. Hits no source labelled are holes (Judged@k).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from evalharness.errors import EvalHarnessError
from evalharness.labels.schemes import scheme_of
from evalharness.store.behaviour import behaviour_model, check_behaviour_source, is_behaviour
from evalharness.store.labels import HUMAN_PREFIX, check_source, has_source, labels_for
from evalharness.store.runread import Wanted, pair_pool, stored_pairs
from evalharness.textnorm import normalize_query

if TYPE_CHECKING:
    from evalharness.config import ProjectConfig
    from evalharness.store.db import StoredQuery


def project_labels(config: ProjectConfig) -> tuple[tuple[str, ...], dict[str, int]]:
    """The project's label names (lowest gain first) and their qrels gains, from its label scheme."""
    scheme = scheme_of(config)
    return tuple(d.name for d in scheme.by_gain(descending=False)), scheme.gains


def split_specs(spec: str) -> list[str]:
    """'human:a, vote(x, y),offline' -> ['human:a', 'vote(x, y)', 'offline'] (commas inside parentheses kept)."""
    parts, depth, current = [], 0, []
    for ch in spec:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                raise EvalHarnessError(f"--labels '{spec}': a ')' without its '('; write e.g. human:gold,vote(a, b)")
        if ch == "," and depth == 0:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
    if depth != 0:
        raise EvalHarnessError(f"--labels '{spec}': a '(' is not closed; write e.g. vote(openai:gpt-4o-mini, offline)")
    parts.append("".join(current).strip())
    if any(not p for p in parts):
        raise EvalHarnessError(f"--labels '{spec}': an empty entry; list sources separated by commas, e.g. human:gold,offline")
    return parts


def check_spec(spec: str) -> list[str]:
    """Parse a --labels spec and check its human and behaviour sources' names before any work is done."""
    parts = split_specs(spec)
    for part in parts:
        if is_stored(part):
            check_stored(part)
    return parts


def is_human(spec: str) -> bool:
    return spec.startswith(HUMAN_PREFIX)


def is_stored(spec: str) -> bool:
    """A source whose labels are in the labels table (human:NAME, behaviour:NAME), not a judge's pool."""
    return is_human(spec) or is_behaviour(spec)


def check_stored(spec: str) -> str:
    return check_behaviour_source(spec) if is_behaviour(spec) else check_source(spec)


def check_sources_exist(store: Any, spec: str) -> None:
    """Every human source of a --labels spec holds labels in this store (a misspelt name is named, not read as empty)."""
    for part in split_specs(spec):
        if is_human(part) and not has_source(store, check_source(part)):
            raise EvalHarnessError(f"--labels: label source '{part}' holds no labels in this store; import them first "
                                   f"(evalharness labels import FILE --as NAME) or name one that `evalharness labels list` shows")


def covering_sources(spec: str, judge_spec: str) -> list[str]:
    """The human sources of a --labels spec that rank above the run's judge: a pair one of them labelled is never
    sent to the judge (all of them when the spec does not name the judge)."""
    parts = split_specs(spec)
    above = parts[:parts.index(judge_spec)] if judge_spec in parts else parts
    return [p for p in above if is_human(p)]


@dataclass
class SourcedQrels:
    """Qrels of a label source for some queries, and which source gave each label."""

    qrels: dict[str, dict[str, int]]
    origin: dict[str, dict[str, str]]
    labels: dict[str, dict[str, str]] = field(default_factory=dict)
    rationales: dict[str, dict[str, str]] = field(default_factory=dict)

    def counts_by_source(self) -> dict[str, int]:
        """How many labels each source contributed."""
        out: dict[str, int] = {}
        for docs in self.origin.values():
            for src in docs.values():
                out[src] = out.get(src, 0) + 1
        return out


def qrels_for_source(store: Any, spec: str, queries: Sequence[StoredQuery], judges: Mapping[str, Any],
                     gains: Mapping[str, int], wanted: Wanted | None = None) -> SourcedQrels:
    """Qrels {query_id: {doc_id: gain}} for stored queries from a source spec; the first source with a label wins.

    `judges` maps each non-human spec to its judge (anything with a `judge_id`). The pool rule: a judge gives the
    labels of the pairs in `wanted` only (the runs scored; default: the queries' own hits), never what it judged
    for other runs; a human source gives every label it holds for the query (a named, fixed set), so nDCG's
    ideal ranking uses those too.
    """
    if wanted is None:
        wanted = stored_pairs(queries)
    out = SourcedQrels({q.id: {} for q in queries}, {q.id: {} for q in queries},
                       {q.id: {} for q in queries}, {q.id: {} for q in queries})
    for part in split_specs(spec):
        if is_stored(part):
            check_stored(part)
            if is_behaviour(part):
                behaviour_model(store, part)  # says how to compute a source that is not stored
            found = labels_for(store, part, [q.text for q in queries])
            per_query: dict[str, dict[str, tuple[str, str]]] = {}
            for (qkey, doc), label in found.items():
                per_query.setdefault(qkey, {})[doc] = (label, "")
            for q in queries:
                _fill(out, q.id, part, per_query.get(normalize_query(q.text), {}), gains)
        else:
            judge = judges.get(part)
            if judge is None:
                raise EvalHarnessError(f"--labels: no judge built for '{part}'")
            pool = pair_pool(store, judge.judge_id, wanted, rationales=True).labels
            for q in queries:
                _fill(out, q.id, part, pool.get(q.guideline_hash, {}), gains)
    return out


def _fill(out: SourcedQrels, qid: str, source: str, labels: Mapping[str, tuple[str, str]], gains: Mapping[str, int]) -> None:
    for doc, (label, rationale) in labels.items():
        if doc in out.qrels[qid]:
            continue
        if label not in gains:
            raise EvalHarnessError(f"label source {source} holds label {label!r} (query {qid}, doc {doc}), which is not one of the "
                                   f"project's labels ({', '.join(gains)}); re-import it with a --map onto these labels")
        out.qrels[qid][doc] = gains[label]
        out.origin[qid][doc] = source
        out.labels[qid][doc] = label
        out.rationales[qid][doc] = rationale


def source_qrels(config: ProjectConfig, store: Any, spec: str, queries: Sequence[StoredQuery],
                 wanted: Wanted | None = None) -> SourcedQrels:
    """Qrels of a `--labels` spec for stored queries: judges are named by their spec (no key needed: only their
    stored judgments are read, nothing is sent), human sources by name; `wanted`: the pairs scored (default: the
    queries' own hits)."""
    from evalharness.judges import make_judge

    judges = {part: make_judge(part, config, need_key=False) for part in split_specs(spec) if not is_stored(part)}
    return qrels_for_source(store, spec, queries, judges, scheme_of(config).gains, wanted)


def rescore_with_labels(project: Any, store: Any, outcome: Any, spec: str, wanted: Wanted | None = None) -> dict[str, Any]:
    """Score a finished run (a RunOutcome) on a label source instead of its judge; says where the labels came from.

    `wanted`: the pairs of every run shown together (`run -b`), default the run's own. A run the source leaves
    holes in, where no judge of the spec fills them, is stored `partial` (its counts say how many)."""
    from evalharness.metrics.ir import mean_metrics
    from evalharness.pipeline.run import evaluate_stored
    from evalharness.pipeline.runstate import FINISHED, PARTIAL

    names = list(project.config.run.metrics)
    stored = outcome.stored if outcome.stored is not None else store.run_queries(outcome.run_id)
    sq = source_qrels(project.config, store, spec, stored, wanted)
    outcome.per_query = evaluate_stored(store, outcome.judge_id, stored, names, project, qrels=sq.qrels)
    outcome.metrics = mean_metrics(outcome.per_query, names)
    hits = [(q.id, h.doc_id) for q in stored for h in q.hits]
    by_source: dict[str, int] = {}
    for qid, doc in hits:
        src = sq.origin[qid].get(doc)
        if src is not None:
            by_source[src] = by_source.get(src, 0) + 1
    holes = len(hits) - sum(by_source.values())
    if holes and outcome.status == FINISHED:
        outcome.status = PARTIAL
        outcome.counts = {**outcome.counts, "label_holes": holes}
        store.set_run_status(outcome.run_id, PARTIAL, outcome.counts)
    return {"source": spec, "hits": len(hits), "labelled_hits_by_source": by_source, "unlabelled_hits": holes}


def qrels_for_queries(config: ProjectConfig, store: Any, spec: str, queries: Sequence[Any], guideline_hashes: Sequence[str],
                      wanted: Wanted) -> SourcedQrels:
    """Qrels of a `--labels` spec for compared queries (each with id and text), their guideline hashes and the
    compared runs' pairs."""
    from evalharness.store.db import StoredQuery

    views = [StoredQuery(q.id, q.text, q.count, q.segment, g, [], []) for q, g in zip(queries, guideline_hashes)]
    return source_qrels(config, store, spec, views, wanted)
