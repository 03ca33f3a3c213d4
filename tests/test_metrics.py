"""Metrics through ir-measures, checked against hand-computed trec_eval values."""

import math

import pytest

from evalharness.errors import EvalHarnessError
from evalharness.metrics.ir import mean_metrics, parse_measures, per_query_metrics

NAMES = ["nDCG@10", "P(rel=1)@10", "P(rel=2)@10", "RR(rel=2)", "Judged@10", "nDCG@3"]


def test_ndcg_matches_hand_computed_linear_gain() -> None:
    # trec_eval's nDCG: gain = relevance grade (linear), discount log2(rank + 1), ideal from all judged docs.
    qrels = {"q1": {"a": 2, "b": 0, "c": 1, "d": 2}}
    run = {"q1": ["a", "b", "c", "x"]}
    values = per_query_metrics(NAMES, qrels, run, ["q1"])["q1"]
    dcg = 2 / math.log2(2) + 0 / math.log2(3) + 1 / math.log2(4)
    idcg = 2 / math.log2(2) + 2 / math.log2(3) + 1 / math.log2(4)
    assert values["nDCG@10"] == pytest.approx(dcg / idcg)
    assert values["nDCG@3"] == pytest.approx(dcg / idcg)
    assert values["P(rel=1)@10"] == pytest.approx(2 / 10)  # a and c have grade >= 1
    assert values["P(rel=2)@10"] == pytest.approx(1 / 10)
    assert values["RR(rel=2)"] == pytest.approx(1.0)
    assert values["Judged@10"] == pytest.approx(3 / 4)  # x is unjudged


def test_rr_for_a_later_first_relevant() -> None:
    values = per_query_metrics(["RR(rel=2)"], {"q": {"a": 1, "b": 2}}, {"q": ["a", "z", "b"]}, ["q"])["q"]
    assert values["RR(rel=2)"] == pytest.approx(1 / 3)


def test_zero_hit_and_unjudged_queries_count_as_zero() -> None:
    qrels = {"q1": {"a": 2}, "q2": {"b": 2}}
    run = {"q1": ["a"], "q2": [], "q3": ["c"]}
    per_query = per_query_metrics(["nDCG@10"], qrels, run, ["q1", "q2", "q3"])
    assert set(per_query) == {"q1", "q2", "q3"}
    assert per_query["q2"]["nDCG@10"] == 0.0 and per_query["q3"]["nDCG@10"] == 0.0
    assert mean_metrics(per_query, ["nDCG@10"])["nDCG@10"] == pytest.approx(1 / 3)


def test_bad_and_unsupported_measures_are_user_errors() -> None:
    with pytest.raises(EvalHarnessError, match="unknown measure 'nDCG@ten'"):
        parse_measures(["nDCG@ten"])
    with pytest.raises(EvalHarnessError, match="not supported"):
        parse_measures(["ERR@10"])
