"""The built-in rule checks: near-duplicates, price outliers, zero and few results, a wrong type above the right ones.

Each has `run(ctx)` for one list and `run_all(contexts)` for many (checks/batch.py), which gives, list by list, what
`run` gives.
"""

from __future__ import annotations

import difflib
import math
import statistics
from collections.abc import Iterable, Sequence
from itertools import chain, repeat
from operator import attrgetter

import numpy as np

from evalharness.checks.base import CheckContext, Finding
from evalharness.checks.batch import Flat, flat_of
from evalharness.checks.prices import outliers
from evalharness.checks.titles import TitleIndex
from evalharness.judges.offline import check as requirement_check
from evalharness.judges.offline import phrase_words, stated_meets, text_words, words_in
from evalharness.models import Hit, Requirement
from evalharness.textnorm import normalize_query

CHUNK = 4096  # lists per numpy block in run_all
TYPE_ATTRIBUTE = "product_type"
_IMAGE = attrgetter("image_url")
_PRICE = attrgetter("price")
_DOC_ID = attrgetter("doc_id")
_RANK = attrgetter("rank")
_VERDICT_FIELDS = attrgetter("title", "description", "category", "brand", "color")  # with the stated type: what the rules read


class NearDuplicates:
    """Two hits in the top k that are the same product: equal image, or titles (with brand) nearly equal.

    difflib compares only the pairs a character-count bound cannot rule out (checks/titles.py).
    """

    name = "duplicates"
    description = "near-duplicate results in one list (same image, or titles at least this similar)"

    def __init__(self, similarity: float = 0.92) -> None:
        self.similarity = similarity
        self._titles = TitleIndex(similarity)
        self._pairs: dict[tuple[int, int], bool] = {}  # (key id, key id) -> similar

    def _similar(self, a: str, b: str) -> bool:
        if not a or not b:
            return False
        if a == b:
            return True
        m = difflib.SequenceMatcher(None, a, b, autojunk=False)
        return m.real_quick_ratio() >= self.similarity and m.quick_ratio() >= self.similarity and m.ratio() >= self.similarity

    def _similar_ids(self, i: int, j: int) -> bool:
        found = self._pairs.get((i, j))
        if found is None:
            keys = self._titles.keys
            found = self._pairs[(i, j)] = self._similar(keys[i], keys[j])
        return found

    def _scan(self, ctx: CheckContext, hits: Sequence[Hit], ids: list[int], may: dict[int, list[int]] | None = None
              ) -> list[Finding]:
        """The first earlier hit with the same image or a similar title, for each hit, as a pairwise scan finds it.
        `may`: the list's `TitleIndex.candidates`, when known."""
        may = self._titles.candidates(ids) if may is None else may
        first_image: dict[str, int] = {}
        out = []
        for i, hit in enumerate(hits):
            image = first_image.setdefault(hit.image_url, i) if hit.image_url else i
            near = may.get(i)
            j = next((j for j in near if j < image and self._similar_ids(ids[i], ids[j])), None) if near else None
            why = "near-identical title to"
            if j is None and image < i:
                j, why = image, "same image as"
            if j is not None:
                out.append(Finding(self.name, ctx.query_id, f"{why} #{hits[j].rank} ({hits[j].doc_id})", hit.doc_id, hit.rank))
        return out

    def run(self, ctx: CheckContext) -> list[Finding]:
        hits = list(ctx.hits[: ctx.k])
        return self._scan(ctx, hits, [self._titles.id_of(h) for h in hits])

    def run_all(self, contexts: Sequence[CheckContext]) -> list[list[Finding]]:
        """Only lists with a repeated image, or two titles the bound cannot tell apart, are scanned."""
        flat = flat_of(contexts)
        title_ids, image_ids = self._ids(flat)
        out: list[list[Finding]] = [[] for _ in range(len(contexts))]
        for s in range(0, len(contexts), CHUNK):
            stop = min(s + CHUNK, len(contexts))
            img = np.sort(flat.rows(image_ids, -1, s, stop), axis=1)
            suspect = ((img[:, 1:] == img[:, :-1]) & (img[:, 1:] >= 0)).any(axis=1)
            rows = flat.rows(title_ids, -1, s, stop)
            suspect |= self._titles.lists_with_pairs(rows)
            found = np.flatnonzero(suspect)
            for n, may in zip((s + found).tolist(), self._titles.candidates_of_rows(rows[found])):
                ctx = contexts[n]
                ids = title_ids[flat.offsets[n]:flat.offsets[n + 1]].tolist()
                out[n] = self._scan(ctx, list(ctx.hits[: ctx.k]), ids, may)
        return out

    def _ids(self, flat: Flat) -> tuple[np.ndarray, np.ndarray]:
        """Per hit, the id of its title key and a code of its image (equal images share it; -1: no image), read once
        per product (Flat.products), else hit by hit."""
        places = flat.products()
        if places is None:
            return self._titles.ids_of(flat.hits), flat.codes(_IMAGE)
        firsts = flat.firsts(places)
        products = list(map(flat.hits.__getitem__, firsts.tolist()))
        by_place = np.zeros((2, len(places)), dtype=np.int64)
        by_place[0, firsts] = self._titles.ids_of(products)
        table: dict[object, int] = {}
        by_place[1, firsts] = [table.setdefault(image, n) if image else -1 for n, image in enumerate(map(_IMAGE, products))]
        title_ids, image_ids = by_place[:, places]
        return title_ids, image_ids


