"""`evalharness prompts`: copy the package's prompt templates into the project's prompts/ folder and list them."""

from __future__ import annotations

import typer
from rich.table import Table

from evalharness.cli.ui import out
from evalharness.project import Project

app = typer.Typer(no_args_is_help=True)


@app.command("init")
def init(ctx: typer.Context,
         force: bool = typer.Option(False, "--force", help="Overwrite templates already in prompts/ (your edits are lost).")) -> None:
    """Copy the judge, repair, caption and guideline-writer templates into prompts/; templates there win."""
    from evalharness.llm.prompts import TEMPLATES, init_prompts

    project = Project(ctx.obj["project"])
    written = init_prompts(project.root, force=force)
    kept = len(TEMPLATES) - len(written)
    out.print(f"wrote {len(written)} template(s) to {project.root / 'prompts'}"
              + (f"; kept {kept} already there (--force overwrites)" if kept else "")
              + ". Edit them: the judge id follows their hash, so the next run re-judges exactly the pairs they shape.",
              markup=False)


@app.command("list")
def list_templates(ctx: typer.Context) -> None:
    """Each template, where it comes from (the project or the package) and its hash."""
    from evalharness.llm.prompts import TEMPLATES, prompts_for

    prompts = prompts_for(Project(ctx.obj["project"]).root)
    table = Table(title="prompt templates")
    for col in ("template", "from", "hash"):
        table.add_column(col)
    for name in TEMPLATES:
        table.add_row(name, prompts.path(name), prompts.hash(name))
    out.print(table)
