"""`evalharness guidelines regenerate`: rewrite writer-made guidelines on request; files a person edited are kept."""

from __future__ import annotations

from pathlib import Path

import typer

from evalharness.cli.ui import out
from evalharness.errors import EvalHarnessError
from evalharness.project import Project

app = typer.Typer(no_args_is_help=True)


@app.command()
def regenerate(
    ctx: typer.Context,
    query: list[str] | None = typer.Option(None, "--query", "-q", help="Only this query's guideline (repeat for more)."),
    force: bool = typer.Option(False, "--force", help="Also rewrite files a person edited."),
    writer: str | None = typer.Option(None, "--writer", "-w", help="Writer spec (default: [guidelines] writer)."),
) -> None:
    """Rewrite guidelines with the offline or LLM writer (all of guidelines/, or --query Q). A file a person edited
    (its text no longer matches what the writer wrote) is kept unless --force."""
    from evalharness.guidelines.files import guideline_path, is_edited, parse_guideline
    from evalharness.guidelines.writers import make_writer, write_guidelines

    project = Project.at(ctx)
    directory = project.guidelines_dir
    if query:
        targets: dict[Path, str] = {guideline_path(directory, q): q for q in query}
    else:
        files = sorted(p for p in directory.glob("*.md") if p.name != "README.md") if directory.is_dir() else []
        targets = {p: parse_guideline(p).query for p in files}
    if not targets:
        raise EvalHarnessError(f"no guidelines in {directory} to regenerate; run `evalharness run` first or pass --query")
    kept = sorted(p.name for p in targets if p.exists() and not force and is_edited(p))
    todo = [q for p, q in targets.items() if p.name not in kept]
    spec = writer or project.config.guidelines.writer
    if todo:
        write_guidelines(project, make_writer(spec, project), todo, overwrite=True)
    out.print(f"rewrote {len(todo)} guideline(s) with the {spec} writer", markup=False)
    if kept:
        out.print(f"kept {len(kept)} edited by hand (pass --force to rewrite them): {', '.join(kept)}", markup=False,
                  soft_wrap=True)
