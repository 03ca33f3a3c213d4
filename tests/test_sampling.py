"""The rating sample: stratified, weighted toward judge disagreement, with exact stored inclusion probabilities."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from conftest import assert_user_error, make_project, run_cli
from llmserver import LLMServer
from scipy.stats import chi2
from test_llm_judges import ENV, KEY, configure

from evalharness.errors import EvalHarnessError
from evalharness.project import Project
from evalharness.rating import samples as rating_samples
from evalharness.rating.sampling import allocate, assign_raters, draw_sample, inclusion_probabilities, pool_from_runs, systematic_pps
from evalharness.rating.scheme import rating_scheme
from evalharness.store import Store
from evalharness.store.rating import sample_items


def test_inclusion_probabilities_sum_to_n_and_cap_at_one() -> None:
    pis = inclusion_probabilities(4, [10, 1, 1, 1, 1, 1, 1])
    assert pis[0] == 1.0
    assert sum(pis) == pytest.approx(4)
    assert pis[1:] == pytest.approx([0.5] * 6)
    capped = inclusion_probabilities(2, [1, 1, 8])
    assert capped == pytest.approx([0.5, 0.5, 1.0])


def test_allocation_covers_every_stratum_and_follows_size() -> None:
    alloc = allocate(10, {"a": 60.0, "b": 30.0, "c": 1.0}, {"a": 100, "b": 100, "c": 1})
    assert alloc == {"a": 6, "b": 3, "c": 1}
    assert sum(allocate(500, {"a": 5.0, "b": 5.0}, {"a": 3, "b": 4}).values()) == 7  # never more than the pool


def test_systematic_pps_draws_each_unit_with_its_probability() -> None:
    sizes = [1, 1, 1, 2, 2, 4, 4, 4, 8, 1, 1, 2]
    pis = inclusion_probabilities(5, sizes)
    rng = random.Random(12345)
    reps = 6000
    counts = Counter()
    for _ in range(reps):
        chosen = systematic_pps(pis, rng)
        assert len(chosen) == 5 and len(set(chosen)) == 5
        counts.update(chosen)
    for i, pi in enumerate(pis):
        sd = (reps * pi * (1 - pi)) ** 0.5
        assert abs(counts[i] - reps * pi) <= 4.5 * max(sd, 1e-9), (i, counts[i], reps * pi)


def test_assignments_give_each_pair_k_raters_evenly() -> None:
    out = assign_raters(30, ["a", "b", "c"], 2)
    assert sorted(len(v) for v in out.values()) == [20, 20, 20]
    per_item = Counter(i for items in out.values() for i in items)
    assert set(per_item.values()) == {2}
    with pytest.raises(EvalHarnessError):
        assign_raters(3, ["a", "b"], 3)


@pytest.fixture(scope="module")
def two_judge_project(tmp_path_factory: pytest.TempPathFactory, demo_dir: Path) -> Path:
    """The demo run judged twice: offline rules and an LLM judge (the local wire-format server) that disagree on some pairs."""
    project = make_project(tmp_path_factory.mktemp("sampling") / "proj", demo_dir, n_queries=30)
    server = LLMServer(api_key=KEY)
    try:
        configure(project, server, "openai", queries=30)
        for judge in ("offline", "openai:gpt-4o-mini"):
            result = run_cli(project, "run", "-e", "v2", "--judge", judge, env=ENV)
            assert result.returncode == 0, result.stderr
    finally:
        server.close()
    return project


def test_disagreement_weighted_sample_picks_pairs_in_proportion_to_stored_weights(two_judge_project: Path) -> None:
    project = Project(two_judge_project)
    scheme = rating_scheme(project.config)
    store = Store(project.store_url())
    try:
        req = rating_samples.SampleRequest("w", 60, "run", "v2", 11, [], 1, False)
        rating_samples.create(store, project.root, req, scheme)
        stored = sample_items(store, "w")
        pool, _ = rating_samples.pool_for(store, project.root, "run", "v2")
    finally:
        store.close()
    reasons = Counter(p.judge_labels and len(set(p.judge_labels.values())) > 1 for p in pool)
    assert reasons[True] >= 10, "the two judges should disagree on some pairs"
    assert {len(p.judge_labels) for p in pool} == {2}
    assert len(stored) == 60 and len({(it.query_key, it.doc_id) for it in stored}) == 60
    strata = {p.stratum for p in pool}
    assert len({s.split("|")[1] for s in strata}) >= 3  # segments x query types (from the guidelines' requirements)
    assert {it.stratum for it in stored} == strata  # every stratum is represented
    # The stored weight is 1 / the inclusion probability the design gives: n_h * size / S_h within each stratum.
    by_stratum: dict[str, list] = {}
    for p in pool:
        by_stratum.setdefault(p.stratum, []).append(p)
    n_h = Counter(it.stratum for it in stored)
    mult = {"disagree": 4.0, "boundary": 2.0, "agree": 1.0}
    for it in stored:
        assert it.size == mult[it.reason]
        s_h = sum(mult[_reason(p, scheme.middle)] for p in by_stratum[it.stratum])
        assert it.inclusion_prob == pytest.approx(min(1.0, n_h[it.stratum] * it.size / s_h)) or it.inclusion_prob == 1.0
        assert it.weight == pytest.approx(1 / it.inclusion_prob)
    disagree_pis = {it.inclusion_prob for it in stored if it.reason == "disagree" and it.inclusion_prob < 1}
    agree_pis = {it.inclusion_prob for it in stored if it.reason == "agree" and it.stratum in {s.stratum for s in stored if s.reason == "disagree"}}
    assert disagree_pis and agree_pis and min(disagree_pis) > max(agree_pis)  # disagreements are oversampled
    # Repeated draws from the same pool: each pair is picked with the frequency its stored probability says.
    prob = {(it.query_key, it.doc_id): it.inclusion_prob for it in stored}
    reps = 400
    counts: Counter = Counter()
    pis: dict[tuple[str, str], float] = {}
    for seed in range(reps):
        for d in draw_sample(pool, 60, 1000 + seed, scheme.middle):
            key = (d.pair.query_key, d.pair.doc_id)
            counts[key] += 1
            pis[key] = d.inclusion_prob
    for key, pi in prob.items():
        assert pis[key] == pytest.approx(pi)  # the same design gives the same stored probability
    keys = [k for k, pi in pis.items() if pi < 1.0]
    expected = np.array([reps * pis[k] for k in keys])
    observed = np.array([counts[k] for k in keys])
    stat = float(np.sum((observed - expected) ** 2 / (expected * (1 - expected / reps))))
    assert stat < chi2.ppf(0.999, df=len(keys)), (stat, len(keys))
    assert float(np.corrcoef(observed, expected)[0, 1]) > 0.9


def _reason(p, middle: set[str]) -> str:
    from evalharness.rating.sampling import reason_of

    return reason_of(p, middle)


def test_weighted_agreement_estimates_are_unbiased_for_the_pool(two_judge_project: Path) -> None:
    """Rater labels defined on the whole pool (raters disagree more where judges disagree): the weighted estimate from
    samples averages to the pool's true agreement; the unweighted one is pulled down by the oversampled hard pairs."""
    project = Project(two_judge_project)
    scheme = rating_scheme(project.config)
    store = Store(project.store_url())
    try:
        pool = pool_from_runs(store, [store.run_queries(store.latest_run("v2").run_id)])
    finally:
        store.close()
    rng = random.Random(5)
    agree = {(p.query_key, p.doc_id): rng.random() < (0.4 if len(set(p.judge_labels.values())) > 1 else 0.9) for p in pool}
    truth = np.mean(list(agree.values()))
    weighted, plain = [], []
    for seed in range(300):
        drawn = draw_sample(pool, 50, seed, scheme.middle)
        hits = np.array([agree[(d.pair.query_key, d.pair.doc_id)] for d in drawn], float)
        w = np.array([d.weight for d in drawn])
        weighted.append(np.sum(w * hits) / np.sum(w))
        plain.append(hits.mean())
    assert abs(np.mean(weighted) - truth) < 0.015
    assert np.mean(plain) < truth - 0.03


