"""per_query_metrics gives the values of a plain `ir_measures.iter_calc` over the whole qrels and run (how it
computed them before it grouped measures per provider and computed Judged@k itself), query by query."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import ir_measures
import pytest
from conftest import make_project, run_cli

from evalharness.labels.schemes import scheme_of
from evalharness.metrics.ir import parse_measures, per_query_metrics, per_query_metrics_runs
from evalharness.metrics.measures import split_measures
from evalharness.pipeline.run import qrels_from_pool
from evalharness.project import Project
from evalharness.store import Store

# Every pytrec_eval family evalharness documents, several cutoffs and relevance levels, and Judged with and without k.
NAMES = ["nDCG@10", "nDCG@3", "nDCG", "P(rel=1)@10", "P(rel=2)@10", "P@5", "RR(rel=2)", "RR", "AP", "AP(rel=2)@10",
         "R@50", "R(rel=2)@10", "Success@3", "Rprec", "Bpref", "NumRet", "Judged@10", "Judged@3", "Judged@100", "Judged"]
# Measures that read only the top k (and RR down to its first relevant doc): the providers get only that part.
TOP_K = ["nDCG@10", "nDCG@3", "P(rel=1)@10", "P(rel=2)@10", "P@5", "RR(rel=2)", "RR", "AP@10", "AP(rel=2)@5", "R@10",
         "R(rel=2)@10", "Success@3", "Judged@10", "nDCG(gains={0:0,1:1,2:3})@10"]
LISTS = pytest.mark.parametrize("names", [NAMES, TOP_K], ids=["all", "top_k"])


def reference(names: Sequence[str], qrels: Mapping[str, Mapping[str, int]], run: Mapping[str, Sequence[str]],
              query_ids: Sequence[str]) -> dict[str, dict[str, float]]:
    """per_query_metrics as it was: `ir_measures.iter_calc` over every query of the qrels and the run, one measure
    per call (ir-measures files a plain nDCG under another nDCG's gains mapping when both are in one call and the
    gains one comes first in its set, an order that follows the hash seed)."""
    names, _ = split_measures(names)
    measures = parse_measures(names)
    values: dict[str, dict[str, float]] = {qid: {name: 0.0 for name in names} for qid in query_ids}
    run_dict = {qid: {doc: float(len(docs) - i) for i, doc in enumerate(docs)} for qid, docs in run.items() if docs}
    qrels_dict = {qid: dict(docs) for qid, docs in qrels.items() if docs}
    if run_dict and qrels_dict:
        for measure, name in zip(measures, names):
            for m in ir_measures.iter_calc([measure], qrels_dict, run_dict):
                if m.query_id in values:
                    values[m.query_id][name] = float(m.value)
    return values


def hostile(seed: int) -> tuple[dict[str, dict[str, int]], dict[str, list[str]], list[str]]:
    """Qrels and a run with every awkward case: empty lists, queries without judgments or without an entry at all,
    docs judged but never retrieved, grades 0/1/2 (and a -1), repeated docs in a list, short and long lists,
    queries only in the run or only in the qrels, and queries outside query_ids."""
    rnd = random.Random(seed)
    docs = [f"d{i}" for i in range(60)]
    qrels: dict[str, dict[str, int]] = {}
    run: dict[str, list[str]] = {}
    for q in range(80):
        qid = f"q{q}"
        kind = q % 8
        if kind != 1:  # q1, q9, ...: no judgments at all; q2, ...: an empty judgment dict
            qrels[qid] = {} if kind == 2 else {d: rnd.choice([0, 0, 1, 2, 2, -1 if kind == 7 else 1])
                                                for d in rnd.sample(docs, rnd.randint(1, 40))}
        if kind == 3:
            continue  # judged, never run
        n = 0 if kind == 4 else rnd.choice([1, 2, 3, 9, 10, 11, 50])
        ranked = rnd.sample(docs, n)
        if kind == 5 and ranked:  # a doc repeated further down (and at the very end)
            ranked = ranked + [ranked[0], ranked[len(ranked) // 2]]
        run[qid] = ranked
    run["only_run"] = rnd.sample(docs, 10)
    qrels["only_qrels"] = {d: 2 for d in rnd.sample(docs, 5)}
    query_ids = [f"q{q}" for q in range(0, 80, 1) if q % 11 != 10] + ["absent", "only_run", "only_qrels"]
    return qrels, run, query_ids


@LISTS
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_hostile_qrels_give_the_reference_values(seed: int, names: list[str]) -> None:
    qrels, run, query_ids = hostile(seed)
    assert per_query_metrics(names, qrels, run, query_ids) == reference(names, qrels, run, query_ids)


@LISTS
def test_a_chunk_of_the_queries_gets_the_same_values_as_the_whole(names: list[str]) -> None:
    qrels, run, query_ids = hostile(3)
    whole = reference(names, qrels, run, query_ids)
    for chunk in (query_ids[:7], query_ids[7:40], query_ids[40:]):
        assert per_query_metrics(names, qrels, run, chunk) == {qid: whole[qid] for qid in chunk}


@LISTS
def test_several_runs_against_one_qrels_match_one_at_a_time(names: list[str]) -> None:
    qrels, run, query_ids = hostile(4)
    other = {qid: list(reversed(docs)) for qid, docs in run.items()}
    assert per_query_metrics_runs(names, qrels, [run, other, {}], query_ids) == [
        reference(names, qrels, r, query_ids) for r in (run, other, {})]


@pytest.mark.parametrize("seed", [0, 1])
def test_the_order_of_the_names_changes_no_value(seed: int) -> None:
    # A gains nDCG listed before the plain one gave 0.0 for itself and its own value for the plain one.
    qrels, run, query_ids = hostile(seed)
    names = ["nDCG(gains={0:0,1:1,2:3})@10", "nDCG@10", "P(rel=2)@10", "nDCG(gains={0:0,1:2,2:5})@3", "nDCG@3"]
    forward = per_query_metrics(names, qrels, run, query_ids)
    assert forward == per_query_metrics(list(reversed(names)), qrels, run, query_ids)
    assert forward == reference(names, qrels, run, query_ids)
    assert any(row["nDCG@10"] != row[names[0]] for row in forward.values())


def test_empty_inputs_score_zero() -> None:
    zero = {"q": dict.fromkeys(["nDCG@10", "Judged@10"], 0.0)}
    assert per_query_metrics(["nDCG@10", "Judged@10"], {}, {"q": ["a"]}, ["q"]) == zero
    assert per_query_metrics(["nDCG@10", "Judged@10"], {"q": {"a": 2}}, {}, ["q"]) == zero
    assert per_query_metrics(["nDCG@10", "Judged@10"], {"q": {"a": 2}}, {"q": []}, ["q"]) == zero
    assert per_query_metrics(["nDCG@10"], {"q": {"a": 2}}, {"q": ["a"]}, []) == {}


def test_aliases_of_one_measure_all_get_its_value() -> None:
    # P@10 and P(rel=1)@10 are one measure; before, only the later name got the value and the earlier stayed 0.
    values = per_query_metrics(["P@10", "P(rel=1)@10"], {"q": {"a": 1}}, {"q": ["a"]}, ["q"])["q"]
    assert values == {"P@10": 0.1, "P(rel=1)@10": 0.1}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory, demo_dir: Path) -> tuple[dict[str, dict[str, int]], list[dict[str, list[str]]], list[str]]:
    """The demo's qrels (offline judge's pool) and the stored lists of two engines over the same 30 queries."""
    root = make_project(tmp_path_factory.mktemp("metrics_equal") / "proj", demo_dir, n_queries=30)
    for engine in ("v1", "v2"):
        result = run_cli(root, "run", "-e", engine, "--top-k", "50")
        assert result.returncode == 0, result.stderr
    project = Project(root)
    store = Store(project.store_url())
    runs: list[Any] = [store.latest_run(e) for e in ("v1", "v2")]
    stored = [store.run_queries(r.run_id) for r in runs]
    qrels = qrels_from_pool(store, runs[0].judge_id, stored[0], scheme_of(project.config))
    lists = [{q.id: [h.doc_id for h in q.hits] for q in side} for side in stored]
    return qrels, lists, [q.id for q in stored[0]]


@LISTS
def test_demo_runs_give_the_reference_values(demo: tuple[dict[str, dict[str, int]], list[dict[str, list[str]]], list[str]],
                                             names: list[str]) -> None:
    qrels, lists, ids = demo
    assert any(qrels.values()) and all(any(run.values()) for run in lists)
    assert any(len(docs) > 10 for run in lists for docs in run.values())  # lists reach past every cutoff
    for run in lists:
        assert per_query_metrics(names, qrels, run, ids) == reference(names, qrels, run, ids)


def test_providers_read_only_what_the_measures_need() -> None:
    from evalharness.metrics.ir import _plan, _truncated

    (group,) = _plan(("nDCG@10", "P(rel=2)@5", "RR(rel=2)", "Judged@10")).groups
    assert group.depth == (10, (2,))
    ranked = [f"d{i}" for i in range(50)]
    scored = {d: float(50 - i) for i, d in enumerate(ranked)}
    assert list(_truncated(ranked, scored, {"d3": 2}, group.depth)) == ranked[:10]
    assert list(_truncated(ranked, scored, {"d3": 1, "d30": 2}, group.depth)) == ranked[:31]  # RR reads to d30
    assert _truncated(ranked, scored, {"d3": 1}, group.depth) == scored  # no doc at level 2: RR reads all
    for names in (("nDCG@10", "AP"), ("P(judged_only=True)@10",), ("Rprec",), ("Bpref",), ("P@10", "NumRet"), ("RR@5",)):
        assert [g.depth for g in _plan(names).groups] == [None]
