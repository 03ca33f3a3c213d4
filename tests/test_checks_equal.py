"""Property tests: the built-in checks' batch entry point (`run_all`, as compare calls it) finds, list by list, what
`run` finds on each list alone, and what the offline rules asked hit by hit find. Generated lists mix a few products
(hits sharing a product's field objects as decoded hits do, or copies of them), type names that are plural, hyphenated,
stated or only in the title or category, the literal type "not stated", repeated and missing images, odd prices and
k shorter than the list, and lists of PlacedHits sharing one fields dict per product as a store's decoded lists do;
the same check objects are given several batches, also with their memos' bounds tiny."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_checks_batch import ref_duplicates, ref_prices, ref_wrong_type

import evalharness.checks.builtin as builtin
from evalharness.checks.base import CheckContext
from evalharness.checks.batch import ListBatch
from evalharness.checks.builtin import FewResults, NearDuplicates, PriceOutliers, WrongTypeAbove, ZeroResults
from evalharness.checks.registry import builtin_checks, run_checks
from evalharness.config import ChecksConfig
from evalharness.models import Hit, PlacedHit, Requirement

PROPERTY = settings(deadline=timedelta(seconds=20), max_examples=120, suppress_health_check=[HealthCheck.too_slow])

TYPES = ["lamp", "lamps", "desk lamp", "Desk-Lamp", "mug", "mugs", "not stated", "", " ", "shoe", "red lamp", "ß"]
WORDS = ["lamp", "Lamps", "desk", "mug", "red", "Corvo", "vista", "shoe", "not", "stated", "-", "LAMP", "ß", "ss"]
CATEGORIES = ["Home > Lamps", "Kitchen > Mugs", "", "Shoes", "Home > Desk Lamps"]
IMAGES = ["", "", "a.png", "b.png", "c.png"]

titles = st.lists(st.sampled_from(WORDS), max_size=4).map(" ".join)
stated = st.one_of(st.none(), st.sampled_from(TYPES), st.lists(st.sampled_from(TYPES), min_size=1, max_size=2))
prices = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True), st.integers(-5, 500), st.booleans(),
                   st.sampled_from([10.0, 10.0, 10.5, 400.0, 1e-9]))


@st.composite
def products(draw: st.DrawFn) -> Hit:
    kind = draw(stated)
    return Hit(doc_id=f"P{draw(st.integers(0, 30))}", rank=0, score=0.0, title=draw(titles),
               brand=draw(st.sampled_from(["", "Corvo", "Lumen"])), category=draw(st.sampled_from(CATEGORIES)),
               color=draw(st.sampled_from(["", "red"])), price=draw(prices), image_url=draw(st.sampled_from(IMAGES)),
               attributes={} if kind is None else {"product_type": kind})


def placed(product: Hit, rank: int, how: int, price: object) -> Hit:
    """The product at one place: its very field objects (as compare's decoded hits share them), a copy with its own
    attributes dict, or the same objects at another price."""
    if how == 0:
        hit = object.__new__(Hit)
        hit.__dict__ = {**vars(product), "rank": rank, "score": float(-rank)}
        return hit
    if how == 1:
        return Hit(**{**product.to_json(), "rank": rank, "score": float(-rank)})
    hit = object.__new__(Hit)
    hit.__dict__ = {**vars(product), "rank": rank, "score": float(-rank), "price": price}
    return hit


def decoded(product: Hit, rank: int, how: int, price: object, shared: dict) -> Hit:
    """The product at one place as `run_hits` decodes it: a PlacedHit over one fields dict per stored product (here
    per product and price), which every place of it shares."""
    key = (id(product), how == 2, repr(price) if how == 2 else None)
    if key not in shared:
        fields = {k: v for k, v in vars(product).items() if k not in ("rank", "score")}
        shared[key] = {**fields, "price": price} if how == 2 else fields
    hit = object.__new__(PlacedHit)
    hit.__dict__ = shared[key]
    hit.rank, hit.score = rank, float(-rank)
    return hit


@st.composite
def batches(draw: st.DrawFn) -> list[CheckContext]:
    pool = draw(st.lists(products(), min_size=1, max_size=8))
    out = []
    from_store = draw(st.booleans())  # every hit a PlacedHit, as compare's decoded lists are
    shared: dict = {}
    for n in range(draw(st.integers(1, 12))):
        size = draw(st.integers(0, 12))
        places = [(draw(st.integers(0, len(pool) - 1)), draw(st.integers(0, 2)), draw(prices)) for _ in range(size)]
        hits = [decoded(pool[p], r, how, price, shared) if from_store else placed(pool[p], r, how, price)
                for r, (p, how, price) in enumerate(places, 1)]
        want = draw(st.one_of(st.none(), st.sampled_from(TYPES)))
        reqs: tuple[Requirement, ...] = () if want is None else (Requirement("product_type", want, "must"),)
        if draw(st.booleans()):
            reqs = (Requirement("color", "red", "should"), *reqs)
        out.append(CheckContext(f"q{n}", "query", hits, reqs, draw(st.integers(1, 14))))
    return out


def makers() -> list[type]:
    return [NearDuplicates, PriceOutliers, ZeroResults, FewResults, WrongTypeAbove]


@PROPERTY
@given(batches())
def test_run_all_equals_run_and_the_reference(contexts: list[CheckContext]) -> None:
    batch = ListBatch(contexts)
    for make in makers():
        assert make().run_all(batch) == [make().run(c) for c in contexts], make.name
    assert WrongTypeAbove().run_all(contexts) == [ref_wrong_type(c) for c in contexts]
    assert NearDuplicates().run_all(contexts) == [ref_duplicates(c, 0.92) for c in contexts]
    assert PriceOutliers().run_all(contexts) == [ref_prices(c, 3.5, 2.5) for c in contexts]


@PROPERTY
@given(st.lists(batches(), min_size=1, max_size=4), st.sampled_from([(1 << 22, 1 << 18), (6, 1 << 18), (1 << 22, 3), (1, 1)]))
def test_kept_checks_across_batches(runs: list[list[CheckContext]], bounds: tuple[int, int]) -> None:
    """compare's way: one set of checks over every batch; with the verdict table and product memo bounds tiny too."""
    cells, kept = bounds
    with pytest.MonkeyPatch.context() as m:
        m.setattr(builtin, "VERDICT_CELLS", cells)
        m.setattr(builtin, "VERDICTS_KEPT", kept)
        checks = list(builtin_checks(ChecksConfig()).values())
        for contexts in runs:
            fresh = [f for c in contexts for check in builtin_checks(ChecksConfig()).values() for f in check.run(c)]
            assert run_checks(checks, contexts) == fresh


def test_unhashable_fields_go_list_by_list() -> None:
    """A field no dict can key (a list as title) is read hit by hit, as run reads it: run's error, or its findings."""
    lamp = (Requirement("product_type", "lamp", "must"),)
    hits = [Hit("D1", 1, 1.0, title="mug", attributes={"product_type": "mug"}), Hit("D2", 2, 1.0, title="lamp"),
            Hit("D3", 3, 1.0, title=["x"], image_url="")]  # type: ignore[arg-type]
    contexts = [CheckContext("q1", "lamp", hits, lamp, 10)]
    assert ListBatch(contexts).flat().products() is None
    assert WrongTypeAbove().run_all(contexts) == [WrongTypeAbove().run(contexts[0])]
    assert len(WrongTypeAbove().run_all(contexts)[0]) == 1


def test_a_requirement_value_that_is_not_text_fails_as_run_does() -> None:
    hits = [Hit("D1", 1, 1.0, title="mug"), Hit("D2", 2, 1.0, title="lamp")]
    c = CheckContext("q1", "lamp", hits, (Requirement("product_type", 3, "must"),), 10)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        WrongTypeAbove().run(c)
    with pytest.raises(TypeError):
        WrongTypeAbove().run_all([c])


def test_products_share_one_place() -> None:
    """Hits with the same field values and the same attributes dict are one product; another dict is another."""
    attrs = {"product_type": "lamp"}
    a = Hit("D1", 1, 1.0, title="Lamp", attributes=attrs)
    b = Hit("D1", 2, 1.0, title="Lamp", attributes=attrs)
    c = Hit("D1", 3, 1.0, title="Lamp", attributes=dict(attrs))
    d = Hit("D2", 1, 1.0, title="Lamp", image_url="x", attributes=attrs)
    flat = ListBatch([CheckContext("q1", "", [a, b, c], (), 10), CheckContext("q2", "", [d, a], (), 10)]).flat()
    assert flat.products().tolist() == [0, 0, 2, 3, 0]
    assert flat.firsts(flat.products()).tolist() == [0, 2, 3]
    assert flat.lists().tolist() == [0, 0, 0, 1, 1]


@pytest.mark.parametrize("pairs", [1 << 22, 50])
def test_candidates_of_rows_equal_candidates(monkeypatch: pytest.MonkeyPatch, pairs: int) -> None:
    """The near-duplicate candidates of many lists through the index at once are each list's `candidates`; lists with
    a key past the index are left to it (None). Also a few lists at a time (PAIRS small)."""
    import random

    import numpy as np

    from evalharness.checks.titles import TitleIndex

    monkeypatch.setattr("evalharness.checks.titles.PAIRS", pairs)
    rng = random.Random(5)
    words = ["red", "blue", "lamp", "mug", "sable", "x", "", "lamp red", "blue mug l"]
    index = TitleIndex(0.8)
    ids = [index.id_of_key(" ".join(rng.sample(words, rng.randint(0, 3)))) for _ in range(200)]
    index.index()
    late = [index.id_of_key(f"late key {n}") for n in range(3)]  # added after indexing
    rows = [[rng.choice(ids + late if n % 7 == 0 else ids) for _ in range(rng.randint(0, 9))] for n in range(300)]
    width = max(map(len, rows))
    padded = np.array([r + [-1] * (width - len(r)) for r in rows])
    got = index.candidates_of_rows(padded)
    assert [g for g, r in zip(got, rows) if any(k in late for k in r)] == [None] * sum(any(k in late for k in r) for r in rows)
    inside = [(g, r) for g, r in zip(got, rows) if not any(k in late for k in r)]
    assert [g for g, _ in inside] == [index.candidates(r) for _, r in inside]
    assert sum(bool(g) for g, _ in inside) > 20
