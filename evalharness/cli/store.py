"""`evalharness store upgrade`: migrate the store's schema in place to what this evalharness expects."""

from __future__ import annotations

import typer

from evalharness.cli.ui import out
from evalharness.project import Project

app = typer.Typer(no_args_is_help=True)


@app.command()
def upgrade(ctx: typer.Context) -> None:
    """Apply the schema migrations the store lacks (nothing is lost; running it again changes nothing)."""
    from evalharness.store import Store

    store = Store(Project(ctx.obj["project"]).store_url(), upgrade=True)
    try:
        before, after = store.schema_change or (None, "")
        if before == after:
            out.print(f"store already at schema revision {after}; nothing to do")
        elif before is None:
            out.print(f"created an empty store at schema revision {after}")
        else:
            out.print(f"store upgraded from schema revision {before} to {after}")
    finally:
        store.close()
