"""Guidelines: offline requirement extraction, the file format, and human edits winning."""

import json
from pathlib import Path

import pytest

from evalharness.errors import EvalHarnessError
from evalharness.guidelines.files import guideline_path, parse_guideline, write_guideline
from evalharness.guidelines.offline import OfflineGuidelineWriter, Vocabulary, extract_requirements


@pytest.fixture(scope="module")
def vocab(demo_dir: Path) -> Vocabulary:
    return Vocabulary.from_products(json.loads(line) for line in (demo_dir / "catalog.jsonl").open())


def reqs(query: str, vocab: Vocabulary) -> dict[str, tuple[str, str]]:
    return {r.attribute: (r.value, r.importance) for r in extract_requirements(query, vocab)}


def test_extracts_attributes_with_importance(vocab: Vocabulary) -> None:
    assert reqs("red sneakers", vocab) == {"product_type": ("sneakers", "must"), "color": ("red", "should")}
    assert reqs("nordvik leather backpack", vocab) == {
        "product_type": ("backpack", "must"), "brand": ("nordvik", "should"), "material": ("leather", "should")}
    assert reqs("womens jeans", vocab)["audience"] == ("women", "should")
    assert reqs("blue t-shirt for women", vocab)["audience"] == ("women", "should")
    assert reqs("gray trainers", vocab) == {"product_type": ("sneakers", "must"), "color": ("grey", "should")}
    assert reqs("sneakers size 42", vocab)["size"] == ("42", "should")


def test_misspelled_type_and_unknown_words(vocab: Vocabulary) -> None:
    assert reqs("snekers", vocab) == {"product_type": ("sneakers", "must")}
    assert reqs("garden gnome", vocab) == {"keywords": ("garden gnome", "must")}


def test_file_roundtrip_and_hash(tmp_path: Path, vocab: Vocabulary) -> None:
    g = OfflineGuidelineWriter(vocab).write("Red Sneakers <b>")
    stored = write_guideline(tmp_path, g)
    assert stored.path == str(guideline_path(tmp_path, "Red Sneakers <b>"))
    text = Path(stored.path).read_text()
    assert text.startswith("---\nquery: Red Sneakers <b>\n") and "importance: must" in text and "writer: offline" in text
    again = parse_guideline(Path(stored.path))
    assert again.requirements == g.requirements and again.hash == stored.hash and len(again.hash) == 64
    Path(stored.path).write_text(text.replace("importance: should", "importance: must"))
    edited = parse_guideline(Path(stored.path))
    assert edited.hash != stored.hash and all(r.importance == "must" for r in edited.requirements)


def test_invalid_files_are_user_errors(tmp_path: Path) -> None:
    bad = tmp_path / "x.md"
    bad.write_text("---\nquery: q\nrequirements:\n  - attribute: color\n    value: red\n    importance: critical\n---\ntext\n")
    with pytest.raises(EvalHarnessError, match="importance 'critical'; allowed: must, should, nice"):
        parse_guideline(bad)
    bad.write_text("---\nquery: [unclosed\n---\n")
    with pytest.raises(EvalHarnessError, match="not valid YAML"):
        parse_guideline(bad)


def test_a_parsed_guideline_is_read_again_when_its_file_changes(tmp_path: Path) -> None:
    path = tmp_path / "red-dress.md"
    original = "---\nquery: red dress\nrequirements:\n  - attribute: color\n    value: red\n---\nRed only.\n"
    path.write_text(original)
    first = parse_guideline(path)
    assert parse_guideline(path) == first  # the same bytes: the same guideline
    path.write_text(original.replace("value: red", "value: crimson"))
    edited = parse_guideline(path)
    assert edited.requirements[0].value == "crimson" and edited.hash != first.hash
    path.write_text(original.replace("value: red", "value: ''"))
    with pytest.raises(EvalHarnessError, match="requirement 1 needs 'attribute' and 'value'"):
        parse_guideline(path)  # an invalid edit is an error, never an earlier parse
    path.write_text(original)
    assert parse_guideline(path) == first
