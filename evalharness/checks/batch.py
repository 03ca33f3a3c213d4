"""Many lists checked at once: the optional batch entry point of a check, `run_all(contexts)`.

A check may define `run_all(contexts) -> list[list[Finding]]` (one list of findings per context, in order, each what
`run` returns for it); the registry then calls it once for all lists. The built-ins use it to do per product what
`run` does per hit: `ListBatch.products()` numbers each distinct product among the lists' top-k hits once.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import count
from operator import attrgetter, methodcaller
from typing import overload

import numpy as np

from evalharness.checks.base import CheckContext
from evalharness.models import Hit

TYPE_ATTRIBUTE = "product_type"
# The fields any built-in check reads of a hit (with its stated product type): hits equal in these are one product.
_FIELDS = attrgetter("title", "description", "category", "brand", "color", "image_url", "price")
_ATTRIBUTES = attrgetter("attributes")
_TYPE = methodcaller("get", TYPE_ATTRIBUTE, "")


@dataclass(frozen=True)
class Products:
    """The distinct products of a batch: `ids[n]` numbers the top-k hits of the n-th list; `hits[i]` is product i's
    first hit (its rank and score are that place's). `flat` and `offsets` hold the same numbers for numpy."""

    ids: list[list[int]]
    hits: list[Hit]
    flat: np.ndarray
    offsets: np.ndarray  # list n's numbers are flat[offsets[n]:offsets[n + 1]]

    def padded(self, values: np.ndarray, pad: object, start: int = 0, stop: int | None = None) -> np.ndarray:
        """values[number] for the hits of lists start..stop, one row per list, short rows padded with `pad`."""
        stop = len(self.ids) if stop is None else stop
        lengths = np.diff(self.offsets[start:stop + 1])
        width = int(lengths.max(initial=0))
        taken = values[self.flat[self.offsets[start]:self.offsets[stop]]]
        if (lengths == width).all():
            return taken.reshape(len(lengths), width)
        out = np.full((len(lengths), width), pad, dtype=values.dtype)
        starts = np.repeat(self.offsets[start:stop] - self.offsets[start], lengths)
        out[np.repeat(np.arange(len(lengths)), lengths), np.arange(len(taken)) - starts] = taken
        return out


class ListBatch(Sequence[CheckContext]):
    """The contexts of one registry run, with their products numbered once (on first use) for every check."""

    def __init__(self, contexts: Iterable[CheckContext]) -> None:
        self._contexts = list(contexts)
        self._products: Products | None = None

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

    def products(self) -> Products:
        if self._products is None:
            self._products = number_products(self._contexts)
        return self._products


def products_of(contexts: Sequence[CheckContext]) -> Products:
    """The batch's numbered products (numbered now when `contexts` is a plain sequence)."""
    return contexts.products() if isinstance(contexts, ListBatch) else number_products(contexts)


def number_products(contexts: Iterable[CheckContext]) -> Products:
    """Number each distinct product among the contexts' top-k hits, in order of first place."""
    hits: list[Hit] = []
    lengths = [0]
    for ctx in contexts:
        top = ctx.hits[: ctx.k]
        hits.extend(top)
        lengths.append(len(top))
    offsets = np.cumsum(lengths)
    try:  # in C: each hit's key gets the place where it first occurs, the shared attributes dict standing for its type
        table: dict[object, int] = {}
        first = np.fromiter(map(table.setdefault, zip(map(_FIELDS, hits), map(id, map(_ATTRIBUTES, hits))), count()),
                            dtype=np.int64, count=len(hits))
        first = _merge_by_type(hits, first, np.fromiter(table.values(), dtype=np.int64, count=len(table)))
    except Exception:  # noqa: BLE001 - a field that is no key (unhashable): numbered hit by hit below
        first = _first_places(hits)
    places = np.flatnonzero(first == np.arange(len(hits)))
    number = np.zeros(len(hits), dtype=np.int64)
    number[places] = np.arange(len(places))
    flat = number[first]
    ids = flat.tolist()
    return Products([ids[a:b] for a, b in zip(offsets[:-1].tolist(), offsets[1:].tolist())],
                    [hits[i] for i in places.tolist()], flat, offsets)


def _merge_by_type(hits: Sequence[Hit], first: np.ndarray, places: np.ndarray) -> np.ndarray:
    """Hits keyed with their attributes dict's identity (all alive in `hits`, so ids are unique) re-keyed with the
    stated type instead, once per distinct key: products whose dicts differ but state the same type are one."""
    table: dict[object, int] = {}
    merged = np.empty(len(hits), dtype=np.int64)
    merged[places] = [table.setdefault((_FIELDS(h), str(_TYPE(_ATTRIBUTES(h)))), p)
                      for p, h in zip(places.tolist(), map(hits.__getitem__, places.tolist()))]
    return merged[first]


def _first_places(hits: Sequence[Hit]) -> np.ndarray:
    """Per hit, the place of its product's first hit; a hit whose fields cannot form a key is a product of its own
    (the checks then read that hit as `run` would)."""
    table: dict[object, int] = {}
    first = []
    for n, h in enumerate(hits):
        try:
            key: object = (_FIELDS(h), str(_TYPE(_ATTRIBUTES(h))))
            place = table.setdefault(key, n)
        except Exception:  # noqa: BLE001 - not a key: the hit stands alone
            place = table[object()] = n
        first.append(place)
    return np.array(first, dtype=np.int64)
