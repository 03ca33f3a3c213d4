"""Streaming aggregation of query counts: normalized variants merged, most frequent surface form kept."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc
from stdnum import ean, isbn, luhn

from evalharness.textnorm import normalize_query


def is_product_code(text: str) -> bool:
    """A valid ISBN (10 or 13) or EAN/GTIN: what shoppers search for by number, never personal data."""
    compact = re.sub(r"[\s-]", "", text)
    return isbn.is_valid(compact) or (compact.isdigit() and ean.is_valid(compact))


def is_card_number(text: str) -> bool:
    """13-19 digits with a valid Luhn check digit that are not an ISBN or EAN."""
    digits = re.sub(r"\D", "", text)
    return 13 <= len(digits) <= 19 and luhn.is_valid(digits) and not is_product_code(digits)


# A privacy pattern's matches count only when its validator agrees (by pattern name in [privacy] patterns).
VALIDATORS: dict[str, Callable[[str], bool]] = {
    "card": is_card_number,
    "phone": lambda text: not is_product_code(text),
}


@dataclass
class QueryCounts:
    """Counts per normalized query, plus the surface forms seen, filled batch by batch in bounded memory."""

    privacy: dict[str, re.Pattern[str]] = field(default_factory=dict)
    totals: Counter[str] = field(default_factory=Counter)
    surfaces: dict[str, Counter[str]] = field(default_factory=dict)
    dropped: Counter[str] = field(default_factory=Counter)
    rows: int = 0
    _norm_cache: dict[str, str | None] = field(default_factory=dict)

    def _normalize(self, raw: str) -> str | None:
        """Normalized form, or None when the query is empty or matches a privacy pattern."""
        if raw in self._norm_cache:
            return self._norm_cache[raw]
        norm: str | None = normalize_query(raw)
        if not norm:
            norm = None
        else:
            for name, pattern in self.privacy.items():
                check = VALIDATORS.get(name)
                if any(check is None or check(m.group()) for m in pattern.finditer(norm)):
                    norm = f"\x00{name}"
                    break
        if len(self._norm_cache) < 2_000_000:
            self._norm_cache[raw] = norm
        return norm

    def normalize(self, raw: str) -> str | None:
        """The key a query string counts under: None when empty, "\\x00RULE" when a privacy pattern matches."""
        return self._normalize(raw)

    def add(self, raw: str, n: int = 1) -> None:
        """Count one query string n times."""
        self.rows += n
        norm = self._normalize(raw)
        if norm is None:
            return
        if norm.startswith("\x00"):
            self.dropped[norm[1:]] += n
            return
        self.totals[norm] += n
        self.surfaces.setdefault(norm, Counter())[raw] += n

    def add_batch(self, queries: pa.Array | pa.ChunkedArray, counts: pa.Array | pa.ChunkedArray | None = None) -> None:
        """Count a batch: grouped in Arrow first, so Python sees each distinct string once per batch."""
        table = pa.table({"q": queries} if counts is None else {"q": queries, "c": counts})
        table = table.filter(pc.is_valid(table["q"]))
        if counts is None:
            grouped = table.group_by("q").aggregate([("q", "count")])
            names, ns = grouped["q"].to_pylist(), grouped["q_count"].to_pylist()
        else:
            table = table.set_column(1, "c", pc.cast(pc.fill_null(table["c"], 0), pa.int64()))
            grouped = table.group_by("q").aggregate([("c", "sum")])
            names, ns = grouped["q"].to_pylist(), grouped["c_sum"].to_pylist()
        for raw, n in zip(names, ns):
            self.add(str(raw), int(n))

    def surface(self, norm: str) -> str:
        """The most frequent surface form (ties: the alphabetically first), NFKC with whitespace collapsed, case kept."""
        forms = self.surfaces[norm]
        best = min(forms, key=lambda s: (-forms[s], s))
        return " ".join(unicodedata.normalize("NFKC", best).split())
