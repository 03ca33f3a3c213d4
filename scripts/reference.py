"""Generate the manual's reference pages from the code: every command (from the typer app) and every config key
(from the pydantic models of evalharness.toml and engines/*.toml).

    python scripts/reference.py          # rewrite docs/reference/commands.md and docs/reference/config.md
    python scripts/reference.py --check  # exit 1 when either page is out of date (make test runs this through a test)
"""

from __future__ import annotations

import argparse
import inspect
import io
import sys
import tokenize
import types
import typing
from pathlib import Path

import typer
from pydantic import BaseModel

ROOT = Path(__file__).resolve().parent.parent
COMMANDS_MD = ROOT / "docs" / "reference" / "commands.md"
CONFIG_MD = ROOT / "docs" / "reference" / "config.md"


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _walk(cmd: typing.Any, path: list[str]) -> typing.Iterator[tuple[list[str], typing.Any]]:
    """Every command of the (typer's own click) command tree, groups first."""
    yield path, cmd
    for name in sorted(getattr(cmd, "commands", {}) or {}):
        yield from _walk(cmd.commands[name], [*path, name])


def _param_row(cmd: typing.Any, p: typing.Any) -> str:
    """One row: the option's names and metavar, and its help with its default, as `--help` prints them."""
    if p.param_type_name == "argument":
        return f"| `{p.name.upper()}` | argument{'' if p.required else ' (optional)'} | {_cell(getattr(p, 'help', '') or '')} |"
    from typer._click.core import Context

    record = p.get_help_record(Context(cmd, info_name=cmd.name))
    names, help_text = record if record else (", ".join(p.opts), "")
    return f"| `{_cell(names)}` | option | {_cell(help_text)} |"


def commands_page() -> str:
    from evalharness.cli.main import app, ensure_registered

    ensure_registered(None)
    root = typer.main.get_command(app)
    out = ["# Command reference", "",
           "Generated from the command-line app by `python scripts/reference.py`; a test fails when it is out of date.",
           "Every command takes `-C/--project DIR` (before or after the command), `-h/--help`; errors are one line and",
           "exit 2, a failed gate exits 1.", ""]
    for path, cmd in _walk(root, ["evalharness"]):
        if cmd.hidden:
            continue
        title = " ".join(path)
        out += [f"## `{title}`", "", inspect.cleandoc(cmd.help or "").strip(), ""]
        params = [p for p in cmd.params if p.name not in ("help",) and not getattr(p, "hidden", False)]
        if params:
            out += ["| option | type | what it does |", "|---|---|---|"] + [_param_row(cmd, p) for p in params] + [""]
    return "\n".join(out).rstrip() + "\n"


def _comments(cls: type) -> dict[str, str]:
    """The trailing `# comment` of each field line in a model's source (the code's own one-line explanations)."""
    try:
        src = inspect.getsource(cls)
    except OSError:
        return {}
    out: dict[str, str] = {}
    above: list[str] = []  # comment lines right above a field explain it too
    for tok in tokenize.generate_tokens(io.StringIO(src).readline):
        if tok.type == tokenize.COMMENT:
            line = tok.line.strip()
            name = line.split(":", 1)[0].strip()
            text = tok.string.lstrip("# ").strip()
            if line.startswith("#"):
                above.append(text)
            elif name.isidentifier() and ":" in line.split("#", 1)[0]:
                out[name] = " ".join([*above, text])
                above = []
        elif tok.type == tokenize.NAME and tok.start[1] == 4 and above:
            out.setdefault(tok.string, " ".join(above))
            above = []
        elif tok.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.COMMENT):
            if tok.start[1] != 4:
                continue
            above = []
    return out


def _model_of(annotation: typing.Any) -> type[BaseModel] | None:
    """The config model a field holds (directly, optional, or as list/dict values)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_of(arg)
        if found is not None:
            return found
    return None


def _type_name(annotation: typing.Any) -> str:
    if isinstance(annotation, type) and not typing.get_args(annotation):
        return annotation.__name__
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return " | ".join(repr(a) for a in typing.get_args(annotation))
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(annotation))
    return str(annotation).replace("typing.", "")


def _keys(model: type[BaseModel], prefix: str, rows: list[str], tables: list[tuple[str, type[BaseModel]]]) -> None:
    comments = _comments(model)
    doc = inspect.cleandoc(model.__doc__ or "") if model.__doc__ and "Strict" not in (model.__doc__ or "") else ""
    for name, field in model.model_fields.items():
        key = f"{prefix}{name}"
        sub = _model_of(field.annotation)
        if sub is not None:
            tables.append((key, sub))
            continue
        default = field.get_default(call_default_factory=True)
        shown = "required" if field.is_required() else f"`{default!r}`"
        why = field.description or comments.get(name, "")
        rows.append(f"| `{key}` | {_cell(_type_name(field.annotation))} | {_cell(shown)} | {_cell(why)} |")
    del doc


def config_page() -> str:
    from evalharness.config import EngineConfig, ProjectConfig

    out = ["# Configuration reference", "",
           "Generated from the configuration models by `python scripts/reference.py`; a test fails when it is out of date.",
           "Every key is optional unless marked required; unknown keys are rejected with one line naming the file and key.", ""]
    for title, model, file in (("evalharness.toml", ProjectConfig, "evalharness.toml"), ("engines/NAME.toml", EngineConfig, "an engine config")):
        out += [f"## {title}", ""]
        queue: list[tuple[str, type[BaseModel]]] = [("", model)]
        while queue:
            section, m = queue.pop(0)
            rows: list[str] = []
            subtables: list[tuple[str, type[BaseModel]]] = []
            _keys(m, f"{section}." if section else "", rows, subtables)
            heading = f"`[{section}]`" if section else f"top level of {file}"
            if rows:
                doc = (m.__doc__ or "").strip() if m.__doc__ and m.__doc__ != BaseModel.__doc__ else ""
                out += [f"### {heading}", ""] + ([inspect.cleandoc(doc), ""] if doc and not doc.startswith("Usage docs") else [])
                out += ["| key | type | default | notes |", "|---|---|---|---|"] + rows + [""]
            queue.extend(subtables)
    return "\n".join(out).rstrip() + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="exit 1 when a page is out of date")
    args = ap.parse_args()
    stale = []
    for path, text in ((COMMANDS_MD, commands_page()), (CONFIG_MD, config_page())):
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(path.relative_to(ROOT))
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    if stale:
        print(f"out of date: {', '.join(map(str, stale))}; run: python scripts/reference.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
