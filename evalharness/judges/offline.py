"""The offline judge: a deterministic rule over the guideline's requirements. Not an LLM.

Wrong product type (a violated 'must') -> irrelevant; right type but a 'should' requirement
violated -> substitute; all satisfied -> relevant. The rationale names the deciding requirement, and
`details["verdicts"]` says for each requirement whether the hit meets it (`met` / `not met` / `unknown`:
the hit does not state the attribute and its text does not name it).
"""

from __future__ import annotations

import functools
import re

from evalharness.config import ProjectConfig
from evalharness.judges.base import Judge, JudgeRequest
from evalharness.judges.verdicts import verdict_entry
from evalharness.labels.schemes import DEFAULT_SCHEME, LabelScheme, scheme_named, scheme_of
from evalharness.models import Hit, Judgment, Requirement
from evalharness.textnorm import normalize_query

RULES_VERSION = "4"
_WORD = re.compile(r"[\w-]+")


def _words(text: str) -> set[str]:
    return set(_WORD.findall(normalize_query(text)))


def _singular(word: str) -> str:
    return word[:-1] if word.endswith("s") and len(word) > 3 else word


def _hit_value(hit: Hit, attribute: str) -> str:
    if attribute == "brand":
        return hit.brand
    if attribute == "color":
        return hit.color
    return str(hit.attributes.get(attribute, ""))


@functools.lru_cache(maxsize=1 << 16)
def _singular_words(text: str, pattern: bool) -> str:
    """' w1 w2 ' of a text's words (by _WORD, or split on whitespace), each singular; remembered, as the same titles,
    categories and requirement values recur across pairs."""
    norm = normalize_query(text)
    return f" {' '.join(_singular(w) for w in (_WORD.findall(norm) if pattern else norm.split()))} "


def _phrase_in(phrase: str, text: str) -> bool:
    needle = _singular_words(phrase, False)
    return needle != "  " and needle in _singular_words(text, True)


def phrase_words(phrase: str) -> str:
    """What `_phrase_in(phrase, text)` looks for: `words_in(phrase_words(phrase), text_words(text))` is its answer."""
    return _singular_words(phrase, False)


def text_words(text: str) -> str:
    """What `_phrase_in(phrase, text)` looks in (see phrase_words)."""
    return _singular_words(text, True)


def words_in(needle: str, words: str) -> bool:
    """`_phrase_in` on the phrase's and the text's words: the phrase has a word, and its words follow one another in the
    text's."""
    return needle != "  " and needle in words


def stated_meets(value: str, want: str) -> bool:
    """Whether a hit's stated value meets the wanted one (both normalized): the same in the singular, or naming it."""
    return bool(value) and (_singular(value) == _singular(want) or _phrase_in(want, value))


def check(req: Requirement, hit: Hit) -> tuple[bool, str]:
    """Whether the hit satisfies a requirement, and what the hit has instead."""
    text = f"{hit.title} {hit.description} {hit.category}"
    if req.attribute == "keywords":
        wanted = {_singular(w) for w in _words(req.value)}
        have = {_singular(w) for w in _words(f"{text} {hit.brand} {hit.color}")}
        found = wanted & have
        return (found == wanted, f"{len(found)} of {len(wanted)} query words")
    value = normalize_query(_hit_value(hit, req.attribute))
    want = normalize_query(req.value)
    if stated_meets(value, want):
        return True, value
    if req.attribute == "product_type" and _phrase_in(want, f"{hit.title} {hit.category}"):
        return True, value or want  # the title or category names the wanted type (category leaves are fine-grained)
    return (False, value) if value else (_phrase_in(want, f"{hit.title} {hit.category}"), "not stated")


class OfflineJudge(Judge):
    """Rule-based judge for the embedded default; deterministic and free. It decides on three levels and answers
    in the project's label scheme (`LabelScheme.from_three`)."""

    max_concurrency = 64

    def __init__(self, scheme: LabelScheme | None = None) -> None:
        self.scheme = scheme or scheme_named(DEFAULT_SCHEME)
        self.judge_id = f"offline:rules-v{RULES_VERSION}:text:esr3"
        if self.scheme.fingerprint != scheme_named(DEFAULT_SCHEME).fingerprint:
            self.judge_id += f":ls={self.scheme.fingerprint}"
        self._to_scheme = {three: self.scheme.from_three(three) for three in ("irrelevant", "substitute", "relevant")}

    async def judge(self, request: JudgeRequest) -> Judgment:
        return self.judge_sync(request)

    def judge_sync(self, request: JudgeRequest) -> Judgment:
        """The three-level decision, answered in the project's scheme, with each requirement's verdict."""
        reqs = request.guideline.requirements
        results = [(r, *check(r, request.hit)) for r in reqs]
        label, rationale = self._decide(results)
        verdicts = [verdict_entry(r, "met" if ok else "unknown" if got == "not stated" else "not met") for r, ok, got in results]
        return Judgment(self._to_scheme[label], rationale, self.judge_id, details={"verdicts": verdicts})

    @staticmethod
    def _decide(results: list[tuple[Requirement, bool, str]]) -> tuple[str, str]:
        """(label, rationale) from each requirement's (met?, what the hit has)."""
        must_failed = [x for x in results if x[0].importance == "must" and not x[1]]
        should_failed = [x for x in results if x[0].importance == "should" and not x[1]]
        if not results:
            return ("irrelevant", "no requirement could be derived from the query")
        if must_failed:
            r, _, got = must_failed[0]
            if r.attribute == "keywords":
                found, wanted = (int(x) for x in got.split()[::2][:2])
                label = "substitute" if 2 * found >= wanted else "irrelevant"
                return label, f"matches {got} (\"{r.value}\")"
            return ("irrelevant", f"{r.attribute} is '{got}', the query needs '{r.value}' (must)")
        musts = [x for x in results if x[0].importance == "must"]
        if not musts and len(should_failed) == len(results):
            r, _, got = should_failed[0]
            return ("irrelevant", f"none of the requirements met; {r.attribute} is '{got}', wanted '{r.value}'")
        if should_failed:
            r, _, got = should_failed[0]
            return ("substitute", f"{r.attribute} is '{got}', the query asks for '{r.value}' (should)")
        met = ", ".join(f"{r.attribute} '{r.value}'" for r, _, _ in results)
        return ("relevant", f"meets every requirement: {met}")


def make_offline(model: str, config: ProjectConfig) -> Judge:
    return OfflineJudge(scheme_of(config))
