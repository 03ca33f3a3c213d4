"""The offline guideline writer: requirements extracted from the query against the catalog vocabulary.

Deterministic, no network, never presented as an LLM.
"""

from __future__ import annotations

import difflib
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from evalharness.catalog.products import field_text
from evalharness.models import VOCABULARY_ATTRIBUTES, Guideline, Requirement
from evalharness.textnorm import normalize_query

WRITER_ID = "offline"
IMPORTANCE_BY_ATTRIBUTE = {"product_type": "must", "brand": "should", "color": "should", "material": "should",
                           "audience": "should", "size": "should", "keywords": "must"}
SYNONYMS = {
    "women": ["women's", "womens", "woman", "ladies", "ladies'", "female"],
    "men": ["men's", "mens", "man", "male"],
    "kids": ["kids'", "kid", "children", "children's", "childrens", "child", "boys", "girls"],
    "sneakers": ["trainers", "trainer", "running shoes"], "t-shirt": ["tshirt", "tee", "t shirt"],
    "backpack": ["rucksack", "daypack"], "mug": ["cup"], "headphones": ["headset"], "sunglasses": ["shades"],
    "grey": ["gray"],
}
STOPWORDS = {"for", "the", "a", "an", "and", "with", "in", "of", "size", "by", "to", "on"}
_TOKEN = re.compile(r"[\w'-]+")
_WORDLIKE = re.compile(r"[a-z][a-z' &-]{2,}")
NEGATIONS = {"not", "no", "without", "non"}


def _plural_variants(phrase: str) -> set[str]:
    out = {phrase}
    if phrase.endswith("es") and len(phrase) > 4:
        out.add(phrase[:-2])
    if phrase.endswith("s") and len(phrase) > 3:
        out.add(phrase[:-1])
    else:
        out.update({phrase + "s", phrase + "es"})
    return out


@dataclass
class Vocabulary:
    """Phrase -> (attribute, canonical value), built from a catalog's attribute values."""

    phrases: dict[str, tuple[str, str]] = field(default_factory=dict)

    @classmethod
    def from_products(cls, products: Iterable[dict[str, Any]]) -> "Vocabulary":
        vocab = cls()
        counts: dict[str, Counter[str]] = {a: Counter() for a in VOCABULARY_ATTRIBUTES}
        for p in products:
            for attr in VOCABULARY_ATTRIBUTES:
                v = normalize_query(field_text(p, attr))
                if v and len(v) <= 40:
                    counts[attr][v] += 1
        # Later attributes never overwrite earlier ones: product type wins over brand, and so on. A value
        # must look like a word (letters, 3+ characters) and occur twice, so noise ("1", "0.2x0.8in") stays out;
        # sizes are the exception (they are read only after the word "size").
        for attr in VOCABULARY_ATTRIBUTES:
            for v in sorted(v for v, n in counts[attr].items() if attr == "size" or (n >= 2 and _WORDLIKE.fullmatch(v))):
                variants = _plural_variants(v) if attr == "product_type" else {v}
                for syn in SYNONYMS.get(v, []):
                    variants |= _plural_variants(syn) if attr == "product_type" else {syn}
                for phrase in variants:
                    vocab.phrases.setdefault(phrase, (attr, v))
        return vocab

    def types(self) -> list[str]:
        return sorted({p for p, (a, _) in self.phrases.items() if a == "product_type"})


def extract_requirements(query: str, vocab: Vocabulary) -> list[Requirement]:
    """Longest-match the query's words against the vocabulary; fuzzy-match a misspelled product type."""
    tokens = _TOKEN.findall(normalize_query(query))
    reqs: dict[str, Requirement] = {}
    unmatched: list[str] = []
    i = 0
    while i < len(tokens):
        if tokens[i] in NEGATIONS:
            i += 2  # "not clear", "without lid": a negated word is no requirement the offline rules can check
            continue
        if tokens[i] == "size" and i + 1 < len(tokens):
            reqs.setdefault("size", Requirement("size", tokens[i + 1], IMPORTANCE_BY_ATTRIBUTE["size"]))
            i += 2
            continue
        for n in (3, 2, 1):
            phrase = " ".join(tokens[i:i + n])
            if len(tokens[i:i + n]) == n and phrase in vocab.phrases:
                attr, value = vocab.phrases[phrase]
                if attr == "size":
                    break  # a bare size-like token ("m", "40") is too ambiguous without "size"
                reqs.setdefault(attr, Requirement(attr, value, IMPORTANCE_BY_ATTRIBUTE[attr]))
                i += n
                break
        else:
            if tokens[i] not in STOPWORDS and not tokens[i].isdigit():  # bare numbers ("1/2") are no checkable words
                unmatched.append(tokens[i])
            i += 1
    if "product_type" not in reqs:
        for tok in list(unmatched):
            # a misspelling: one or two edits, so about the same length ("dres", "wacth"; not "pint" -> "prints")
            near = [t for t in vocab.types() if abs(len(t) - len(tok)) <= 1]
            close = difflib.get_close_matches(tok, near, n=1, cutoff=0.8) if len(tok) >= 4 else []
            if close:
                _, value = vocab.phrases[close[0]]
                reqs["product_type"] = Requirement("product_type", value, "must")
                unmatched.remove(tok)
                break
    if "product_type" not in reqs and unmatched:
        reqs["keywords"] = Requirement("keywords", " ".join(unmatched), "must")
    order = ["product_type", "keywords", "brand", "color", "material", "audience", "size"]
    return sorted(reqs.values(), key=lambda r: order.index(r.attribute) if r.attribute in order else 99)


def guideline_text(query: str, reqs: list[Requirement]) -> str:
    """Plain-language guideline for the three labels."""
    ptype = next((r.value for r in reqs if r.attribute == "product_type"), None)
    kw = next((r.value for r in reqs if r.attribute == "keywords"), None)
    others = [f"{r.attribute.replace('_', ' ')} '{r.value}'" for r in reqs if r.attribute not in ("product_type", "keywords")]
    lines = [f"The shopper searched for \"{query}\"."]
    if ptype:
        want = f"a {ptype}" + (f" with {', '.join(others)}" if others else "")
        lines.append(f"- relevant: {want}.")
        lines.append(f"- substitute: a {ptype} that misses one of the wanted attributes; the shopper might still buy it."
                     if others else f"- substitute: a closely related product that could replace a {ptype}.")
        lines.append(f"- irrelevant: any product that is not a {ptype}.")
    elif kw:
        lines.append(f"- relevant: the product is what the words \"{kw}\" describe.")
        lines.append("- substitute: the product matches only some of those words.")
        lines.append("- irrelevant: the product matches none of them.")
    else:
        lines.append(f"- relevant: a product with {', '.join(others) or 'what the query names'}.")
        lines.append("- substitute: a product with some of these attributes.")
        lines.append("- irrelevant: a product with none of them.")
    return "\n".join(lines)


class OfflineGuidelineWriter:
    """Writes guidelines from the catalog vocabulary; deterministic and free."""

    writer_id = WRITER_ID
    model = ""

    def __init__(self, vocab: Vocabulary) -> None:
        self.vocab = vocab

    def write(self, query: str) -> Guideline:
        reqs = extract_requirements(query, self.vocab)
        return Guideline(query=query, requirements=tuple(reqs), text=guideline_text(query, reqs), writer=WRITER_ID)
