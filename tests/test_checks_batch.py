"""The built-in checks' batch entry point (run_all, as the registry calls it) against a straightforward reference:
every hit read one by one, every earlier hit compared with difflib, statistics.median, the offline rules asked for
every hit. Same findings in the same order, on lists built from the demo catalog and on hostile lists."""

from __future__ import annotations

import csv
import difflib
import math
import random
import statistics
from pathlib import Path

import pytest
from conftest import REPO

from evalharness.catalog.products import iter_products, product_to_hit
from evalharness.checks.base import CheckContext, Finding
from evalharness.checks.builtin import FewResults, NearDuplicates, PriceOutliers, WrongTypeAbove, ZeroResults
from evalharness.checks.registry import builtin_checks, run_checks
from evalharness.checks.titles import title_key
from evalharness.config import ChecksConfig
from evalharness.errors import EvalHarnessError
from evalharness.guidelines.offline import Vocabulary, extract_requirements
from evalharness.judges.offline import check as requirement_check
from evalharness.models import Hit, Requirement

CFG = ChecksConfig()


def ref_duplicates(c: CheckContext, similarity: float) -> list[Finding]:
    """Each hit against every earlier one in rank order; the first with the same image or a similar title wins."""
    out = []
    top = list(c.hits[: c.k])
    for i, hit in enumerate(top):
        for earlier in top[:i]:
            a, b = title_key(hit), title_key(earlier)
            if hit.image_url and hit.image_url == earlier.image_url:
                why = "same image as"
            elif a and b and (a == b or difflib.SequenceMatcher(None, a, b, autojunk=False).ratio() >= similarity):
                why = "near-identical title to"
            else:
                continue
            out.append(Finding("duplicates", c.query_id, f"{why} #{earlier.rank} ({earlier.doc_id})", hit.doc_id, hit.rank))
            break
    return out


def ref_prices(c: CheckContext, z: float, ratio: float) -> list[Finding]:
    priced = [(h, float(h.price)) for h in c.hits[: c.k] if isinstance(h.price, (int, float)) and h.price > 0]
    if len(priced) < 4:
        return []
    median = statistics.median([p for _, p in priced])
    mad = statistics.median([abs(p - median) for _, p in priced])
    return [Finding("price_outliers", c.query_id, f"price {p:g} vs median {median:g} of the list", h.doc_id, h.rank)
            for h, p in priced
            if max(p / median, median / p) >= ratio and (mad == 0 or 0.6745 * abs(p - median) / mad > z)]


def ref_wrong_type(c: CheckContext) -> list[Finding]:
    req = next((r for r in c.requirements if r.attribute == "product_type"), None)
    if req is None:
        return []
    verdicts = [requirement_check(req, h) for h in c.hits[: c.k]]
    right = next((n for n, (ok, _) in enumerate(verdicts) if ok), None)
    if right is None:
        return []
    return [Finding("wrong_type_above", c.query_id, f"type '{got}' above the first '{req.value}' (#{c.hits[right].rank})",
                    h.doc_id, h.rank) for h, (_, got) in zip(c.hits[:right], verdicts) if got != "not stated"]


def reference_one(c: CheckContext, cfg: ChecksConfig = CFG) -> list[Finding]:
    """What the registry must return for the built-ins on one list, in the registry's check order."""
    n = len(c.hits)
    return [*ref_duplicates(c, cfg.duplicate_similarity), *ref_prices(c, cfg.price_z, cfg.price_ratio),
            *([Finding("zero_results", c.query_id, "no result")] if not c.hits else []),
            *([Finding("few_results", c.query_id, f"{n} result(s), fewer than {cfg.min_results}")] if 0 < n < cfg.min_results else []),
            *ref_wrong_type(c)]


def reference(contexts: list[CheckContext], cfg: ChecksConfig = CFG) -> list[Finding]:
    return [f for c in contexts for f in reference_one(c, cfg)]


def placed(product: Hit, rank: int) -> Hit:
    """A product at one place of a list, sharing its field objects (as compare's decoded hits do) or a fresh copy."""
    if rank % 3:
        hit = object.__new__(Hit)
        hit.__dict__ = {**vars(product), "rank": rank, "score": float(-rank)}
        return hit
    return Hit(**{**product.to_json(), "rank": rank, "score": float(-rank)})


