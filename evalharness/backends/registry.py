"""The built-in backends by name, and third-party ones from the `evalharness.backends` entry point group.

Each built-in is named by module and factory and imported only when an engine config asks for it, so a run on the
embedded engine never imports the cluster clients."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING

from evalharness.backends.base import SearchBackend
from evalharness.errors import EvalHarnessError

if TYPE_CHECKING:
    from evalharness.project import LoadedEngine, Project

BackendFactory = Callable[["LoadedEngine", "Project"], SearchBackend]

BUILTIN: dict[str, str] = {  # the names evalharness.config.BUILTIN_BACKENDS accepts
    "tantivy": "evalharness.backends.tantivy_backend:make_tantivy",
    "elasticsearch": "evalharness.backends.cluster:make_elasticsearch",
    "opensearch": "evalharness.backends.cluster:make_opensearch",
    "http": "evalharness.backends.http:make_http",
    "file": "evalharness.backends.file:make_file",
}
ENTRY_POINT_GROUP = "evalharness.backends"


def backend_factory(name: str) -> BackendFactory:
    """The factory for a backend name: a built-in, else a plugin's entry point; one line naming the known ones if neither."""
    target = BUILTIN.get(name)
    if target is not None:
        module, _, attr = target.partition(":")
        return getattr(importlib.import_module(module), attr)
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == name:
            return ep.load()
    raise EvalHarnessError(f"unknown backend '{name}' in the engine config; use one of: {', '.join(sorted(BUILTIN))} "
                           f"(or install a plugin that registers it under the '{ENTRY_POINT_GROUP}' entry point group)")


def make_backend(engine: LoadedEngine, project: Project) -> SearchBackend:
    """Build the backend an engine config names."""
    return backend_factory(engine.config.backend)(engine, project)
