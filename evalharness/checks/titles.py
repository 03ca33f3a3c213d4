"""Which hits of a list may have near-identical titles, found without comparing every pair with difflib.

difflib's ratio never exceeds its quick_ratio: twice the size of the two strings' character multiset
intersection over their total length. Counting characters into a few bins can only raise that intersection,
so a pair whose binned bound is below the similarity cannot be similar; only the pairs that pass go to
difflib. The bound is computed with numpy: once per distinct title key against every other, kept as a boolean
matrix (while there are at most MAX_INDEXED distinct keys, products being shared across queries), else per list.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from operator import attrgetter

import numpy as np

from evalharness.models import Hit
from evalharness.textnorm import normalize_query

BINS = 32
MAX_INDEXED = 4096  # distinct keys compared all against all; beyond, a list's keys are compared among themselves
ROWS = 32  # keys compared against the index at a time (ROWS x MAX_INDEXED x BINS int32: 16 MB)
PAIRS = 1 << 22  # key pairs looked up in the matrix at a time by `lists_with_pairs`


def title_key(hit: Hit) -> str:
    return _title_key(hit.brand, hit.title)


def _title_key(brand: object, title: object) -> str:
    return " ".join(sorted(normalize_query(f"{brand} {title}").split()))


_BRAND_TITLE = attrgetter("brand", "title")


class _KeyIds(dict):
    """(brand, title) -> the id of its title key, added to the index on first sight."""

    def __init__(self, index: TitleIndex) -> None:
        super().__init__()
        self.index = index

    def __missing__(self, brand_title: tuple[object, object]) -> int:
        found = self[brand_title] = self.index.id_of_key(_title_key(*brand_title))
        return found


class TitleIndex:
    """Title keys of hits, their character counts, and (for the first MAX_INDEXED keys) which pairs pass the bound.

    `_pairs[i, j]`: keys i and j (both indexed) may be similar; the diagonal holds for non-empty keys, as equal
    non-empty keys are always compared. Rows and columns past the indexed keys are False.
    """

    def __init__(self, similarity: float) -> None:
        self.threshold = similarity - 1e-9  # conservative: float rounding never drops a pair difflib would keep
        self.keys: list[str] = []
        self._by_hit = _KeyIds(self)
        self._by_key: dict[str, int] = {}
        self._alphabet: dict[str, int] = {}
        self._counts = np.zeros((256, BINS), dtype=np.int32)
        self._lengths = np.zeros(256, dtype=np.int32)
        self.indexed = 0  # keys below this are in _pairs
        self._pairs = np.zeros((0, 0), dtype=bool)
        self._edges: tuple[np.ndarray, np.ndarray] | None = None  # of the indexed keys (_pair_edges)

    def id_of(self, hit: Hit) -> int:
        """The id of a hit's title key (equal keys share an id)."""
        return self._by_hit[(hit.brand, hit.title)]

    def ids_of(self, hits: Sequence[Hit]) -> np.ndarray:
        """id_of for each hit, in one pass."""
        return np.fromiter(map(self._by_hit.__getitem__, map(_BRAND_TITLE, hits)), dtype=np.int64, count=len(hits))

    def id_of_key(self, key: str) -> int:
        found = self._by_key.get(key)
        if found is None:
            found = self._by_key[key] = self._add(key)
        return found

    def _add(self, key: str) -> int:
        i = len(self.keys)
        self.keys.append(key)
        if i == len(self._lengths):
            self._counts = np.concatenate([self._counts, np.zeros_like(self._counts)])
            self._lengths = np.concatenate([self._lengths, np.zeros_like(self._lengths)])
        row = [0] * BINS
        for ch, n in Counter(key).items():  # characters in order of first appearance, as the bins are handed out
            b = self._alphabet.get(ch)
            if b is None:
                b = self._alphabet[ch] = len(self._alphabet) % BINS  # past BINS characters, bins are shared
            row[b] += n
        self._counts[i] = row
        self._lengths[i] = len(key)
        return i

    def _may_match(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Bool matrix: the keys a x b whose binned quick-ratio bound reaches the similarity (empty keys never do)."""
        ca, cb = self._counts[a].T, self._counts[b].T
        inter = np.zeros((len(a), len(b)), dtype=np.int32)  # summed bin by bin: a third less than one 3-d minimum
        step = np.empty_like(inter)
        for k in range(BINS):
            np.minimum(ca[k][:, None], cb[k][None, :], out=step)
            inter += step
        la, lb = self._lengths[a][:, None], self._lengths[b][None, :]
        return (2 * inter >= self.threshold * (la + lb)) & (la > 0) & (lb > 0)

    def index(self) -> int:
        """Index every key so far (up to MAX_INDEXED); returns how many keys are indexed. New keys are taken in
        blocks of similar length, each against the keys whose length the bound allows at all."""
        start, top = self.indexed, min(len(self.keys), MAX_INDEXED)
        if top <= start:
            return start
        if top >= len(self._pairs):  # one spare row and column: never indexed, so all False (a pad for lists)
            size = min(max(2 * len(self._pairs), top + 1, 64), MAX_INDEXED + 1)
            grown = np.zeros((size, size), dtype=bool)
            grown[:start, :start] = self._pairs[:start, :start]
            self._pairs = grown
        lengths = self._lengths[:top]
        new = start + np.argsort(lengths[start:top], kind="stable")
        t = self.threshold
        for s in range(0, len(new), ROWS):
            rows = new[s:s + ROWS]
            if 0 < t < 2:  # 2 * min(la, lb) >= t * (la + lb) at best: lengths too far apart never pass
                lo, hi = lengths[rows].min() * t / (2 - t) - 1, lengths[rows].max() * (2 - t) / t + 1
                cols = np.flatnonzero((lengths >= lo) & (lengths <= hi))
            else:
                cols = np.arange(top)
            match = self._may_match(rows, cols)
            self._pairs[rows[:, None], cols[None, :]] = match
            self._pairs[cols[:, None], rows[None, :]] = match.T
        self.indexed = top
        self._edges = None
        return top

    def candidates(self, ids: Sequence[int]) -> dict[int, list[int]]:
        """Position i -> the earlier positions j (ascending) whose keys may be similar to i's (equal non-empty keys included)."""
        if not ids:
            return {}
        arr = np.asarray(ids)
        if arr.max() < self.indexed:
            match = self._pairs[arr[:, None], arr[None, :]]
        else:
            match = self._may_match(arr, arr) | ((arr[:, None] == arr[None, :]) & (self._lengths[arr] > 0)[:, None])
        out: dict[int, list[int]] = {}
        for i, j in zip(*np.nonzero(np.tril(match, -1))):
            out.setdefault(int(i), []).append(int(j))
        return out

    def candidates_of_rows(self, rows: np.ndarray) -> list[dict[int, list[int]] | None]:
        """`candidates` of each row of key ids (-1 pads it), through the index at once for the rows whose keys are all
        indexed; None for the others (`candidates` decides those)."""
        out: list[dict[int, list[int]] | None] = [None] * len(rows)
        top = self.indexed
        if not top or not rows.size:
            return out
        inside = np.flatnonzero((rows < top).all(axis=1)).tolist()
        for n in inside:
            out[n] = {}
        width = rows.shape[1]
        step = max(1, PAIRS // (width * width))
        for s in range(0, len(inside), step):
            r = rows[inside[s:s + step]]
            r = np.where(r < 0, top, r)  # row and column `top` of _pairs are all False
            match = self._pairs[r[:, :, None], r[:, None, :]] & np.tri(width, width, -1, dtype=bool)
            for n, i, j in zip(*(a.tolist() for a in np.nonzero(match))):
                out[inside[s + n]].setdefault(i, []).append(j)  # type: ignore[union-attr] - a dict: set above
        return out

    def lists_with_pairs(self, rows: np.ndarray) -> np.ndarray:
        """Per row of key ids (a list's keys; -1 pads it), whether two of its keys may be similar: a non-empty key twice,
        or two keys the bound cannot tell apart. Through the index when indexing the keys not yet in it costs less
        than bounding each list's pairs on its own (short lists, many distinct keys), else list by list. Rows holding
        a key past the indexed ones are True (`candidates` decides those)."""
        if self._cheaper_alone(rows):
            return self._lists_with_pairs_alone(rows)
        top = self.index()
        beyond = (rows >= top).any(axis=1)
        rows = np.where((rows < 0) | (rows >= top), top, rows)  # row and column `top` of _pairs are all False
        keyed = np.sort(np.where(self._pairs[rows, rows], rows, -1), axis=1)  # the diagonal: non-empty keys
        out = ((keyed[:, 1:] == keyed[:, :-1]) & (keyed[:, 1:] >= 0)).any(axis=1)
        a, b = self._pair_edges(top)
        width = rows.shape[1]
        if len(a) <= width * width:  # few pairs of distinct keys pass: look for both keys of one in each list
            member = np.zeros((len(rows), top + 1), dtype=bool)
            member[np.arange(len(rows))[:, None], rows] = True
            step = max(1, PAIRS // max(1, len(rows)))
            for s in range(0, len(a), step):
                out |= (member[:, a[s:s + step]] & member[:, b[s:s + step]]).any(axis=1)
        else:  # many: look up every pair of positions
            lower = np.tri(width, width, -1, dtype=bool)
            step = max(1, PAIRS // max(1, width * width))
            for s in range(0, len(rows), step):
                r = rows[s:s + step]
                out[s:s + step] |= (self._pairs[r[:, :, None], r[:, None, :]] & lower).any(axis=(1, 2))
        return out | beyond

    def _cheaper_alone(self, rows: np.ndarray) -> bool:
        """Whether bounding each row's pairs costs less than indexing the keys not yet indexed against all."""
        width = rows.shape[1] if rows.ndim == 2 else 0
        top = min(len(self.keys), MAX_INDEXED)
        return (top - min(self.indexed, top)) * top > len(rows) * width * width

    def _lists_with_pairs_alone(self, rows: np.ndarray) -> np.ndarray:
        """lists_with_pairs, each list's pairs bounded on their own (the same test as the index's, without it)."""
        out = np.zeros(len(rows), dtype=bool)
        width = rows.shape[1] if rows.ndim == 2 else 0
        if width < 2:
            return out
        lower = np.tri(width, width, -1, dtype=bool)
        step = max(1, PAIRS // (width * width * BINS))
        for s in range(0, len(rows), step):
            r = rows[s:s + step]
            present = r >= 0
            ids = np.where(present, r, 0)
            counts, lengths = self._counts[ids], np.where(present, self._lengths[ids], 0)
            inter = np.minimum(counts[:, :, None, :], counts[:, None, :, :]).sum(axis=3, dtype=np.int32)
            la, lb = lengths[:, :, None], lengths[:, None, :]
            may = (2 * inter >= self.threshold * (la + lb)) & (la > 0) & (lb > 0)
            out[s:s + step] = (may & lower).any(axis=(1, 2))
        return out

    def _pair_edges(self, top: int) -> tuple[np.ndarray, np.ndarray]:
        """(a, b) with a < b: the pairs of distinct indexed keys that pass the bound."""
        if self._edges is None:
            self._edges = np.nonzero(np.triu(self._pairs[:top, :top], 1))
        return self._edges
