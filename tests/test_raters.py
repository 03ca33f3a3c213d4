"""Inter-rater statistics against independent computations: statsmodels, sklearn, the krippendorff package's
published example, and tables with rows repeated by integer weights."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score
from statsmodels.stats.inter_rater import fleiss_kappa

from evalharness.errors import EvalHarnessError
from evalharness.rating.raters import RatedPair, count_table, fleiss_weighted, gold_label, rater_agreement

LABELS = ["irrelevant", "substitute", "relevant"]
GAINS = {"irrelevant": 0.0, "substitute": 1.0, "relevant": 2.0}


def _pairs(rows: list[tuple[str, ...]], weights: list[float] | None = None, raters=("a", "b", "c")) -> list[RatedPair]:
    weights = weights or [1.0] * len(rows)
    return [RatedPair(f"q{i}", f"d{i}", {r: v for r, v in zip(raters, row) if v}, w) for i, (row, w) in enumerate(zip(rows, weights))]


ROWS = [("relevant", "relevant", "relevant"), ("relevant", "substitute", "relevant"), ("irrelevant", "irrelevant", "substitute"),
        ("substitute", "substitute", "substitute"), ("irrelevant", "relevant", "irrelevant"), ("relevant", "relevant", "substitute"),
        ("irrelevant", "irrelevant", "irrelevant"), ("substitute", "relevant", "relevant")]


def test_fleiss_equals_statsmodels_and_weighted_equals_repeated_rows() -> None:
    weights = [1, 3, 2, 1, 4, 1, 2, 5]
    report = rater_agreement(_pairs(ROWS, [float(w) for w in weights]), ["a", "b", "c"], LABELS, GAINS)
    table = count_table(_pairs(ROWS), LABELS)
    assert report.fleiss["kappa"] == pytest.approx(fleiss_kappa(table), abs=1e-12)
    repeated = np.repeat(table, weights, axis=0)
    assert report.fleiss["kappa_weighted"] == pytest.approx(fleiss_kappa(repeated), abs=1e-12)
    assert fleiss_weighted(table, [1.0] * len(ROWS)) == pytest.approx(fleiss_kappa(table), abs=1e-12)


def test_pairwise_cohen_and_weighted_equal_sklearn_on_repeated_rows() -> None:
    weights = [2, 1, 1, 3, 1, 2, 1, 4]
    report = rater_agreement(_pairs(ROWS, [float(w) for w in weights]), ["a", "b", "c"], LABELS, GAINS)
    ab = next(p for p in report.pairwise if (p["a"], p["b"]) == ("a", "b"))
    a, b = [r[0] for r in ROWS], [r[1] for r in ROWS]
    assert ab["kappa"] == pytest.approx(cohen_kappa_score(a, b, labels=LABELS), abs=1e-12)
    ra, rb = np.repeat(a, weights), np.repeat(b, weights)
    assert ab["kappa_weighted"] == pytest.approx(cohen_kappa_score(ra, rb, labels=LABELS), abs=1e-12)
    assert ab["agreement_weighted"] == pytest.approx(np.mean(ra == rb), abs=1e-12)
    assert [(p["a"], p["b"]) for p in report.pairwise] == [("a", "b"), ("a", "c"), ("b", "c")]


def test_krippendorff_alpha_matches_the_published_example() -> None:
    """Krippendorff (2011), 'Computing Krippendorff's alpha-reliability': 4 observers, 12 units, nominal alpha 0.743."""
    data = [
        [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
        [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
    ]
    labels = ["1", "2", "3", "4", "5"]
    raters = ["A", "B", "C", "D"]
    pairs = [RatedPair(f"u{u}", "d", {raters[r]: str(data[r][u]) for r in range(4) if data[r][u] is not None}) for u in range(12)]
    report = rater_agreement(pairs, raters, labels, {v: float(v) for v in labels})
    assert report.alpha["nominal"] == pytest.approx(0.743, abs=5e-4)
    assert report.alpha["pairs"] == 11  # the unit with one value carries no pairable information
    assert report.multi_rated == 11


def test_gold_majority_and_tie_rules() -> None:
    assert gold_label(["relevant", "relevant", "irrelevant"], GAINS) == "relevant"
    assert gold_label(["relevant", "irrelevant"], GAINS, "lower") == "irrelevant"
    assert gold_label(["relevant", "irrelevant"], GAINS, "higher") == "relevant"
    assert gold_label(["relevant", "irrelevant"], GAINS, "none") is None
    with pytest.raises(EvalHarnessError):
        gold_label(["relevant"], GAINS, "coin")
    report = rater_agreement(_pairs([("relevant", "irrelevant", ""), ("relevant", "relevant", "substitute")]), ["a", "b", "c"],
                             LABELS, GAINS, tie="none")
    assert report.gold == {("q1", "d1"): "relevant"} and report.gold_ties == 1


def test_judges_against_gold_plain_and_weighted() -> None:
    pairs = [RatedPair("q1", "d1", {"a": "relevant", "b": "relevant"}, 1.0, {"offline": "relevant"}),
             RatedPair("q2", "d2", {"a": "irrelevant", "b": "irrelevant"}, 3.0, {"offline": "relevant"}),
             RatedPair("q3", "d3", {"a": "substitute", "b": "substitute"}, 1.0, {"offline": "substitute"})]
    judge = rater_agreement(pairs, ["a", "b"], LABELS, GAINS).judges[0]
    assert judge["judge"] == "offline" and judge["pairs"] == 3
    assert judge["accuracy"] == pytest.approx(2 / 3)
    assert judge["accuracy_weighted"] == pytest.approx(2 / 5)


def test_bad_input_is_one_clear_error() -> None:
    with pytest.raises(EvalHarnessError, match="at least two"):
        rater_agreement([], ["a"], LABELS, GAINS)
    with pytest.raises(EvalHarnessError, match="not in the project's label scheme"):
        rater_agreement(_pairs([("great", "relevant", "")]), ["a", "b"], LABELS, GAINS)
