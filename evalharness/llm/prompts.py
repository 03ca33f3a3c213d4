"""Prompt templates (jinja2 files in the package) and the fencing of untrusted text."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

import jinja2

from evalharness.models import sha256_hex

JUDGMENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "label": {"type": "string", "enum": ["irrelevant", "substitute", "relevant"]},
        "rationale": {"type": "string"},
    },
    "required": ["label", "rationale"],
    "additionalProperties": False,
}
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


@cache
def template_source(name: str) -> str:
    return resources.files("evalharness.judges").joinpath("prompts", name).read_text(encoding="utf-8")


@cache
def _env() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FunctionLoader(template_source), undefined=jinja2.StrictUndefined,
                              autoescape=False, keep_trailing_newline=False)  # noqa: S701 - prompts, not HTML


def render(name: str, **values: Any) -> str:
    return _env().get_template(name).render(**values).strip()


def prompt_hash(*names: str) -> str:
    """Hash of the templates that shape an answer: part of the judge id, so editing a prompt re-judges exactly its pairs."""
    return sha256_hex("\x00".join(template_source(n) for n in names))[:12]


def fenced_json(value: Any) -> str:
    """JSON for untrusted text inside a tagged block: '<' and '>' escaped so the data can never close its fence."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True).replace("<", "\\u003c").replace(">", "\\u003e")
