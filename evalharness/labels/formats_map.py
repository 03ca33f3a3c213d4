"""Label values from other tools mapped onto the project's labels.

Built-in maps: `esci` (E/S/C/I and the full names), `graded` (0-3), `binary` (0/1) and `gains` (the
project's own gains, which `labels export --format qrels` writes); or an explicit `--map E=relevant,S=...`.
Each built-in entry lists target names in order of preference, so the same map serves the three-level
default and the ESCI / graded / binary schemes: the first name the project's labels have wins.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from evalharness.errors import EvalHarnessError

BUILTIN_MAPS: dict[str, dict[str, tuple[str, ...]]] = {
    "esci": {
        "e": ("exact", "relevant"), "exact": ("exact", "relevant"),
        "s": ("substitute",), "substitute": ("substitute",),
        "c": ("complement", "irrelevant"), "complement": ("complement", "irrelevant"),
        "i": ("irrelevant",), "irrelevant": ("irrelevant",),
    },
    "graded": {
        "0": ("irrelevant",), "1": ("somewhat", "substitute"), "2": ("mostly", "relevant"),
        "3": ("perfectly", "exact", "relevant"),
    },
    "binary": {"0": ("irrelevant",), "1": ("relevant", "exact", "perfectly")},
}
MAP_NAMES = (*BUILTIN_MAPS, "gains")


def _number_key(value: str) -> str:
    """Numbers compare as numbers ('2', '2.0' and ' 2 ' are one value, '0.60' and '0.6' another); anything else is
    compared case-insensitively."""
    text = value.strip()
    try:
        number = float(text)
    except ValueError:
        return text.casefold()
    if number != number or number in (float("inf"), float("-inf")):  # nan, inf: words, not numbers
        return text.casefold()
    return str(int(number)) if number.is_integer() else repr(number)


class LabelMap:
    """Turns a raw value into one of the project's labels, or None when the value is not mapped."""

    def __init__(self, table: Mapping[str, str], names: Sequence[str], description: str) -> None:
        self.table = dict(table)
        self.names = tuple(names)
        self.description = description

    def __call__(self, value: str) -> str | None:
        key = _number_key(value)
        if key in self.table:
            return self.table[key]
        folded = {n.casefold(): n for n in self.names}
        return folded.get(key)  # a value that already is one of the project's labels maps to itself


def make_label_map(spec: str | None, names: Sequence[str], gains: Mapping[str, int]) -> LabelMap:
    """A map from `--map`: a built-in name, `VALUE=label,...`, or None (only the project's own label names)."""
    if not spec:
        return LabelMap({}, names, "the project's label names")
    spec = spec.strip()
    if spec == "gains":
        return LabelMap({str(g): n for n, g in gains.items()}, names, f"gains {dict(gains)}")
    if spec in BUILTIN_MAPS:
        table: dict[str, str] = {}
        for value, prefs in BUILTIN_MAPS[spec].items():
            chosen = next((p for p in prefs if p in names), None)
            if chosen is not None:
                table[value] = chosen
        return LabelMap(table, names, f"the built-in '{spec}' map")
    if "=" not in spec:
        raise EvalHarnessError(f"--map '{spec}' is not a map; use one of {', '.join(MAP_NAMES)} or VALUE=label,... "
                               f"with labels from: {', '.join(names)}")
    table = {}
    for part in spec.split(","):
        value, sep, label = part.partition("=")
        label = label.strip()
        if not sep or not value.strip() or label not in names:
            raise EvalHarnessError(f"--map entry '{part.strip()}' must be VALUE=label with a label from: {', '.join(names)}")
        table[_number_key(value)] = label
    return LabelMap(table, names, "--map")


def unmapped_hint(values: Iterable[str], label_map: LabelMap) -> str:
    """The fix for unmapped values: which --map to pass."""
    shown = sorted({v.strip() for v in values})[:8]
    return (f"value(s) {', '.join(repr(v) for v in shown)} are not mapped by {label_map.description}; pass --map "
            f"{'|'.join(MAP_NAMES)} or --map {shown[0] if shown else 'VALUE'}={label_map.names[-1]},... "
            f"(labels: {', '.join(label_map.names)})")
