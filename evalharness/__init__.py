"""evalharness: retrieve, annotate, evaluate, repeat — search evaluation for e-commerce teams.

    import evalharness
    ws = evalharness.open("path/to/project")   # see evalharness.api
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["Workspace", "__version__", "open"]

if TYPE_CHECKING:
    from evalharness.api import Workspace


def open(project: Any = ".") -> Workspace:  # noqa: A001 - evalharness.open(project), as the API is documented
    """The evalharness project in this folder, as a Workspace (run, compare, gate, agreement)."""
    from evalharness.api import open_project

    return open_project(project)


def __getattr__(name: str) -> Any:
    if name == "Workspace":  # imported on first use: `evalharness --version` stays light
        from evalharness.api import Workspace

        return Workspace
    raise AttributeError(f"module 'evalharness' has no attribute {name!r}")