class PriceOutliers:
    """A hit whose price is far from the list's median: a robust z-score (over the median absolute deviation) above
    `z` *and* at least `ratio` times above or below the median, so a tight list's ordinary spread is not flagged."""

    name = "price_outliers"
    description = "a price far from the rest of the list (robust z-score and ratio to the median both beyond limits)"

    def __init__(self, z: float = 3.5, ratio: float = 2.5, min_priced: int = 4) -> None:
        self.z = z
        self.ratio = ratio
        self.min_priced = min_priced

    def run(self, ctx: CheckContext) -> list[Finding]:
        priced = [(h, float(h.price)) for h in ctx.hits[: ctx.k] if isinstance(h.price, (int, float)) and h.price > 0]
        if len(priced) < self.min_priced:
            return []
        median = statistics.median(p for _, p in priced)
        mad = statistics.median(abs(p - median) for _, p in priced)
        out = []
        for hit, p in priced:
            far = max(p / median, median / p) >= self.ratio
            robust = mad == 0 or 0.6745 * abs(p - median) / mad > self.z  # most prices equal: the ratio decides
            if far and robust:
                out.append(self._finding(ctx, hit, p, median))
        return out

    def _finding(self, ctx: CheckContext, hit: Hit, p: float, median: float) -> Finding:
        return Finding(self.name, ctx.query_id, f"price {p:g} vs median {median:g} of the list", hit.doc_id, hit.rank)

    def run_all(self, contexts: Sequence[CheckContext]) -> list[list[Finding]]:
        """All lists' medians at once (checks/prices.py). A list with a price that is not a finite float (an int too
        large, infinity) goes through `run`, which reads it as it always has."""
        if self.min_priced <= 0:  # a list without prices has no median: run says so
            return [self.run(ctx) for ctx in contexts]
        flat = flat_of(contexts)
        prices = _usable_prices(flat.hits)
        out: list[list[Finding]] = [[] for _ in range(len(contexts))]
        for s in range(0, len(contexts), CHUNK):
            stop = min(s + CHUNK, len(contexts))
            rows = flat.rows(prices, np.nan, s, stop)
            odd = np.isinf(rows).any(axis=1)
            for n in (s + np.flatnonzero(odd)).tolist():
                out[n] = self.run(contexts[n])
            flags, medians = outliers(np.where(odd[:, None], np.nan, rows), self.z, self.ratio, self.min_priced)
            for n, c in zip(*(a.tolist() for a in np.nonzero(flags))):
                ctx = contexts[s + n]
                out[s + n].append(self._finding(ctx, ctx.hits[c], float(rows[n, c]), float(medians[n])))
        return out


def _usable_prices(hits: Sequence[Hit]) -> np.ndarray:
    """Per hit, float(price) where run counts it (an int or float above 0), else NaN; infinity where float() overflows."""
    prices = list(map(_PRICE, hits))
    if set(map(type, prices)) <= {float, type(None)}:  # the usual case: no conversion but None -> NaN
        values = np.array(prices, dtype=float)
        with np.errstate(invalid="ignore"):
            values[~(values > 0)] = np.nan
        return values
    return np.array([_usable(p) for p in prices], dtype=float)


def _usable(p: object) -> float:
    if isinstance(p, (int, float)) and p > 0:
        try:
            return float(p)
        except OverflowError:
            return math.inf
    return math.nan


