"""The built-in rule checks: near-duplicates, price outliers, zero and few results, a wrong type above the right ones."""

from __future__ import annotations

import difflib
import statistics

from evalharness.checks.base import CheckContext, Finding
from evalharness.checks.titles import TitleIndex
from evalharness.judges.offline import check as requirement_check
from evalharness.models import Hit, Requirement


class NearDuplicates:
    """Two hits in the top k that are the same product: equal image, or titles (with brand) nearly equal.

    difflib compares only the pairs a character-count bound cannot rule out (checks/titles.py).
    """

    name = "duplicates"
    description = "near-duplicate results in one list (same image, or titles at least this similar)"

    def __init__(self, similarity: float = 0.92) -> None:
        self.similarity = similarity
        self._titles = TitleIndex(similarity)

    def _similar(self, a: str, b: str) -> bool:
        if not a or not b:
            return False
        if a == b:
            return True
        m = difflib.SequenceMatcher(None, a, b, autojunk=False)
        return m.real_quick_ratio() >= self.similarity and m.quick_ratio() >= self.similarity and m.ratio() >= self.similarity

    def run(self, ctx: CheckContext) -> list[Finding]:
        hits = list(ctx.hits[: ctx.k])
        ids = [self._titles.id_of(h) for h in hits]
        keys = self._titles.keys
        may = self._titles.candidates(ids)
        first_image: dict[str, int] = {}
        out = []
        for i, hit in enumerate(hits):  # the first earlier hit with the same image or a similar title, as a pairwise scan finds it
            image = first_image.setdefault(hit.image_url, i) if hit.image_url else i
            near = may.get(i)
            j = next((j for j in near if j < image and self._similar(keys[ids[i]], keys[ids[j]])), None) if near else None
            why = "near-identical title to"
            if j is None and image < i:
                j, why = image, "same image as"
            if j is not None:
                out.append(Finding(self.name, ctx.query_id, f"{why} #{hits[j].rank} ({hits[j].doc_id})", hit.doc_id, hit.rank))
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
                out.append(Finding(self.name, ctx.query_id, f"price {p:g} vs median {median:g} of the list", hit.doc_id, hit.rank))
        return out


class ZeroResults:
    """The query returned nothing."""

    name = "zero_results"
    description = "the query returned no result"

    def run(self, ctx: CheckContext) -> list[Finding]:
        return [Finding(self.name, ctx.query_id, "no result")] if not ctx.hits else []


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


class WrongTypeAbove:
    """A hit of another product type ranked above every hit of the wanted type (there is at least one right one).

    Hits are checked in rank order only up to the first right one, and a verdict is remembered per (requirement,
    product fields the check reads), since the same products recur across queries.
    """

    name = "wrong_type_above"
    description = "a hit of another product type ranked above every hit of the wanted type"

    def __init__(self) -> None:
        self._verdicts: dict[tuple, tuple[bool, str]] = {}

    def _check(self, req: Requirement, hit: Hit) -> tuple[bool, str]:
        key = (req.attribute, req.value, hit.title, hit.description, hit.category, hit.brand, hit.color,
               str(hit.attributes.get(req.attribute, "")))
        found = self._verdicts.get(key)
        if found is None:
            found = self._verdicts[key] = requirement_check(req, hit)
        return found

    def run(self, ctx: CheckContext) -> list[Finding]:
        req = next((r for r in ctx.requirements if r.attribute == "product_type"), None)
        if req is None:
            return []
        wrong: list[tuple[Hit, str]] = []
        for h in ctx.hits[: ctx.k]:
            ok, got = self._check(req, h)
            if ok:
                return [Finding(self.name, ctx.query_id, f"type '{got_}' above the first '{req.value}' (#{h.rank})", w.doc_id, w.rank)
                        for w, got_ in wrong if got_ != "not stated"]
            wrong.append((h, got))
        return []