def demo_contexts(demo_dir: Path, n_queries: int, k: int = 50, seed: int = 3) -> list[CheckContext]:
    """Demo queries with the offline writer's requirements; each list mixes products of the query's type (when it
    names one) with others, so products recur across lists and wrong types sit above right ones."""
    products = list(iter_products(demo_dir / "catalog.jsonl"))
    vocab = Vocabulary.from_products(products)
    hits = [product_to_hit(p, 0, 0.0, demo_dir) for p in products]
    by_type: dict[str, list[Hit]] = {}
    for h in hits:
        by_type.setdefault(str(h.attributes.get("product_type", "")), []).append(h)
    with (REPO / "queries" / "demo.csv").open() as f:
        queries = [row["query"] for row in csv.DictReader(f)][:n_queries]
    rng = random.Random(seed)
    out = []
    for n, text in enumerate(queries):
        reqs = tuple(extract_requirements(text, vocab))
        wanted = next((r.value for r in reqs if r.attribute == "product_type"), None)
        pool = rng.sample(hits, 40) + rng.sample(by_type.get(wanted or "", hits), min(10, len(by_type.get(wanted or "", hits))))
        rng.shuffle(pool)
        size = rng.choice([k, k, k, 1, 2, 7, 0]) if n % 9 == 0 else k
        out.append(CheckContext(f"q{n}", text, [placed(p, r) for r, p in enumerate(pool[:size], 1)], reqs, k))
    return out


def test_batch_equals_reference_on_demo_lists(demo_dir: Path) -> None:
    contexts = demo_contexts(demo_dir, 120)
    each = {c.query_id: reference_one(c) for c in contexts}
    want = [f for c in contexts for f in each[c.query_id]]
    assert {f.check for f in want} == set(builtin_checks(CFG))  # the lists exercise every check
    assert run_checks(list(builtin_checks(CFG).values()), contexts) == want
    for chunk in (contexts[:7], contexts[50:51], contexts[::-1]):  # whatever subset one instance sees
        assert run_checks(list(builtin_checks(CFG).values()), chunk) == [f for c in chunk for f in each[c.query_id]]


def _hostile_lists() -> list[CheckContext]:
    lamp = (Requirement("product_type", "lamp", "must"), Requirement("color", "red", "should"))

    def hit(n: int, **fields: object) -> Hit:
        base = {"doc_id": f"D{n}", "rank": n, "score": 1.0, "title": f"Thing {n}", "attributes": {}}
        return Hit(**{**base, **fields})

    def lst(qid: str, *specs: dict, reqs: tuple = lamp, k: int = 10) -> CheckContext:
        return CheckContext(qid, "red lamp", [hit(n, **s) for n, s in enumerate(specs, 1)], reqs, k)

    same_title = "Corvo Vista Desk Lamp"
    return [
        lst("images", {"image_url": "a.png"}, {"image_url": ""}, {"image_url": "a.png"}, {"image_url": "b.png"},
            {"image_url": "b.png", "title": "Thing 1"}, {"image_url": ""}),
        lst("titles", {"title": same_title, "brand": "Corvo"}, {"title": same_title + "s", "brand": "Corvo"},
            {"title": same_title.upper()}, {"title": "corvo vista  desk lamp"}, {"title": "Vista Corvo Desk Lamp", "image_url": "x"},
            {"title": "", "brand": ""}, {"title": "", "brand": ""}, {"title": "Corvo Vista Desk Lam", "image_url": "x"}),
        lst("prices", *({"price": p} for p in (0, -3, None, 10.0, float("nan"), 10, 11, True, 400.0, 1e-9, 10.5))),
        lst("ratio edge", *({"price": p} for p in (10.0, 10.0, 10.0, 10.0, 25.0, 4.0, 10.0))),  # exactly 2.5x off
        lst("mad0", *({"price": 20.0} for _ in range(6)), {"price": 55.0}, {"price": 7.0}, {"price": 20}),
        lst("even", *({"price": p} for p in (1.0, 2.0, 3.0, 100.0, 2.5, 0.3))),
        lst("few prices", {"price": 1.0}, {"price": 900.0}, {"price": None}, {"price": 5.0}),
        lst("types", {"attributes": {"product_type": "mug"}}, {"title": "Plain thing"}, {"title": "A lamp for the desk"},
            {"attributes": {"product_type": "lamp"}}, {"attributes": {"product_type": "watch"}}),
        lst("no right type", {"attributes": {"product_type": "mug"}}, {"title": "Plain"}),
        lst("first is right", {"attributes": {"product_type": "lamps"}}, {"attributes": {"product_type": "mug"}}),
        lst("type not stated", {"title": "Plain"}, {"title": "Other"}, {"category": "Home > Lamps"}),
        lst("no requirement", {"attributes": {"product_type": "mug"}}, {"attributes": {"product_type": "lamp"}}, reqs=()),
        lst("odd attribute", {"attributes": {"product_type": ["mug", "cup"]}}, {"attributes": {"product_type": "lamp"}},
            {"attributes": {"product_type": ["mug", "cup"]}}),
        lst("k cuts", *({"price": p, "image_url": "same"} for p in (5.0, 5.0, 5.0, 5.0, 90.0)), k=3),
        lst("empty"),
        lst("two", {"price": 3.0}, {"price": 4.0}),
        lst("unhashable price", *({"price": p} for p in (4.0, [5.0], 4.0, 4.5, 40.0, {"eur": 1}))),
        lst("infinite", *({"price": p} for p in (1.0, 2.0, 3.0, 4.0, math.inf))),
    ]


