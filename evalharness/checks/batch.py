"""Many lists checked at once: the optional batch entry point of a check, `run_all(contexts)`.

A check may define `run_all(contexts) -> list[list[Finding]]` (one list of findings per context, in order, each what
`run` returns for it); the registry then calls it once for all lists. The built-ins read the fields of every top-k hit
in one pass (in C, through `operator.attrgetter`) and work on the values as numpy rows, one row per list. The hits of one
product (`Flat.products`) are read once: a check works out per product what it needs and spreads it to the hits.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import count
from operator import attrgetter
from typing import Any, overload

import numpy as np

from evalharness.checks.base import CheckContext
from evalharness.models import Hit, PlacedHit

_PRODUCT_FIELDS = attrgetter("title", "brand", "category", "image_url")
_ATTRIBUTES = attrgetter("attributes")
_FIELDS_DICT = attrgetter("__dict__")
_PLACED = {PlacedHit}


@dataclass(frozen=True)
class Flat:
    """The top-k hits of every list, one after the other: list n's are hits[offsets[n]:offsets[n + 1]]."""

    hits: list[Hit]
    offsets: np.ndarray
    _products: list[np.ndarray | None] = field(default_factory=list, init=False, repr=False, compare=False)

    def products(self) -> np.ndarray | None:
        """Per hit, the place of the first hit of the same product: equal title, brand, category and image_url, and
        the very same attributes dict (hits decoded from one stored product share it; the hits are alive while this
        Flat is, so no other dict has its id). Every field the built-ins read of a hit but its price, doc id and rank is
        thus the same across one product's hits. None when a field is unhashable (the caller reads hit by hit).
        Worked out once per batch, on first use. Hits decoded from a store (PlacedHit) share their product's fields
        dict: they are grouped by that dict first, and only one hit of each group is keyed."""
        if not self._products:
            hits = self.hits
            table: dict[tuple, int] = {}
            try:
                if {*map(type, hits)} == _PLACED:
                    groups: dict[int, int] = {}  # id of a shared fields dict -> its first place
                    group_at = np.fromiter(map(groups.setdefault, map(id, map(_FIELDS_DICT, hits)), count()),
                                           dtype=np.int64, count=len(hits))
                    firsts = list(groups.values())  # ascending: each group's first place
                    reps = [hits[p] for p in firsts]
                    keys = zip(map(_PRODUCT_FIELDS, reps), map(id, map(_ATTRIBUTES, reps)))
                    first_of = np.zeros(len(hits), dtype=np.int64)
                    first_of[firsts] = list(map(table.setdefault, keys, firsts))
                    found: np.ndarray | None = first_of[group_at]
                else:
                    keys = zip(map(_PRODUCT_FIELDS, hits), map(id, map(_ATTRIBUTES, hits)))
                    found = np.fromiter(map(table.setdefault, keys, count()), dtype=np.int64, count=len(hits))
            except TypeError:
                found = None
            self._products.append(found)
        return self._products[0]

    def firsts(self, places: np.ndarray) -> np.ndarray:
        """The places that are their product's first (ascending), of `products()`."""
        return np.flatnonzero(places == np.arange(len(places)))

    def lists(self) -> np.ndarray:
        """Per hit, the number of its list."""
        return np.repeat(np.arange(len(self.offsets) - 1), np.diff(self.offsets))

    def rows(self, values: np.ndarray, pad: object, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Per-hit `values` of lists start..stop, one row per list, short rows padded with `pad`."""
        stop = len(self.offsets) - 1 if stop is None else stop
        lengths = np.diff(self.offsets[start:stop + 1])
        width = int(lengths.max(initial=0))
        taken = values[self.offsets[start]:self.offsets[stop]]
        if (lengths == width).all():
            return taken.reshape(len(lengths), width)
        out = np.full((len(lengths), width), pad, dtype=values.dtype)
        starts = np.repeat(self.offsets[start:stop] - self.offsets[start], lengths)
        out[np.repeat(np.arange(len(lengths)), lengths), np.arange(len(taken)) - starts] = taken
        return out

    def codes(self, field: Callable[[Hit], Any]) -> np.ndarray:
        """Per hit, the place of the first hit with an equal value of a field; -1 where the value is empty (falsy).
        An unhashable non-empty value raises TypeError, as a dict keyed by it does."""
        table: dict[Any, int] = {}
        values = list(map(field, self.hits))
        try:
            out = np.fromiter(map(table.setdefault, values, count()), dtype=np.int64, count=len(values))
        except TypeError:  # an unhashable value: empty ones (an empty list) are skipped as `if value` skips them
            table.clear()
            out = np.array([table.setdefault(v, n) if v else -1 for n, v in enumerate(values)], dtype=np.int64)
        empty = [place for value, place in table.items() if not value]
        if empty:
            out[np.isin(out, empty)] = -1
        return out


class ListBatch(Sequence[CheckContext]):
    """The contexts of one registry run; their hits laid out once (on first use) for every check."""

    def __init__(self, contexts: Iterable[CheckContext]) -> None:
        self._contexts = list(contexts)
        self._flat: Flat | None = None

    def __len__(self) -> int:
        return len(self._contexts)

    @overload
    def __getitem__(self, i: int) -> CheckContext: ...

    @overload
    def __getitem__(self, i: slice) -> Sequence[CheckContext]: ...

    def __getitem__(self, i: int | slice) -> CheckContext | Sequence[CheckContext]:
        return self._contexts[i]

    def __iter__(self) -> Iterator[CheckContext]:
        return iter(self._contexts)

    def flat(self) -> Flat:
        if self._flat is None:
            self._flat = flatten(self._contexts)
        return self._flat


def flat_of(contexts: Sequence[CheckContext]) -> Flat:
    """The batch's hits laid out (now, when `contexts` is a plain sequence)."""
    return contexts.flat() if isinstance(contexts, ListBatch) else flatten(contexts)


def flatten(contexts: Iterable[CheckContext]) -> Flat:
    hits: list[Hit] = []
    lengths = [0]
    for ctx in contexts:
        top = ctx.hits[: ctx.k]
        hits.extend(top)
        lengths.append(len(top))
    return Flat(hits, np.cumsum(lengths))