def test_rate_rejects_bad_sources_and_names(two_judge_project: Path) -> None:
    assert_user_error(run_cli(two_judge_project, "rate", "--as", "a b", "--no-open"), "--as", "letters")
    assert_user_error(run_cli(two_judge_project, "rate", "--as", "ann", "--from", "run", "--no-open"), "--from run needs")
    assert_user_error(run_cli(two_judge_project, "rate", "--as", "ann", "--from", "sky", "--no-open"), "--from 'sky'")
    assert_user_error(run_cli(two_judge_project, "rate", "--as", "ann", "--from", "run", "nope", "--no-open"), "no stored run")
    assert_user_error(run_cli(two_judge_project, "rate", "--as", "ann", "--from", "queries", "missing.csv", "--no-open"),
                      "missing.csv")
    assert_user_error(run_cli(two_judge_project, "rate", "--as", "cat", "--raters", "ann,bob", "--no-open"), "--raters")


def test_weighted_agreement_equals_an_independent_weighted_computation(two_judge_project: Path) -> None:
    """Two raters' labels on a stored sample: the design-weighted agreement, Cohen's and Fleiss' kappa that
    `agreement --raters` reports equal a hand computation with the weights read from the rating_items table."""
    from evalharness.rating.raters import rater_agreement
    from evalharness.store.labels import put_labels

    project = Project(two_judge_project)
    scheme = rating_scheme(project.config)
    store = Store(project.store_url())
    try:
        rating_samples.create(store, project.root, rating_samples.SampleRequest("wk", 40, "run", "v2", 4, ["ann", "bob"], 2, False), scheme)
        items = sample_items(store, "wk")
        rng = random.Random(9)
        names = list(scheme.names)
        labels = {}
        for it in items:
            a = rng.choice(names)
            b = a if rng.random() < (0.5 if it.reason == "disagree" else 0.85) else rng.choice(names)
            labels[(it.query_key, it.doc_id)] = (a, b)
        for rater, pos in (("ann", 0), ("bob", 1)):
            put_labels(store, f"human:{rater}", [{"query": it.query, "doc_id": it.doc_id, "label": labels[(it.query_key, it.doc_id)][pos],
                                                 "origin": "rate"} for it in items])
        pairs = rating_samples.rated_pairs(store, "wk", ["ann", "bob"])
        with store.engine.connect() as conn:
            weights = {(r[0], r[1]): r[2] for r in conn.exec_driver_sql("select query_key, doc_id, weight from rating_items where sample = 'wk'")}
    finally:
        store.close()
    report = rater_agreement(pairs, ["ann", "bob"], names, scheme.gains)
    keys = sorted(labels)
    w = np.array([weights[k] for k in keys])
    a = [labels[k][0] for k in keys]
    b = [labels[k][1] for k in keys]
    same = np.array([x == y for x, y in zip(a, b)], float)
    assert report.pairwise[0]["agreement_weighted"] == pytest.approx(np.sum(w * same) / np.sum(w), abs=1e-12)
    # weighted Cohen's kappa: observed vs chance agreement from the weighted marginals
    pa = np.array([[np.sum(w * (np.array(a) == n)) for n in names]]) / np.sum(w)
    pb = np.array([[np.sum(w * (np.array(b) == n)) for n in names]]) / np.sum(w)
    p_o, p_e = np.sum(w * same) / np.sum(w), float(np.sum(pa * pb))
    assert report.pairwise[0]["kappa_weighted"] == pytest.approx((p_o - p_e) / (1 - p_e), abs=1e-12)
    # weighted Fleiss' kappa (two raters per pair): weighted mean pair agreement vs the weighted pooled shares
    shares = (pa + pb) / 2
    pe_f = float(np.sum(shares ** 2))
    assert report.fleiss["kappa_weighted"] == pytest.approx((p_o - pe_f) / (1 - pe_f), abs=1e-12)
    assert report.pairwise[0]["kappa_weighted"] != pytest.approx(report.pairwise[0]["kappa"], abs=1e-6)