class ZeroResults:
    """The query returned nothing."""

    name = "zero_results"
    description = "the query returned no result"

    def run(self, ctx: CheckContext) -> list[Finding]:
        return [Finding(self.name, ctx.query_id, "no result")] if not ctx.hits else []

    def run_all(self, contexts: Sequence[CheckContext]) -> list[list[Finding]]:
        return [self.run(ctx) for ctx in contexts]


class FewResults:
    """The query returned some, but fewer than `min_results`, results."""

    name = "few_results"
    description = "the query returned fewer results than the minimum"

    def __init__(self, min_results: int = 3) -> None:
        self.min_results = min_results

    def run(self, ctx: CheckContext) -> list[Finding]:
        n = len(ctx.hits)
        return [Finding(self.name, ctx.query_id, f"{n} result(s), fewer than {self.min_results}")] \
            if 0 < n < self.min_results else []

    def run_all(self, contexts: Sequence[CheckContext]) -> list[list[Finding]]:
        return [self.run(ctx) for ctx in contexts]


VERDICTS_KEPT = 1 << 18  # remembered offline-rule verdicts (process-wide; forgotten all at once past this many)
VERDICT_CELLS = 1 << 22  # wanted types x products in WrongTypeAbove's table of verdicts (one byte each)
_verdicts: dict[tuple, tuple[bool, str]] = {}


def type_verdict(req: Requirement, hit: Hit) -> tuple[bool, str]:
    """The offline rules' verdict on one requirement, remembered by the requirement and every product field the rules
    read, across check instances: compare checks both runs' lists in one process, and they share most products."""
    key = (req.attribute, req.value, hit.title, hit.description, hit.category, hit.brand, hit.color,
           str(hit.attributes.get(req.attribute, "")))
    found = _verdicts.get(key)
    if found is None:
        if len(_verdicts) >= VERDICTS_KEPT:
            _verdicts.clear()
        found = _verdicts[key] = requirement_check(req, hit)
    return found


