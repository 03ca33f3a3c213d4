"""Paths as text: the same text pathlib gives, with or without building a Path."""

from pathlib import Path

import pytest

from evalharness.runtime.pathtext import path_text, under

PATHS = ["images/P00000.png", "a", "/a/b.png", "a/b/c", "", ".", "./a", "a/./b", "a/.", "a//b", "a/b/", "/", "//",
         "//a/b", "///a", "../a", "a/../b", "a/..", "~/x", "a b/ c", "é/ü.png", "a\\b"]


@pytest.mark.parametrize("text", PATHS)
def test_path_text_is_what_pathlib_writes(text: str) -> None:
    assert path_text(text) == str(Path(text))


@pytest.mark.parametrize("base", ["/tmp/cache/demo", "/", "//", ".", "rel/dir", "/a/../b"])
@pytest.mark.parametrize("name", [p for p in PATHS if p])
def test_under_is_what_pathlib_joins(base: str, name: str) -> None:
    root = Path(base)
    assert under(root, name) == (name if Path(name).is_absolute() else str(root / name))


@pytest.mark.parametrize("base", ["/tmp/p/guidelines", "guidelines", ".", "/"])
@pytest.mark.parametrize("query", ["red dress", "", " ", "../etc", "a/b", "Ｒｅｄ　ｓｈｏｅ", "ß" * 80, "."])
def test_guideline_path_text_is_the_path_as_text(base: str, query: str) -> None:
    from evalharness.guidelines.files import guideline_path, guideline_path_text

    assert guideline_path_text(Path(base), query) == str(guideline_path(Path(base), query))
