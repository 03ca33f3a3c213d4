"""Which product catalog holds the documents a reference source labelled."""

from __future__ import annotations

from pathlib import Path

from evalharness.catalog.products import resolve_catalog
from evalharness.project import Project


def agreement_catalog(project: Project, catalog: str | Path | None, engine_config: str | None) -> Path:
    """`--catalog`, else the engine config's catalog, else `[guidelines] catalog`."""
    if catalog is not None:
        return resolve_catalog(project, str(catalog))
    if engine_config:
        engine = project.engine(engine_config).config
        name = engine.tantivy.catalog if engine.tantivy is not None else getattr(getattr(engine, "file", None), "catalog", "")
        if name:
            return resolve_catalog(project, name)
    return resolve_catalog(project, project.config.guidelines.catalog)
