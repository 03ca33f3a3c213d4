"""PlacedHit, a decoded hit whose product fields are shared by every place of that product: it reads, compares,
copies and pickles like the Hit it stands for, and a change made through `dataclasses.replace` touches no other place."""

from __future__ import annotations

import copy
import dataclasses
import pickle

from evalharness.models import Hit, PlacedHit


def placed(product: Hit, rank: int, shared: dict) -> PlacedHit:
    hit = object.__new__(PlacedHit)
    hit.__dict__ = shared
    hit.rank, hit.score = rank, float(-rank)
    return hit


def test_a_placed_hit_is_the_hit_it_stands_for() -> None:
    product = Hit("D1", 0, 0.0, "Red lamp", brand="Lumen", price=12.5, image_url="a.png", attributes={"k": [1, 2]})
    shared = {k: v for k, v in vars(product).items() if k not in ("rank", "score")}
    first, second = placed(product, 1, shared), placed(product, 2, shared)
    assert first.__dict__ is second.__dict__ and "rank" not in first.__dict__
    assert (first.rank, second.rank, second.score) == (1, 2, -2.0)
    plain = Hit(**{**product.to_json(), "rank": 2, "score": -2.0})
    assert second == plain and plain == second and first != plain and second.to_json() == plain.to_json()
    assert dataclasses.asdict(second) == dataclasses.asdict(plain) and repr(second).endswith(repr(plain)[3:])
    for twin in (copy.copy(second), copy.deepcopy(second), pickle.loads(pickle.dumps(second))):
        assert twin == plain and twin.rank == 2
    moved = dataclasses.replace(second, title="Blue lamp", rank=3)
    assert (moved.title, moved.rank, first.title, second.title, second.rank) == ("Blue lamp", 3, "Red lamp", "Red lamp", 2)
    both = pickle.loads(pickle.dumps([first, second]))
    assert [h.rank for h in both] == [1, 2] and both == [first, second]


def test_a_placed_hit_with_a_nan_price_equals_its_hit() -> None:
    product = Hit("D2", 0, 0.0, "Lamp", price=float("nan"))
    shared = {k: v for k, v in vars(product).items() if k not in ("rank", "score")}
    hit = placed(product, 1, shared)
    assert hit == Hit(**{**vars(product), "rank": 1, "score": -1.0, "price": product.price})  # the same NaN object