@pytest.mark.parametrize("max_indexed", [4096, 4])
def test_batch_equals_reference_on_hostile_lists(monkeypatch: pytest.MonkeyPatch, max_indexed: int) -> None:
    """Equal images, near-identical titles, zero/negative/missing/NaN/boolean/infinite prices, MAD 0, no stated
    type, an unhashable attribute, k shorter than the list; keys indexed all against all and (4) list by list."""
    monkeypatch.setattr("evalharness.checks.titles.MAX_INDEXED", max_indexed)
    contexts = _hostile_lists()
    for cfg in (CFG, ChecksConfig(duplicate_similarity=0.8, price_z=1.0, price_ratio=1.5, min_results=5),
                ChecksConfig(duplicate_similarity=1.0)):
        want = reference(contexts, cfg)
        assert run_checks(list(builtin_checks(cfg).values()), contexts) == want
        assert run_checks(list(builtin_checks(cfg).values()), contexts * 2) == reference(contexts * 2, cfg)
    found = {f.query_id for f in reference(contexts)}
    assert {"images", "titles", "prices", "ratio edge", "mad0", "types", "empty", "two"} <= found


def test_run_all_equals_run_list_by_list(demo_dir: Path) -> None:
    """Each built-in's run_all gives, per list, what its run gives (a plain sequence, without the registry)."""
    contexts = demo_contexts(demo_dir, 40, seed=11) + _hostile_lists()
    for make in (NearDuplicates, PriceOutliers, ZeroResults, FewResults, WrongTypeAbove):
        assert make().run_all(contexts) == [make().run(c) for c in contexts]


def test_batch_errors_name_the_check_and_query() -> None:
    """A price too large for a float fails as it did list by list: one line naming the check and the query."""
    huge = CheckContext("q-huge", "lamp", [Hit(f"D{n}", n, 1.0, price=p) for n, p in enumerate((1, 2, 3, 10**400), 1)], (), 10)
    fine = CheckContext("q-fine", "lamp", [Hit("D1", 1, 1.0, price=2.0)], (), 10)
    with pytest.raises(EvalHarnessError, match="check 'price_outliers' failed on query 'q-huge': OverflowError"):
        run_checks(list(builtin_checks(CFG).values()), [fine, huge])


class _BatchOnlyBug:
    """A plugin whose batch entry point is wrong although run is fine."""

    name = "batch_bug"
    description = "run_all returns too few lists"

    def run(self, ctx: CheckContext) -> list[Finding]:
        return []

    def run_all(self, contexts: list[CheckContext]) -> list[list[Finding]]:
        return []


def test_a_broken_batch_entry_point_is_one_line() -> None:
    c = CheckContext("q1", "lamp", [Hit("D1", 1, 1.0)], (), 10)
    with pytest.raises(EvalHarnessError, match="check 'batch_bug' failed on a batch of 1 lists .*ValueError"):
        run_checks([_BatchOnlyBug()], [c])


