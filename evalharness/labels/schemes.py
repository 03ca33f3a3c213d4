"""Label schemes: the names a judge may answer, their gains in the qrels, one-line definitions and colours.

One scheme is in force per project (`[labels]` in evalharness.toml, read by `scheme_of(config)`). The
judgment schema's enum, the prompts, the offline judge, the qrels gains, the report colours and the gate all
read it. Built-ins: `three-level` (the default), `esci`, `graded-0-3` and `binary`; or a custom list.

Gains are non-negative integers because they are the qrels' relevance values (pytrec_eval reads integers):
nDCG is unchanged by scaling every gain, so ESCI's official 1 / 0.1 / 0.01 / 0 is written 100 / 10 / 1 / 0,
and `P(rel=N)` / `RR(rel=N)` count hits whose gain is at least N.

Each label has an *anchor* on the three-level scale (irrelevant / substitute / relevant); labels of one
scheme are scored or compared in another through it (`map_label`), and the offline judge, which decides on
the three-level scale, answers in any scheme through `from_three`.

A label may declare *synonyms*: other words a model writes for it ("not relevant" for irrelevant, ESCI's one-letter
codes). `resolve` reads an answer's label through them, ignoring case, spacing, `_` and `-`; a word two labels
share is no label.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any, Protocol

from evalharness.errors import EvalHarnessError
from evalharness.models import canonical_json, sha256_hex


class Configured(Protocol):
    """Anything with a `[labels]` section: a ProjectConfig (kept structural so label schemes sit below the config)."""

    @property
    def labels(self) -> Any: ...

THREE = ("irrelevant", "substitute", "relevant")
UNJUDGED_COLOUR = "#9aa0a6"


@dataclass(frozen=True)
class LabelDef:
    """One label: its name, qrels gain, one-line definition, report colour and three-level anchor."""

    name: str
    gain: int
    definition: str
    colour: str
    anchor: str
    synonyms: tuple[str, ...] = ()  # other words a model may write for this label (matched like the name)


@dataclass(frozen=True)
class LabelScheme:
    """An ordered set of labels (declared order = the order of the judgment schema's enum)."""

    name: str
    labels: tuple[LabelDef, ...]
    substitute_as: str = ""  # which label the three-level 'substitute' becomes (from_three)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(d.name for d in self.labels)

    @property
    def gains(self) -> dict[str, int]:
        return {d.name: d.gain for d in self.labels}

    @property
    def colours(self) -> dict[str, str]:
        return {d.name: d.colour for d in self.labels}

    @property
    def definitions(self) -> dict[str, str]:
        return {d.name: d.definition for d in self.labels}

    def by_gain(self, descending: bool = True) -> list[LabelDef]:
        """Labels from the best to the worst (or the reverse)."""
        return sorted(self.labels, key=lambda d: d.gain, reverse=descending)

    def gain(self, label: str) -> int:
        try:
            return self.gains[label]
        except KeyError:
            raise EvalHarnessError(f"label {label!r} is not in the {self.name} scheme ({', '.join(self.names)}); "
                                   "check [labels] in evalharness.toml") from None

    def anchor(self, label: str) -> str:
        return next(d.anchor for d in self.labels if d.name == label)

    @property
    def lowest(self) -> str:
        return self.by_gain(descending=False)[0].name

    @property
    def highest(self) -> str:
        return self.by_gain()[0].name

    @property
    def fingerprint(self) -> str:
        """What shapes a judge's answer (names and definitions, in order; not gains or colours): for the judge id."""
        digest = sha256_hex(canonical_json([[d.name, d.definition] for d in self.labels]))[:8]
        return f"{self.name}-{digest}"

    def from_three(self, label: str) -> str:
        """The label of this scheme for a three-level decision (the offline judge decides on three levels)."""
        if label == "relevant":
            return self.highest
        if label == "irrelevant":
            return self.lowest
        return self.substitute_as or _nearest(self, 0.5)

    def resolve(self, answer: object) -> str | None:
        """The label an answer's label field names: the name or a declared synonym, ignoring case, surrounding
        spaces and quotes, `_`/`-` and a trailing full stop; None when it names none or more than one."""
        if isinstance(answer, bool) or not isinstance(answer, (str, int)):
            return None
        return _resolver(self).get(label_key(str(answer)))

    def to_json(self) -> dict[str, object]:
        return {"name": self.name, "labels": [d.__dict__ for d in self.labels]}


def label_key(text: str) -> str:
    """The form labels are compared in: case-folded, `_`/`-` as spaces, spaces collapsed, quotes and a final stop dropped."""
    text = text.strip().strip("\"'`*").rstrip(".").replace("_", " ").replace("-", " ")
    return " ".join(text.split()).casefold()


@lru_cache(maxsize=32)
def _resolver(scheme: LabelScheme) -> dict[str, str]:
    """label_key -> label name over names and synonyms (a synonym two labels share names neither)."""
    owners: dict[str, set[str]] = {}
    for d in scheme.labels:
        for word in d.synonyms:
            owners.setdefault(label_key(word), set()).add(d.name)
    table = {k: next(iter(v)) for k, v in owners.items() if len(v) == 1}
    table.update((label_key(d.name), d.name) for d in scheme.labels)  # a label's own name always names it
    return table


def _nearest(scheme: LabelScheme, share: float) -> str:
    """The label whose gain is nearest `share` of the top gain (ties: the lower gain)."""
    top = max(scheme.gains.values()) or 1
    return min(scheme.by_gain(descending=False), key=lambda d: abs(d.gain / top - share)).name


def map_label(label: str, source: LabelScheme, target: LabelScheme) -> str:
    """A label of `source` expressed in `target`, through the three-level anchors (identity for the same names)."""
    if source.names == target.names:
        return label
    if label in THREE and label not in source.names:  # a three-level label given to a non-three-level scheme
        return target.from_three(label)
    return target.from_three(source.anchor(label))


def map_labels(labels: Mapping[str, str], source: LabelScheme, target: LabelScheme) -> dict[str, str]:
    """Map a dict of key -> label between schemes."""
    return {k: map_label(v, source, target) for k, v in labels.items()}


def _defs(rows: Iterable[tuple[str, int, str, str]], colours: tuple[str, ...]) -> tuple[LabelDef, ...]:
    return tuple(LabelDef(name, gain, definition, colour, anchor)
                 for (name, gain, definition, anchor), colour in zip(rows, colours))


BUILTIN: dict[str, LabelScheme] = {
    "three-level": LabelScheme("three-level", _defs([
        ("irrelevant", 0, "the product does not serve the query (for example another product type)", "irrelevant"),
        ("substitute", 1, "not exactly what was asked for but could serve the shopper (the right product type with a "
                          "wrong color, brand or size)", "substitute"),
        ("relevant", 2, "the product satisfies the query and the guideline's requirements", "relevant"),
    ], ("#d93025", "#f29900", "#1e8e3e"))),
    "esci": LabelScheme("esci", _defs([
        ("exact", 3, "the product is relevant for the query and satisfies all the query's specifications", "relevant"),
        ("substitute", 2, "somewhat relevant: it fails some aspects of the query but can be used as a functional "
                          "substitute", "substitute"),
        ("complement", 1, "does not fulfil the query but could be used in combination with an exact item", "irrelevant"),
        ("irrelevant", 0, "irrelevant for the query, or fails a central aspect of it", "irrelevant"),
    ], ("#1e8e3e", "#f29900", "#4285f4", "#d93025")), substitute_as="substitute"),
    "graded-0-3": LabelScheme("graded-0-3", _defs([
        ("irrelevant", 0, "the product has nothing to do with the query", "irrelevant"),
        ("somewhat", 1, "related to the query but would not satisfy the shopper", "substitute"),
        ("mostly", 2, "the right kind of product that satisfies most of the query's requirements", "substitute"),
        ("perfectly", 3, "exactly what the query asks for, every requirement met", "relevant"),
    ], ("#d93025", "#e8710a", "#7cb342", "#1e8e3e")), substitute_as="mostly"),
    "binary": LabelScheme("binary", _defs([
        ("irrelevant", 0, "the product is not what the shopper asked for", "irrelevant"),
        ("relevant", 1, "the product is what the shopper asked for", "relevant"),
    ], ("#d93025", "#1e8e3e")), substitute_as="irrelevant"),
}
SYNONYMS: dict[str, dict[str, tuple[str, ...]]] = {  # per built-in scheme: label -> words models also write for it
    "three-level": {"irrelevant": ("not relevant", "non-relevant", "nonrelevant", "unrelated", "off-topic"),
                    "substitute": ("partially relevant", "partial match", "somewhat relevant", "alternative"),
                    "relevant": ("exact", "exact match", "highly relevant", "fully relevant", "perfect match")},
    "esci": {"exact": ("E", "exact match"), "substitute": ("S",), "complement": ("C", "complementary"),
             "irrelevant": ("I", "not relevant")},
    "graded-0-3": {"irrelevant": ("0", "not relevant"), "somewhat": ("1", "somewhat relevant"),
                   "mostly": ("2", "mostly relevant"), "perfectly": ("3", "perfect", "perfectly relevant")},
    "binary": {"irrelevant": ("0", "not relevant", "no"), "relevant": ("1", "yes")},
}
BUILTIN = {name: LabelScheme(s.name, tuple(replace(d, synonyms=SYNONYMS[name].get(d.name, ())) for d in s.labels), s.substitute_as)
           for name, s in BUILTIN.items()}
DEFAULT_SCHEME = "three-level"


def ramp(n: int) -> tuple[str, ...]:
    """n colours from bad (red) to good (green)."""
    palette = ("#d93025", "#e8710a", "#f29900", "#c0ca33", "#7cb342", "#1e8e3e")
    if n <= 1:
        return palette[-1:]
    return tuple(palette[round(i * (len(palette) - 1) / (n - 1))] for i in range(n))


def _anchor_of(gain: int, top: int) -> str:
    if gain <= 0:
        return "irrelevant"
    return "relevant" if gain >= top else "substitute"


def scheme_from_config(scheme: str, gains: Mapping[str, int], custom: Iterable[Mapping[str, object]] = ()) -> LabelScheme:
    """Build the scheme `[labels]` describes: a built-in (gains optionally overridden) or a custom list."""
    if scheme == "custom":
        rows = list(custom)
        ordered = sorted(rows, key=lambda r: int(r["gain"]))  # type: ignore[call-overload]
        colours = dict(zip((str(r["name"]) for r in ordered), ramp(len(ordered))))
        top = max(int(r["gain"]) for r in rows)  # type: ignore[call-overload]
        defs = tuple(LabelDef(str(r["name"]), int(r["gain"]), str(r["definition"]),  # type: ignore[call-overload]
                              str(r.get("colour") or colours[str(r["name"])]),
                              str(r.get("anchor") or _anchor_of(int(r["gain"]), top)),  # type: ignore[call-overload]
                              tuple(str(w) for w in r.get("synonyms") or ()))  # type: ignore[union-attr]
                     for r in rows)
        return LabelScheme("custom", defs)
    base = BUILTIN[scheme]
    if not gains:
        return base
    defs = tuple(replace(d, gain=int(gains.get(d.name, d.gain))) for d in base.labels)
    return LabelScheme(base.name, defs, base.substitute_as)


def scheme_of(config: Configured) -> LabelScheme:
    """The project's label scheme (`[labels]`; three-level when absent)."""
    labels = config.labels
    return scheme_from_config(labels.scheme, labels.gains, [c.model_dump() for c in labels.custom])


def scheme_named(name: str) -> LabelScheme:
    """A built-in scheme by name; one line listing the built-ins otherwise."""
    try:
        return BUILTIN[name]
    except KeyError:
        raise EvalHarnessError(f"unknown label scheme {name!r}; use one of: {', '.join(BUILTIN)}") from None