def test_sample_from_a_query_file_and_an_existing_sample_is_continued_not_redrawn(two_judge_project: Path) -> None:
    (two_judge_project / "queries" / "few.csv").write_text("query\nbackpack\ndress\n")
    project = Project(two_judge_project)
    store = Store(project.store_url())
    try:
        rating_samples.create(store, project.root, rating_samples.SampleRequest("few", 12, "queries", "queries/few.csv", 2, [], 1, False),
                              rating_scheme(project.config))
        items = sample_items(store, "few")
    finally:
        store.close()
    assert len(items) == 12 and {it.query_key for it in items} == {"backpack", "dress"}
    assert_user_error(run_cli(two_judge_project, "rate", "--as", "ann", "--name", "few", "--sample", "5", "--no-open"),
                      "already exists", "--name NEW")


def test_reasons_from_judges_votes_and_boundary_labels() -> None:
    from evalharness.rating.sampling import PoolPair, _votes_split, reason_of

    def pair(labels: dict[str, str], split: bool = False) -> PoolPair:
        return PoolPair("q", "q", "d", "", "", "g", "c", {}, labels, split)

    middle = {"substitute"}
    assert reason_of(pair({"offline": "relevant", "openai:m": "irrelevant"}), middle) == "disagree"
    assert reason_of(pair({"vote(a,b,c)": "relevant"}, split=True), middle) == "disagree"
    assert reason_of(pair({"offline": "substitute"}), middle) == "boundary"
    assert reason_of(pair({"offline": "relevant", "openai:m": "relevant"}), middle) == "agree"
    assert _votes_split({"votes": [{"member": "a", "label": "relevant"}, {"member": "b", "label": "irrelevant"}]})
    assert not _votes_split({"votes": [{"member": "a", "label": "relevant"}, {"member": "b", "label": "relevant"}]})


def test_agreement_between_raters_bad_input(two_judge_project: Path) -> None:
    assert_user_error(run_cli(two_judge_project, "agreement"), "--human NAME", "--raters")
    assert_user_error(run_cli(two_judge_project, "agreement", "--raters", "ann"), "at least two")
    assert_user_error(run_cli(two_judge_project, "agreement", "--raters", "ann,bob", "--rating-sample", "nope"), "no rating sample")
    assert_user_error(run_cli(two_judge_project, "agreement", "--raters", "ann,bob", "--rating-sample", "few", "--tie", "coin"),
                      "--tie 'coin'")
