"""A rerun reuses what the store holds: guideline files it has recorded are hashed, not parsed again."""

import dataclasses
from pathlib import Path

import pytest
from conftest import run_cli

import evalharness.guidelines.writers as writers
from evalharness.guidelines.files import parse_guideline
from evalharness.project import Project
from evalharness.querylog.querysets import read_query_set
from evalharness.store import Store


def test_recorded_guidelines_are_not_parsed_again(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lines = (project / "queries" / "demo.csv").read_text().splitlines()
    (project / "queries" / "demo.csv").write_text("\n".join(lines[:9]) + "\n")
    first = run_cli(project, "run", "-e", "v2", "--top-k", "3", "--json")
    assert first.returncode == 0, first.stderr
    p = Project(project)
    queries = read_query_set(project / "queries" / "demo.csv")
    parsed, _ = writers.ensure_guidelines(p, queries, "offline")  # every file parsed, as before
    edited = Path(parsed[queries[0].id].path)
    edited.write_text(edited.read_text().replace("\n---\n", "\n---\nEdited by hand.\n", 1))
    store = Store(p.store_url())
    calls: list[str] = []
    monkeypatch.setattr(writers, "parse_guideline", lambda path: calls.append(str(path)) or parse_guideline(path))
    try:
        reused, written = writers.ensure_guidelines(p, queries, "offline", known=store.guidelines_by_hash)
    finally:
        store.close()
    assert written == 0 and calls == [str(edited)]  # only the edited file (a hash the store does not hold) is parsed
    assert "Edited by hand." in reused[queries[0].id].text
    for q in queries[1:]:
        assert dataclasses.replace(reused[q.id], created="") == dataclasses.replace(parsed[q.id], created="")
    again = run_cli(project, "run", "-e", "v2", "--top-k", "3", "--json")  # the edited guideline: a new hash, judged anew
    assert again.returncode == 0, again.stderr
