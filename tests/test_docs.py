"""The manual and the code agree: every command and every config key is in the reference, the generated pages are
current, and the README stays a page."""

from __future__ import annotations

import subprocess
import sys
import typing
from pathlib import Path

from pydantic import BaseModel

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"


def _commands() -> list[str]:
    import typer

    from evalharness.cli.main import app, ensure_registered

    ensure_registered(None)
    out = []

    def walk(cmd: typing.Any, path: str) -> None:
        out.append(path)
        for name, sub in (getattr(cmd, "commands", {}) or {}).items():
            walk(sub, f"{path} {name}")

    walk(typer.main.get_command(app), "evalharness")
    return out


def _keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    keys = []
    for name, field in model.model_fields.items():
        sub = next((a for a in (field.annotation, *typing.get_args(field.annotation), *[b for a in typing.get_args(field.annotation)
                                                                                       for b in typing.get_args(a)])
                    if isinstance(a, type) and issubclass(a, BaseModel)), None)
        keys += _keys(sub, f"{prefix}{name}.") if sub is not None else [f"{prefix}{name}"]
    return keys


def test_reference_pages_are_current() -> None:
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "reference.py"), "--check"], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr


def test_every_command_and_config_key_is_in_the_reference() -> None:
    from evalharness.config import EngineConfig, ProjectConfig

    commands = (DOCS / "reference" / "commands.md").read_text(encoding="utf-8")
    missing = [c for c in _commands() if f"## `{c}`" not in commands]
    assert missing == [] and len(_commands()) > 20
    config = (DOCS / "reference" / "config.md").read_text(encoding="utf-8")
    keys = _keys(ProjectConfig) + _keys(EngineConfig)
    assert [k for k in keys if f"`{k}`" not in config] == [] and len(keys) > 100


def test_readme_is_a_page_that_links_into_the_manual() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 250
    for needle in ("pip install", "make demo", "make test", "docs/"):
        assert needle in readme
    for target in {line.split("](")[1].split(")")[0].split("#")[0] for line in readme.splitlines() if "](docs/" in line}:
        assert (ROOT / target).exists(), target


def test_every_page_is_in_the_nav() -> None:
    nav = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    pages = [p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md")]
    assert [p for p in pages if p not in nav] == []


def _bench_table() -> typing.Any:
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_table", ROOT / "bench" / "table.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_performance_table_is_the_generated_one() -> None:
    import pytest

    table = _bench_table()
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split(table.README_BEGIN, 1)[1].split(table.README_END, 1)[0].strip()
    rows = [line for line in block.splitlines() if line.startswith("| ") and not line.startswith("| figure")]
    for prefix in table.HEADLINE:  # every figure with a target is in it, with its load and date
        assert [r for r in rows if r.startswith(f"| {prefix}")], prefix
    assert all(r.endswith(" UTC |") for r in rows)
    missing = [n for n in table.SOURCES if not (table.RESULTS / f"{n}.json").exists()]
    if missing:
        pytest.skip(f"bench/results lacks {', '.join(missing)} (outside git): the block's currency is checked where they ran")
    assert block == table.readme_table(table.RESULTS)
    page = (DOCS / "performance.md").read_text(encoding="utf-8")
    assert table.table(table.RESULTS) in page
