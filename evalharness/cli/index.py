"""`evalharness index`: load a product catalog into an engine config's index."""

from __future__ import annotations

from pathlib import Path

import typer

from evalharness.catalog import resolve_catalog
from evalharness.cli.ui import RichStages, out
from evalharness.project import Project


def register(app: typer.Typer) -> None:
    @app.command()
    def index(
        ctx: typer.Context,
        engine_config: str = typer.Option(..., "--engine-config", "-e", help="Engine config whose index to fill."),
        catalog: str = typer.Option("demo", "--catalog", help="Products as JSON lines, or 'demo'."),
        recreate: bool = typer.Option(False, "--recreate", help="Elasticsearch/OpenSearch: delete an existing index first."),
    ) -> None:
        """Index a catalog (the demo catalog by default) for an engine config."""
        project = Project(ctx.obj["project"])
        engine = project.engine(engine_config)
        path: Path = resolve_catalog(project, catalog)
        total = sum(1 for line in path.open(encoding="utf-8") if line.strip())
        with RichStages().stage(f"index {engine.name}", total) as advance:
            if engine.config.backend == "tantivy":
                from evalharness.backends.tantivy_backend import build_index

                n = build_index(project.cache_dir / "indexes" / engine.name, path, advance, source="index command")
                where = f"tantivy index {project.cache_dir / 'indexes' / engine.name}"
            elif engine.config.backend in ("elasticsearch", "opensearch"):
                from evalharness.backends.cluster import index_catalog

                n = index_catalog(engine, path, advance, recreate)
                where = f"{engine.config.backend} index '{engine.config.index}'"
            else:
                raise typer.BadParameter("the http backend searches an API you run; there is nothing to index",
                                         param_hint="--engine-config")
        out.print(f"indexed {n} products from {path} into {where}")
