"""Query types from a query's guideline requirements: what kind of query it is, so metrics can be read per type.

Offline: it reads the requirements the guideline already lists (no call). `zero-result` is observed, not derived:
a query whose (baseline) result list is empty.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence

from evalharness.models import Requirement
from evalharness.textnorm import normalize_query

PRODUCT_TYPE_ONLY = "product-type only"
BRAND = "brand"
ATTRIBUTE = "attribute"
MULTI_ATTRIBUTE = "multi-attribute"
MISSPELLED = "misspelled"
ZERO_RESULT = "zero-result"
OTHER = "other"
QUERY_TYPES = (PRODUCT_TYPE_ONLY, BRAND, ATTRIBUTE, MULTI_ATTRIBUTE, MISSPELLED, ZERO_RESULT, OTHER)
DEFINITIONS = {
    PRODUCT_TYPE_ONLY: "names only a product type ('lamp')",
    BRAND: "a brand, with or without a product type ('kestrel lamp')",
    ATTRIBUTE: "a product type and one attribute other than brand: color, material, audience, size ('black lamp')",
    MULTI_ATTRIBUTE: "two or more attributes ('kestrel black leather boots')",
    MISSPELLED: "the product type is misspelled ('wacth')",
    ZERO_RESULT: "the search returned nothing",
    OTHER: "no product type or attribute could be read: free keywords",
}
_TOKEN = re.compile(r"[\w'-]+")
_NOT_ATTRIBUTES = ("product_type", "keywords")


def _forms(word: str) -> set[str]:
    out = {word, word + "s", word + "es"}
    if word.endswith("s"):
        out.add(word[:-1])
    if word.endswith("es"):
        out.add(word[:-2])
    return out


def is_misspelled(query: str, product_type: str) -> bool:
    """The type is not written in the query, but a query word is one or two edits from it."""
    text = normalize_query(query)
    tokens = _TOKEN.findall(text)
    want = normalize_query(product_type)
    if any(f in f" {text} " for f in (f" {w} " for w in _forms(want))):
        return False
    if " " in want:
        return False  # a multi-word type written differently is a synonym, not a typo
    return any(difflib.SequenceMatcher(None, tok, want).ratio() >= 0.75 and tok not in _forms(want) for tok in tokens
               if len(tok) >= 3)


def classify(query: str, requirements: Sequence[Requirement], n_hits: int | None = None) -> str:
    """The offline type of a query; `n_hits == 0` makes it zero-result."""
    if n_hits == 0:
        return ZERO_RESULT
    ptype = next((r.value for r in requirements if r.attribute == "product_type"), None)
    if ptype and is_misspelled(query, ptype):
        return MISSPELLED
    attrs = {r.attribute for r in requirements if r.attribute not in _NOT_ATTRIBUTES}
    if not attrs:
        return PRODUCT_TYPE_ONLY if ptype else OTHER
    if len(attrs) >= 2:
        return MULTI_ATTRIBUTE
    return BRAND if attrs == {"brand"} else ATTRIBUTE


def type_order(name: str) -> int:
    """Display order of the types."""
    return QUERY_TYPES.index(name) if name in QUERY_TYPES else len(QUERY_TYPES)
