"""The project's label scheme as the rating page and the rater statistics use it: labels by increasing gain."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from evalharness.config import ProjectConfig
from evalharness.labels.schemes import scheme_of


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
    """The scheme in force for a project ([labels] in evalharness.toml), lowest gain first."""
    scheme = scheme_of(config)
    ordered = scheme.by_gain(descending=False)
    return RatingScheme(scheme.name, tuple(d.name for d in ordered), {d.name: float(d.gain) for d in ordered},
                        {d.name: d.definition for d in ordered}, {d.name: d.colour for d in ordered})
