"""`evalharness init DIR`: scaffold a project folder with commented TOML."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import typer

from evalharness.cli.ui import out
from evalharness.errors import EvalHarnessError

SCAFFOLD = {
    "evalharness.toml": "evalharness.toml",
    "engines/v1.toml": "v1.toml",
    "engines/v2.toml": "v2.toml",
    "queries/example.csv": "example.csv",
    "guidelines/README.md": "guidelines-README.md",
    "reports/.gitkeep": None,
    ".gitignore": "gitignore",
}


def register(app: typer.Typer) -> None:
    @app.command()
    def init(ctx: typer.Context,
             directory: Path = typer.Argument(..., help="Folder to create the project in (relative to -C, default: here)."),
             force: bool = typer.Option(False, "--force", help="Overwrite existing files.")) -> None:
        """Scaffold a new project: evalharness.toml, engines/, queries/, guidelines/, reports/, .gitignore."""
        directory = directory.expanduser()
        if not directory.is_absolute():  # like every other path argument: relative to -C/--project
            directory = ctx.obj["project"] / directory
        templates = resources.files("evalharness.templates.project")
        created = []
        for folder in (directory, *directory.parents):
            if folder.exists() and not folder.is_dir():
                raise EvalHarnessError(f"{folder} is a file, not a folder; choose a folder name for the project")
        for target in SCAFFOLD:  # every file checked before any is written: a refused init leaves nothing behind
            path = directory / target
            if path.exists() and (not force or path.is_dir()):
                raise EvalHarnessError(f"{path} already exists; pass --force to overwrite or choose another folder"
                                       if not path.is_dir() else f"{path} is a folder; move it away or choose another folder")
        for target, source in SCAFFOLD.items():
            path = directory / target
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(templates.joinpath(source).read_text(encoding="utf-8") if source else "", encoding="utf-8")
            created.append(target)
        out.print(f"created project in {directory}: {', '.join(created)}", markup=False)
        out.print(f"next: cd {directory} && evalharness run --engine-config v2 --baseline v1")