class WrongTypeAbove:
    """A hit of another product type ranked above every hit of the wanted type (there is at least one right one).

    `run` checks hits in rank order only up to the first right one, a verdict remembered per (requirement, product
    fields the check reads), since the same products recur across queries (`type_verdict`). `run_all` takes the
    offline rule apart (judges/offline.py `check` on a product_type requirement): a hit is of the wanted type when its
    stated type meets it (`stated_meets`) or its title and category name it (`words_in`); else what it has is its
    stated type, or "not stated". The parts are worked out once per product (title, category, stated type) and per
    wanted type, the verdicts once per pair (kept by this check across batches: compare checks every run and chunk
    with the same checks), and every hit's verdict is looked up with numpy.
    """

    name = "wrong_type_above"
    description = "a hit of another product type ranked above every hit of the wanted type"

    def run(self, ctx: CheckContext) -> list[Finding]:
        req = _type_requirement(ctx)
        if req is None:
            return []
        wrong: list[tuple[Hit, str]] = []
        for h in ctx.hits[: ctx.k]:
            ok, got = type_verdict(req, h)
            if ok:
                tail = f"' above the first '{req.value}' (#{h.rank})"
                return [Finding(self.name, ctx.query_id, f"type '{got_}{tail}", w.doc_id, w.rank)
                        for w, got_ in wrong if got_ != "not stated"]
            wrong.append((h, got))
        return []

    def __init__(self) -> None:
        self._by_req: dict[tuple[str, str], dict[tuple, tuple[bool, str]]] = {}  # verdicts of the list-by-list path
        self._verdicts = _TypeVerdicts()

    def run_all(self, contexts: Sequence[CheckContext]) -> list[list[Finding]]:
        """run per list: every hit's verdict through `_TypeVerdicts`, the findings built at once. Lists whose
        products cannot be told apart (an unhashable field), or on which the rule fails (a requirement value that is
        not text), go list by list (`_run_each`), which fails where `run` does."""
        flat = flat_of(contexts)
        places = flat.products()
        if places is None:
            return self._run_each(contexts)
        try:
            return self._run_flat(contexts, flat, places)
        except Exception:  # noqa: BLE001 - list by list, run's answer or its error
            return self._run_each(contexts)

    def _run_flat(self, contexts: Sequence[CheckContext], flat: Flat, places: np.ndarray) -> list[list[Finding]]:
        """run_all through the product table: every hit's verdict at once, then the findings of every list."""
        reqs = [_type_requirement(ctx) for ctx in contexts]
        verdicts = self._verdicts
        verdicts.bound()
        wanted = np.array([-1 if r is None else verdicts.wanted_id(r.value) for r in reqs], dtype=np.int64)
        hits, offsets = flat.hits, flat.offsets
        firsts = flat.firsts(places)
        product_at = np.zeros(len(hits), dtype=np.int64)
        product_at[firsts] = [verdicts.product_id(hits[p]) for p in firsts.tolist()]
        products = product_at[places]
        list_of = flat.lists()
        wanted_at = wanted[list_of]
        asked = wanted_at >= 0
        right = np.zeros(len(hits), dtype=bool)
        right[asked] = verdicts.right(wanted_at[asked], products[asked])
        first = offsets[:-1].copy()  # per list, the place of the first right hit (its start when there is none)
        found = np.flatnonzero(right)
        if len(found):
            lists_found = list_of[found]
            new = np.flatnonzero(np.diff(lists_found, prepend=-1))
            first[lists_found[new]] = found[new]
        wrong = np.flatnonzero((np.arange(len(hits)) < first[list_of]) & verdicts.stated()[products])
        out: list[list[Finding]] = [[] for _ in range(len(contexts))]
        if len(wrong):
            lists = list_of[wrong]
            starts = np.flatnonzero(np.diff(lists, prepend=-1))
            tails = [f"' above the first '{reqs[n].value}' (#{hits[p].rank})"
                     for n, p in zip(lists[starts].tolist(), first[lists[starts]].tolist())]
            self._findings(out, contexts, flat, wrong, lists, starts, map(verdicts.got.__getitem__, products[wrong].tolist()),
                           tails)
        return out

    def _findings(self, out: list[list[Finding]], contexts: Sequence[CheckContext], flat: Flat, wrong: np.ndarray,
                  lists: np.ndarray, starts: np.ndarray, gots: Iterable[str], tails: list[str]) -> None:
        """Into out[list]: a finding on each hit at the places `wrong` (ascending), of the lists `lists` (each list's
        first at `starts`), with what it has (`gots`) and its list's tail of the detail (`tails`, per list)."""
        at = list(map(flat.hits.__getitem__, wrong.tolist()))
        counts = np.diff(starts, append=len(wrong)).tolist()
        numbers = lists[starts].tolist()
        queries = chain.from_iterable(map(repeat, [contexts[n].query_id for n in numbers], counts))
        details = ["type '" + got + tail for got, tail in zip(gots, chain.from_iterable(map(repeat, tails, counts)))]
        made = list(map(Finding, repeat(self.name), queries, details, map(_DOC_ID, at), map(_RANK, at)))
        start = 0
        for n, c in zip(numbers, counts):
            out[n] = made[start:start + c]
            start += c

    def _run_each(self, contexts: Sequence[CheckContext]) -> list[list[Finding]]:
        """run per list, the verdicts kept per requirement under a shorter key first (by this check, across the
        batches it is given)."""
        by_req = self._by_req
        if sum(map(len, by_req.values())) >= VERDICTS_KEPT:
            by_req.clear()
        out: list[list[Finding]] = []
        for ctx in contexts:
            req = _type_requirement(ctx)
            found: list[Finding] = []
            if req is not None:
                memo = by_req.setdefault((req.attribute, req.value), {})
                wrong: list[tuple[Hit, str]] = []
                for h in ctx.hits[: ctx.k]:
                    key = (_VERDICT_FIELDS(h), str(h.attributes.get(TYPE_ATTRIBUTE, "")))
                    verdict = memo.get(key)
                    if verdict is None:
                        verdict = memo[key] = type_verdict(req, h)
                    if verdict[0]:
                        tail = f"' above the first '{req.value}' (#{h.rank})"
                        found = [Finding(self.name, ctx.query_id, f"type '{got}{tail}", w.doc_id, w.rank)
                                 for w, got in wrong if got != "not stated"]
                        break
                    wrong.append((h, verdict[1]))
            out.append(found)
        return out


def _type_requirement(ctx: CheckContext) -> Requirement | None:
    """The list's first product_type requirement, if any."""
    return next((r for r in ctx.requirements if r.attribute == TYPE_ATTRIBUTE), None)


