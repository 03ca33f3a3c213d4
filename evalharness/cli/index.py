"""`evalharness index`: load a product catalog into an engine config's index."""

from __future__ import annotations

from pathlib import Path

import typer

from evalharness.catalog.products import resolve_catalog
from evalharness.cli.ui import RichStages, out
from evalharness.errors import EvalHarnessError
from evalharness.project import Project


def register(app: typer.Typer) -> None:
    @app.command()
    def index(
        ctx: typer.Context,
        engine_config: str = typer.Option(..., "--engine-config", "-e", help="Engine config whose index to fill."),
        catalog: str | None = typer.Option(None, "--catalog", help="Products as JSON lines, or 'demo' "
                                           "(default: the config's [tantivy] catalog; 'demo' for a cluster)."),
        recreate: bool = typer.Option(False, "--recreate", help="Elasticsearch/OpenSearch: delete an existing index first."),
    ) -> None:
        """Index a catalog for an engine config: the catalog its config names, by default."""
        project = Project.at(ctx)
        engine = project.engine(engine_config)
        if engine.config.backend == "http":
            raise EvalHarnessError("the http backend searches an API you run; there is nothing to index (--engine-config)")
        if engine.config.backend == "tantivy":
            assert engine.config.tantivy is not None
            named = engine.config.tantivy.catalog
            if catalog is not None and resolve_catalog(project, catalog) != resolve_catalog(project, named):
                raise EvalHarnessError(f"{engine.path.name} names catalog '{named}', so runs would refuse an index of "
                                       f"'{catalog}'; set [tantivy] catalog = \"{catalog}\" in {engine.path} and run "
                                       f"`evalharness index -e {engine.name}`")
            catalog = named
        path: Path = resolve_catalog(project, catalog or "demo")
        from evalharness.catalog.products import count_products

        total = count_products(path)
        with RichStages().stage(f"index {engine.name}", total) as advance:
            if engine.config.backend == "tantivy":
                from evalharness.backends.tantivy_backend import build_index, catalog_name, index_dir_of, index_lock

                where_dir = index_dir_of(project, engine.name)
                with index_lock(where_dir):
                    n = build_index(where_dir, path, advance, source="index command", name=catalog_name(project, catalog or "demo"))
                where = f"tantivy index {where_dir}"
            else:
                from evalharness.backends.cluster import index_catalog

                n = index_catalog(engine, path, advance, recreate)
                where = f"{engine.config.backend} index '{engine.config.index}'"
        out.print(f"indexed {n} products from {path} into {where}", markup=False)
