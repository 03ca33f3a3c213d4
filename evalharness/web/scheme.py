"""The project's label scheme as the rating page and the rater statistics use it: labels by increasing gain."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from evalharness.config import ProjectConfig
from evalharness.models import GRADES, LABELS

_DEFINITIONS = {
    "irrelevant": "does not match what the query asks for",
    "substitute": "not what was asked for, but a reasonable alternative",
    "relevant": "matches the query and its requirements",
}
_COLOURS = {"irrelevant": "#d93025", "substitute": "#f29900", "relevant": "#1e8e3e"}


@dataclass(frozen=True)
class RatingScheme:
    """Label names ordered by increasing gain (key 1 is the lowest), with gains, definitions and colours."""

    name: str
    names: tuple[str, ...]
    gains: dict[str, float]
    definitions: dict[str, str]
    colours: dict[str, str]

    @property
    def middle(self) -> set[str]:
        """Labels strictly between the lowest and the highest gain: the decision boundary."""
        low, high = min(self.gains.values()), max(self.gains.values())
        return {n for n in self.names if low < self.gains[n] < high}

    def to_json(self) -> list[dict[str, Any]]:
        return [{"name": n, "key": str(i + 1), "definition": self.definitions.get(n, ""), "colour": self.colours.get(n, "#555")}
                for i, n in enumerate(self.names)]


def rating_scheme(config: ProjectConfig) -> RatingScheme:
    """The scheme in force for a project."""
    names = tuple(sorted(LABELS, key=lambda n: GRADES[n]))
    return RatingScheme("three-level", names, {n: float(GRADES[n]) for n in names}, dict(_DEFINITIONS), dict(_COLOURS))