class _TypeVerdicts:
    """The offline rule's verdicts on product_type requirements, in parts: per product (title, category, stated type),
    its normalized stated type and the words of its title and category; per wanted type (requirement value), its
    normalized form and words; per (wanted, product) pair, whether the product is of that type, in a table of every
    wanted type by every product while it holds at most VERDICT_CELLS (else, for a batch that alone needs more, worked
    out for that batch only). Everything is forgotten at once, before a batch, past VERDICT_CELLS pairs or
    VERDICTS_KEPT products."""

    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        self._products: dict[tuple, int] = {}  # (title, category, str(stated type)) -> product id
        self._stated: list[str] = []  # per product: its stated type, normalized ('' when none)
        self._words: list[str] = []  # per product: text_words of "title category"
        self.got: list[str] = []  # per product: what it has when not of the wanted type
        self._wanted: dict[object, int] = {}  # requirement value -> id
        self._wants: list[tuple[str, str]] = []  # per wanted id: (normalized value, phrase_words of it)
        self._table = np.zeros((0, 0), dtype=np.int8)  # [wanted id, product id]: 0 unknown, 1 of the type, 2 not

    def bound(self) -> None:
        """Forget everything past the bounds (ids handed out before are then void)."""
        if len(self._wants) * len(self._stated) > VERDICT_CELLS or len(self._stated) >= VERDICTS_KEPT:
            self.clear()

    def wanted_id(self, value: object) -> int:
        found = self._wanted.get(value)
        if found is None:
            want = normalize_query(value)  # type: ignore[arg-type] - not text: fails as `check` does
            self._wants.append((want, phrase_words(want)))
            found = self._wanted[value] = len(self._wants) - 1
        return found

    def product_id(self, hit: Hit) -> int:
        """The id of a hit's product, by the fields the rule reads of it."""
        raw = str(hit.attributes.get(TYPE_ATTRIBUTE, ""))
        key = (hit.title, hit.category, raw)
        found = self._products.get(key)
        if found is None:
            stated, words = normalize_query(raw), text_words(f"{hit.title} {hit.category}")
            found = self._products[key] = len(self._stated)
            self._stated.append(stated)
            self._words.append(words)
            self.got.append(stated or "not stated")
        return found

    def stated(self) -> np.ndarray:
        """Per product: whether what it has, when not of the wanted type, is stated (a finding names it)."""
        return np.array([got != "not stated" for got in self.got], dtype=bool)

    def right(self, wanted: np.ndarray, products: np.ndarray) -> np.ndarray:
        """Per (wanted id, product id) pair: whether the product is of the wanted type."""
        shape = (len(self._wants), len(self._stated))
        if shape[0] * shape[1] > VERDICT_CELLS:  # too many for a table: this batch's pairs only
            pairs, at = np.unique((wanted << 32) | products, return_inverse=True)
            return self._verdicts(pairs)[at]
        if shape[0] > self._table.shape[0] or shape[1] > self._table.shape[1]:
            grown = np.zeros((max(shape[0], 2 * self._table.shape[0]), max(shape[1], 2 * self._table.shape[1])), dtype=np.int8)
            grown[: self._table.shape[0], : self._table.shape[1]] = self._table
            self._table = grown
        cells = self._table[wanted, products]
        unknown = cells == 0
        if unknown.any():
            pairs = np.unique((wanted[unknown] << 32) | products[unknown])
            self._table[pairs >> 32, pairs & 0xFFFFFFFF] = np.where(self._verdicts(pairs), 1, 2)
            cells = self._table[wanted, products]
        return cells == 1

    def _verdicts(self, pairs: np.ndarray) -> np.ndarray:
        """The rule on each (sorted) pair: the stated type meets the wanted one, or the title and category name it."""
        wanted, products = (pairs >> 32).tolist(), (pairs & 0xFFFFFFFF).tolist()
        out: list[bool] = []
        stated, words = self._stated, self._words
        starts = [0, *(np.flatnonzero(np.diff(pairs >> 32)) + 1).tolist(), len(pairs)]
        for a, b in zip(starts, starts[1:]):
            want, needle = self._wants[wanted[a]]
            some = products[a:b]
            meets = {s: stated_meets(s, want) for s in {stated[p] for p in some}}
            out.extend(meets[stated[p]] or words_in(needle, words[p]) for p in some)
        return np.array(out, dtype=bool)
