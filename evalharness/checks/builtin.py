"""The built-in rule checks: near-duplicates, price outliers, zero and few results, a wrong type above the right ones.

Each has `run(ctx)` for one list and `run_all(contexts)` for many (checks/batch.py), which gives, list by list, what
`run` gives.
"""

from __future__ import annotations

import difflib
import math
import statistics
from collections.abc import Sequence
from operator import attrgetter

import numpy as np

from evalharness.checks.base import CheckContext, Finding
from evalharness.checks.batch import flat_of
from evalharness.checks.prices import outliers
from evalharness.checks.titles import TitleIndex
from evalharness.judges.offline import check as requirement_check
from evalharness.models import Hit, Requirement

CHUNK = 4096  # lists per numpy block in run_all
TYPE_ATTRIBUTE = "product_type"
_IMAGE = attrgetter("image_url")
_PRICE = attrgetter("price")
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

    def _scan(self, ctx: CheckContext, hits: Sequence[Hit], ids: list[int]) -> list[Finding]:
        """The first earlier hit with the same image or a similar title, for each hit, as a pairwise scan finds it."""
        may = self._titles.candidates(ids)
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
        title_ids = self._titles.ids_of(flat.hits)
        image_ids = flat.codes(_IMAGE)
        out: list[list[Finding]] = [[] for _ in range(len(contexts))]
        for s in range(0, len(contexts), CHUNK):
            stop = min(s + CHUNK, len(contexts))
            img = np.sort(flat.rows(image_ids, -1, s, stop), axis=1)
            suspect = ((img[:, 1:] == img[:, :-1]) & (img[:, 1:] >= 0)).any(axis=1)
            suspect |= self._titles.lists_with_pairs(flat.rows(title_ids, -1, s, stop))
            for n in (s + np.flatnonzero(suspect)).tolist():
                ctx = contexts[n]
                ids = title_ids[flat.offsets[n]:flat.offsets[n + 1]].tolist()
                out[n] = self._scan(ctx, list(ctx.hits[: ctx.k]), ids)
        return out


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

    Hits are checked in rank order only up to the first right one, and a verdict is remembered per (requirement,
    product fields the check reads), since the same products recur across queries (`type_verdict`).
    """

    name = "wrong_type_above"
    description = "a hit of another product type ranked above every hit of the wanted type"

    def run(self, ctx: CheckContext) -> list[Finding]:
        req = next((r for r in ctx.requirements if r.attribute == TYPE_ATTRIBUTE), None)
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
        self._by_req: dict[tuple[str, str], dict[tuple, tuple[bool, str]]] = {}  # verdicts this check has seen

    def run_all(self, contexts: Sequence[CheckContext]) -> list[list[Finding]]:
        """run per list, the verdicts kept per requirement under a shorter key first (by this check, across the
        batches it is given: compare checks every run and chunk with the same checks)."""
        by_req = self._by_req
        if sum(map(len, by_req.values())) >= VERDICTS_KEPT:
            by_req.clear()
        out: list[list[Finding]] = []
        for ctx in contexts:
            req = next((r for r in ctx.requirements if r.attribute == TYPE_ATTRIBUTE), None)
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
