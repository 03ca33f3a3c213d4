"""Which hits of a list may have near-identical titles, found without comparing every pair with difflib.

difflib's ratio never exceeds its quick_ratio: twice the size of the two strings' character multiset
intersection over their total length. Counting characters into a few bins can only raise that intersection,
so a pair whose binned bound is below the similarity cannot be similar; only the pairs that pass go to
difflib. The bound is computed with numpy: once per distinct title key against every other (while there
are at most MAX_INDEXED distinct keys, products being shared across queries), else per list.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from evalharness.models import Hit
from evalharness.textnorm import normalize_query

BINS = 32
MAX_INDEXED = 4096  # distinct keys compared all against all; beyond, a list's keys are compared among themselves
ROWS = 32  # keys compared against the index at a time (ROWS x MAX_INDEXED x BINS int32: 16 MB)


def title_key(hit: Hit) -> str:
    return " ".join(sorted(normalize_query(f"{hit.brand} {hit.title}").split()))


class TitleIndex:
    """Title keys of hits, their character counts, and (for the first MAX_INDEXED keys) every key whose bound passes."""

    def __init__(self, similarity: float) -> None:
        self.threshold = similarity - 1e-9  # conservative: float rounding never drops a pair difflib would keep
        self.keys: list[str] = []
        self._by_hit: dict[tuple[object, object], int] = {}
        self._by_key: dict[str, int] = {}
        self._alphabet: dict[str, int] = {}
        self._counts = np.zeros((256, BINS), dtype=np.int32)
        self._lengths = np.zeros(256, dtype=np.int32)
        self._neighbours: list[set[int]] = []  # of indexed keys (ids below len(self._neighbours))
        self._near: list[tuple[int, ...] | None] = []  # per indexed key: itself (when not empty) and its neighbours

    def id_of(self, hit: Hit) -> int:
        """The id of a hit's title key (equal keys share an id)."""
        found = self._by_hit.get((hit.brand, hit.title))
        if found is None:
            key = title_key(hit)
            found = self._by_key.get(key)
            if found is None:
                found = self._by_key[key] = self._add(key)
            self._by_hit[(hit.brand, hit.title)] = found
        return found

    def _add(self, key: str) -> int:
        i = len(self.keys)
        self.keys.append(key)
        if i == len(self._lengths):
            self._counts = np.concatenate([self._counts, np.zeros_like(self._counts)])
            self._lengths = np.concatenate([self._lengths, np.zeros_like(self._lengths)])
        row = self._counts[i]
        for ch in key:
            b = self._alphabet.get(ch)
            if b is None:
                b = self._alphabet[ch] = len(self._alphabet) % BINS  # past BINS characters, bins are shared
            row[b] += 1
        self._lengths[i] = len(key)
        return i

    def _may_match(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Bool matrix: the keys a x b whose binned quick-ratio bound reaches the similarity (empty keys never do)."""
        inter = np.minimum(self._counts[a][:, None, :], self._counts[b][None, :, :]).sum(axis=2, dtype=np.int32)
        la, lb = self._lengths[a][:, None], self._lengths[b][None, :]
        return (2 * inter >= self.threshold * (la + lb)) & (la > 0) & (lb > 0)

    def _index_through(self, top: int) -> None:
        """Complete the neighbour sets of keys below `top` (at most MAX_INDEXED)."""
        start = len(self._neighbours)
        if top <= start:
            return
        self._neighbours.extend(set() for _ in range(top - start))
        self._near = [None] * top  # keys' neighbours change: rebuilt on use
        known = np.arange(top)
        for s in range(start, top, ROWS):
            rows = np.arange(s, min(s + ROWS, top))
            for r, c in zip(*np.nonzero(self._may_match(rows, known))):
                i, j = int(rows[r]), int(c)
                if i != j:
                    self._neighbours[i].add(j)
                    self._neighbours[j].add(i)

    def candidates(self, ids: Sequence[int]) -> dict[int, list[int]]:
        """Position i -> the earlier positions j (ascending) whose keys may be similar to i's (equal non-empty keys included)."""
        if not ids:
            return {}
        self._index_through(min(len(self.keys), MAX_INDEXED))
        out: dict[int, list[int]] = {}
        if max(ids) < len(self._neighbours):
            positions: dict[int, list[int]] = {}
            near = self._near
            for i, k in enumerate(ids):
                others = near[k]
                if others is None:
                    others = near[k] = (k, *self._neighbours[k]) if self._lengths[k] > 0 else tuple(self._neighbours[k])
                for other in others:
                    js = positions.get(other)
                    if js:
                        out.setdefault(i, []).extend(js)
                positions.setdefault(k, []).append(i)
            for js in out.values():
                js.sort()
            return out
        arr = np.asarray(ids)
        match = self._may_match(arr, arr) | ((arr[:, None] == arr[None, :]) & (self._lengths[arr] > 0)[:, None])
        for i, j in zip(*np.nonzero(np.tril(match, -1))):
            out.setdefault(int(i), []).append(int(j))
        return out