def test_remembered_verdicts_are_bounded(demo_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The process-wide verdict memo (of run) forgets all at once past its bound, and so do the batch path's product
    memo and verdict table; findings stay those of the reference."""
    import evalharness.checks.builtin as builtin

    monkeypatch.setattr(builtin, "VERDICTS_KEPT", 5)
    monkeypatch.setattr(builtin, "_verdicts", {})
    contexts = demo_contexts(demo_dir, 20, seed=7)
    want = [f for c in contexts for f in ref_wrong_type(c)]
    assert [f for c in contexts for f in WrongTypeAbove().run(c)] == want
    assert 0 < len(builtin._verdicts) <= 5
    monkeypatch.setattr(builtin, "VERDICT_CELLS", 40)
    wrong = WrongTypeAbove()
    for chunk in (contexts[:10], contexts[10:], contexts):
        assert run_checks([wrong], chunk) == [f for c in chunk for f in ref_wrong_type(c)]
    wrong.run_all(contexts[:1])
    assert len(wrong._verdicts.got) <= 50 and wrong._verdicts._table.size <= 2 * 40


@pytest.mark.parametrize("alone", [False, True])
def test_demo_duplicates_through_the_index_and_list_by_list(demo_dir: Path, monkeypatch: pytest.MonkeyPatch,
                                                            alone: bool) -> None:
    """The near-duplicate check finds the same on the demo's lists whichever way the bound is taken: through the
    index of all keys, or each list's pairs on their own (the cheaper one is chosen by list count and width)."""
    from evalharness.checks.titles import TitleIndex

    monkeypatch.setattr(TitleIndex, "_cheaper_alone", lambda self, rows: alone)
    if alone:
        monkeypatch.setattr(TitleIndex, "index", lambda self: pytest.fail("built the index"))
    contexts = demo_contexts(demo_dir, 60, seed=5) + _hostile_lists()
    assert NearDuplicates().run_all(contexts) == [ref_duplicates(c, CFG.duplicate_similarity) for c in contexts]


def test_the_two_bounds_flag_the_same_lists() -> None:
    """Random keys, some nearly equal, in padded rows: the index's answer and the list-by-list answer agree."""
    from evalharness.checks.titles import TitleIndex

    rng = random.Random(3)
    words = ["red", "blue", "lamp", "mug", "sable", "velora", "x", "", "lamp red", "blue mug l"]
    keys = [" ".join(rng.sample(words, rng.randint(0, 3))) for _ in range(300)]
    index = TitleIndex(0.8)
    ids = [index.id_of_key(k) for k in keys]
    rows = [[rng.choice(ids) if rng.random() > 0.2 else -1 for _ in range(rng.randint(1, 9))] for _ in range(400)]
    width = max(map(len, rows))
    import numpy as np

    padded = np.array([r + [-1] * (width - len(r)) for r in rows])
    alone = index._lists_with_pairs_alone(padded)
    index.index()
    assert alone.tolist() == index.lists_with_pairs(padded).tolist()
    assert 0 < alone.sum() < len(rows)


def test_checks_kept_across_batches_find_what_fresh_ones_find(demo_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """compare makes the checks once and gives them every run and chunk: what they remember (title index, verdicts)
    changes no finding, also when the remembered verdicts overflow their bound between batches."""
    import evalharness.checks.builtin as builtin

    contexts = demo_contexts(demo_dir, 90, seed=5) + _hostile_lists()
    kept = list(builtin_checks(CFG).values())
    for chunk in (contexts[:30], contexts[30:], contexts[10:60], contexts[::-1]):
        want = [f for c in chunk for f in reference_one(c)]
        assert run_checks(kept, chunk) == want == run_checks(list(builtin_checks(CFG).values()), chunk)
    monkeypatch.setattr(builtin, "VERDICTS_KEPT", 3)
    wrong = WrongTypeAbove()
    for chunk in (contexts[:40], contexts[40:], contexts[:40]):
        assert run_checks([wrong], chunk) == [f for c in chunk for f in ref_wrong_type(c)]
        assert len(wrong._verdicts.got) < 3 + 50 * 40  # forgotten past the bound, then refilled
