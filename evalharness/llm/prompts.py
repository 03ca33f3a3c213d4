"""Prompt templates (jinja2) and the fencing of untrusted text.

The package ships the templates in evalharness/judges/prompts/; `evalharness prompts init` copies them into the
project's prompts/ folder, and a template there wins over the package's. The hash of the templates a judge uses
is part of its judge id, so editing one re-judges exactly the pairs it shapes. Rendering is strict: an unknown
variable is a one-line error naming the file, raised before any call (`Prompts.check`).
"""

from __future__ import annotations

import json
import secrets
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2

from evalharness.errors import EvalHarnessError
from evalharness.models import sha256_hex

TEMPLATES = ("judge_system.j2", "judge_user.j2", "repair.j2", "caption.j2", "guideline_system.j2", "guideline_user.j2")
PROJECT_DIR = "prompts"

GUIDELINE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "requirements": {"type": "array", "items": {
            "type": "object",
            "properties": {"attribute": {"type": "string"}, "value": {"type": "string"},
                           "importance": {"type": "string", "enum": ["must", "should", "nice"]}},
            "required": ["attribute", "value", "importance"], "additionalProperties": False}},
        "guideline": {"type": "string"},
    },
    "required": ["requirements", "guideline"],
    "additionalProperties": False,
}


# template nodes whose output is not the plain concatenation of what they hold (or comes from elsewhere)
_TRANSFORMING = tuple(getattr(jinja2.nodes, n) for n in ("Macro", "CallBlock", "FilterBlock", "Include", "Extends", "Import",
                                                          "FromImport", "Block", "EvalContextModifier", "ScopedEvalContextModifier"))


def fill(pieces: tuple[str, ...], value: str) -> str:
    """A template's text from its `Prompts.pieces` and the value of the variable they were cut at."""
    return value.join(pieces).strip()


@cache
def package_source(name: str) -> str:
    """A template as shipped in the package."""
    return resources.files("evalharness.judges").joinpath("prompts", name).read_text(encoding="utf-8")


class Prompts:
    """The templates of one project: prompts/NAME in the project if present, else the package's."""

    def __init__(self, project_dir: Path | None = None) -> None:
        self.dir = project_dir
        self._sources: dict[str, str] = {}
        self._output_only_of: dict[tuple[str, str], bool] = {}
        self.env = jinja2.Environment(loader=jinja2.FunctionLoader(self.source), undefined=jinja2.StrictUndefined,
                                      autoescape=False, keep_trailing_newline=False)  # noqa: S701 - prompts, not HTML

    def path(self, name: str) -> str:
        """Where a template comes from, for messages."""
        own = self.dir / name if self.dir is not None else None
        return str(own) if own is not None and own.is_file() else f"the package's {name}"

    def source(self, name: str) -> str:
        if name not in self._sources:
            own = self.dir / name if self.dir is not None else None
            if own is not None and own.is_file():
                try:
                    self._sources[name] = own.read_text(encoding="utf-8")
                except (OSError, UnicodeDecodeError) as exc:
                    raise EvalHarnessError(f"{own}: cannot read the prompt template ({type(exc).__name__}); save it as UTF-8 text") from None
            else:
                self._sources[name] = package_source(name)
        return self._sources[name]

    def render(self, name: str, **values: Any) -> str:
        """Render strictly; an unknown variable or a syntax error is one line naming the file."""
        try:
            return self.env.get_template(name).render(**values).strip()
        except jinja2.UndefinedError as exc:
            raise EvalHarnessError(f"{self.path(name)}: {exc.message}; the variables it can use are: "
                                   f"{', '.join(sorted(values))} (see `evalharness prompts init`)") from None
        except jinja2.TemplateSyntaxError as exc:
            raise EvalHarnessError(f"{self.path(name)}:{exc.lineno}: template syntax error: {exc.message}") from None

    def pieces(self, name: str, var: str, **values: Any) -> tuple[str, ...] | None:
        """The template rendered with `values` around every place `var` is output, or None when `var` is used in any
        other way (a condition, a filter, a loop, a macro...) or the template does not render. Then
        `fill(pieces, value)` is exactly `render(name, **values, var=value)`, without rendering again."""
        if not self._output_only(name, var):
            return None
        sentinel = f"\x00{var}-{secrets.token_hex(8)}\x00"
        try:
            text = self.env.get_template(name).render(**values, **{var: sentinel})
        except jinja2.TemplateError:
            return None  # render() says what is wrong, in its own words
        return tuple(text.split(sentinel))

    def _output_only(self, name: str, var: str) -> bool:
        """Whether `var` appears only as a whole `{{ var }}` in a template without blocks that could transform it."""
        key = (name, var)
        if key not in self._output_only_of:
            try:
                tree = self.env.parse(self.source(name))
            except jinja2.TemplateSyntaxError:
                self._output_only_of[key] = False
                return False
            direct = {id(n) for out in tree.find_all(jinja2.nodes.Output) for n in out.nodes
                      if isinstance(n, jinja2.nodes.Name) and n.name == var}
            uses = [n for n in tree.find_all(jinja2.nodes.Name) if n.name == var]
            self._output_only_of[key] = all(id(n) in direct for n in uses) and not any(tree.find_all(_TRANSFORMING))
        return self._output_only_of[key]

    def check(self, name: str, **values: Any) -> None:
        """Render once with sample values so that a broken template fails before any call is made."""
        self.render(name, **values)

    def hash(self, *names: str) -> str:
        """Hash of the templates that shape an answer: part of the judge id."""
        return sha256_hex("\x00".join(self.source(n) for n in names))[:12]


@cache
def _prompts_for(project_dir: Path | None) -> Prompts:
    return Prompts(project_dir)


def prompts_for(root: Path | None) -> Prompts:
    """The prompts of a project root (its prompts/ folder), or the package's when root is None."""
    return _prompts_for(root / PROJECT_DIR if root is not None else None)


def init_prompts(root: Path, force: bool = False) -> list[Path]:
    """Copy the package's templates into the project's prompts/ folder; existing files are kept unless force."""
    target = root / PROJECT_DIR
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for name in TEMPLATES:
        path = target / name
        if path.exists() and not force:
            continue
        path.write_text(package_source(name), encoding="utf-8")  # byte for byte: an unedited copy keeps the judge id
        written.append(path)
    _prompts_for.cache_clear()
    return written


def fenced_json(value: Any) -> str:
    """JSON for untrusted text inside a tagged block: '<' and '>' escaped so the data can never close its fence."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True).replace("<", "\\u003c").replace(">", "\\u003e")
